"""One recorded full-size run of the lessons, which the instructor notes, the README and notebook 00 quote.

``python -m kdviz record`` executes every notebook in ``notebooks/`` from a temporary copy (nbclient, an
empty teacher cache) and then the command line's one-seed paper comparison, and writes one JSON record:
when and on what it ran, how long each notebook, section and code cell took, and the printed text (stdout)
of every code cell tagged ``record`` in its metadata. ``kdviz.course.documents`` renders the documentation's
marked blocks from that record.
"""

import datetime
import hashlib
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TAG = "record"  # a code cell tagged `record` has its printed text kept in the record and quoted in the notes
RECORD_FILE = Path("docs") / "full_run.json"
FORMAT = 1


def distill_command(quick):
    """The command line's paper comparison (one seed, JSON): the quick preset in quick mode."""
    return [sys.executable, "-m", "kdviz", "distill", "--preset", "quick" if quick else "paper", "--json"]


def section_titles(cells):
    """The level-2 heading ("## ...") each cell sits under; 'Set-up' before the first one."""
    title, titles = "Set-up", []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            headings = [line[3:].strip() for line in _source(cell).splitlines() if line.startswith("## ")]
            title = headings[-1] if headings else title
        titles.append(title)
    return titles


def notebook_title(cells):
    """The notebook's level-1 heading without its '# '."""
    for cell in cells:
        for line in _source(cell).splitlines() if cell["cell_type"] == "markdown" else ():
            if line.startswith("# "):
                return line[2:].strip()
    return ""


def _source(cell):
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def source_hash(cell):
    """The first 16 hex digits of the sha256 of a cell's source: tells whether a quoted cell changed since."""
    return hashlib.sha256(_source(cell).encode("utf-8")).hexdigest()[:16]


def printed_text(cell):
    """What a code cell printed to stdout, lines stripped of trailing spaces."""
    text = "".join(_text(output) for output in cell.get("outputs", []))
    return "\n".join(line.rstrip() for line in text.rstrip("\n").splitlines())


def _text(output):
    if output.get("output_type") != "stream" or output.get("name") != "stdout":
        return ""
    return output["text"] if isinstance(output["text"], str) else "".join(output["text"])


def execute_notebook(path, env, timeout=3600, keep=None):
    """Run one notebook top to bottom in its folder; its sections, code cells and timings (seconds).

    Each code cell gives {id, section, start, seconds}, with start counted from the kernel's launch, and
    ``text`` (its printed output) and ``source_sha256`` when it is tagged ``record``. ``keep``: a folder to
    save the executed notebook in.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    started, finished = {}, {}
    client = NotebookClient(
        nb,
        timeout=timeout,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_execute=lambda cell, cell_index: started.__setitem__(cell_index, time.perf_counter()),
        on_cell_executed=lambda cell, cell_index, execute_reply: finished.__setitem__(cell_index, time.perf_counter()),
    )
    titles = section_titles(nb.cells)
    launch = time.perf_counter()
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        index = max(started, default=0)
        raise RuntimeError(
            f"{path.name} failed in section {titles[index]!r} (cell {index}): {err.ename}: {err.evalue}"
        ) from None
    seconds = time.perf_counter() - launch
    if keep is not None:
        nbformat.write(nb, Path(keep) / path.name)
    cells = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or index not in started:
            continue
        entry = {
            "id": cell.get("id"),
            "section": titles[index],
            "start": round(started[index] - launch, 2),
            "seconds": round(finished[index] - started[index], 2),
        }
        if TAG in cell.metadata.get("tags", []):
            entry["text"] = printed_text(cell)
            entry["source_sha256"] = source_hash(cell)
        cells.append(entry)
    sections = []
    for entry in cells:
        if not sections or sections[-1]["title"] != entry["section"]:
            sections.append({"title": entry["section"], "start": entry["start"], "seconds": 0.0})
        sections[-1]["seconds"] = round(sections[-1]["seconds"] + entry["seconds"], 2)
    return {"title": notebook_title(nb.cells), "seconds": round(seconds, 2), "sections": sections, "cells": cells}


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
    """Where the run happens: torch version, device, CPU model, cores, threads, load average."""
    import torch

    from .. import __version__
    from ..mnist.train import choose_device

    try:
        load = round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # Windows has no load average
        load = None
    return {
        "kdviz": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": str(choose_device()),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": load,
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


def record_run(notebooks_dir, commands, quick, timeout=3600, keep=None, progress=print):
    """Execute every notebook in ``notebooks_dir`` (from a temporary copy) and each command; the record.

    ``commands`` maps a name to an argument list. Kernels and commands share one new, empty teacher cache.
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
    with tempfile.TemporaryDirectory(prefix="kdviz-record-") as scratch:
        env = {**os.environ, "KDVIZ_CACHE_DIR": str(Path(scratch, "cache"))}
        if os.environ.get("KDVIZ_DATA_DIR"):  # kernels run in the copy's folder: a relative path would break
            env["KDVIZ_DATA_DIR"] = str(Path(os.environ["KDVIZ_DATA_DIR"]).expanduser().resolve())
        if quick:
            env["KDVIZ_QUICK"] = "1"
        copy = Path(scratch, "notebooks")
        shutil.copytree(notebooks_dir, copy, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for path in paths:
            result = execute_notebook(copy / path.name, env, timeout, keep)
            record["notebooks"][path.stem] = result
            progress(f"{path.name}: {result['seconds']:.0f} s")
        for name, command in commands.items():
            record["commands"][name] = run_command(command, env, timeout)
            progress(f"{record['commands'][name]['command']}: {record['commands'][name]['seconds']:.0f} s")
    record["seconds"] = round(time.perf_counter() - start, 2)
    return record


def write_record(record, path):
    """Write the record as indented JSON (never half-written)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:  # interrupted (Ctrl-C) or failed: the file keeps its last whole version, no .tmp is left
        tmp.unlink(missing_ok=True)
        raise


def read_record(path):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no record at {path}: make one with `python -m kdviz record`")
    return json.loads(path.read_text(encoding="utf-8"))
