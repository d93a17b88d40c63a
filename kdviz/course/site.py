"""The course as a static website: executed lessons rendered by Jupyter Book 1, readable without a kernel.

``build_site(out, ...)`` takes the executed lessons (``executed``: a folder holding every lesson with its outputs)
or executes them through ``kdviz.course.runner``, makes each a page (``kdviz.course.pages``: no builder path, no
machine-specific time), puts at its top a box with its launch-on-Binder link and the local command, and builds
HTML with Jupyter Book (Sphinx, myst-nb, sphinx-book-theme) into a new folder.

The pages work without a kernel (``kdviz.course.live``): a widget panel executed with KDVIZ_FRAMES=1 (as this
module and the test suite execute the lessons) carries frames drawn by its own plot function, between which the page
switches as the reader moves a slider; a quiz answers as ``check`` does; and lesson 04's lab shows a recorded run of
its grid (``kdviz.course.lab_record``, docs/lab_run.json) where there is one.

Two editions: the students' (the default: every lesson, no instructor notes, no answer table, no worked solution)
and the lecturer's (``lecturer=True``: adds the instructor notes and a page of the worked solutions). The Binder
links launch the repository the site is built from (``kdviz.course.binder``). The site is offline: MathJax comes
from the ``jupyter-server-mathjax`` package and is copied in, and no page loads anything from another host. Needs
the ``site`` extra: ``pip install -e ".[site]"``.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from .._files import write_atomically
from .binder import binder_url, choose_repository
from .documents import read_record
from .lab_record import LAB_RECORD_FILE, read_lab_record
from .live import FRAMES_FOLDER, LiveOutputs, copy_live_files
from .pages import BuilderFolders, failed_cells, lesson_page, unexecuted_cells
from .record import RECORD_FILE
from .runner import read_notebook, run_notebook

ROOT = Path(__file__).resolve().parents[2]  # the checkout: kdviz/course/site.py
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"  # a config file jupyter-server-mathjax ships
START_PAGE = "00_start_here"
# Jupyter Book 1's extensions without sphinx_thebe (under Sphinx 7.4 its configuration script lands twice on every
# page: "THEBE_JS_URL has already been declared" in the console; and thebe needs a CDN), sphinx_comments and
# intersphinx (both unused).
EXTENSIONS = [
    "sphinx_togglebutton",
    "sphinx_copybutton",
    "myst_nb",
    "jupyter_book",
    "sphinx_external_toc",
    "sphinx_design",
    "sphinx_book_theme",
]


def run_box(notebook_name, repository, live=False):
    """The markdown put at the top of each page: how to run this notebook rather than read it. ``live``: the page's
    sliders move between frames drawn in advance (else they are still pictures)."""
    binder = (
        f"[Launch it on Binder]({binder_url(repository, notebook_name)}) (starts in a few minutes), or run it"
        if repository
        else "Run it"
    )
    reads = (
        "This page runs no Python: its sliders move between figures drawn in advance, and its quizzes answer. To "
        "change anything else or train,"
        if live
        else "This page is a read-only copy: its sliders do not move. To move them,"
    )
    return (
        "```{admonition} Run this lesson\n"
        f"{reads} {binder[0].lower()}{binder[1:]} "
        "locally from a clone of the repository:\n"
        '`pip install -e ".[lab]"` and then '
        f"`jupyter lab notebooks/{notebook_name}`.\n"
        "```"
    )


def mathjax_folder():
    """MathJax 2.7 as installed by jupyter-server-mathjax (a PyPI package, so the build needs no CDN)."""
    try:
        import jupyter_server_mathjax
    except ImportError as err:
        raise RuntimeError('the site needs the site extra: pip install -e ".[site]"') from err
    folder = Path(jupyter_server_mathjax.__file__).parent / "static"
    if not (folder / "MathJax.js").is_file():
        raise RuntimeError(f"MathJax.js is missing from {folder}: reinstall jupyter-server-mathjax")
    return folder


def lesson_names(folder=ROOT / "notebooks"):
    """The lesson notebooks in course order (their file names start with the lesson number)."""
    names = sorted(p.name for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not names:
        raise FileNotFoundError(f"no lesson notebooks (NN_name.ipynb) in {folder}")
    return names


def pytest_folders(root=ROOT):
    """The folders pytest collects from when run in ``root`` (its pyproject's testpaths; all of it without)."""
    try:
        text = Path(root, "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return []
    listed = re.search(r"^testpaths\s*=\s*\[(.*?)\]", text, re.M | re.S)
    paths = re.findall(r"[\"']([^\"']+)[\"']", listed[1]) if listed else ["."]
    return [Path(root, path).resolve() for path in paths]


def check_out_folder(out):
    """Refuse an output folder that holds files, or one where pytest would collect the site's notebooks."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder: choose a new --out (nothing is overwritten)")
    where = out.resolve()
    for folder in {*pytest_folders(ROOT), *pytest_folders(Path.cwd())}:
        if where == folder or folder in where.parents:
            raise ValueError(
                f"--out {out} lies in {folder}, where pytest collects tests (the site holds notebooks that it "
                "would run): choose a folder outside it"
            )


def check_executed(folder, names):
    """The paths of the executed lessons ``names`` in ``folder``; a ValueError naming what is missing, what was
    never executed and what failed."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder of executed notebooks {folder} does not exist")
    how = (
        "make it with `python -m kdviz site --keep-executed DIR` (panels live) or `python -m kdviz record "
        "--keep-executed DIR`, or build without --executed to execute now"
    )
    present = [name for name in names if (folder / name).is_file()]
    if not present:
        raise ValueError(f"{folder} holds none of the lessons ({names[0]} ...): {how}")
    missing = [name for name in names if name not in present]
    if missing:
        raise ValueError(f"{folder} lacks {', '.join(missing)}: {how}")
    problems = []
    for name in names:
        notebook = read_notebook(folder / name)
        if unexecuted := unexecuted_cells(notebook):
            problems.append(f"{name} was not executed (code cell {unexecuted[0]} has no output)")
        elif failed := failed_cells(notebook):
            problems.append(f"{name} is broken (cell {failed[0][0]} failed with {failed[0][1]})")
    if problems:
        raise ValueError(f"{folder}: {'; '.join(problems)}: {how}")
    return [folder / name for name in names]


def execute_lessons(notebooks, names, target, quick, timeout, progress):
    """Run each lesson through kdviz.course.runner and save it, executed, in ``target``."""
    from ..runmode import quick_mode

    size = "quick mode" if quick or quick_mode() else "full size: minutes for 04-06; --quick runs them smaller"
    for name in names:
        progress(f"executing {name} ({size})")
        env = {"KDVIZ_FRAMES": "1"} | ({"KDVIZ_QUICK": "1"} if quick else {})
        run = run_notebook(Path(notebooks) / name, env, timeout)
        write_atomically(target / name, nbformat.writes(run.notebook))  # a stopped run leaves no half notebook


def solutions_page():
    """The worked solution of every exercise, by lesson, as a MyST page (the lecturer's edition only)."""
    from ..exercises import EXERCISES

    lines = ["# Worked solutions", "", "Each exercise's question and worked solution, as `show_solution` shows it."]
    lesson = None
    for name, exercise in EXERCISES.items():
        if name[:2] != lesson:
            lesson = name[:2]
            lines += ["", f"## Lesson {lesson}"]
        lines += ["", f"**{name}.** {exercise.question}", "", exercise.solution]
    return "\n".join(lines) + "\n"


def write_book_files(source, stems, repository, lecturer):
    """_config.yml and _toc.yml for Jupyter Book: the syllabus first, the lessons, then the lecturer's pages."""
    root = START_PAGE if START_PAGE in stems else stems[0]
    chapters = [stem for stem in stems if stem != root] + (["instructor_notes", "solutions"] if lecturer else [])
    listed = "chapters:\n" + "".join(f"- file: {stem}\n" for stem in chapters) if chapters else ""
    (source / "_toc.yml").write_text(f"format: jb-book\nroot: {root}\n{listed}")
    edition = "lecturer's edition" if lecturer else "students' edition"
    repository_url = f"https://github.com/{repository}" if repository else ""
    (source / "_config.yml").write_text(
        f'title: "Dark knowledge: softmax temperature and knowledge distillation ({edition})"\n'
        "author: the kdviz developers\n"
        "only_build_toc_files: true\n"
        "execute:\n  execute_notebooks: 'off'\n"
        f"repository:\n  url: '{repository_url}'\n  path_to_book: notebooks\n  branch: HEAD\n"
        "html:\n  use_repository_button: false\n  use_issues_button: false\n  use_edit_page_button: false\n"
        "launch_buttons:\n  notebook_interface: ''\n  binderhub_url: ''\n  thebe: false\n"
        "parse:\n  myst_enable_extensions: [dollarmath, amsmath]\n"
        "sphinx:\n  recursive_update: true\n  config:\n"  # merged into Jupyter Book's own settings
        f"    extensions: [{', '.join(EXTENSIONS)}]\n"  # a list replaces Jupyter Book's
        # the theme's script rejects an empty mode ("Got invalid theme mode" in the console) unless one is set
        "    html_context: {default_mode: light}\n"
        "    html_show_copyright: false\n"  # no copyright line in the footer
        f"    mathjax_path: 'mathjax/MathJax.js?config={MATHJAX_CONFIG}'\n"
        "    html_show_sphinx: false\n"
        # the fonts jupyter-server-mathjax ships: STIX-Web only
        '    mathjax2_config: {"HTML-CSS": {"availableFonts": [], "preferredFont": null, "imageFont": null, '
        '"webFont": "STIX-Web", '
        # MathJax 2 measures with a blank font loaded from about:blank, which Chromium reports as a CORS error in
        # the console on every page with a formula; a local() font that no system has loads nothing
        '"styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local(\'MathJax_Blank\')"}}}, '
        '"SVG": {"font": "STIX-Web"}, '
        # the page body is marked tex2jax_ignore: MathJax 2 must look inside the formulas Sphinx marks "math"
        '"tex2jax": {"processClass": "math|output_area"}}\n'
        "    nb_ipywidgets_js: {}\n"  # no widget manager from a CDN
        # no widget is live on a static page: show each panel's PNG (and a bar's text) instead of an empty view
        "    nb_mime_priority_overrides: [[html, application/vnd.jupyter.widget-view+json, null]]\n"
    )


def default_record():
    """The checkout's record (docs/full_run.json), or None where there is none (an installed kdviz)."""
    path = ROOT / RECORD_FILE
    return path if path.is_file() else None


def default_lab_record():
    """The checkout's recorded lab run (docs/lab_run.json), or None where there is none."""
    path = ROOT / LAB_RECORD_FILE
    return path if path.is_file() else None


def describe_live(counts):
    """What the site's pages do without a kernel, in a line."""
    still = (
        f"; {counts['still']} widget outputs stay still pictures (panels executed without KDVIZ_FRAMES=1, or the lab "
        "without a recorded run)"
    )
    return (
        f"live without a kernel: {counts['panels']} panels ({counts['frames']} frames, "
        f"{counts['frame_bytes'] / 1e6:.1f} MB), {counts['quizzes']} quizzes, {counts['labs']} recorded lab"
        + (still if counts["still"] else "")
    )


def build_site(
    out,
    executed=None,
    names=None,
    quick=False,
    notebooks=ROOT / "notebooks",
    lecturer=False,
    binder_repo=None,
    record=None,
    lab_record=None,
    timeout=3600,
    keep_executed=None,
    progress=print,
):
    """Build the course site into ``out`` (a new or empty folder); return the path of its start page.

    ``executed``: a folder holding every lesson already executed (none is executed then); without it the lessons
    in ``notebooks`` are executed now (``quick``: in quick mode). ``names``: the lessons to include (default:
    every one). ``lecturer``: the lecturer's edition. ``binder_repo``: OWNER/NAME the Binder links launch
    (default: the git remote origin's). ``record``: the record whose quiet times the pages quote (default: the
    checkout's docs/full_run.json, where there is one). ``lab_record``: the recorded lab run the lab shows (default:
    the checkout's docs/lab_run.json, where there is one; without one the lab is a picture). ``keep_executed``: a
    new or empty folder to save the lessons executed now in (frames drawn), for a second edition's ``executed``.
    """
    out = Path(out)
    check_out_folder(out)
    names = lesson_names(notebooks) if names is None else list(names)
    if executed is not None and quick:
        raise ValueError("--quick executes the lessons; with --executed nothing is executed: give one of them")
    if executed is not None and keep_executed is not None:
        raise ValueError("--keep-executed saves the lessons this command executes; with --executed none is executed")
    if keep_executed is not None:
        check_out_folder(keep_executed)
    sources = check_executed(executed, names) if executed is not None else None
    repository, why = choose_repository(binder_repo, ROOT)
    record = Path(record) if record is not None else default_record()
    recorded = read_record(record) if record is not None else None
    lab_record = Path(lab_record) if lab_record is not None else default_lab_record()
    lab = read_lab_record(lab_record) if lab_record is not None else None
    mathjax_folder()  # say what is missing before any notebook runs
    progress(f"Binder links: {repository or 'none'} ({why})")
    with tempfile.TemporaryDirectory(prefix="kdviz-site-") as tmp:
        # lessons executed now go straight into keep_executed: each one kept as it finishes, whatever fails later
        source, ran = Path(tmp, "book"), Path(keep_executed or Path(tmp, "executed"))
        source.mkdir()
        if sources is None:
            ran.mkdir(parents=True, exist_ok=True)
            execute_lessons(notebooks, names, ran, quick, timeout, progress)
            sources = [ran / name for name in names]
            if keep_executed is not None:
                progress(f"the executed lessons are in {keep_executed} (for --executed)")
        folders = BuilderFolders(extra=[(Path(executed or ran), "<executed notebooks>"), (Path(tmp), "<tmp>")])
        copy_live_files(source / "_static")
        live = LiveOutputs(source / "_static" / FRAMES_FOLDER, lab)
        for path in sources:
            before = dict(live.counts)
            page = lesson_page(read_notebook(path), path.stem, lecturer, recorded, folders, live)
            moving = live.counts["panels"] > before["panels"] or live.counts["labs"] > before["labs"]
            page.cells.insert(1, nbformat.v4.new_markdown_cell(run_box(path.name, repository, moving)))
            nbformat.write(page, source / path.name)
        progress(describe_live(live.counts))
        if lecturer:
            shutil.copyfile(ROOT / "docs" / "instructor_notes.md", source / "instructor_notes.md")
            (source / "solutions.md").write_text(solutions_page(), encoding="utf-8")
        write_book_files(source, [Path(name).stem for name in names], repository, lecturer)
        progress("building the site with Jupyter Book")
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
        try:  # built beside ``out`` and renamed into place: an interrupted build leaves no half site
            jupyter_book(source, staging)
            html = staging / "_build" / "html"
            # after the build: Jupyter Book would add a script tag for every .js file in a source _static folder
            shutil.copytree(mathjax_folder(), html / "_static" / "mathjax")
            if out.exists():
                out.rmdir()  # empty: checked before the build
            os.rename(html, out)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return out / "index.html"


def jupyter_book(source, output):
    """Run ``jupyter-book build`` on ``source`` (its HTML lands in output/_build/html); say why when it fails."""
    command = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()", "build", str(source)]
    finished = subprocess.run([*command, "--path-output", str(output), "-q"], capture_output=True, text=True)
    if finished.returncode != 0:
        said = [line.strip() for line in (finished.stdout + finished.stderr).splitlines() if line.strip()]
        raise RuntimeError(f"jupyter-book build failed: {' '.join(said[-3:])}")
