"""Suite-wide set-up: hypothesis profiles, the one MNIST check, notebooks run once each from a copy, and
the snapshot of the checkout that the last test compares against."""

import hashlib
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import Future
from functools import cache, partial
from pathlib import Path

import nbformat
import pytest
from hypothesis import settings
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError
from nbmake.nb_result import NotebookError, NotebookResult
from nbmake.nb_run import NotebookRun
from nbmake.pytest_items import NotebookFailedException

from kdviz.mnist import data

ROOT = Path(__file__).resolve().parent.parent
MIRROR_TIMEOUT_S = 5

# CI runs a fixed set of examples (no flaky reruns); HYPOTHESIS_PROFILE=thorough explores more.
settings.register_profile("default", derandomize=True, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


if os.environ.get("KDVIZ_DATA_DIR"):  # absolute, as notebooks run from a temporary copy of their folder
    os.environ["KDVIZ_DATA_DIR"] = str(Path(os.environ["KDVIZ_DATA_DIR"]).expanduser().resolve())
# A test run trains no teacher unless the test is about training one: the notebooks and the JupyterLab that
# the browser tests start use the shipped teacher even where the user's shell asks to ignore it.
os.environ.pop("KDVIZ_NO_SHIPPED_TEACHER", None)


def in_ci():
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


# --- MNIST: checked once, before any test waits on it ----------------------------------------


def mirror_answers(timeout=MIRROR_TIMEOUT_S):
    """True when one of kdviz.mnist.data.MIRRORS answers a HEAD request within ``timeout`` seconds."""
    answers = queue.Queue()

    def ask(url):
        try:
            urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
            answers.put(True)
        except Exception:  # offline shows up as many exception types
            answers.put(False)

    for mirror in data.MIRRORS:  # daemon threads: a hanging name lookup cannot hold up the suite
        threading.Thread(target=ask, args=(mirror + "t10k-labels-idx1-ubyte.gz",), daemon=True).start()
    deadline = time.monotonic() + timeout
    for _ in data.MIRRORS:
        try:
            if answers.get(timeout=max(0.0, deadline - time.monotonic())):
                return True
        except queue.Empty:
            return False
    return False


@cache
def mnist_missing():
    """None when the MNIST tests can run; else the one reason they cannot."""
    folder = data.default_dir()
    if all(Path(folder, name).exists() or Path(folder, f"{name}.gz").exists() for name in data.MNIST_FILES):
        return None
    if mirror_answers():
        return None  # the files will be downloaded into `folder` on first use
    return (
        f"MNIST is not in {folder} and no download mirror answered within {MIRROR_TIMEOUT_S} s. "
        "Set KDVIZ_DATA_DIR to a folder holding the four MNIST files, made with "
        "`python -m kdviz fetch --dir DIR` on a machine with internet access."
    )


@pytest.fixture(scope="session")
def mnist_dir():
    """The folder holding the four verified MNIST files (downloaded there first if need be)."""
    folder = data.default_dir()
    for name in data.MNIST_FILES:
        data.ensure_file(name, folder)
    return folder


# --- every notebook executes once, from a temporary copy, most of them while other tests run ------------

# The kernels of the shared executions get the environment the session started with (tests change os.environ
# while a notebook runs in the background), in quick mode whatever started pytest, and one torch thread each:
# they run beside the unit tests, and two processes each spinning two threads on two cores waste a core. Their
# widget panels draw their frames (KDVIZ_FRAMES=1), as the course site's executions do: the site test shows them.
KERNEL_ENV = {**os.environ, "KDVIZ_QUICK": "1", "KDVIZ_FRAMES": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
_copies = []
_lock = threading.Lock()


def notebook_copy(path):
    """A copy of ``path`` in a temporary copy of its folder (kernels run there, not in the checkout)."""
    with _lock:
        if not _copies:
            _copies.append(Path(tempfile.mkdtemp(prefix="kdviz-notebooks-")))
        folder = _copies[0] / path.parent.name
        if not folder.exists():
            shutil.copytree(path.parent, folder, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return folder / path.name


def pytest_unconfigure(config):
    for folder in _copies:
        shutil.rmtree(folder, ignore_errors=True)


class SharedRun(NotebookRun):
    """nbmake's run of one notebook (its outputs, and the failing cell as nbmake reports it), the kernel given
    KERNEL_ENV rather than whatever os.environ holds at that moment."""

    def execute(self):
        notebook = nbformat.read(str(self.filename), as_version=4)
        kernel = {"kernel_name": self.kernel} if self.kernel else {}
        client = NotebookClient(notebook, timeout=self.default_timeout, record_timing=True, **kernel)
        try:
            client.execute(cwd=str(self.filename.parent), env=KERNEL_ENV)
        except CellExecutionError:
            return NotebookResult(nb=notebook, error=self._get_error(notebook))
        except CellTimeoutError as err:
            trace = err.args[0]
            error = NotebookError(trace.split("\n")[0], trace, self._get_timeout_cell(notebook))
            return NotebookResult(nb=notebook, error=error)
        return NotebookResult(nb=notebook, error=None)


_executions = {}  # notebook -> Future of its SharedRun result


def _claim(source):
    """(the notebook's future, whether the caller is the one to execute it)."""
    with _lock:
        if source in _executions:
            return _executions[source], False
        _executions[source] = Future()
        return _executions[source], True


def execute_once(source, config):
    """nbmake's result of executing a copy of the notebook ``source`` (its ``nb`` holds the outputs, its
    ``error`` the failing cell or None), executed once per session with the session's nbmake options.
    The notebook's nbmake test and any test that inspects its outputs share this one execution, which may
    already be running in the background (``pytest_collection_finish``): then this waits for it."""
    future, mine = _claim(source)
    if mine:
        option = vars(config.option)  # nbmake's options, or its defaults where its plugin is left out
        try:
            run = SharedRun(
                notebook_copy(source), option.get("nbmake_timeout", 600), kernel=option.get("nbmake_kernel")
            )
            future.set_result(run.execute())
        except BaseException as err:
            future.set_exception(err)
    return future.result()


@pytest.fixture(scope="session")
def executed_notebook(pytestconfig):
    """``executed_notebook("01_....ipynb")``: the notebook executed in quick mode, as its nbmake test ran it."""
    return lambda name: execute_once(ROOT / "notebooks" / name, pytestconfig)


def _run_shared_execution(item, source):
    """An nbmake item's test: the shared execution of ``source`` (nbmake reports a failure as usual)."""
    result = execute_once(source, item.config)
    if result.error is not None:
        raise NotebookFailedException(result)


def pytest_collection_finish(session):
    """Start executing the selected notebooks, the longest first, in one background thread: their kernels run
    on the second core while the unit tests run on the first (a 2-core machine otherwise idles one core for
    most of the run). A test that needs a notebook waits for it, or executes it itself if it is not begun."""
    items = [item for item in session.items if hasattr(item, "shared_source")]
    sources = [item.shared_source for item in items]
    needs_mnist = {item.shared_source for item in items if item.get_closest_marker("mnist")}

    def execute_all():
        for source in reversed(sources):  # 06, 05, 04 first: the lessons that train
            if source in needs_mnist and mnist_missing():
                continue  # the gate skips (or fails) these; nothing to execute
            execute_once(source, session.config)

    if sources and not session.config.option.collectonly:
        threading.Thread(target=execute_all, name="kdviz-notebooks", daemon=True).start()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if "mnist_dir" in getattr(item, "fixturenames", ()):
            item.add_marker("mnist")
        if getattr(item, "nbmake", False) and hasattr(item, "filename"):
            source = Path(item.filename)
            if "load_mnist(" in source.read_text(encoding="utf-8"):
                item.add_marker("mnist")
            item.filename = str(notebook_copy(source))  # where the kernel runs, as nbmake reports it
            item.shared_source = source.resolve()
            item.runtest = partial(_run_shared_execution, item, item.shared_source)
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)  # stable: the rest keep order


class MnistGate:
    """Skips every test marked mnist, or fails it under CI, when MNIST cannot be had. A plugin rather than
    a hook of this conftest, whose runtest hooks would reach tests/ only, not the notebooks."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if item.get_closest_marker("mnist") and (reason := mnist_missing()):
            if in_ci():
                pytest.fail(reason, pytrace=False)
            pytest.skip(reason)


def pytest_configure(config):
    config.pluginmanager.register(MnistGate(), "kdviz-mnist-gate")


# --- a recorded lab (kdviz.course.lab_record) of a small grid over random toy data --------------------------


def toy_workspace(n=300):
    """Random images labelled by a random, very confident teacher (its last layer scaled up)."""
    import torch

    from kdviz.mnist.models import teacher_mlp
    from kdviz.mnist.workspace import Workspace

    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 784, generator=g)
    teacher = teacher_mlp(hidden=16).eval()
    with torch.no_grad():
        last = [m for m in teacher.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.mul_(200.0)
        teacher_logits = teacher(x)
    y = teacher_logits.argmax(1)
    return Workspace(x, y, x[:100], y[:100], teacher, teacher_logits, {"cached": True, "seconds": 0.0}, "cpu")


@pytest.fixture(scope="session")
def toy_lab_record(tmp_path_factory):
    """The path of a lab record of T 2 and 20, alpha 0 and 0.5, 8 and 16 hidden units, trained once per session
    as the lab's presses train (1 epoch on 200 random toy images) and written as `python -m kdviz record-lab` does."""
    import warnings

    import numpy as np

    from kdviz.course.lab_record import record_lab, write_lab_record
    from kdviz.mnist.train import TrainingWarning

    test_images = np.random.default_rng(0).integers(0, 256, size=(100, 784), dtype=np.uint8)
    grid = {"T": [2.0, 20.0], "alpha": [0.0, 0.5], "hidden": [8, 16]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TrainingWarning)  # random toy data: students cannot learn it
        record = record_lab(toy_workspace(), test_images, grid, epochs=1, images=200, progress=lambda line: None)
    path = tmp_path_factory.mktemp("lab") / "lab_run.json"
    write_lab_record(record, path)
    return path


# --- the Chromium that the browser tests drive -------------------------------------------------

CHROMIUM_NAMES = (  # on PATH (Linux), then where macOS and Windows install Chromium and Google Chrome
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
)


def find_chromium():
    """$KDVIZ_CHROMIUM when set, else the first of CHROMIUM_NAMES found; None when there is none."""
    names = [os.environ["KDVIZ_CHROMIUM"]] if os.environ.get("KDVIZ_CHROMIUM") else CHROMIUM_NAMES
    return next(filter(None, map(shutil.which, names)), None)


@pytest.fixture(scope="session")
def chromium():
    """Path of the Chromium to drive; without one the test skips (fails under CI) saying how to get one."""
    found = find_chromium()
    if found is None:
        setting = os.environ.get("KDVIZ_CHROMIUM")
        missing = (
            f"KDVIZ_CHROMIUM={setting} is not a program"
            if setting
            else "none of chromium, chromium-browser, google-chrome is on PATH or in the usual places"
        )
        reason = (
            f"the browser tests need Chromium or Google Chrome: {missing}. Install one (Debian: "
            "`apt-get install chromium`; Ubuntu: `snap install chromium`; macOS, Windows: Google Chrome) "
            "or set KDVIZ_CHROMIUM to its path."
        )
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def browser(chromium):
    """One headless Chromium for every browser test of the session (JupyterLab's and the course site's)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
        )
        yield launched
        launched.close()


# --- the checkout as the session found it ------------------------------------------------------


def checkout_state():
    """{`git status --porcelain` line: sha256 of that file} for the checkout; None without git."""
    try:
        git = ["git", "--no-optional-locks", "-C", str(ROOT)]
        top = subprocess.run([*git, "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True)
        status = subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    state = {}
    for line in status.stdout.splitlines():
        path = Path(top.stdout.strip(), line[3:])
        state[line] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    return state


_checkout_at_start = []


def pytest_sessionstart(session):
    _checkout_at_start.append(checkout_state())


@pytest.fixture
def checkout_changes():
    """`git status` lines of files that changed since the session started; None without git."""
    start, now = _checkout_at_start[0], checkout_state()
    if start is None or now is None:
        return None
    return sorted(line for line, digest in now.items() if line not in start or start[line] != digest)
