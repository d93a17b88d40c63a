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


def check_record(record):
    """The list of what the blocks need and the record lacks (empty when it has everything)."""
    missing = [f"record.{key}" for key in REQUIRED["record"] if key not in record]
    for stem, notebook in record.get("notebooks", {}).items():
        missing += [f"notebooks.{stem}.{key}" for key in REQUIRED["notebook"] if key not in notebook]
        for part in ("section", "cell"):
            for k, entry in enumerate(notebook.get(part + "s", [])):
                missing += [f"notebooks.{stem}.{part}s[{k}].{key}" for key in REQUIRED[part] if key not in entry]
        missing += [
            f"notebooks.{stem}: text of cell {cell.get('id')} (tagged {TAG!r} but it printed nothing)"
            for cell in notebook.get("cells", [])
            if cell.get("text") == ""
        ]
        missing += [
            f"notebooks.{stem}: source_sha256 of quoted cell {cell.get('id')}"
            for cell in notebook.get("cells", [])
            if "text" in cell and "source_sha256" not in cell
        ]
    if not record.get("notebooks"):
        missing.append("record.notebooks (none recorded)")
    distill = record.get("commands", {}).get("distill")
    if distill is None:
        missing.append("commands.distill")
    else:
        missing += [f"commands.distill.output.{k}" for k in REQUIRED["distill"] if k not in distill.get("output", {})]
    teacher = record.get("shipped_teacher", {})
    missing += [f"shipped_teacher.{k}" for k in REQUIRED["shipped_teacher"] if k not in teacher]
    return missing


# ---- formatting ------------------------------------------------------------------------------------------


def minutes(seconds):
    """'< 1 min', '2 min': a duration rounded to whole minutes."""
    return "< 1 min" if seconds < 60 else f"{round(seconds / 60)} min"


def paragraph(text):
    return textwrap.fill(text, width=115, break_long_words=False, break_on_hyphens=False) + "\n"


def load_phrase(record):
    load = record["load_average_at_start"]
    if load is None:
        return "machine load not measured"
    if load < QUIET_LOAD:
        return f"quiet (load average {load:.2f} at the start)"
    return f"NOT quiet (load average {load:.1f} at the start: the times are inflated)"


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


def render(name, record):
    """The text of block ``name`` (a blank line before and after, so Markdown sees its own paragraphs)."""
    if name not in RENDERERS:
        raise ValueError(f"unknown recorded block {name!r}; the blocks are {sorted(RENDERERS)}")
    missing = check_record(record)
    if missing:
        raise ValueError(f"the record lacks {', '.join(missing)}: run `python -m kdviz record` again")
    return "\n" + RENDERERS[name](record) + "\n"


# ---- the files that hold blocks --------------------------------------------------------------------------


def blocks(text, where="text"):
    """[(name, body)] of every block in ``text``; a marker without its partner is an error."""
    found = [(match["name"], match["body"]) for match in BLOCK.finditer(text)]
    for marker in ("<!-- record:start", "<!-- record:end"):
        if text.count(marker) != len(found):
            raise ValueError(f"{where}: {text.count(marker)} '{marker} NAME -->' markers but {len(found)} whole blocks")
    return found


def refilled(text, record):
    """``text`` with every block rendered again from ``record``."""
    return BLOCK.sub(
        lambda m: f"<!-- record:start {m['name']} -->\n{render(m['name'], record)}<!-- record:end {m['name']} -->",
        text,
    )


def _texts(path):
    """The texts of a file that may hold blocks: the whole of a Markdown file, each markdown cell of a notebook."""
    if path.suffix != ".ipynb":
        return [path.read_text(encoding="utf-8")]
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]


def block_names(root):
    """{name: [files holding it]} over DOC_FILES under ``root``."""
    names = {}
    for doc in DOC_FILES:
        for text in _texts(Path(root, doc)):
            for name, _ in blocks(text, doc):
                names.setdefault(name, []).append(doc)
    return names


def stale_blocks(record, root):
    """['FILE: NAME', ...] for every block under ``root`` that differs from what ``record`` renders."""
    stale = []
    for doc in DOC_FILES:
        for text in _texts(Path(root, doc)):
            stale += [f"{doc}: {name}" for name, body in blocks(text, doc) if body != render(name, record)]
    return stale


def write_docs(record, root):
    """Render every block under ``root`` again; the files changed."""
    changed = []
    for doc in DOC_FILES:
        path = Path(root, doc)
        original = path.read_text(encoding="utf-8")
        if path.suffix == ".ipynb":
            nb = json.loads(original)
            for cell in nb["cells"]:
                if cell["cell_type"] == "markdown":
                    cell["source"] = refilled("".join(cell["source"]), record).splitlines(keepends=True)
            text = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        else:
            text = refilled(original, record)
        if text != original:
            path.write_text(text, encoding="utf-8")
            changed.append(doc)
    return changed
