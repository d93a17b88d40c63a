"""Shared set-up for the benchmarks: real MNIST when available, else random images of the same size."""

import os
import time

import numpy as np
import torch

from kdviz.mnist.train import to_inputs, to_labels


def transfer_set(n, device):
    """n training images and labels as device tensors, plus stand-in 'teacher' logits: a margin of 4 for the
    label plus noise, learnable like a real teacher's (so the students' sanity warnings stay quiet)."""
    try:
        from kdviz.mnist.data import load_mnist

        mnist = load_mnist(download=False)
        images, labels, source = mnist.train_images[:n], mnist.train_labels[:n], "MNIST"
    except Exception as err:  # no local copy: the timing does not depend on pixel values
        rng = np.random.default_rng(0)
        images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n)
        source = f"random images ({type(err).__name__}; set KDVIZ_DATA_DIR for MNIST)"
    x, y = to_inputs(images, device), to_labels(labels, device)
    noise = torch.randn(n, 10, generator=torch.Generator().manual_seed(0)).to(device)
    teacher_logits = 4 * torch.nn.functional.one_hot(y, 10).float() + noise
    return x, y, teacher_logits, source


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def warm_up(*fns):
    """Run each function once untimed: the first run in a process pays for thread pools and allocator growth."""
    for fn in fns:
        fn()


def median_times(fns, repeats):
    """Median seconds of each function over ``repeats`` rounds, the functions interleaved within a round."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for t, fn in zip(times, fns, strict=True):
            t.append(timed(fn)[0])
    return [float(np.median(t)) for t in times]


def header(title, device):
    print(
        f"{title}\n  device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} cores"
    )
