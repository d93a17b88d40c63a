"""Command line: ``python -m kdviz fetch | distill | sweep`` (see ``--help``)."""

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np


def _fetch(args):
    from .data import MNIST_FILES, default_dir, ensure_file

    folder = default_dir(args.dir)
    for name in MNIST_FILES:
        path = ensure_file(name, folder, download=True)
        print(f"verified {path}")
    print(f"MNIST is ready in {folder}")


def _teacher(args):
    import datetime
    import platform

    import torch

    from .data import load_mnist
    from .experiments import get_preset
    from .teacher_store import SHIPPED_DIR, save_cached
    from .train import choose_device, export_teacher, to_inputs, to_labels, train_teacher

    preset = get_preset(args.preset)
    config = preset.teacher
    device = choose_device(args.device)
    folder = Path(args.out) if args.out else SHIPPED_DIR
    data = load_mnist(args.data_dir)
    x = to_inputs(data.train_images[: config.n_train], device)
    y = to_labels(data.train_labels[: config.n_train], device)
    start = time.perf_counter()
    model, _ = train_teacher(x, y, config, progress=True)
    seconds = time.perf_counter() - start
    save_cached(model, config)
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    record = export_teacher(
        model,
        config,
        data,
        folder,
        f"{args.preset}_teacher",
        {
            "preset": args.preset,
            "command": args.command_line,
            "torch": torch.__version__,
            "device": f"{device.type} ({device_name}, {torch.get_num_threads()} threads)",
            "seconds": round(seconds, 1),
            "created": datetime.date.today().isoformat(),
        },
    )
    print(
        f"teacher: {record['test_errors']} test errors (float16 weights) after {seconds:.0f} s on {device}; "
        f"wrote {folder / record['weights_file']} and its record"
    )


def _distill(args):
    from .data import load_mnist
    from .experiments import PAPER_ERRORS, get_preset, run_distillation

    preset = get_preset(args.preset, args.T, args.alpha, args.hidden, args.seed, args.epochs)
    start = time.perf_counter()
    result = run_distillation(load_mnist(args.data_dir), preset, args.device, progress=not args.json)
    result["seconds"]["total"] = round(time.perf_counter() - start, 2)
    result["preset"] = args.preset
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"\n{args.preset} preset on {result['device']}: {result['n_train']} training images, "
        f"T={preset.T:g}, alpha={preset.alpha:g}, student 784-{preset.student.hidden}x2-10"
    )
    print(f"{'model':<22}{'test errors':>12}{'paper':>8}{'seconds':>10}")
    rows = [
        ("teacher" + (" (cached)" if result["teacher_cached"] else ""), "teacher"),
        ("student alone", "student"),
        ("distilled student", "distilled"),
    ]
    for label, key in rows:
        print(f"{label:<22}{result[key + '_errors']:>12}{PAPER_ERRORS[key]:>8}{result['seconds'][key]:>10.1f}")
    print(f"total {result['seconds']['total']:.1f} s; errors out of 10,000 test images")


def _sweep(args):
    from .data import load_mnist
    from .experiments import get_preset, prepare, run_sweep

    preset = get_preset(args.preset, hidden=args.hidden, seed=args.seed, student_epochs=args.epochs)
    start = time.perf_counter()
    workspace = prepare(load_mnist(args.data_dir), preset, args.device, progress=not args.json)
    grid = run_sweep(workspace, args.T, args.alpha, preset.student, progress=not args.json)
    seconds = round(time.perf_counter() - start, 2)
    if args.json:
        print(
            json.dumps(
                {
                    "T": args.T,
                    "alpha": args.alpha,
                    "errors": grid.tolist(),
                    "seconds": seconds,
                    "device": str(workspace.device),
                    "student_hidden": preset.student.hidden,
                }
            )
        )
        return
    print(f"\ntest errors of 784-{preset.student.hidden}x2-10 students (rows T, columns alpha), {seconds} s")
    print(f"{'T':>8}" + "".join(f"{a:>8g}" for a in args.alpha))
    for T, row in zip(args.T, grid, strict=True):
        print(f"{T:>8g}" + "".join(f"{e:>8d}" for e in np.asarray(row, int)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m kdviz", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    fetch = commands.add_parser("fetch", help="download and verify MNIST into the cache (or --dir)")
    fetch.add_argument("--dir", help="folder to put the files in (default: $KDVIZ_DATA_DIR or the user cache)")
    fetch.set_defaults(run=_fetch)

    def common(p):
        p.add_argument("--preset", choices=["quick", "paper"], default="quick")
        p.add_argument("--hidden", type=int, help="student hidden units per layer")
        p.add_argument("--epochs", type=int, help="student epochs")
        p.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
        p.add_argument("--seed", type=int)
        p.add_argument("--data-dir", help="folder with the MNIST files (default: $KDVIZ_DATA_DIR or the cache)")
        p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    teacher = commands.add_parser("teacher", help="train a preset's teacher and export it as float16 weights")
    teacher.add_argument("--preset", choices=["quick", "paper"], default="paper")
    teacher.add_argument("--device", help="cpu, cuda, mps (default: the best available)")
    teacher.add_argument("--data-dir", help="folder with the MNIST files (default: $KDVIZ_DATA_DIR or the cache)")
    teacher.add_argument("--out", help="folder to export into (default: the package's teachers/ folder)")
    teacher.set_defaults(run=_teacher)

    distill = commands.add_parser("distill", help="teacher, student alone and distilled student")
    common(distill)
    distill.add_argument("--T", type=float, help="temperature of the soft targets")
    distill.add_argument("--alpha", type=float, help="weight of the soft term, in [0, 1]")
    distill.set_defaults(run=_distill)

    sweep = commands.add_parser("sweep", help="a T x alpha grid of students, trained together")
    common(sweep)
    sweep.add_argument("--T", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0, 20.0])
    sweep.add_argument("--alpha", type=float, nargs="+", default=[0.5, 0.9, 1.0])
    sweep.set_defaults(run=_sweep)

    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.command_line = "python -m kdviz " + shlex.join(argv)
    try:
        args.run(args)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
