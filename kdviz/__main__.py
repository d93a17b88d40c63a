"""Command line: python -m kdviz fetch | teacher | distill | sweep | consistency | record | record-lab | site |
assignment (also installed as `kdviz`)."""

import argparse
import difflib
import json
import os
import shlex
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np

from . import _checks
from ._checks import MAX_HIDDEN, MAX_SEED
from .course.documents import DOC_FILES
from .course.lab_record import FULL_GRID, T_RANGE

ROOT_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

DESCRIPTION = """The Dark Knowledge notebooks' experiments from the command line.

  fetch    download MNIST and check every file's sha256
  teacher  train a preset's teacher and export it as float16 weights plus a JSON record
  distill  the paper's comparison: teacher, student alone, distilled student
  sweep    a T x alpha grid of students, trained together in one stacked pass
  consistency  fixed soft targets, consistent teaching and function matching, chosen on a validation split
  site     the course as a static website (executed notebooks, Jupyter Book; needs the site extra)
  record   run the lessons at full size and rewrite the docs' recorded blocks from that run
  record-lab  train lesson 04's lab over a grid of T, alpha and student size, for the course site
  assignment  the exercises as an nbgrader course to grade, or (--student-copy) a self-study copy

Every argument is checked before any data is loaded or any network trained."""


class DefaultsShown(argparse.HelpFormatter):
    """Help that shows each option's default where it has one (None means: decided later, said in the help)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default not in (None, False, argparse.SUPPRESS) and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def program_name():
    """How the user started the command line: `kdviz` (the installed command) or `python -m kdviz`."""
    return "kdviz" if sys.argv and Path(sys.argv[0]).stem == "kdviz" else "python -m kdviz"


def report_error(message):
    """``message`` as one line on stderr, with the commands it suggests spelled as the user started the program."""
    message = " ".join(str(message).split()).replace("python -m kdviz", program_name())
    print(f"error: {message}", file=sys.stderr)


class OneLineErrors(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2), without the usage block."""

    def error(self, message):
        report_error(f"{message} (see `{self.prog} --help`)")
        sys.exit(2)

    def reject_unknown(self, extras):
        """The error for arguments this (sub)command does not take, suggesting its closest flag for each."""
        flags = sorted(self._option_string_actions)
        guesses = {}
        for extra in extras:
            typed = extra.split("=", 1)[0]
            close = difflib.get_close_matches(typed, flags, n=1) if typed.startswith("-") else []
            if close:
                guesses[typed] = close[0]
        if len(guesses) == 1:
            hint = f"; did you mean {next(iter(guesses.values()))}?"
        else:
            hint = "; did you mean " + " and ".join(f"{flag} for {typed}" for typed, flag in guesses.items()) + "?"
        self.error(f"unrecognized arguments: {' '.join(extras)}" + (hint if guesses else ""))


def _checked(check, text, kind, *args):
    """``check(value, *args)`` on ``text`` read as ``kind``; its complaint as argparse's."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
        ) from None
    try:
        return check(value, *args)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).replace(f"got {value!r}", f"got {text}")) from None


def count(text):
    return _checked(_checks.count, text, int, "the value")


def hidden_units(text):
    return _checked(_checks.count, text, int, "hidden units per layer", 1, MAX_HIDDEN)


def temperature(text):
    maximum = _checks.MAX_TEMPERATURE["float32"]
    return _checked(_checks.number, text, float, "a temperature", 0, maximum, True, False)


def lab_temperature(text):
    return _checked(_checks.number, text, float, "a temperature of the lab's slider", *T_RANGE)


def images(text):
    return _checked(_checks.count, text, int, "the value", 1, 60000)


def held_out(text):
    return _checked(_checks.count, text, int, "the value", 0)


def mixup_concentration(text):
    return _checked(_checks.number, text, float, "the value", 0, float("inf"), True)


def pixels(text):
    return _checked(_checks.shift, text, int, "the value")


def weight(text):
    return _checked(_checks.weight, text, float)


def seed(text):
    return _checked(_checks.count, text, int, "a seed", 0, MAX_SEED)


def folder_name(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("the folder name is empty: give a folder (an empty name is not '.')")
    return text


def existing_folder(text):
    path = Path(folder_name(text)).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"no such folder: {path} (make one with `python -m kdviz fetch --dir {shlex.quote(text)}`)"
        )
    return str(path)


def binder_repository(text):
    from .course.binder import checked_repository

    try:
        return checked_repository(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix("--binder-repo ")) from None


def device_name(text):
    from .mnist.train import choose_device

    try:
        return str(choose_device(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _fetch(args):
    from .mnist.data import MNIST_FILES, MnistDownloadFailed, default_dir, ensure_file

    folder = default_dir(args.dir)
    made = [p for p in (folder, *folder.parents) if not p.exists()]  # the folders this command makes
    folder.mkdir(parents=True, exist_ok=True)  # fetch is the one command that makes its folder
    try:
        for name in MNIST_FILES:
            path = ensure_file(name, folder, download=True)
            print(f"verified {path}")
    except MnistDownloadFailed as err:
        for made_folder in made:  # leave no empty folder behind (verified files already fetched stay)
            if made_folder.is_dir() and not any(made_folder.iterdir()):
                made_folder.rmdir()
        prog = program_name()
        raise MnistDownloadFailed(
            f"could not download MNIST ({'; '.join(dict.fromkeys(err.reasons))}): check the internet connection "
            f"and run `{prog} fetch` again, or run `{prog} fetch --dir DIR` on a machine with internet access "
            "and copy DIR here",
            err.reasons,
        ) from None
    print(f"MNIST is ready in {folder}")


def _teacher(args):
    import datetime
    import platform

    import torch

    from .mnist.data import load_mnist
    from .mnist.teacher_store import SHIPPED_DIR, save_cached
    from .mnist.timing import format_seconds
    from .mnist.train import choose_device, export_teacher, to_inputs, to_labels, train_teacher
    from .mnist.workspace import TEACHER_PRESETS

    config = TEACHER_PRESETS[args.preset]
    folder = Path(args.out) if args.out else SHIPPED_DIR
    name = f"{args.preset}_teacher"
    if args.out and folder.exists() and not folder.is_dir():
        raise ValueError(f"--out {folder} is a file, not a folder: give the folder to export into")
    if args.out and any((folder / f"{name}{ext}").exists() for ext in (".pt", ".json")):
        raise ValueError(f"{folder / name}.pt or .json exists already: move it away or choose another --out")
    writable = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if writable is None or not os.access(writable, os.W_OK):
        raise ValueError(f"cannot write into {folder}: choose a writable folder with --out")
    device = choose_device(args.device)
    data = load_mnist(args.data_dir)
    x = to_inputs(data.train_images[: config.n_train], device)
    y = to_labels(data.train_labels[: config.n_train], device)
    start = time.perf_counter()
    model, _ = train_teacher(x, y, config, progress=True)
    seconds = time.perf_counter() - start
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    how = {
        "preset": args.preset,
        "command": args.command_line,
        "torch": torch.__version__,
        "device": f"{device.type} ({where}, {torch.get_num_threads()} threads)",
        "seconds": round(seconds, 1),
        "created": datetime.date.today().isoformat(),
    }
    try:  # the export is what this command is for: write it first, and never lose the model if it fails
        record = export_teacher(model, config, data, folder, name, how)
    except Exception as err:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cached = save_cached(model, config)
        kept = (
            f"The trained teacher was cached at {cached} (load_or_train_teacher and `distill` use it when "
            "KDVIZ_NO_SHIPPED_TEACHER=1 or no shipped teacher matches)."
            if cached
            else "It could not be cached either (" + "; ".join(str(w.message) for w in caught) + ")."
        )
        raise RuntimeError(
            f"could not export the teacher to {folder / name}.pt and .json: {type(err).__name__}: {err}. {kept}"
        ) from err
    save_cached(model, config)
    print(
        f"teacher: {record['test_errors']} test errors with its float16 weights, trained in {format_seconds(seconds)} "
        f"on {device}; wrote {folder / record['weights_file']} and {record['weights_file'].replace('.pt', '.json')}"
    )


def _distill(args):
    from .mnist.data import load_mnist
    from .mnist.workspace import get_preset
    from .mnist_distillation import PAPER_ERRORS, run_distillation
    from .noise import spread

    preset = get_preset(args.preset, args.T, args.alpha, args.hidden, args.seed, args.epochs, args.transfer_jitter)
    start = time.perf_counter()
    result = run_distillation(load_mnist(args.data_dir), preset, args.device, args.seeds, progress=not args.json)
    result["seconds"]["total"] = round(time.perf_counter() - start, 2)
    result["preset"] = args.preset
    if args.json:
        print(json.dumps(result))
        return
    seeds = f"{args.seeds} seed{'s' if args.seeds > 1 else ''} each ({', '.join(map(str, result['seeds']))})"
    print(
        f"\n{args.preset} preset on {result['device']}: {result['n_train']} training images, T={preset.T:g}, "
        f"alpha={preset.alpha:g}, student 784-{preset.student.hidden}x2-10, {preset.student.epochs} epochs, {seeds}"
    )
    source = {"shipped": "shipped with kdviz", "cache": "from the cache", "trained": "trained now"}
    print(
        f"teacher ({source[result['teacher_source']]}): {result['teacher_errors']} test errors "
        f"(paper {PAPER_ERRORS['teacher']})"
    )
    print(f"{'':<20}{'test errors: mean':>18}{'sd':>7}{'range':>12}{'paper':>8}")
    for label, key in (("student alone", "student"), ("distilled student", "distilled")):
        s = spread(result[f"{key}_errors"])
        print(f"{label:<20}{s.mean:>18.1f}{s.sd:>7.1f}{f'{s.low}-{s.high}':>12}{PAPER_ERRORS[key]:>8}")
    print(result["verdict"])
    print(
        f"students trained in {result['seconds']['students']:.0f} s; total {result['seconds']['total']:.0f} s; "
        "errors out of 10,000 test images"
    )


def _sweep(args):
    from .mnist.data import load_mnist
    from .mnist.workspace import get_preset, prepare
    from .mnist_distillation import run_sweep

    overrides = {"hidden": args.hidden, "seed": args.seed, "student_epochs": args.epochs}
    preset = get_preset(args.preset, transfer_jitter=args.transfer_jitter, **overrides)
    start = time.perf_counter()
    workspace = prepare(load_mnist(args.data_dir), preset, args.device, progress=not args.json)
    errors = run_sweep(workspace, args.T, args.alpha, preset.student, args.seeds, not args.json, preset.transfer_jitter)
    seconds = round(time.perf_counter() - start, 2)
    mean = errors.mean(axis=-1)
    sd = errors.std(axis=-1, ddof=1) if args.seeds > 1 else np.zeros_like(mean)
    if args.json:
        print(
            json.dumps(
                {
                    "T": args.T,
                    "alpha": args.alpha,
                    "seeds": [preset.student.seed + k for k in range(args.seeds)],
                    "errors": errors.tolist(),
                    "errors_mean": mean.round(2).tolist(),
                    "errors_sd": sd.round(2).tolist(),
                    "seconds": seconds,
                    "device": str(workspace.device),
                    "student_hidden": preset.student.hidden,
                    "student_epochs": preset.student.epochs,
                }
            )
        )
        return
    cell = "mean +- sd" if args.seeds > 1 else "one seed"
    print(
        f"\ntest errors of 784-{preset.student.hidden}x2-10 students, {cell} over {args.seeds} seed(s) "
        f"(rows T, columns alpha), {seconds:.0f} s"
    )
    width = 14 if args.seeds > 1 else 8
    print(f"{'T':>8}" + "".join(f"{a:>{width}g}" for a in args.alpha))
    for T, row_mean, row_sd in zip(args.T, mean, sd, strict=True):
        cells = [f"{m:.1f} +- {s:.1f}" if args.seeds > 1 else f"{m:.0f}" for m, s in zip(row_mean, row_sd, strict=True)]
        print(f"{T:>8g}" + "".join(f"{c:>{width}}" for c in cells))
    if args.seeds == 1:
        print("one seed per cell: differences between cells may be noise (use --seeds 3 to measure the spread)")


ARM_FLAGS = {"fixed": "fixed targets", "consistent": "consistent teaching", "matching": "function matching"}


def _consistency(args):
    import torch

    from .course.record import write_record
    from .dark_knowledge import choice_sentence, compare_teaching, errors_table
    from .mnist.data import load_mnist
    from .mnist.workspace import get_preset, prepare
    from .noise import spread

    preset = get_preset(args.preset, args.T, args.alpha, args.hidden, args.seed, args.epochs, args.transfer_jitter)
    args.arms = args.arms or ["fixed", "consistent"]
    n_images = args.images or preset.n_transfer
    save = Path(args.save) if args.save else None
    if args.transfer_jitter == 0:
        raise ValueError(
            f"--transfer-jitter 0 is fixed soft targets (the arm fixed): give 1-{_checks.MAX_SHIFT} for consistent "
            "teaching and function matching"
        )
    repeated = sorted({arm for arm in args.arms if args.arms.count(arm) > 1})
    if repeated:
        raise ValueError(f"--arms names {', '.join(repeated)} more than once")
    if args.validation >= n_images:
        raise ValueError(f"--validation {args.validation} leaves no training images of the {n_images}")
    if args.validation == 0 and len(args.arms) != 1:
        raise ValueError(
            "--validation 0 trains on every image and leaves nothing to choose on: give one arm, the recipe chosen "
            "before on validation images (e.g. --arms matching)"
        )
    if args.transfer_mixup is not None and "matching" not in args.arms:
        raise ValueError("--transfer-mixup is for the matching arm: add matching to --arms")
    if "matching" in args.arms and preset.alpha != 1:
        raise ValueError(
            f"--arms matching trains the soft term alone (a mixed image has no one label): give --alpha 1, not "
            f"{preset.alpha:g}"
        )
    preset = replace(preset, n_transfer=n_images)
    run = {"preset": args.preset, "command": args.command_line, "date": time.strftime("%Y-%m-%d")}
    run.update(torch=torch.__version__, torch_threads=torch.get_num_threads())
    start = time.perf_counter()
    workspace = prepare(load_mnist(args.data_dir), preset, args.device, progress=not args.json)

    def write(result, complete=False):
        result.update(run, complete=complete, seconds_total=round(time.perf_counter() - start, 1))
        if save is not None:
            write_record(result, save)  # indented JSON through a temporary file: never half-written

    try:
        result = compare_teaching(
            workspace,
            preset,
            args.seeds,
            args.validation,
            args.transfer_jitter,
            progress=not args.json,
            on_epoch=write,
            arms=[ARM_FLAGS[arm] for arm in args.arms],
            transfer_mixup=args.transfer_mixup,
        )
    except KeyboardInterrupt:
        kept = f": every epoch finished so far is in {save} (complete: false)" if save and save.exists() else ""
        raise KeyboardInterrupt(kept.removeprefix(": ")) from None
    write(result, complete=True)
    if args.json:
        print(json.dumps(result))
        return
    split = (
        f"{result['n_train']:,} training and {result['n_validation']:,} validation images"
        if result["n_validation"]
        else f"all {result['n_train']:,} training images, no validation split"
    )
    print(
        f"\n{args.preset} preset on {result['device']}: 784-{result['student_hidden']}x2-10 students, "
        f"T={result['T']:g}, alpha={result['alpha']:g}, {result['epochs']} epochs, seeds {result['seeds']}; {split}"
    )
    key, label = ("val_errors", "validation errors") if result["n_validation"] else ("test_errors", "test errors")
    print(f"{'':<22}{label:>20}{'seconds':>10}")
    for arm, curves in result["arms"].items():
        print(f"{arm:<22}{spread(curves[key][-1]).text():>20}{curves['seconds']:>10.0f}")
    print(result["verdict"])
    print(choice_sentence(result))
    print("\nerrors against epochs (mean over seeds, seed range):\n" + errors_table(result))
    print(f"total {result['seconds_total']:.0f} s" + (f"; every epoch's errors are in {save}" if save else ""))


def _record(args):
    from .course import documents, record
    from .runmode import env_flag, quick_mode

    root = Path.cwd()
    if not all((root / doc).is_file() for doc in documents.DOC_FILES):
        raise ValueError(
            f"run `python -m kdviz record` at the top of a kdviz checkout ({root} lacks one of "
            f"{', '.join(documents.DOC_FILES)})"
        )
    canonical = root / record.RECORD_FILE
    if args.docs_only or args.check:
        source = Path(args.out) if args.out else canonical
        recorded = documents.read_record(source)
        if args.check:
            stale = documents.stale_blocks(recorded, root)
            print(f"differ from {source}: {', '.join(stale)}" if stale else f"every recorded block matches {source}")
            return 1 if stale else 0
        refusal = _docs_refusal(recorded, args.rewrite_docs)
        if refusal:
            raise ValueError(f"{source}: {refusal}")
        return _rewrite_docs(recorded, root)
    quick = quick_mode()
    if args.out is None and quick:
        raise ValueError(
            "quick mode (KDVIZ_QUICK=1) would overwrite the full-size record: give --out for a quick record"
        )
    out = Path(args.out) if args.out else canonical
    if args.out is not None and (out.exists() or out.is_symlink()):
        raise ValueError(f"--out {out} exists (nothing is overwritten): choose a new file")
    if not out.parent.is_dir():
        raise ValueError(f"--out {out}: no folder {out.parent}")
    if env_flag("KDVIZ_NO_SHIPPED_TEACHER"):
        raise ValueError("unset KDVIZ_NO_SHIPPED_TEACHER: the record measures the lessons as they ship")
    if args.keep_executed:
        Path(args.keep_executed).mkdir(parents=True, exist_ok=True)
    try:
        import nbclient  # noqa: F401
        import psutil  # noqa: F401
    except ImportError:
        raise ValueError(
            "the record runs notebooks with nbclient and samples the load with psutil: pip install -e '.[lab]'"
        ) from None
    from .mnist.data import MNIST_FILES, default_dir, ensure_file

    for name in MNIST_FILES:  # fail now, not after an hour, when MNIST cannot be had
        ensure_file(name, default_dir())
    commands = {"distill": record.distill_command(quick)}
    recorded = record.record_run(root / "notebooks", commands, quick, timeout=args.timeout, keep=args.keep_executed)
    record.write_record(recorded, out)
    print(f"wrote {out} ({recorded['seconds']:.0f} s in all; {documents.load_phrase(recorded)})")
    refusal = _docs_refusal(recorded, args.rewrite_docs)
    if refusal is None and out.resolve() != canonical.resolve():
        refusal = f"the documentation quotes {record.RECORD_FILE}, not {out}"
    if refusal:
        print(f"the documentation is left alone: {refusal}")
        return 0
    return _rewrite_docs(recorded, root)


def _docs_refusal(recorded, rewrite_anyway):
    """Why the documentation must not be rendered from ``recorded`` (None when it may)."""
    from .course import documents

    if recorded["mode"] != "full":
        return "a quick-mode record (test sizes): the documentation quotes full-size runs only"
    if not documents.is_quiet(recorded) and not rewrite_anyway:
        return (
            f"the run was {documents.load_phrase(recorded)}; record again on a quiet machine, or give "
            "--rewrite-docs to quote these times anyway"
        )
    return None


def _rewrite_docs(recorded, root):
    from .course import documents

    changed = documents.write_docs(recorded, root)
    print(f"rewrote the recorded blocks in {', '.join(changed)}" if changed else "the recorded blocks were up to date")
    return 0


def _record_lab(args):
    from .course.lab_record import LAB_RECORD_FILE, checked_grid, record_lab, write_lab_record
    from .mnist.data import load_mnist
    from .mnist.workspace import get_preset, prepare
    from .runmode import pick, quick_mode
    from .widgets.lab import PRESS_EPOCHS, PRESS_IMAGES

    grid = checked_grid(args.T, args.alpha, args.hidden)
    canonical = ROOT_NOTEBOOKS.parent / LAB_RECORD_FILE
    if args.out is None and quick_mode():
        raise ValueError("quick mode (KDVIZ_QUICK=1) would overwrite the full-size lab record: give --out")
    if args.out is None and not canonical.parent.is_dir():
        raise ValueError(f"no {canonical.parent} folder (kdviz is not run from its checkout): give --out")
    out = Path(args.out) if args.out else canonical
    if args.out is not None:
        _check_new_file(out, "--out")
    mnist = load_mnist(args.data_dir)
    workspace = prepare(mnist, get_preset(pick(full="paper", quick="quick")), args.device)
    epochs, images = pick(full=PRESS_EPOCHS, quick=1), pick(full=PRESS_IMAGES, quick=2000)
    n = len(grid["T"]) * (len(grid["alpha"]) - (0.0 in grid["alpha"])) + (0.0 in grid["alpha"])
    print(
        f"training {n} settings x 3 seeds for each of {len(grid['hidden'])} student sizes, {epochs} epochs on the "
        f"first {min(images, len(workspace.x_train)):,} transfer images, as the lab's presses do"
    )
    recorded = record_lab(workspace, mnist.test_images, grid, epochs, images)
    recorded.update(mode="quick" if quick_mode() else "full", command=args.command_line)
    write_lab_record(recorded, out)
    print(f"wrote {out} ({recorded['seconds']:.0f} s of training and counting)")


def _site(args):
    from .course.site import build_site

    start = time.perf_counter()
    index = build_site(
        args.out,
        executed=args.executed,
        quick=args.quick,
        notebooks=args.notebooks,
        lecturer=args.lecturer,
        binder_repo=args.binder_repo,
        record=args.record,
        lab_record=args.lab_record,
        timeout=args.timeout,
        keep_executed=args.keep_executed,
    )
    size = sum(f.stat().st_size for f in Path(args.out).rglob("*") if f.is_file())
    edition = "the lecturer's edition" if args.lecturer else "the students' edition"
    print(
        f"{edition} built in {time.perf_counter() - start:.0f} s ({size / 1e6:.0f} MB): open {index}, "
        f"or serve it with `python -m http.server -d {args.out}`"
    )


def _assignment(args):
    from .course.assignments import lessons, points, write_course, write_student_copy
    from .exercises import EXERCISES

    if args.student_copy:
        paths = write_student_copy(args.out)
        print(f"wrote {len(paths)} self-study notebooks into {args.out}: {', '.join(p.name for p in paths)}")
        return
    written = write_course(args.out)
    for (assignment, path), names in zip(written.items(), lessons().values(), strict=True):
        worth = sum(points(EXERCISES[name]) for name in names)
        print(f"{assignment}: {len(names)} exercises, {worth} points ({path})")
    out = shlex.quote(args.out)
    print(
        f"an nbgrader course in {args.out} (needs the grading extra: pip install -e '.[grading]'). Release: "
        f"cd {out} && nbgrader generate_assignment 'lesson*'; grade what is in submitted/STUDENT/ASSIGNMENT/: "
        "nbgrader autograde ASSIGNMENT"
    )


def new_folder(text):
    path = Path(text)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise argparse.ArgumentTypeError(f"{text} exists and is not an empty folder (nothing is overwritten)")
    return text


def build_parser():
    """The parser and its subparsers action (``commands.choices`` maps a command's name to its parser)."""
    parser = OneLineErrors(
        prog=program_name(), description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineErrors)
    shown = DefaultsShown

    fetch = commands.add_parser("fetch", help="download and verify MNIST", formatter_class=shown)
    fetch.add_argument(
        "--dir",
        type=folder_name,
        help="folder to put the files in (made if needed) (default: $KDVIZ_DATA_DIR, else the per-user cache)",
    )
    fetch.set_defaults(run=_fetch)

    def data_and_device(p):
        p.add_argument("--device", type=device_name, help="cpu, cuda or mps (default: cuda, then mps, then cpu)")
        p.add_argument(
            "--data-dir",
            type=existing_folder,
            help="folder with the MNIST files (default: $KDVIZ_DATA_DIR, else the per-user cache)",
        )

    teacher = commands.add_parser("teacher", help="train a preset's teacher and export it", formatter_class=shown)
    teacher.add_argument(
        "--preset",
        choices=["paper", "small"],
        default="paper",
        help="paper: the shipped teacher's recipe; small: 10,000 images, 12 epochs",
    )
    data_and_device(teacher)
    teacher.add_argument("--out", help="folder to export into (default: the package's teachers/ folder)")
    teacher.set_defaults(run=_teacher)

    def students(p):
        p.add_argument(
            "--preset",
            choices=["quick", "paper", "patient"],
            default="quick",
            help="data size and network sizes (patient: consistent teaching, 150 epochs, an hour or more on a CPU)",
        )
        p.add_argument(
            "--transfer-jitter",
            type=pixels,
            metavar="PIXELS",
            help="consistent teaching: shift each transfer batch by up to PIXELS and let the teacher label "
            "that very view (default: the preset's; 0 = fixed soft targets)",
        )
        p.add_argument(
            "--hidden",
            type=hidden_units,
            help=f"student hidden units per layer, up to {MAX_HIDDEN} (default: the preset's)",
        )
        p.add_argument("--epochs", type=count, help="student epochs (default: the preset's)")
        p.add_argument("--seeds", type=count, default=1, help="seeds per setting, trained stacked in one pass")
        p.add_argument("--seed", type=seed, help="first seed (the others follow it) (default: 0)")
        data_and_device(p)
        p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")

    distill = commands.add_parser("distill", help="teacher, student alone and distilled student", formatter_class=shown)
    students(distill)
    distill.add_argument("--T", type=temperature, help="temperature of the soft targets (default: the preset's, 20)")
    distill.add_argument("--alpha", type=weight, help="weight of the soft term, in [0, 1] (default: the preset's, 0.9)")
    distill.set_defaults(run=_distill)

    sweep = commands.add_parser("sweep", help="a T x alpha grid of students, trained together", formatter_class=shown)
    students(sweep)
    sweep.add_argument("--T", type=temperature, nargs="+", default=[1.0, 2.0, 5.0, 10.0, 20.0], help="temperatures")
    sweep.add_argument("--alpha", type=weight, nargs="+", default=[0.5, 0.9, 1.0], help="weights of the soft term")
    sweep.set_defaults(run=_sweep)

    consistency = commands.add_parser(
        "consistency",
        help="fixed soft targets, consistent teaching and function matching, on a validation split",
        formatter_class=shown,
        description="Trains --seeds students for each of --arms: fixed soft targets, consistent teaching (the "
        "teacher labels each jittered view) and function matching (jittered views mixed, the teacher labelling "
        "each mixed view), on the training images minus a validation split; the validation errors choose, and the "
        "chosen recipe's test errors are printed. --validation 0 trains one arm, chosen before, on every image. "
        "With --save, the errors so far are saved after every epoch, so a stopped run keeps its curve.",
    )
    students(consistency)
    consistency.add_argument("--T", type=temperature, help="temperature of the soft targets (default: the preset's)")
    consistency.add_argument("--alpha", type=weight, help="weight of the soft term, in [0, 1] (default: the preset's)")
    consistency.add_argument(
        "--arms",
        nargs="+",
        choices=list(ARM_FLAGS),
        help="the recipes to train, each with --seeds students, cheapest first: fixed soft targets, consistent "
        "teaching, function matching (a teacher pass every step) (default: fixed consistent)",
    )
    consistency.add_argument(
        "--transfer-mixup",
        type=mixup_concentration,
        metavar="A",
        help="function matching: mix each jittered view with another, weights lambda ~ Beta(A, A) (default: 1, "
        "lambda uniform in [0, 1], as in Beyer et al. 2022)",
    )
    consistency.add_argument(
        "--images",
        type=images,
        metavar="N",
        help="use the first N MNIST training images, the validation split included (default: the preset's)",
    )
    consistency.add_argument(
        "--validation",
        type=held_out,
        default=10000,
        help="training images held out to choose between the arms; 0: one arm, chosen before, trains on them all",
    )
    consistency.add_argument("--save", help="a new JSON file, rewritten after every epoch with the errors so far")
    consistency.set_defaults(run=_consistency, preset="patient")

    record = commands.add_parser(
        "record",
        help="run the lessons at full size, write docs/full_run.json and the docs' blocks from it",
        formatter_class=shown,
        description="Run at the top of a kdviz checkout, on a quiet machine. Executes every notebook in "
        "notebooks/ from a temporary copy with an empty teacher cache, then `distill --preset paper --json`, "
        "sampling the machine's load throughout, writes the record, and, when the run was full-size and quiet "
        "and went to docs/full_run.json, rewrites the blocks between <!-- record:start NAME --> and "
        "<!-- record:end NAME --> in " + ", ".join(DOC_FILES) + ".",
    )
    record.add_argument(
        "--out",
        help="a new record file (default: docs/full_run.json; required in quick mode); with --docs-only or "
        "--check, the record to read",
    )
    action = record.add_mutually_exclusive_group()
    action.add_argument("--docs-only", action="store_true", help="rewrite the blocks from the existing record")
    action.add_argument("--check", action="store_true", help="exit 1 when a block differs from the record")
    record.add_argument(
        "--rewrite-docs",
        action="store_true",
        help="rewrite the blocks even from a run that was not quiet (never from a quick-mode run)",
    )
    record.add_argument("--timeout", type=count, default=3600, help="seconds any one cell or command may run")
    record.add_argument(
        "--keep-executed",
        metavar="DIR",
        help="also save the executed notebooks in DIR (for `python -m kdviz site --executed DIR`)",
    )
    record.set_defaults(run=_record)

    lab = commands.add_parser(
        "record-lab",
        help="train lesson 04's lab over a grid of settings once, for the course site (docs/lab_run.json)",
        formatter_class=shown,
        description="Trains every setting of the grid as one press of the lab's Train button does (3 seeds, "
        "3 epochs on the first 15,000 transfer images of the paper preset), the settings of one "
        "student size stacked, and writes the test errors with the date and the machine. The course site's lab "
        "shows them. The default grid takes about half an hour on a 2-core CPU.",
    )
    lab.add_argument("--T", type=lab_temperature, nargs="+", default=FULL_GRID["T"], help="temperatures, 1 to 50")
    lab.add_argument("--alpha", type=weight, nargs="+", default=FULL_GRID["alpha"], help="weights of the soft term")
    lab.add_argument("--hidden", type=hidden_units, nargs="+", default=FULL_GRID["hidden"], help="student sizes")
    lab.add_argument("--out", help="a new file (default: docs/lab_run.json of the checkout; required in quick mode)")
    data_and_device(lab)
    lab.set_defaults(run=_record_lab)

    site = commands.add_parser(
        "site",
        help="build the course website",
        formatter_class=shown,
        description="The students' edition by default: every lesson, without instructor notes, answer table or "
        "worked solutions; --lecturer adds them. Pages quote the times of the quiet full-size record, never the "
        "building machine's.",
    )
    site.add_argument(
        "--out", type=new_folder, required=True, help="a new or empty folder for the site (outside pytest's folders)"
    )
    site.add_argument(
        "--executed",
        metavar="DIR",
        help="the lessons already executed, every one (python -m kdviz site or record --keep-executed DIR); "
        "without it the lessons are executed now",
    )
    site.add_argument("--quick", action="store_true", help="execute the lessons in quick mode (smaller runs)")
    site.add_argument(
        "--lecturer",
        action="store_true",
        help="the lecturer's edition: add the instructor notes and the worked solutions",
    )
    site.add_argument(
        "--binder-repo",
        type=binder_repository,
        metavar="OWNER/NAME",
        help="the GitHub repository the Binder links launch (default: the git remote origin's; without one, "
        "the README badge's)",
    )
    site.add_argument("--notebooks", metavar="DIR", default=str(ROOT_NOTEBOOKS), help="the lessons' source notebooks")
    site.add_argument(
        "--record",
        metavar="FILE",
        help="the record whose quiet times the pages quote (default: docs/full_run.json of the checkout)",
    )
    site.add_argument(
        "--lab-record",
        metavar="FILE",
        help="the recorded lab run the lab shows (default: docs/lab_run.json of the checkout, where there is one)",
    )
    site.add_argument("--timeout", type=count, default=3600, help="seconds any one cell may run")
    site.add_argument(
        "--keep-executed",
        metavar="DIR",
        help="a new or empty folder to save the lessons executed now in (frames drawn): the other edition's --executed",
    )
    site.set_defaults(run=_site)

    assignment = commands.add_parser(
        "assignment",
        help="the exercises as an nbgrader course (one assignment per lesson), or a self-study copy",
        formatter_class=shown,
        description="Writes an nbgrader course: nbgrader_config.py and source/lessonNN/lessonNN.ipynb for each "
        "lesson with exercises, the worked answers in solution cells and hidden tests that ask kdviz's checker. "
        "With --student-copy, writes the same notebooks without solutions or hidden tests for self-study "
        "(check() gives the lessons' hints).",
    )
    assignment.add_argument("--out", type=new_folder, required=True, help="a new or empty folder to write into")
    assignment.add_argument(
        "--student-copy", action="store_true", help="write the self-study copy (no solutions) instead of the course"
    )
    assignment.set_defaults(run=_assignment)
    return parser, commands


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, commands = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:  # an unknown flag is the chosen command's business: its help lists the flags it takes
            commands.choices[args.command].reject_unknown(extras)
    except SystemExit as exit_:
        return exit_.code
    args.command_line = "python -m kdviz " + shlex.join(argv)  # for records: the spelling that needs no PATH
    if getattr(args, "seed", None) is not None and args.seed + args.seeds - 1 > MAX_SEED:
        report_error(f"argument --seed: --seed {args.seed} with --seeds {args.seeds} runs past {MAX_SEED}")
        return 2
    try:
        _check_before_loading(args)
    except ValueError as err:
        report_error(err)
        return 2
    try:
        status = args.run(args)
    except (ValueError, TypeError, RuntimeError, OSError, ArithmeticError) as err:
        report_error(_one_line(err))
        return 2
    except KeyboardInterrupt as stop:
        print(f"interrupted{f': {stop}' if str(stop) else ''}", file=sys.stderr)
        return 130
    except Exception as err:  # anything else (MemoryError, ...) is still one line, never a traceback
        report_error(f"{type(err).__name__}: {_one_line(err)}")
        return 1
    return status or 0


def _one_line(err, limit=600):
    """An error's message as one line of at most ``limit`` characters (torch's can carry a C++ stack)."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_before_loading(args):
    """Refuse a stack of students too large to train, and a --save file that cannot be written, before any data
    is loaded."""
    if getattr(args, "save", None):
        _check_new_file(Path(args.save), "--save")
    if args.command not in ("distill", "sweep", "consistency"):
        return
    from .mnist.models import mlp_weights
    from .mnist.workspace import get_preset

    hidden = args.hidden or get_preset(args.preset).student.hidden
    # distill trains the student alone and the distilled one together; consistency one arm at a time
    settings = {"distill": 2, "consistency": 1}.get(args.command) or len(args.T) * len(args.alpha)
    try:
        _checks.stacked_size(settings * args.seeds, hidden, mlp_weights(hidden))
    except ValueError as err:
        raise ValueError(f"arguments --seeds/--hidden: {err}") from None


def _check_new_file(path, flag):
    """Refuse a file the command would write when it exists (nothing is overwritten) or its folder is missing or
    not writable: said now, not after an hour of training."""
    try:
        exists, folder = path.exists(), path.parent.is_dir()
    except OSError as err:  # a folder on the way that the user may not enter
        raise ValueError(f"{flag} {path}: cannot reach {path.parent} ({err.strerror.lower()})") from None
    if exists:
        raise ValueError(f"{flag} {path} exists (nothing is overwritten): choose a new file")
    if not folder:
        raise ValueError(f"{flag} {path} is in no folder ({path.parent} is missing)")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise ValueError(
            f"{flag} {path}: cannot write into {path.parent} (permission denied): choose a folder you can write"
        )


if __name__ == "__main__":
    sys.exit(main())
