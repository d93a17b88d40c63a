"""JupyterLab as a student meets it: a real server, headless Chromium, the widgets clicked.

Drives the Chromium that conftest finds ($KDVIZ_CHROMIUM, else chromium, chromium-browser or
google-chrome on PATH, else Chromium or Google Chrome where macOS and Windows install them) through
the PyPI playwright package; no browser is downloaded. Skips with a reason where Chromium or
playwright is missing (under CI=true a missing Chromium is a failure). JupyterLab serves a
temporary copy of notebooks/ (its autosave never reaches the checkout) with binder/'s settings,
and its own settings, workspaces and config folders; screenshots go to pytest's temporary folder.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.browser


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", home / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (home / "settings").mkdir()
    shutil.copy(ROOT / "binder" / "overrides.json", home / "settings" / "overrides.json")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "KDVIZ_QUICK": "1", "JUPYTER_CONFIG_DIR": str(home / "config")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={home}",
            f"--LabApp.app_settings_dir={home / 'settings'}",
            f"--LabApp.user_settings_dir={home / 'user-settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.open_browser=False",
            "--allow-root",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("jupyter lab did not start within 60 s")
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


def test_binder_settings_turn_off_the_news_prompt_and_update_check(lab_url):
    base, token = lab_url
    url = f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification?token={token}"
    with urllib.request.urlopen(url, timeout=30) as response:
        defaults = {k: v.get("default") for k, v in json.load(response)["schema"]["properties"].items()}
    assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False


def open_notebook(browser, lab_url, notebook):
    """A page with ``notebook`` open in JupyterLab, its kernel idle and its first cell selected."""
    base, token = lab_url
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{base}/lab/tree/notebooks/{notebook}?reset&token={token}")  # reset: no restored tabs
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", state="attached")
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()  # kernel started and connected
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Cell").first.click()
    page.keyboard.press("Escape")  # command mode: the arrow keys move between cells
    return page


def run_menu(page, item):
    page.click("div.lm-MenuBar-itemLabel:text-is('Run')")
    page.click(f"li.lm-Menu-item:has(div.lm-Menu-itemLabel:text-is('{item}'))")


def open_and_run_all(browser, lab_url, notebook):
    page = open_notebook(browser, lab_url, notebook)
    run_menu(page, "Run All Cells")
    return page


def open_and_run_down_to(browser, lab_url, notebook, code):
    """Run ``notebook`` from the top down to its cell whose code holds ``code``, as the instructor notes say to
    open 04's lab: the cells after it (minutes of training at full size) stay unrun."""
    cells = json.loads((ROOT / "notebooks" / notebook).read_text(encoding="utf-8"))["cells"]
    (index,) = [k for k, cell in enumerate(cells) if code in "".join(cell["source"])]
    page = open_notebook(browser, lab_url, notebook)
    for _ in range(index):
        page.keyboard.press("ArrowDown")
    run_menu(page, "Run All Above Selected Cell")
    run_menu(page, "Run Selected Cell")
    return page


def move_slider(page, slider, presses):
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")


def wait_until_idle(page, timeout_ms):
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-InputPrompt')].every(p => !p.textContent.includes('*'))",
        timeout=timeout_ms,
    )


def test_notebook_01_temperature_slider_redraws_the_plot(browser, lab_url, screenshots):
    page = open_and_run_all(browser, lab_url, "01_softmax_and_temperature.ipynb")
    slider = page.locator(".widget-slider").first
    slider.wait_for(timeout=120_000)
    panel_image = page.locator(".jupyter-widgets.widget-image").first
    panel_image.wait_for()
    panel_image.scroll_into_view_if_needed()
    page.wait_for_function("img => img.src && img.src.length > 0", arg=panel_image.element_handle())
    before = panel_image.get_attribute("src")
    move_slider(page, slider, 40)
    page.wait_for_function(
        "([img, old]) => img.src !== old", arg=[panel_image.element_handle(), before], timeout=30_000
    )
    wait_until_idle(page, 120_000)
    slider.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "01_temperature_slider.png"))
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
    page.close()


@pytest.mark.mnist
def test_notebook_04_lab_train_button_adds_a_row(browser, lab_url, screenshots):
    page = open_and_run_down_to(browser, lab_url, "04_mnist_distillation_lab.ipynb", "distillation_lab(")
    train = page.locator("button.jupyter-button:has-text('Train')")
    try:
        train.wait_for(timeout=300_000)
    except Exception:
        page.screenshot(path=str(screenshots / "04_failure.png"), full_page=True)
        raise
    wait_until_idle(page, 300_000)
    lab = train.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]")
    sliders = lab.locator(".widget-slider")
    move_slider(page, sliders.nth(0), 20)  # T
    move_slider(page, sliders.nth(1), 6)  # alpha
    rows_before = lab.locator("table tr").count()
    train.click()
    lab.locator("table tr").nth(max(rows_before, 1)).wait_for(timeout=120_000)
    assert lab.locator("table tr").count() == max(rows_before, 1) + 1
    lab.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots / "04_lab_after_train.png"))
    page.close()
