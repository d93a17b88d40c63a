"""One press of the distillation lab at its full-size default (kdviz.widgets.lab.PRESS_EPOCHS epochs on the first
kdviz.widgets.lab.PRESS_IMAGES transfer images): 3 seeds of a 100-unit student, test errors counted and the live curve
drawn after every epoch.

    python benchmarks/bench_lab_press.py [--seeds 3] [--hidden 100] [--repeats 3]

Target on a 2-core CPU: <= 4 s a press with 3 seeds. The ratio printed is three one-seed presses against
one press that trains the three seeds stacked, both measured in this run (medians, alternating, after a
warm-up press of each).
"""

import argparse

import numpy as np
from _common import header, median_times, transfer_set, warm_up

from kdviz.mnist.train import choose_device, to_inputs, to_labels
from kdviz.mnist.workspace import Workspace
from kdviz.widgets.lab import PRESS_EPOCHS, PRESS_IMAGES, distillation_lab


def test_set(device):
    try:
        from kdviz.mnist.data import load_mnist

        mnist = load_mnist(download=False)
        return to_inputs(mnist.test_images, device), to_labels(mnist.test_labels, device)
    except Exception:  # the timing does not depend on pixel values
        rng = np.random.default_rng(1)
        images, labels = rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8), rng.integers(0, 10, 10000)
        return to_inputs(images, device), to_labels(labels, device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = choose_device()
    x, y, teacher_logits, source = transfer_set(60000, device)
    x_test, y_test = test_set(device)
    workspace = Workspace(x, y, x_test, y_test, None, teacher_logits, {"source": "benchmark", "seconds": 0.0}, device)
    header(
        f"lab press: {args.seeds} seeds of 784-{args.hidden}x2-10, {PRESS_EPOCHS} epochs on {PRESS_IMAGES:,} {source}",
        device,
    )

    def press(seeds):
        lab = distillation_lab(workspace, hidden=args.hidden, seeds=seeds)
        return lambda: lab.train()

    stacked, one_seed = press(args.seeds), press(1)

    def one_by_one():
        for _ in range(args.seeds):
            one_seed()

    warm_up(stacked, one_seed)
    stacked_s, separate_s = median_times([stacked, one_by_one], args.repeats)
    print(f"  one press, {args.seeds} seeds stacked      {stacked_s:6.2f} s   (target <= 4 s on a 2-core CPU)")
    print(f"  {args.seeds} one-seed presses             {separate_s:6.2f} s")
    print(f"  ratio (separate / stacked): {separate_s / stacked_s:.2f}x")


if __name__ == "__main__":
    main()
