"""Cost of consistent teaching: an epoch with the teacher labelling each jittered batch, against fixed soft targets.

    python benchmarks/bench_consistent_teaching.py [--n 60000] [--hidden 800] [--seeds 1] [--repeats 3]

Each run trains the same stacked students for one epoch with kdviz.train.train_students. Fixed targets use
teacher logits computed once. Consistent teaching (transfer_jitter=2) shifts every batch and takes the paper
teacher's (784-1200-1200-10; the shipped one where it loads, else an untrained one of the same size) logits of
exactly those views: looked up in the table of all 25 views labelled once per run (the default), or from a
teacher pass every step. The table's one-off cost is timed on its own and taken off the table run's epoch.
Timed in alternation after a warm-up; the ratios of the medians are printed.
"""

import argparse
import warnings

from _common import header, median_times, transfer_set, warm_up

from kdviz import train
from kdviz.experiments import TEACHER_PRESETS
from kdviz.models import teacher_mlp
from kdviz.teacher_store import load_shipped
from kdviz.train import StudentConfig, TrainingWarning, choose_device, logits_of, teacher_view_logits, train_students


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000)
    parser.add_argument("--hidden", type=int, default=800)
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = choose_device()
    x, y, _, source = transfer_set(args.n, device)
    shipped = load_shipped(TEACHER_PRESETS["paper"])
    teacher = (shipped[0] if shipped else teacher_mlp(1200, 0.2, 0.5)).to(device).eval()
    teacher_logits = logits_of(teacher, x)
    header(
        f"consistent teaching, {args.n} {source}, 784-{args.hidden}x2-10 students x {args.seeds} seed(s), one epoch, "
        f"{'shipped' if shipped else 'untrained'} paper-size teacher",
        device,
    )
    config = StudentConfig(hidden=args.hidden, epochs=1)
    seeds = list(range(args.seeds))

    def fixed(n=None):
        return train_students(x[:n], y[:n], teacher_logits[:n], 8.0, 1.0, config, seeds=seeds, progress=False)

    def consistent(n=None):
        return train_students(
            x[:n], y[:n], None, 8.0, 1.0, config, seeds=seeds, teacher=teacher, transfer_jitter=2, progress=False
        )

    def consistent_every_step(n=None):
        table_limit, train.VIEW_TABLE_MAX_BYTES = train.VIEW_TABLE_MAX_BYTES, 0
        try:
            return consistent(n)
        finally:
            train.VIEW_TABLE_MAX_BYTES = table_limit

    def table():
        return teacher_view_logits(teacher, x, 2)

    warnings.simplefilter("ignore", TrainingWarning)  # one epoch at a one-cycle peak clips: the timing is the point
    warm_up(lambda: fixed(2048), lambda: consistent(2048), lambda: consistent_every_step(2048))
    fixed_s, table_run_s, every_step_s, table_s = median_times(
        [fixed, consistent, consistent_every_step, table], args.repeats
    )
    table_epoch_s = table_run_s - table_s
    print(f"  median of {args.repeats} runs each, alternating")
    print(f"  fixed soft targets                        {fixed_s:7.2f} s an epoch")
    print(f"  consistent, targets from the view table   {table_epoch_s:7.2f} s an epoch, after {table_s:.2f} s once")
    print(f"  consistent, a teacher pass every step     {every_step_s:7.2f} s an epoch")
    print(f"  ratio (consistent with the table / fixed, per epoch): {table_epoch_s / fixed_s:.2f}x")
    print(f"  ratio (teacher every step / fixed, per epoch):        {every_step_s / fixed_s:.2f}x")


if __name__ == "__main__":
    main()
