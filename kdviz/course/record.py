"""One recorded full-size run of the lessons, which the instructor notes, the README and notebook 00 quote.

``python -m kdviz record`` executes every notebook in ``notebooks/`` (``kdviz.course.runner``: each from a
temporary copy; an empty teacher cache) and then the command line's one-seed paper comparison, and writes one
JSON record: when and on what it ran, how busy other work kept the machine (sampled through the run), how long
each notebook, section and code cell took, and the printed text (stdout) of every code cell tagged ``record``.
``kdviz.course.documents`` renders the documentation's marked blocks from that record.
"""

import datetime
import hashlib
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .._files import write_atomically
from .machine_load import SAMPLE_SECONDS, LoadSampler
from .runner import kernel_environment, notebook_title, run_notebook, source

TAG = "record"  # a code cell tagged `record` has its printed text kept in the record and quoted in the notes
RECORD_FILE = Path("docs") / "full_run.json"
FORMAT = 1


def distill_command(quick):
    """The command line's paper comparison (one seed, JSON): the quick preset in quick mode."""
    return [sys.executable, "-m", "kdviz", "distill", "--preset", "quick" if quick else "paper", "--json"]


def source_hash(cell):
    """The first 16 hex digits of the sha256 of a cell's source: tells whether a quoted cell changed since."""
    return hashlib.sha256(source(cell).encode("utf-8")).hexdigest()[:16]


def printed_text(cell):
    """What a code cell printed to stdout, lines stripped of trailing spaces."""
    text = "".join(_text(output) for output in cell.get("outputs", []))
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


def _text(output):
    if output.get("output_type") != "stream" or output.get("name") != "stdout":
        return ""
    return output["text"] if isinstance(output["text"], str) else "".join(output["text"])


def execute_notebook(path, env, timeout=3600, keep=None):
    """Run one notebook through ``kdviz.course.runner``; its title, seconds, sections and code cells.

    Each code cell gives {id, section, start, seconds}, with start counted from the kernel's launch, and
    ``text`` (its printed output) and ``source_sha256`` when it is tagged ``record``. ``keep``: a folder to
    save the executed notebook in.
    """
    import nbformat

    path = Path(path)
    run = run_notebook(path, env, timeout)
    if keep is not None:
        write_atomically(Path(keep) / path.name, nbformat.writes(run.notebook))
    cells = []
    for timing in run.cells:
        cell = run.notebook.cells[timing["index"]]
        if cell.cell_type != "code":
            continue
        entry = {key: timing[key] for key in ("id", "section", "start", "seconds")}
        if TAG in cell.metadata.get("tags", []):
            entry["text"] = printed_text(cell)
            entry["source_sha256"] = source_hash(cell)
        cells.append(entry)
    sections = []
    for entry in cells:
        if not sections or sections[-1]["title"] != entry["section"]:
            sections.append({"title": entry["section"], "start": entry["start"], "seconds": 0.0})
        sections[-1]["seconds"] = round(sections[-1]["seconds"] + entry["seconds"], 2)
    return {"title": notebook_title(run.notebook.cells), "seconds": run.seconds, "sections": sections, "cells": cells}


def run_command(command, env, timeout=3600):
    """Run one command line, its stdout parsed as JSON; {command, seconds, output}."""
    shown = shlex.join(["python", *command[1:]] if command[0] == sys.executable else command)
    start = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`{shown}` ran longer than {timeout} s (raise --timeout)") from None
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"`{shown}` failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return {"command": shown, "seconds": round(seconds, 2), "output": json.loads(done.stdout)}


def machine():
    """Where the run happens: kdviz, Python and torch versions, device, CPU model, cores, torch threads."""
    import torch

    from .. import __version__
    from ..mnist.train import choose_device

    return {
        "kdviz": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(choose_device()),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(folder):
    """(short commit, whether files differ from it) of the checkout at ``folder``; (None, None) outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "status", "--porcelain"], cwd=folder, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None, None
    return commit, bool(changes)


def shipped_teacher_record():
    """The shipped paper teacher's own record (the command, seconds and test errors that made it)."""
    from ..mnist.teacher_store import SHIPPED_DIR

    return json.loads((SHIPPED_DIR / "paper_teacher.json").read_text())


def record_run(notebooks_dir, commands, quick, timeout=3600, keep=None, progress=print, sample_seconds=SAMPLE_SECONDS):
    """Execute every notebook in ``notebooks_dir`` (each from a temporary copy) and each command; the record.

    ``commands`` maps a name to an argument list. Kernels and commands share one new, empty teacher cache. The
    machine's load is sampled every ``sample_seconds`` through the run (``kdviz.course.machine_load``).
    ``keep``: a folder to save the executed notebooks in (``python -m kdviz site --executed`` reuses them).
    """
    notebooks_dir = Path(notebooks_dir)
    paths = sorted(notebooks_dir.glob("*.ipynb"))
    if not paths:
        raise ValueError(f"no notebooks in {notebooks_dir}")
    commit, changed = git_state(notebooks_dir)
    record = {
        "format": FORMAT,
        "mode": "quick" if quick else "full",
        "date": datetime.date.today().isoformat(),
        **machine(),
        "commit": commit,
        "uncommitted_changes": changed,
        "teacher_cache": "empty at the start",
        "shipped_teacher": shipped_teacher_record(),
        "notebooks": {},
        "commands": {},
    }
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kdviz-record-") as scratch, LoadSampler(sample_seconds) as load:
        env = {"KDVIZ_CACHE_DIR": str(Path(scratch, "cache"))} | ({"KDVIZ_QUICK": "1"} if quick else {})
        for path in paths:
            result = execute_notebook(path, env, timeout, keep)
            record["notebooks"][path.stem] = result
            progress(f"{path.name}: {result['seconds']:.0f} s")
        for name, command in commands.items():
            record["commands"][name] = run_command(command, kernel_environment(env), timeout)
            progress(f"{record['commands'][name]['command']}: {record['commands'][name]['seconds']:.0f} s")
    record["seconds"] = round(time.perf_counter() - start, 2)
    record.update(load.summary())
    return record


def write_record(record, path):
    """Write the record as indented JSON, atomically (a failure leaves the old file whole)."""
    write_atomically(path, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
