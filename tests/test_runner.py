"""The one notebook runner of the course tooling (kdviz.course.runner), and Ctrl-C during `record` and `site`.

Tiny notebooks only (a kernel, no training). The Ctrl-C tests run the command in a subprocess, wait until the
notebook's kernel is inside a cell that sleeps, send SIGINT as a terminal's Ctrl-C would, and then check the
exit status, the one line on stderr and that the kernel is gone.
"""

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from kdviz.course.runner import NotebookFailed, run_notebook

psutil = pytest.importorskip("psutil")

# SIGINT with Python's own handler, whatever the test runner's parent left (a background job ignores SIGINT)
WITH_CTRL_C = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from kdviz.__main__ import main; sys.exit(main(sys.argv[1:]))"
)


def write_notebook(path, cells):
    nb = new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}})
    for k, cell in enumerate(nb.cells):
        cell.id = f"cell-{k}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def sleeper(path):
    """A notebook whose code cell writes its kernel's pid to $KDVIZ_TEST_MARK, then sleeps a minute."""
    code = "import os, time\nopen(os.environ['KDVIZ_TEST_MARK'], 'w').write(str(os.getpid()))\ntime.sleep(60)"
    return write_notebook(path, [new_markdown_cell("# 01 Sleep\n## 1. Wait"), new_code_cell(code)])


def test_the_runner_runs_a_copy_with_its_own_environment_and_times_each_cell(tmp_path):
    source = write_notebook(
        tmp_path / "notebooks" / "01_env.ipynb",
        [
            new_markdown_cell("# 01 Env\n## 1. Look around"),
            new_code_cell("import os\nprint(os.environ['KDVIZ_RUNNER_TEST'], os.path.basename(os.getcwd()))"),
            new_code_cell("open('written_by_the_notebook.txt', 'w').write('x')"),
        ],
    )
    before = sorted(source.parent.iterdir())
    run = run_notebook(source, {"KDVIZ_RUNNER_TEST": "from the env dict"}, timeout=120)
    assert "KDVIZ_RUNNER_TEST" not in os.environ  # the kernel's environment is its own
    printed = run.notebook.cells[1].outputs[0].text
    assert printed.startswith("from the env dict kdviz-run-")  # it ran in a temporary folder
    assert sorted(source.parent.iterdir()) == before  # nothing written beside the notebook
    assert nbformat.read(source, as_version=4).cells[1].outputs == []  # the source keeps no outputs
    assert [cell["index"] for cell in run.cells] == [1, 2] and all(cell["seconds"] >= 0 for cell in run.cells)
    assert run.cells[0]["section"] == "1. Look around" and run.seconds >= sum(c["seconds"] for c in run.cells)


def test_a_cell_that_runs_too_long_names_the_notebook_section_and_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_TEST_MARK", str(tmp_path / "mark"))
    with pytest.raises(
        NotebookFailed, match=r"^01_sleep.ipynb: a cell ran longer than 2 s in section '1. Wait' \(cell 1\)"
    ):
        run_notebook(sleeper(tmp_path / "01_sleep.ipynb"), timeout=2)
    kernel = int((tmp_path / "mark").read_text())
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE


def test_a_file_that_is_not_a_notebook_is_named(tmp_path):
    broken = tmp_path / "02_broken.ipynb"
    broken.write_text("{ not json")
    with pytest.raises(NotebookFailed, match=f"^{broken} is not a readable notebook"):
        run_notebook(broken)


def interrupt(command, mark, cwd, env=None):
    """Run ``python -m kdviz COMMAND`` until the notebook's kernel writes its pid to ``mark``, then send SIGINT;
    (exit status, stderr, kernel pid)."""
    env = {**os.environ, **(env or {}), "KDVIZ_TEST_MARK": str(mark)}
    process = subprocess.Popen(
        [sys.executable, "-c", WITH_CTRL_C, *command],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own: cleaned up below whatever happens
    )
    try:
        deadline = time.monotonic() + 120
        while not (mark.exists() and mark.read_text()):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the notebook never started: {process.communicate()[1][-2000:]}")
            time.sleep(0.1)
        time.sleep(0.3)  # inside time.sleep(60) now
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, err, int(mark.read_text())


def assert_stopped_cleanly(status, err, kernel):
    assert status == 130
    assert err.splitlines() == ["interrupted"], err
    assert not psutil.pid_exists(kernel) or psutil.Process(kernel).status() == psutil.STATUS_ZOMBIE


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process group is POSIX")
def test_ctrl_c_during_site_exits_130_with_one_line_and_no_kernel_and_no_half_site(tmp_path):
    sleeper(tmp_path / "lessons" / "01_sleep.ipynb")
    out = tmp_path / "site"
    command = ["site", "--out", str(out), "--notebooks", str(tmp_path / "lessons"), "--quick", "--binder-repo", "a/b"]
    assert_stopped_cleanly(*interrupt(command, tmp_path / "mark", tmp_path))
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []


@pytest.mark.mnist
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a process group is POSIX")
def test_ctrl_c_during_record_exits_130_with_one_line_and_no_kernel_and_no_record(tmp_path, mnist_dir):
    from kdviz.course.documents import DOC_FILES

    root = tmp_path / "checkout"
    for doc in DOC_FILES:
        if doc.endswith(".ipynb"):
            write_notebook(root / doc, [new_markdown_cell("# 00 Start"), new_code_cell("x = 1")])
        else:
            (root / doc).parent.mkdir(parents=True, exist_ok=True)
            (root / doc).write_text("no blocks\n")
    sleeper(root / "notebooks" / "00_a_sleep.ipynb")  # runs first: the only kernel started
    out = tmp_path / "quick.json"
    env = {"KDVIZ_QUICK": "1", "KDVIZ_DATA_DIR": str(mnist_dir)}
    assert_stopped_cleanly(*interrupt(["record", "--out", str(out)], tmp_path / "mark", root, env))
    assert not out.exists() and not any(tmp_path.glob(".quick.json*"))
