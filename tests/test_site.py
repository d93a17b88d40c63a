"""The rendered course site: built offline from quick-mode executed copies, read in headless Chromium.

The site is built into pytest's temporary folder (never the checkout) from three lessons as nbmake
executed them (conftest's executed_notebook: no lesson runs twice in a session), served on 127.0.0.1,
and opened page by page in the Chromium that conftest finds: formulas typeset by the site's own
MathJax, every figure loaded, and no request for anything outside this machine. Screenshots go to the
temporary folder.
"""

import functools
import http.server
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["00_start_here", "01_softmax_and_temperature", "03_gradients_and_logit_matching"]

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site(tmp_path_factory, executed_notebook):
    pytest.importorskip("jupyter_book", reason='the site needs its extra: pip install -e ".[site]"')
    from kdviz.course.site import build_site

    executed = tmp_path_factory.mktemp("executed")
    for name in (f"{page}.ipynb" for page in PAGES):
        result = executed_notebook(name)
        if result.error is not None:
            pytest.fail(f"{name} did not run to the end: {result.error.summary}", pytrace=False)
        nbformat.write(result.nb, executed / name)
    out = tmp_path_factory.mktemp("site") / "html"
    start = time.perf_counter()
    build_site(out, executed=executed, names=[f"{page}.ipynb" for page in PAGES], progress=lambda message: None)
    print(f"site of {len(PAGES)} lessons built in {time.perf_counter() - start:.0f} s")
    return out


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
def page_opener(chromium, served, tmp_path_factory):
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    screenshots = tmp_path_factory.mktemp("site_screenshots")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"])

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
            missing = []
            page.on(
                "response", lambda r: r.status >= 400 and not r.url.endswith("favicon.ico") and missing.append(r.url)
            )
            page.goto(f"{served}/{name}.html", wait_until="networkidle")
            if page.locator("span.math, div.math").count():  # MathJax 2 is done when its queue is empty
                page.wait_for_function("() => window.MathJax && MathJax.isReady && MathJax.Hub.queue.pending === 0")
            outside.extend(f"missing: {url}" for url in missing)
            page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)
            return page, outside

        yield open_page
        browser.close()


def test_the_start_page_is_the_syllabus_and_every_page_links_to_binder(site):
    index = (site / "index.html").read_text()
    assert "00_start_here.html" in index  # index.html redirects to the root page of the table of contents
    for name in PAGES:
        html = (site / f"{name}.html").read_text()
        assert f'href="https://mybinder.org/v2/gh/kdviz/kdviz/HEAD?urlpath=lab/tree/notebooks/{name}.ipynb"' in html
        text = " ".join(re.sub(r"<[^>]+>", " ", html).split())
        assert f"jupyter lab notebooks/{name}.ipynb" in text
    assert (site / "instructor_notes.html").is_file()


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
