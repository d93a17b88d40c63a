"""An executed lesson made into a page of the course site: what a reader sees of its outputs.

- No builder path: the folders of the machine that ran the notebook (the MNIST folder, the checkout, the Python
  installation, the home and temporary folders) become neutral names, and any other absolute path SOME_FOLDER
  (``BuilderFolders``).
- No machine-specific time: where the record (a quiet, full-size run) quotes a cell and the cell printed the same
  text but for its durations, the page shows the record's durations; every other printed duration becomes
  TIME_LEFT_OUT; progress bars lose their elapsed-time part and time estimates their note on the machine's load.
- The student edition shows no worked solution and no instructor notes: an output holding an exercise's solution
  is left out, and so is a section headed "Instructor notes" (up to the next heading of its level or above).
- An image's alt text says what the figure shows: the first sentence of the docstring of the kdviz figure or
  panel function the cell calls (myst-nb reads it from the cell's ``mystnb.image.alt`` metadata).
- Given a ``kdviz.course.live.LiveOutputs``, widget panels that carry their frames, quizzes and the lab (where a
  recorded run is given) become HTML that works without a kernel.
"""

import copy
import importlib
import inspect
import os
import pkgutil
import re
import sys
import sysconfig
import tempfile
from functools import cache
from pathlib import Path

from .record import printed_text, source_hash
from .runner import notebook_title, section_titles, source

DURATION = re.compile(r"\b\d+(?:\.\d+)? (?:s|min)\b")  # what kdviz.mnist.timing.format_seconds prints
BAR_TIME = re.compile(r" ?\[\d+:\d\d(?::\d\d)?<[^\]]*\]")  # tqdm's "[00:14<00:00, 1.54epoch/s]"
LOAD_NOTE = re.compile(r" \(load average [\d.]+ on \d+ cores?\)")  # kdviz.mnist.timing.machine_load
TIME_LEFT_OUT = "[time varies by machine]"
ABSOLUTE_PATH = re.compile(r"(?<![\w.:/~>])/(?:[\w.+-]+/)+[\w.+-]*")  # /two/or/more parts, not a URL's
SOME_FOLDER = "<folder>"
TEXT_TYPES = ("text/plain", "text/html", "text/markdown")
FIGURE_MODULES = ("kdviz.figures", "kdviz.widgets")
HEADING = re.compile(r"^(#{1,6}) +(.*?)\s*$")
NOTES_HEADING = "instructor notes"


class BuilderFolders:
    """The folders of this machine that a page must not show, each with the neutral name it shows instead."""

    def __init__(self, mnist_folder=None, extra=()):
        from .. import __file__ as package_file
        from ..mnist.data import default_dir

        names = [(Path(package_file).resolve().parents[1], "")]  # kdviz/... paths read as in the repository
        names.append((Path(mnist_folder) if mnist_folder else default_dir(), "<MNIST folder>"))
        paths = sysconfig.get_paths()
        names += [(Path(paths[key]), "<python>") for key in ("purelib", "platlib", "stdlib")]
        names += [(Path(prefix), "<python>") for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}]
        names += [(Path(folder), name) for folder, name in extra]
        names += [(Path(tempfile.gettempdir()), "<tmp>"), (Path.home(), "~")]
        spelled = {}
        for folder, name in names:
            for form in {str(folder), str(folder.resolve())}:
                if len(form) > 1:  # never the root folder itself
                    spelled.setdefault(form, name)
        self.names = []  # (a path under the folder, its new start, the folder itself, its name): longest first
        for form, name in sorted(spelled.items(), key=lambda item: -len(item[0])):
            under = re.compile(re.escape(form + os.sep))
            itself = re.compile(re.escape(form) + r"(?![\w.+-])")
            self.names.append((under, name + os.sep if name else "", itself, name or "<kdviz checkout>"))

    def __call__(self, text):
        """``text`` with each known folder by its name, and any other absolute path as SOME_FOLDER."""
        for under, start, itself, name in self.names:
            text = itself.sub(lambda match, name=name: name, under.sub(lambda match, start=start: start, text))
        return ABSOLUTE_PATH.sub(SOME_FOLDER, text)


def recorded_cells(record, stem):
    """{cell id: the record's entry} for the cells of notebook ``stem`` the record quotes; empty unless the record
    is from a quiet full-size run (kdviz.course.documents.is_quiet)."""
    from .documents import is_quiet

    if record is None or not is_quiet(record) or stem not in record["notebooks"]:
        return {}
    return {cell["id"]: cell for cell in record["notebooks"][stem]["cells"] if "text" in cell}


def without_times(text):
    """``text`` with its durations as one placeholder and without load notes: what two runs share."""
    return DURATION.sub("<time>", LOAD_NOTE.sub("", text))


def quoted_durations(cell, recorded):
    """The durations the record printed for ``cell`` (in order), when it quotes this very cell and its printed
    text differs from the cell's only in durations; else None."""
    entry = recorded.get(cell.get("id"))
    if entry is None or entry["source_sha256"] != source_hash(cell):
        return None
    if without_times(entry["text"]) != without_times(printed_text(cell)):
        return None
    return DURATION.findall(entry["text"])


def _texts(output):
    """(container, key) of every text an output holds."""
    if output.get("output_type") == "stream":
        return [(output, "text")]
    data = output.get("data", {})
    return [(data, key) for key in TEXT_TYPES if key in data]


def _edit(container, key, change):
    value = container[key]
    text = value if isinstance(value, str) else "".join(value)
    container[key] = change(text)


def hide_machine(cell, recorded, folders):
    """Replace builder paths, durations (by the record's where it quotes the cell), bar times and load notes."""
    durations = iter(quoted_durations(cell, recorded) or [])
    for output in cell.get("outputs", []):
        stdout = output.get("output_type") == "stream" and output.get("name") == "stdout"
        for container, key in _texts(output):

            def change(text, stdout=stdout):
                text = LOAD_NOTE.sub("", BAR_TIME.sub("", folders(text)))
                return DURATION.sub(lambda m: next(durations, TIME_LEFT_OUT) if stdout else TIME_LEFT_OUT, text)

            _edit(container, key, change)


@cache
def solution_texts():
    """The worked solution of every exercise (kdviz.exercises)."""
    from ..exercises import EXERCISES

    return tuple(exercise.solution for exercise in EXERCISES.values())


def holds_a_solution(output):
    texts = [container[key] for container, key in _texts(output)]
    texts = [text if isinstance(text, str) else "".join(text) for text in texts]
    return any(solution in text for text in texts for solution in solution_texts())


@cache
def figure_descriptions():
    """{name: the first sentence of its docstring} for every public function of kdviz's figures and widgets."""
    described = {}
    for package_name in FIGURE_MODULES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package_name}.{info.name}")
            for name, function in inspect.getmembers(module, inspect.isfunction):
                doc = inspect.getdoc(function)
                if name.startswith("_") or function.__module__ != module.__name__ or not doc:
                    continue
                first = " ".join(doc.split("\n\n")[0].replace("``", "").split())
                described[name] = first.split(". ")[0].rstrip(".") + "."
    return described


def alt_text(cell, section, title, live=False):
    """What the cell's image shows: the docstring of the figure or panel the cell calls, else where it is. ``live``:
    the image is a live panel's frame (else a panel's image is a still picture of it)."""
    described = figure_descriptions()
    for name in re.findall(r"\b([A-Za-z_]\w*)\(", source(cell)):
        if name in described:
            panel = name.endswith("_panel") or name == "distillation_lab"
            still = (
                "An interactive panel at the values shown: " if live else "A still picture of an interactive panel: "
            )
            return (still if panel else "Figure: ") + described[name]
    return f"A figure from section {section!r} of {title!r}."


def without_instructor_notes(cells):
    """``cells`` without the sections headed "Instructor notes": from that heading to the next heading of its
    level or above, across cells; a cell left empty is dropped."""
    kept, inside = [], None  # inside: the level of the notes' heading while in them
    for cell in cells:
        lines = source(cell).splitlines(keepends=True) if cell.cell_type == "markdown" else None
        if lines is None:
            if inside is None:
                kept.append(cell)
            continue
        out = []
        for line in lines:
            heading = HEADING.match(line)
            if heading and inside is not None and len(heading[1]) <= inside:
                inside = None
            if heading and inside is None and heading[2].lower() == NOTES_HEADING:
                inside = len(heading[1])
            if inside is None:
                out.append(line)
        if "".join(out).strip():
            cell.source = "".join(out)
            kept.append(cell)
    return kept


def lesson_page(notebook, stem, lecturer=False, record=None, folders=None, live=None):
    """A copy of the executed ``notebook`` as the site shows it (see the module's docstring)."""
    page = copy.deepcopy(notebook)
    if not lecturer:
        page.cells = without_instructor_notes(page.cells)
    folders = folders or BuilderFolders()
    recorded = recorded_cells(record, stem)
    titles, title = section_titles(page.cells), notebook_title(page.cells)
    for cell, section in zip(page.cells, titles, strict=True):
        if cell.cell_type != "code":
            continue
        if not lecturer:
            cell.outputs = [output for output in cell.outputs if not holds_a_solution(output)]
        hide_machine(cell, recorded, folders)
        for output in cell.outputs if live is not None else ():
            live.convert(output, alt_text(cell, section, title, live=True))
        if any(key.startswith("image/") for output in cell.outputs for key in output.get("data", {})):
            cell.metadata.setdefault("mystnb", {})["image"] = {"alt": alt_text(cell, section, title)}
    return page


def unexecuted_cells(notebook):
    """Indices of the code cells with code that did not run (no execution count)."""
    return [
        k
        for k, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and source(cell).strip() and cell.get("execution_count") is None
    ]


def failed_cells(notebook):
    """[(index, 'ErrorName: message')] of the code cells whose output is an error."""
    return [
        (k, f"{output.get('ename')}: {output.get('evalue')}")
        for k, cell in enumerate(notebook.cells)
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.get("output_type") == "error"
    ]
