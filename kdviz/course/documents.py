"""The documentation's recorded blocks: text between two markers, rendered from the record of one full run.

    <!-- record:start NAME -->
    (rendered from docs/full_run.json by RENDERERS[NAME]; never edited by hand)
    <!-- record:end NAME -->

Blocks live in the Markdown files and notebook markdown cells of DOC_FILES. ``write_docs`` renders them
again; ``stale_blocks`` lists those that differ from the record (a test keeps that list empty).
"""

import json
import re
import textwrap
from pathlib import Path

from .._files import write_atomically
from .record import TAG

DOC_FILES = ("README.md", "docs/instructor_notes.md", "notebooks/00_start_here.ipynb")
BLOCK = re.compile(r"<!-- record:start (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- record:end (?P=name) -->", re.S)
LIVE_SECONDS = 60  # a section that takes less runs live; a longer one is started before a discussion
QUIET_LOAD = 0.5  # load average (busy cores, last minute) under which the machine counts as quiet

REQUIRED = {
    "record": ("format", "mode", "date", "kdviz", "commit", "uncommitted_changes", "python", "torch", "device",
               "cpu_model", "cpu_count", "torch_threads", "load_average_at_start", "teacher_cache",
               "shipped_teacher", "notebooks", "commands", "seconds"),
    "notebook": ("title", "seconds", "sections", "cells"),
    "section": ("title", "start", "seconds"),
    "cell": ("id", "section", "start", "seconds"),
    "distill": ("teacher_errors", "teacher_source", "student_errors", "distilled_errors", "seconds"),
    "shipped_teacher": ("command", "test_errors", "seconds", "device", "torch", "created"),
}  # fmt: skip


def _lacking(entry, keys, where):
    """[where.key for each key ``entry`` lacks]; [where (not an object)] when it is not a dict at all."""
    if not isinstance(entry, dict):
        return [f"{where} (not a JSON object)"]
    return [f"{where}.{key}" for key in keys if key not in entry]


def check_record(record):
    """The list of what the blocks need and the record lacks (empty when it has everything)."""
    missing = _lacking(record, REQUIRED["record"], "record")
    if not isinstance(record, dict):
        return missing
    notebooks = record.get("notebooks", {})
    if not isinstance(notebooks, dict):
        return [*missing, "record.notebooks (not a JSON object)"]
    for stem, notebook in notebooks.items():
        lacks = _lacking(notebook, REQUIRED["notebook"], f"notebooks.{stem}")
        missing += lacks
        if lacks:
            continue
        for part in ("section", "cell"):
            entries = notebook[part + "s"]
            if not isinstance(entries, list):
                missing.append(f"notebooks.{stem}.{part}s (not a JSON list)")
                continue
            for k, entry in enumerate(entries):
                missing += _lacking(entry, REQUIRED[part], f"notebooks.{stem}.{part}s[{k}]")
        cells = (
            [cell for cell in notebook["cells"] if isinstance(cell, dict)]
            if isinstance(notebook["cells"], list)
            else []
        )
        missing += [
            f"notebooks.{stem}: text of cell {cell.get('id')} (tagged {TAG!r} but it printed nothing)"
            for cell in cells
            if cell.get("text") == ""
        ]
        missing += [
            f"notebooks.{stem}: source_sha256 of quoted cell {cell.get('id')}"
            for cell in cells
            if "text" in cell and "source_sha256" not in cell
        ]
    if not notebooks:
        missing.append("record.notebooks (none recorded)")
    commands = record.get("commands", {})
    distill = commands.get("distill") if isinstance(commands, dict) else None
    if distill is None:
        missing.append("commands.distill")
    else:
        missing += _lacking(distill, ("command", "seconds", "output"), "commands.distill")
        if isinstance(distill, dict) and "output" in distill:
            missing += _lacking(distill["output"], REQUIRED["distill"], "commands.distill.output")
    missing += _lacking(record.get("shipped_teacher", {}), REQUIRED["shipped_teacher"], "shipped_teacher")
    return missing


def other_load(record):
    """The largest load other work put on the machine during the run (older records: the load at the start)."""
    return record.get("other_load_max", record["load_average_at_start"])


def is_quiet(record):
    """A full-size run during which other work's load stayed under QUIET_LOAD: its times may be quoted."""
    load = other_load(record)
    return record["mode"] == "full" and load is not None and load < QUIET_LOAD


def read_record(path):
    """The record at ``path``, checked to hold what the documentation needs; one ValueError naming the file
    for a missing, unreadable or damaged one."""
    path, again = Path(path), "make it again with `python -m kdviz record`"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValueError(f"no record at {path}: make one with `python -m kdviz record`") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"the record {path} cannot be read ({err})") from None
    try:
        recorded = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"the record {path} is damaged: bad JSON at line {err.lineno} ({err.msg}); {again}") from None
    if not isinstance(recorded, dict):
        raise ValueError(f"the record {path} is damaged: a JSON {type(recorded).__name__}, not an object; {again}")
    missing = check_record(recorded)
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise ValueError(f"the record {path} is incomplete: it lacks {shown}; {again}")
    return recorded


# ---- formatting ------------------------------------------------------------------------------------------


def minutes(seconds):
    """'< 1 min', '2 min': a duration rounded to whole minutes."""
    return "< 1 min" if seconds < 60 else f"{round(seconds / 60)} min"


def paragraph(text):
    return textwrap.fill(text, width=115, break_long_words=False, break_on_hyphens=False) + "\n"


def load_phrase(record):
    load = other_load(record)
    if load is None:
        return "machine load not measured"
    if "other_load_max" not in record:  # a record from before the load was sampled through the run
        if load < QUIET_LOAD:
            return f"quiet (load average {load:.2f} at the start)"
        return f"NOT quiet (load average {load:.1f} at the start: the times are inflated)"
    sampled = f"sampled every {record['load_sample_seconds']:g} s"
    if load < QUIET_LOAD:
        return f"quiet (other work's load at most {load:.2f} through the run, {sampled})"
    return f"NOT quiet (other work's load reached {load:.1f} during the run, {sampled}: the times are inflated)"


def short_name(stem, notebook):
    """'04 The MNIST distillation lab': the notebook's title when it starts with its number, else its file name."""
    number, words = stem.split("_", 1) if "_" in stem else (stem, "")
    if notebook["title"].startswith(number):
        return notebook["title"]
    return f"{number} {words.replace('_', ' ').capitalize()}".strip()


# ---- the renderers ---------------------------------------------------------------------------------------


def render_run(record):
    """Where and how the record was made: one paragraph."""
    mode = "at full size" if record["mode"] == "full" else "in QUICK MODE (test sizes, not the lessons' numbers)"
    commit = f" at commit {record['commit']}" if record["commit"] else ""
    if record["commit"] and record["uncommitted_changes"]:
        commit += " with uncommitted changes"
    return paragraph(
        f"Recorded by `python -m kdviz record` on {record['date']}, {mode}, teacher cache "
        f"{record['teacher_cache']}: kdviz {record['kdviz']}{commit}, torch {record['torch']}, Python "
        f"{record['python']}, device {record['device']}, a {record['cpu_count']}-core CPU ({record['cpu_model']}) "
        f"with {record['torch_threads']} torch threads, {load_phrase(record)}. The whole run took "
        f"{minutes(record['seconds'])}."
    )


def render_plan(record):
    """Per notebook and section: when it is reached from the top, how long it takes, and how to run it in class."""
    rows = ["| notebook | section | reached after | takes | in class |", "| --- | --- | --- | --- | --- |"]
    for stem, notebook in record["notebooks"].items():
        name, sections = short_name(stem, notebook), notebook["sections"]
        if all(section["seconds"] < LIVE_SECONDS for section in sections):
            rows.append(f"| {name} | all | < 1 min | {minutes(notebook['seconds'])} | live |")
            continue
        for section in sections:
            how = "live" if section["seconds"] < LIVE_SECONDS else "start it, then talk"
            rows.append(
                f"| {name} | {section['title']} | {minutes(section['start'])} | {minutes(section['seconds'])} | {how} |"
            )
        rows.append(f"| {name} | **all, from the top** | | **{minutes(notebook['seconds'])}** | |")
    note = paragraph(
        f"Measured by `python -m kdviz record` on {record['date']} "
        f"{'at full size' if record['mode'] == 'full' else 'in QUICK MODE'}, on a {record['cpu_count']}-core CPU "
        f"(device {record['device']}), {load_phrase(record)}; expect more under load (on a busy shared machine, "
        "several times more) and less with a GPU. *Reached after*: from opening the notebook and running it from "
        "the top, kernel start included. *Live*: under a minute. *Start it, then talk*: start the cell, then hold "
        "the discussion while it runs."
    )
    return "\n".join(rows) + "\n\n" + note


def render_outputs(record):
    """What every cell tagged `record` printed, notebook by notebook, under its section's name."""
    parts = []
    for stem, notebook in record["notebooks"].items():
        quoted = [cell for cell in notebook["cells"] if "text" in cell]
        if not quoted:
            continue
        parts.append(f"### {short_name(stem, notebook)}\n")
        section = None
        for cell in quoted:
            if cell["section"] != section:
                section = cell["section"]
                parts.append(f"*{section}*\n")
            parts.append(f"```text\n{cell['text']}\n```\n")
    return "\n".join(parts)


def render_results(record):
    """The README's results table: the notebooks' times, the command line's paper run, the shipped teacher."""
    from ..mnist_distillation import PAPER_ERRORS

    times = ", ".join(
        f"{stem.split('_', 1)[0]} {minutes(notebook['seconds'])}" for stem, notebook in record["notebooks"].items()
    )
    distill = record["commands"]["distill"]
    out = distill["output"]
    errors = {key: ", ".join(map(str, out[f"{key}_errors"])) for key in ("student", "distilled")}
    teacher = record["shipped_teacher"]
    seed_list = out.get("seeds", [0])
    seeds = f"seed{'s' if len(seed_list) > 1 else ''} {', '.join(map(str, seed_list))}"
    rows = [
        "| run | result |",
        "| --- | --- |",
        f"| the notebooks from the top (`python -m kdviz record`) | {times} |",
        f"| `{distill['command']}` | {distill['seconds']:.0f} s end to end (teacher {out['teacher_source']}, "
        f"ready in {out['seconds']['teacher']:.1f} s); teacher {out['teacher_errors']}, student alone "
        f"{errors['student']}, distilled {errors['distilled']} test errors ({seeds}; "
        f"paper {PAPER_ERRORS['teacher']}, {PAPER_ERRORS['student']}, {PAPER_ERRORS['distilled']}) |",
        f"| `{teacher['command']}` (the shipped teacher's own record, `kdviz/teachers/paper_teacher.json`) | "
        f"{teacher['test_errors']} test errors with float16 weights; trained in {teacher['seconds']:.0f} s "
        f"({minutes(teacher['seconds'])}) on {teacher['device']}, torch {teacher['torch']}, {teacher['created']} |",
    ]
    return render_run(record) + "\n" + "\n".join(rows) + "\n"


RENDERERS = {"run": render_run, "plan": render_plan, "outputs": render_outputs, "results": render_results}


def render(name, record, where=None):
    """The text of block ``name`` (a blank line before and after, so Markdown sees its own paragraphs)."""
    if name not in RENDERERS:
        raise ValueError(
            f"{where + ': ' if where else ''}unknown recorded block {name!r}; the blocks are {sorted(RENDERERS)}"
        )
    missing = check_record(record)
    if missing:
        raise ValueError(f"the record lacks {', '.join(missing)}: run `python -m kdviz record` again")
    return "\n" + RENDERERS[name](record) + "\n"


# ---- the files that hold blocks --------------------------------------------------------------------------


START, END = "<!-- record:start {} -->", "<!-- record:end {} -->"
MARKER = re.compile(r"<!-- record:(?P<kind>start|end) (?P<name>[\w-]+) -->")


def blocks(text, where="text"):
    """[(name, body)] of every block in ``text``; a marker without its partner is a ValueError naming ``where``
    and the block."""
    open_name = None
    for marker in MARKER.finditer(text):
        kind, name = marker["kind"], marker["name"]
        if kind == "start" and open_name is not None:
            raise ValueError(f"{where}: block {open_name!r} has no end marker (<!-- record:end {open_name} -->)")
        if kind == "end" and open_name != name:
            raise ValueError(f"{where}: block {name!r} has an end marker but no start marker before it")
        open_name = name if kind == "start" else None
    if open_name is not None:
        raise ValueError(f"{where}: block {open_name!r} has no end marker (<!-- record:end {open_name} -->)")
    found = [(match["name"], match["body"]) for match in BLOCK.finditer(text)]
    if len(found) != len(MARKER.findall(text)) // 2:
        raise ValueError(f"{where}: a marker is not on a line of its own")
    return found


def refilled(text, record, where="text"):
    """``text`` with every block rendered again from ``record`` (its markers checked first)."""
    blocks(text, where)
    return BLOCK.sub(
        lambda m: (
            f"<!-- record:start {m['name']} -->\n{render(m['name'], record, where)}<!-- record:end {m['name']} -->"
        ),
        text,
    )


def _texts(path):
    """(where, text) of each part of a file that may hold blocks: the whole of a Markdown file, each markdown
    cell of a notebook."""
    if path.suffix != ".ipynb":
        return [(str(path), path.read_text(encoding="utf-8"))]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [
        (f"{path} (cell {k})", "".join(cell["source"]))
        for k, cell in enumerate(cells)
        if cell["cell_type"] == "markdown"
    ]


def block_names(root):
    """{name: [files holding it]} over DOC_FILES under ``root``."""
    names = {}
    for doc in DOC_FILES:
        for where, text in _texts(Path(root, doc)):
            for name, _ in blocks(text, where):
                names.setdefault(name, []).append(doc)
    return names


def stale_blocks(record, root):
    """['FILE: NAME', ...] for every block under ``root`` that differs from what ``record`` renders."""
    stale = []
    for doc in DOC_FILES:
        for where, text in _texts(Path(root, doc)):
            stale += [f"{doc}: {name}" for name, body in blocks(text, where) if body != render(name, record)]
    return stale


def write_docs(record, root):
    """Render every block under ``root`` again; the files changed. Every file is rendered (and every marker
    checked) before any is written, and each is written atomically."""
    rewritten = {}
    for doc in DOC_FILES:
        path = Path(root, doc)
        original = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            nb = json.loads(original)
            for k, cell in enumerate(nb["cells"]):
                if cell["cell_type"] == "markdown":
                    text = refilled("".join(cell["source"]), record, f"{path} (cell {k})")
                    cell["source"] = text.splitlines(keepends=True)
            text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        else:
            text = refilled(original, record, str(path))
        if text != original:
            rewritten[doc] = text
    for doc, text in rewritten.items():
        write_atomically(Path(root, doc), text)
    return list(rewritten)
