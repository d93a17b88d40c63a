"""Cost of consistent teaching: an epoch with the teacher labelling each jittered batch, against fixed soft targets.

    python benchmarks/bench_consistent_teaching.py [--n 60000] [--hidden 800] [--seeds 1] [--repeats 3]

Both runs train the same stacked students for one epoch with kdviz.train.train_students. Fixed targets use
teacher logits computed once; consistent teaching (transfer_jitter=2) shifts every batch and runs the
paper teacher (784-1200-1200-10; the shipped one where it loads, else an untrained one of the same size)
on it. Timed in alternation after a warm-up; the ratio of the medians is printed.
"""

import argparse

from _common import header, median_times, transfer_set, warm_up

from kdviz.experiments import TEACHER_PRESETS
from kdviz.models import teacher_mlp
from kdviz.teacher_store import load_shipped
from kdviz.train import StudentConfig, choose_device, logits_of, train_students


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

    warm_up(lambda: fixed(2048), lambda: consistent(2048))
    fixed_s, consistent_s = median_times([fixed, consistent], args.repeats)
    print(f"  median of {args.repeats} runs each, alternating")
    print(f"  fixed soft targets     {fixed_s:7.2f} s an epoch")
    print(f"  consistent teaching    {consistent_s:7.2f} s an epoch")
    print(f"  ratio (consistent / fixed time per epoch): {consistent_s / fixed_s:.2f}x")


if __name__ == "__main__":
    main()
