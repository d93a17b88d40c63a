"""How close the printed time estimate comes to the run it estimates (kdviz.mnist.timing's probe).

    python benchmarks/bench_time_estimate.py [--n 15000] [--hidden 300] [--epochs 3] [--seeds 3] [--threads 0]

Estimates a stacked run of students with kdviz.mnist.timing.estimate_seconds (a few seconds' probe of the same
stack), then trains that run with kdviz.mnist.train.train_students and prints estimate / measured. --threads 1 pins
torch to one thread, which keeps the ratio steady on a busy machine; 0 leaves torch's default.
"""

import argparse
import time

import torch
from _common import header, transfer_set

from kdviz.mnist.timing import estimate_seconds
from kdviz.mnist.train import StudentConfig, choose_device, train_students
from kdviz.mnist.workspace import Workspace


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=15000)
    parser.add_argument("--hidden", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device()
    x, y, teacher_logits, source = transfer_set(args.n, device)
    workspace = Workspace(x, y, x[:1000], y[:1000], None, teacher_logits, {"cached": True, "seconds": 0.0}, device)
    header(
        f"time estimate, {args.n} {source}, 784-{args.hidden}x2-10 x {args.seeds} seeds, {args.epochs} epochs", device
    )
    estimate = estimate_seconds(workspace, args.hidden, args.epochs, n_seeds=args.seeds)
    start = time.perf_counter()
    config = StudentConfig(hidden=args.hidden, epochs=args.epochs)
    train_students(x, y, teacher_logits, 4.0, 0.5, config, seeds=list(range(args.seeds)), progress=False)
    measured = time.perf_counter() - start
    print(f"  estimated {estimate:7.1f} s, measured {measured:7.1f} s")
    print(f"  ratio (estimate / measured): {estimate / measured:.2f}x")


if __name__ == "__main__":
    main()
