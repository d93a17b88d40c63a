"""Cost of consistent teaching and function matching: an epoch with the teacher labelling each jittered (and mixed)
batch, against fixed soft targets.

    python benchmarks/bench_consistent_teaching.py [--n 60000] [--hidden 800] [--seeds 1] [--epochs 3] [--repeats 3]
        [--threads N]

Each arm trains the same stacked students with kdviz.mnist.train.train_students (T = 8, alpha = 1, the patient
preset's) for --epochs epochs; its cost per epoch is the time between the ends of consecutive epochs after the
first (timed by the run's callback), so what a run does once (set-up, checks, the view table) is left out. Fixed
targets use teacher logits computed once. Consistent teaching (transfer_jitter=2) shifts every batch and takes the
paper teacher's (784-1200-1200-10; the shipped one where it loads, else an untrained one of the same size) logits of
exactly those views: looked up in the table of all 25 views labelled once per run (the default), or from a teacher
pass every step. Function matching (transfer_mixup=1) mixes the shifted views and needs a teacher pass every step:
no table holds mixed views. The table's one-off cost is timed once on its own; the table runs reuse that table. The
arms run in alternation, --repeats rounds, after a warm-up; the ratios of the median epochs are printed, function
matching against consistent teaching with its table first (what choosing function matching costs an epoch).
"""

import argparse
import time
import warnings

import numpy as np
import torch
from _common import header, timed, transfer_set, warm_up

from kdviz.mnist import train
from kdviz.mnist.models import teacher_mlp
from kdviz.mnist.teacher_store import load_shipped
from kdviz.mnist.train import (
    StudentConfig,
    TrainingOptions,
    TrainingWarning,
    choose_device,
    logits_of,
    teacher_view_logits,
    train_students,
)
from kdviz.mnist.workspace import TEACHER_PRESETS


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run: each run times epochs - 1 of them")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads (default: torch's). On a shared machine 1 keeps the timings steady: with 2 threads on 2 "
        "busy cores this benchmark timed fixed targets, the cheapest arm, at twice the view table's epoch (2026-12-06)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = choose_device()
    x, y, _, source = transfer_set(args.n, device)
    shipped = load_shipped(TEACHER_PRESETS["paper"])
    teacher = (shipped[0] if shipped else teacher_mlp(1200, 0.2, 0.5)).to(device).eval()
    teacher_logits = logits_of(teacher, x)
    header(
        f"consistent teaching and function matching, {args.n} {source}, 784-{args.hidden}x2-10 students x "
        f"{args.seeds} seed(s), {'shipped' if shipped else 'untrained'} paper-size teacher",
        device,
    )
    seeds = list(range(args.seeds))

    def run(epochs, n=None, callback=None, **teaching):
        config = StudentConfig(hidden=args.hidden, epochs=epochs)
        options = TrainingOptions(**teaching, callback=callback)
        targets = None if teaching else teacher_logits[:n]
        return train_students(x[:n], y[:n], targets, 8.0, 1.0, config, seeds, options, progress=False)

    def fixed(epochs, n=None, callback=None):
        return run(epochs, n, callback)

    def consistent(epochs, n=None, callback=None):
        return run(epochs, n, callback, teacher=teacher, transfer_jitter=2)

    def matching(epochs, n=None, callback=None):
        return run(epochs, n, callback, teacher=teacher, transfer_jitter=2, transfer_mixup=1.0)

    def consistent_with_table(epochs, n=None, callback=None):
        built = train.teacher_view_logits
        train.teacher_view_logits = lambda teacher, x, k: table if len(x) == len(table) else built(teacher, x, k)
        try:
            return consistent(epochs, n, callback)
        finally:
            train.teacher_view_logits = built

    def consistent_every_step(epochs, n=None, callback=None):
        table_limit, train.VIEW_TABLE_MAX_BYTES = train.VIEW_TABLE_MAX_BYTES, 0
        try:
            return consistent(epochs, n, callback)
        finally:
            train.VIEW_TABLE_MAX_BYTES = table_limit

    def epoch_seconds(arm):
        """Seconds of each epoch after the first of one --epochs run (the callback ends each epoch; on a GPU the
        epoch's mean loss, read back to the CPU before it, has waited for the epoch's work)."""
        ends = []
        arm(args.epochs, callback=lambda epoch, history: ends.append(time.perf_counter()))
        return np.diff(ends).tolist()

    warnings.simplefilter("ignore", TrainingWarning)  # a short one-cycle run may clip: the timing is the point
    warm_up(*(lambda arm=arm: arm(1, 2048) for arm in (fixed, consistent, consistent_every_step, matching)))
    table_s, table = timed(lambda: teacher_view_logits(teacher, x, 2))
    arms = (fixed, consistent_with_table, consistent_every_step, matching)
    times = [[] for _ in arms]
    for _ in range(args.repeats):  # in alternation: a change in the machine's load reaches every arm alike
        for t, arm in zip(times, arms, strict=True):
            t.extend(epoch_seconds(arm))
    fixed_s, table_epoch_s, every_step_s, matching_s = [float(np.median(t)) for t in times]
    print(
        f"  an epoch: the median of {len(times[0])} ({args.repeats} runs of {args.epochs} epochs, the first left out)"
    )
    print(f"  fixed soft targets                        {fixed_s:7.2f} s an epoch")
    print(f"  consistent, targets from the view table   {table_epoch_s:7.2f} s an epoch, after {table_s:.2f} s once")
    print(f"  consistent, a teacher pass every step     {every_step_s:7.2f} s an epoch")
    print(f"  function matching, a teacher pass a step  {matching_s:7.2f} s an epoch")
    print(f"  ratio (function matching / consistent with the table, per epoch): {matching_s / table_epoch_s:.2f}x")
    print(f"  ratio (consistent with the table / fixed, per epoch):            {table_epoch_s / fixed_s:.2f}x")
    print(f"  ratio (teacher every step / fixed, per epoch):                   {every_step_s / fixed_s:.2f}x")
    print(f"  ratio (function matching / fixed, per epoch):                    {matching_s / fixed_s:.2f}x")


if __name__ == "__main__":
    main()
