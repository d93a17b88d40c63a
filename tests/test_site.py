"""The rendered course site: built offline from quick-mode executed copies, read in headless Chromium.

Two small sites are built into pytest's temporary folder (never the checkout) from lessons as nbmake
executed them (conftest's executed_notebook: no lesson runs twice in a session): the students' edition of
three lessons and the lecturer's edition of one. The students' is served on 127.0.0.1 and opened page by
page in the Chromium that conftest finds: formulas typeset by the site's own MathJax, every figure loaded,
no request for anything outside this machine and nothing in the console. Screenshots go to the temporary
folder. What the pages hold (no solution, no builder path, no machine time) is read from the files.
"""

import functools
import html as html_text
import http.server
import re
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest
from nbformat.v4 import new_output

from kdviz.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["00_start_here", "01_softmax_and_temperature", "03_gradients_and_logit_matching"]
FORK = "someone/fork"  # the Binder repository the test sites are built for
INJECTED = "01_softmax_value"  # a worked solution put into 01's outputs, as a lecturer's executed copy may hold

pytestmark = pytest.mark.browser


def solution_output(name):
    """The display output show_solution(name) makes."""
    return new_output("display_data", data={"text/markdown": f"**{name}.** {EXERCISES[name].solution}"})


@pytest.fixture(scope="module")
def executed(tmp_path_factory, executed_notebook):
    """PAGES as nbmake executed them (conftest's executed_notebook: no lesson runs twice in a session), 01 with a
    worked solution in its exercise cell's outputs."""
    folder = tmp_path_factory.mktemp("executed")
    for name in (f"{page}.ipynb" for page in PAGES):
        result = executed_notebook(name)
        if result.error is not None:
            pytest.fail(f"{name} did not run to the end: {result.error.summary}", pytrace=False)
        notebook = nbformat.from_dict(result.nb)
        if name.startswith("01"):
            exercise = next(c for c in notebook.cells if c.cell_type == "code" and "show_solution" in c.source)
            exercise.outputs.append(solution_output(INJECTED))
        nbformat.write(notebook, folder / name)
    return folder


def build(executed, tmp_path_factory, names, **options):
    pytest.importorskip("jupyter_book", reason='the site needs its extra: pip install -e ".[site]"')
    from kdviz.course.site import build_site

    out = tmp_path_factory.mktemp("site") / "html"
    start = time.perf_counter()
    build_site(out, executed=executed, names=[f"{n}.ipynb" for n in names], progress=lambda message: None, **options)
    print(f"site of {len(names)} lessons built in {time.perf_counter() - start:.0f} s")
    return out


@pytest.fixture(scope="module")
def site(executed, tmp_path_factory):
    """The students' edition of PAGES, its Binder links for FORK."""
    return build(executed, tmp_path_factory, PAGES, binder_repo=FORK)


@pytest.fixture(scope="module")
def lecturer_site(executed, tmp_path_factory):
    """The lecturer's edition, with one lesson only (the notes and the solutions are what it adds)."""
    return build(executed, tmp_path_factory, ["01_softmax_and_temperature"], lecturer=True, binder_repo=FORK)


def normal(text):
    """``text`` as a page's words compare: Sphinx's curly quotes and dashes straight, emphasis and code marks
    gone, one space between words."""
    straight = {"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "--", "\u2026": "..."}
    for curly, plain in straight.items():
        text = text.replace(curly, plain)
    return " ".join(re.sub(r"[*`]", "", text).split())


def page_text(path):
    """The words of an HTML page, tags stripped and entities read."""
    return normal(html_text.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8"))))


def solution_line(name):
    """The longest line of prose in a worked solution (code is left out: the lessons show code like it), as a
    page shows it: a sentence no question, hint or lesson repeats."""
    prose, in_code = [], False
    for line in EXERCISES[name].solution.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code:
            prose.append(normal(line.strip().removeprefix("- ")))
    return max(prose, key=len)


@pytest.fixture(scope="module")
def png_outputs(executed_notebook):
    """How many PNG outputs (figures and the static copies of widget panels) each executed lesson has."""
    return {
        page: sum(
            "image/png" in output.get("data", {})
            for cell in executed_notebook(f"{page}.ipynb").nb.cells
            if cell.cell_type == "code"
            for output in cell.outputs
        )
        for page in PAGES
    }


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_opener(browser, served, tmp_path_factory):
    screenshots = tmp_path_factory.mktemp("site_screenshots")

    def open_page(name):
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        outside = []

        def route(r):
            if urlparse(r.request.url).hostname == "127.0.0.1":
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        errors = []  # what a reader's console shows: script errors and console.error
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on("console", lambda message: message.type == "error" and errors.append(message.text))
        missing = []
        page.on("response", lambda r: r.status >= 400 and not r.url.endswith("favicon.ico") and missing.append(r.url))
        page.goto(f"{served}/{name}.html", wait_until="networkidle")
        if page.locator("span.math, div.math").count():  # MathJax 2 is done when its queue is empty
            page.wait_for_function("() => window.MathJax && MathJax.isReady && MathJax.Hub.queue.pending === 0")
        outside.extend(f"missing: {url}" for url in missing)
        outside.extend(errors)
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
        return page, outside

    yield open_page


def test_the_start_page_is_the_syllabus_and_every_page_links_to_binder_of_the_chosen_repository(site):
    index = (site / "index.html").read_text()
    assert "00_start_here.html" in index  # index.html redirects to the root page of the table of contents
    for name in PAGES:
        html = (site / f"{name}.html").read_text()
        assert f'href="https://mybinder.org/v2/gh/{FORK}/HEAD?urlpath=lab/tree/notebooks/{name}.ipynb"' in html
        assert "mybinder.org/v2/gh/kdviz/kdviz" not in html
        assert f"jupyter lab notebooks/{name}.ipynb" in page_text(site / f"{name}.html")


def test_the_students_edition_has_no_instructor_notes_answer_table_or_worked_solution(site):
    assert not (site / "instructor_notes.html").exists() and not (site / "solutions.html").exists()
    for path in site.glob("*.html"):
        text = page_text(path)
        assert "asks for" not in text and "Instructor notes" not in text, path.name  # the notes' answer table
        shown = [name for name in EXERCISES if solution_line(name) in text]
        assert shown == [], f"{path.name} shows the worked solution of {shown}"
    for source in site.glob("_sources/*.ipynb"):  # the notebooks a reader can download from the page
        assert EXERCISES[INJECTED].solution not in source.read_text(encoding="utf-8")


def test_the_lecturers_edition_adds_the_notes_and_every_worked_solution(lecturer_site):
    notes, solutions = page_text(lecturer_site / "instructor_notes.html"), page_text(lecturer_site / "solutions.html")
    assert "asks for" in notes and "Misconceptions" in notes
    missing = [name for name in EXERCISES if solution_line(name) not in solutions]
    assert missing == [], f"solutions.html lacks {missing}"
    assert solution_line(INJECTED) in page_text(lecturer_site / "01_softmax_and_temperature.html")


def test_pages_show_no_builder_path_no_copyright_line_and_describe_every_figure(site):
    from kdviz.mnist.data import default_dir

    folders = {str(ROOT), str(Path.home()) + "/", tempfile.gettempdir() + "/", str(default_dir()), sys.prefix}
    for path in site.glob("*.html"):
        html = path.read_text(encoding="utf-8")
        assert [folder for folder in folders if folder in html] == [], path.name
        assert "Copyright" not in html and "©" not in html, path.name
        for alt in re.findall(r'<img [^>]*?alt="([^"]*)"', html):
            assert len(alt) > 20 and not re.search(r"[0-9a-f]{32}|_images/|\.png", alt), f"{path.name}: alt {alt!r}"
        assert len(re.findall(r"<img ", html)) == len(re.findall(r'<img [^>]*?alt="', html)), path.name
    assert re.search(r"MNIST (found in|is not in) <(MNIST )?folder>", page_text(site / "00_start_here.html"))


@pytest.mark.parametrize("name", PAGES)
def test_a_page_typesets_its_formulas_loads_its_figures_and_asks_nothing_from_outside(
    site, page_opener, png_outputs, name
):
    page, outside = page_opener(name)
    assert outside == [], f"{name} asked for files outside this machine: {outside}"
    html = (site / f"{name}.html").read_text()
    n_math = len(re.findall(r'class="math notranslate nohighlight"', html))  # the formulas Sphinx wrote out
    typeset = page.locator('script[type^="math/tex"]').count()  # MathJax 2 keeps each formula's TeX here
    assert typeset == n_math, f"{name}: {n_math} formulas, {typeset} typeset by MathJax"
    text = page.inner_text("article")
    assert not re.search(r"\$[^$\n]{1,80}\$|\\\(|\\\[", text), "a formula is left as raw TeX"
    images = page.eval_on_selector_all("article img", "els => els.map(e => [e.src, e.complete && e.naturalWidth])")
    broken = [src for src, width in images if not width]
    assert broken == [], f"{name}: figures that did not load: {broken}"
    assert len(images) == png_outputs[name], f"{name}: {png_outputs[name]} figures and panels, {len(images)} shown"
    assert 'type="application/vnd.jupyter.widget-view+json"' not in html  # a view would be empty without a kernel
    if name != "00_start_here":
        assert images, f"{name} shows no figure"
        assert n_math > 0, f"{name} has no typeset formula"
    page.close()
