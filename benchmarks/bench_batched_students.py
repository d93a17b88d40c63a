"""A T x alpha grid of small students trained stacked in one pass against one after another.

    python benchmarks/bench_batched_students.py [--n 20000] [--hidden 30] [--epochs 1]

The grid is 6 temperatures x 5 alphas = 30 students. Both ways run the same code
(``kdviz.mnist.train.train_students``): once with all 30 (T, alpha) pairs, once per pair. Target on a
2-core CPU: >= 2.5x.
"""

import argparse

import numpy as np
from _common import header, timed, transfer_set

from kdviz.mnist.train import StudentConfig, choose_device, train_students

TEMPERATURES = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
ALPHAS = [0.0, 0.25, 0.5, 0.75, 1.0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--hidden", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    device = choose_device()
    x, y, teacher_logits, source = transfer_set(args.n, device)
    T, alpha = (g.ravel() for g in np.meshgrid(TEMPERATURES, ALPHAS, indexing="ij"))
    header(f"{len(T)} students 784-{args.hidden}x2-10, {args.n} {source}, {args.epochs} epoch(s)", device)
    config = StudentConfig(hidden=args.hidden, epochs=args.epochs)
    batched_s, _ = timed(lambda: train_students(x, y, teacher_logits, T, alpha, config, progress=False))
    sequential_s, _ = timed(
        lambda: [
            train_students(x, y, teacher_logits, t, a, config, progress=False) for t, a in zip(T, alpha, strict=True)
        ]
    )
    print(f"  batched (one stacked pass)  {batched_s:7.2f} s")
    print(f"  sequential ({len(T)} runs)       {sequential_s:7.2f} s")
    print(f"  speed-up (sequential / batched): {sequential_s / batched_s:.2f}x")


if __name__ == "__main__":
    main()
