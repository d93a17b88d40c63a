"""The rendered course site: built offline from quick-mode executed copies, read in headless Chromium.

Two small sites are built into pytest's temporary folder (never the checkout) from lessons as nbmake
executed them (conftest's executed_notebook: no lesson runs twice in a session): the students' edition of
five lessons and the lecturer's edition of one. The students' is served on 127.0.0.1 and opened page by
page in the Chromium that conftest finds: formulas typeset by the site's own MathJax, every figure loaded,
no request for anything outside this machine and nothing in the console; every control of every panel of 01-04
moved through its values, each showing the frame that the panel function (called in this test as the lesson
called it) draws for them; the quizzes clicked right and wrong; the lab showing a toy record's errors and soft
targets. Screenshots go to the temporary
folder. What the pages hold (no solution, no builder path, no machine time) is read from the files.
"""

import functools
import html as html_text
import http.server
import json
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

from kdviz.exercises import EXERCISES, feedback
from kdviz.widgets import panels
from kdviz.widgets.frames import FRAMES_MIME

ROOT = Path(__file__).resolve().parent.parent
LIVE = [  # the lessons whose sliders and quizzes work on the site without a kernel
    "01_softmax_and_temperature",
    "02_temperature_curves_and_sign",
    "03_gradients_and_logit_matching",
    "04_mnist_distillation_lab",
]
PAGES = ["00_start_here", *LIVE]
FORK = "someone/fork"  # the Binder repository the test sites are built for
INJECTED = "01_softmax_value"  # a worked solution put into 01's outputs, as a lecturer's executed copy may hold

pytestmark = [pytest.mark.browser, pytest.mark.mnist]  # lesson 04's page needs MNIST to execute


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
def site(executed, tmp_path_factory, toy_lab_record):
    """The students' edition of PAGES, its Binder links for FORK, its lab showing conftest's toy lab record."""
    return build(executed, tmp_path_factory, PAGES, binder_repo=FORK, lab_record=toy_lab_record)


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
        assert n_math > 0 or name.startswith("04"), f"{name} has no typeset formula"  # 04 writes none
    page.close()


# --- the live pages: sliders moved, quizzes clicked, the recorded lab --------------------------------------------


def frame_payloads(notebook_path):
    """The frames each panel of an executed lesson carries, in the order of the page."""
    notebook = nbformat.read(notebook_path, as_version=4)
    return [
        output["data"][FRAMES_MIME]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if FRAMES_MIME in output.get("data", {})
    ]


def lesson_04_similarity(data_dir):
    """Lesson 04's similarity panel, its arguments computed here as the lesson computes them (quick mode)."""
    import torch

    from kdviz.mnist import get_preset, load_mnist, logits_of, prepare

    mnist = load_mnist(data_dir)
    workspace = prepare(mnist, get_preset("quick"), progress=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the suite's kernels run (conftest.KERNEL_ENV)
    try:
        teacher_test_logits = logits_of(workspace.teacher, workspace.x_test).cpu().numpy()
    finally:
        torch.set_num_threads(threads)
    return panels.similarity_panel(teacher_test_logits, mnist.test_labels, T=20.0)


LONG_RECIPES = {"similarity_panel": lesson_04_similarity}  # panels whose arguments the lessons keep as a digest


@functools.cache
def redrawn(recipe, data_dir):
    """The panel the lesson made, made again here from its recipe (JSON: the panel function and its arguments, or
    their digest: then made as LONG_RECIPES says, and its own recipe must match)."""
    recipe = json.loads(recipe)
    if "arguments" in recipe:
        return getattr(panels, recipe["function"])(**recipe["arguments"])
    panel = LONG_RECIPES[recipe["function"]](data_dir)
    assert panel.recipe == recipe, f"{recipe['function']}: made here from other arguments than the lesson's"
    return panel


def expected_png(recipe, values, data_dir):
    """The PNG the panel function's figure makes for ``values``, drawn in this test."""
    return panels.figure_png(redrawn(json.dumps(recipe), str(data_dir)).draw(**values))


def movable(entry):
    return entry["kind"] == "checkbox" or (entry["kind"] in ("slider", "select") and len(entry["values"]) > 1)


def move(control, kind, position):
    """Set a page's control as a reader does: a slider by keyboard, a checkbox by a click, a menu by choosing."""
    if kind == "slider":
        control.focus()
        control.press("Home")
        for _ in range(position):
            control.press("ArrowRight")
    elif kind == "checkbox":
        control.set_checked(bool(position))
    else:
        control.select_option(index=position)


def walks(entries):
    """Positions to visit: each movable control through all its values (the others at their start), then every
    control at its last value."""
    start = [entry["start"] for entry in entries]
    moves = [k for k, entry in enumerate(entries) if movable(entry)]
    visits = [start[:k] + [p] + start[k + 1 :] for k in moves for p in range(len(entries[k]["values"]))]
    return visits + [[len(entry["values"]) - 1 for entry in entries]]


def shown_frame(site, panel):
    """The bytes of the frame a panel's image shows, once the browser has loaded it."""
    image = panel.locator("img.kdviz-frame")
    assert image.evaluate("img => img.decode().then(() => img.naturalWidth)") > 0
    return (site / image.get_attribute("src")).read_bytes()


@pytest.mark.parametrize("name", LIVE)
def test_every_control_of_every_panel_shows_the_frame_its_panel_function_draws_for_that_value(
    site, executed, page_opener, mnist_dir, name
):
    made = frame_payloads(executed / f"{name}.ipynb")
    page, outside = page_opener(name)
    shown = page.locator("div.kdviz-panel")
    assert made and shown.count() == len(made), f"{name}: {len(made)} panels with frames, {shown.count()} live"
    assert "This page runs no Python" in page_text(site / f"{name}.html")
    for k, payload in enumerate(made):
        panel, entries = shown.nth(k), payload["controls"]
        assert payload["panel"] is not None, f"{name}: panel {k} cannot be redrawn (no recipe)"
        at = [entry["start"] for entry in entries]
        for positions in walks(entries):
            for c, entry in enumerate(entries):
                if movable(entry) and positions[c] != at[c]:
                    move(panel.locator(f'[data-control="{entry["name"]}"]'), entry["kind"], positions[c])
            at = positions
            values = {entry["name"]: entry["values"][p] for entry, p in zip(entries, positions, strict=True)}
            assert shown_frame(site, panel) == expected_png(payload["panel"], values, mnist_dir), f"{name} panel {k}"
            readouts = panel.locator("output").all_inner_texts()
            sliders = [(e, p) for e, p in zip(entries, positions, strict=True) if e["kind"] == "slider" and movable(e)]
            assert readouts == [e["labels"][p] for e, p in sliders], f"{name} panel {k}: the sliders' readouts"
    assert outside == [], f"{name} asked for files outside this machine: {outside}"
    page.close()


def test_every_quiz_answers_a_right_and_a_wrong_click_as_check_does(page_opener):
    page, outside = page_opener("04_mnist_distillation_lab")
    quizzes = page.locator("form.kdviz-quiz")
    assert quizzes.count() >= 2
    for k in range(quizzes.count()):
        quiz = quizzes.nth(k)
        name = quiz.get_attribute("data-name")
        answers = {word: feedback(name, word) for word in EXERCISES[name].words()}
        right = next(word for word, (ok, _) in answers.items() if ok)
        wrong = next(word for word, (ok, _) in answers.items() if not ok)
        for word, verdict in ((wrong, "kdviz-wrong"), (right, "kdviz-right"), (wrong, "kdviz-wrong")):
            quiz.locator(f'input[value="{word}"]').check()
            said = quiz.locator(".kdviz-feedback")
            assert normal(said.inner_text()) == normal(answers[word][1]), f"{name}: clicked {word}"
            assert verdict in said.get_attribute("class").split()
    assert outside == []
    page.close()


def test_the_lab_shows_the_recorded_errors_and_soft_targets_of_each_setting(site, page_opener, toy_lab_record):
    from kdviz.course.lab_record import describe_machine, digit_pixels, read_lab_record, result_of
    from kdviz.figures.mnist import plot_digit_soft_targets
    from kdviz.noise import spread

    record = read_lab_record(toy_lab_record)
    page, outside = page_opener("04_mnist_distillation_lab")
    lab = page.locator("div.kdviz-lab")
    assert lab.count() == 1
    note = normal(lab.locator(".kdviz-note").inner_text())
    assert "A recorded run" in note and record["date"] in note and normal(describe_machine(record)) in note
    digit = record["digit"]
    for T_at, T in enumerate(record["grid"]["T"]):
        move(lab.locator('[data-control="T"]'), "slider", T_at)
        for alpha_at, alpha in enumerate(record["grid"]["alpha"]):
            move(lab.locator('[data-control="alpha"]'), "slider", alpha_at)
            for hidden_at, hidden in enumerate(record["grid"]["hidden"]):
                move(lab.locator('[data-control="hidden"]'), "select", hidden_at)
                caption = normal(lab.locator(".kdviz-caption").inner_text())
                assert f"{hidden}-unit" in caption and spread(result_of(record, T, alpha, hidden)).text() in caption
                figure = plot_digit_soft_targets(digit_pixels(record), digit["teacher_logits"], digit["label"], (T,))
                assert shown_frame(site, lab) == panels.figure_png(figure), f"the lab at T = {T}"
    assert outside == []
    page.close()
