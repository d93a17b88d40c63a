"""The course as a static website: executed notebooks rendered by Jupyter Book 1, readable without a kernel.

``build_site(out)`` executes the lessons (or takes executed copies), adds to each a box with its launch-on-Binder
link and the local command, and builds HTML with Jupyter Book (Sphinx, myst-nb, sphinx-book-theme). The site
is offline: MathJax comes from the ``jupyter-server-mathjax`` package and is copied into the site, and no page
loads anything from another host. Needs the ``site`` extra: ``pip install -e ".[site]"``.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]  # the checkout: kdviz/course/site.py
BINDER_REPOSITORY = "kdviz/kdviz"  # owner/name on GitHub: the README's Binder badge names the same one
MATHJAX_CONFIG = "TeX-AMS-MML_HTMLorMML-full"  # a config file jupyter-server-mathjax ships
START_PAGE = "00_start_here"


def binder_url(notebook_name, repository=BINDER_REPOSITORY):
    """mybinder.org link that opens ``notebooks/<notebook_name>`` in JupyterLab."""
    return f"https://mybinder.org/v2/gh/{repository}/HEAD?urlpath=lab/tree/notebooks/{notebook_name}"


def run_box(notebook_name, repository=BINDER_REPOSITORY):
    """The markdown put at the top of each page: how to run this notebook rather than read it."""
    return (
        "```{admonition} Run this lesson\n"
        "This page is a read-only copy: its sliders do not move. "
        f"[Launch it on Binder]({binder_url(notebook_name, repository)}) "
        "(starts in a few minutes), or run it locally from a clone of the repository:\n"
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


def execute_notebook(source, target, quick=False, timeout=1800):
    """Run ``source`` top to bottom in its own folder's copy and write the executed notebook to ``target``."""
    from nbclient import NotebookClient

    notebook = nbformat.read(source, as_version=4)
    env_before = os.environ.get("KDVIZ_QUICK")
    if quick:
        os.environ["KDVIZ_QUICK"] = "1"
    try:
        with tempfile.TemporaryDirectory() as work:  # the kernel's working folder: nothing lands in the checkout
            NotebookClient(notebook, timeout=timeout, resources={"metadata": {"path": work}}).execute()
    finally:
        if quick:
            if env_before is None:
                os.environ.pop("KDVIZ_QUICK", None)
            else:
                os.environ["KDVIZ_QUICK"] = env_before
    nbformat.write(notebook, target)


def write_book_files(source, names, repository=BINDER_REPOSITORY):
    """_config.yml and _toc.yml for Jupyter Book: the syllabus first, the lessons, then the instructor notes."""
    stems = [Path(name).stem for name in names]
    root = START_PAGE if START_PAGE in stems else stems[0]
    chapters = [stem for stem in stems if stem != root] + ["instructor_notes"]
    (source / "_toc.yml").write_text(
        f"format: jb-book\nroot: {root}\nchapters:\n" + "".join(f"- file: {stem}\n" for stem in chapters)
    )
    (source / "_config.yml").write_text(
        "title: 'Dark knowledge: softmax temperature and knowledge distillation'\n"
        "author: the kdviz developers\n"
        "only_build_toc_files: true\n"
        "execute:\n  execute_notebooks: 'off'\n"
        f"repository:\n  url: https://github.com/{repository}\n  path_to_book: notebooks\n  branch: HEAD\n"
        "html:\n  use_repository_button: false\n  use_issues_button: false\n  use_edit_page_button: false\n"
        "launch_buttons:\n  notebook_interface: ''\n  binderhub_url: ''\n  thebe: false\n"
        "parse:\n  myst_enable_extensions: [dollarmath, amsmath]\n"
        "sphinx:\n  config:\n"
        f"    mathjax_path: 'mathjax/MathJax.js?config={MATHJAX_CONFIG}'\n"
        "    html_show_sphinx: false\n"
        # the fonts jupyter-server-mathjax ships: STIX-Web only
        '    mathjax2_config: {"HTML-CSS": {"availableFonts": [], "preferredFont": null, "imageFont": null, '
        '"webFont": "STIX-Web"}, "SVG": {"font": "STIX-Web"}, '
        # the page body is marked tex2jax_ignore: MathJax 2 must look inside the formulas Sphinx marks "math"
        '"tex2jax": {"processClass": "math|output_area"}}\n'
        "    nb_ipywidgets_js: {}\n"  # no widget manager from a CDN
        # no widget is live on a static page: show each panel's PNG (and a bar's text) instead of an empty view
        "    nb_mime_priority_overrides: [[html, application/vnd.jupyter.widget-view+json, null]]\n"
    )


def prepare_source(source, names, executed, notebooks, quick, repository=BINDER_REPOSITORY, progress=print):
    """Fill ``source`` with executed lessons (each with its run box), the instructor notes and MathJax."""
    for name in names:
        target = source / name
        if executed is not None and (Path(executed) / name).is_file():
            shutil.copyfile(Path(executed) / name, target)
        else:
            progress(f"executing {name} ({'quick' if quick else 'full'} mode)")
            execute_notebook(Path(notebooks) / name, target, quick=quick)
        notebook = nbformat.read(target, as_version=4)
        notebook.cells.insert(1, nbformat.v4.new_markdown_cell(run_box(name, repository)))
        nbformat.write(notebook, target)
    shutil.copyfile(ROOT / "docs" / "instructor_notes.md", source / "instructor_notes.md")


def build_site(out, executed=None, names=None, quick=False, notebooks=ROOT / "notebooks", progress=print):
    """Build the course site into ``out`` (a new or empty folder); return the path of its start page.

    ``executed``: a folder of already executed notebooks to reuse (others are executed now);
    ``names``: the notebook file names to include (default: every lesson); ``quick``: execute in quick mode.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder: choose a new --out (nothing is overwritten)")
    names = lesson_names(notebooks) if names is None else list(names)
    if executed is not None and not Path(executed).is_dir():
        raise FileNotFoundError(f"the folder of executed notebooks {executed} does not exist")
    mathjax_folder()  # say what is missing before any notebook runs
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "book"
        source.mkdir()
        prepare_source(source, names, executed, notebooks, quick, progress=progress)
        write_book_files(source, names)
        progress("building the site with Jupyter Book")
        command = [
            sys.executable,
            "-c",
            "from jupyter_book.cli.main import main; main()",
            "build",
            str(source),
            "--path-output",
            tmp,
            "-q",
        ]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            raise RuntimeError(f"jupyter-book build failed:\n{finished.stdout[-3000:]}\n{finished.stderr[-3000:]}")
        html = Path(tmp) / "_build" / "html"
        # after the build: Jupyter Book would add a script tag for every .js file in a source _static folder
        shutil.copytree(mathjax_folder(), html / "_static" / "mathjax")
        shutil.copytree(html, out, dirs_exist_ok=True)
    return out / "index.html"
