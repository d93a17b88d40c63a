"""The one way the course tooling runs a notebook: ``run_notebook(path, env, timeout)``.

The notebook runs top to bottom (nbclient) from a copy in a new temporary folder, which is the kernel's working
folder, so nothing lands beside the original. The kernel gets this process's environment plus ``env`` (the
process's own ``os.environ`` is never changed). Each cell may run ``timeout`` seconds. A failure, a cell that runs
too long or a kernel that dies is a ``NotebookFailed`` naming the notebook, the section and the cell. Ctrl-C stops
the kernel (its whole process group) before the KeyboardInterrupt goes on, so no kernel outlives the command.
"""

import os
import shutil
import signal
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

STOP_WAIT_SECONDS = 20  # after Ctrl-C: how long the runner waits for nbclient to notice the stopped kernel


class NotebookFailed(RuntimeError):
    """A notebook did not run to its end; the message names it, and the section and cell where it stopped."""


@dataclass
class NotebookRun:
    """An executed notebook (``notebook``), its wall time from the kernel's launch, and per code cell that ran:
    {index, id, section, start (seconds after the launch), seconds}."""

    notebook: object
    seconds: float
    cells: list = field(default_factory=list)


def source(cell):
    """A cell's source as one string (notebooks store it as a string or a list of lines)."""
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def section_titles(cells):
    """The level-2 heading ("## ...") each cell sits under; 'Set-up' before the first one."""
    title, titles = "Set-up", []
    for cell in cells:
        if cell["cell_type"] == "markdown":
            headings = [line[3:].strip() for line in source(cell).splitlines() if line.startswith("## ")]
            title = headings[-1] if headings else title
        titles.append(title)
    return titles


def notebook_title(cells):
    """The notebook's level-1 heading without its '# '."""
    for cell in cells:
        for line in source(cell).splitlines() if cell["cell_type"] == "markdown" else ():
            if line.startswith("# "):
                return line[2:].strip()
    return ""


def read_notebook(path):
    """The notebook at ``path`` (nbformat 4); a NotebookFailed naming the file when it is not one."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # JSON errors, validation errors, missing keys: all say the file is not a notebook
        raise NotebookFailed(f"{path} is not a readable notebook ({type(err).__name__}: {err})") from None


def kernel_environment(env):
    """This process's environment plus ``env``, with a relative KDVIZ_DATA_DIR made absolute (the kernel
    runs in another folder)."""
    merged = {**os.environ, **(env or {})}
    if merged.get("KDVIZ_DATA_DIR"):
        merged["KDVIZ_DATA_DIR"] = str(Path(merged["KDVIZ_DATA_DIR"]).expanduser().resolve())
    return merged


def run_notebook(path, env=None, timeout=600):
    """Execute the notebook at ``path`` from a temporary copy; a ``NotebookRun``.

    ``env``: variables for the kernel on top of this process's environment; ``timeout``: seconds any one cell
    may run. Raises NotebookFailed (naming notebook, section and cell) when it stops early.
    """
    from nbclient import NotebookClient

    path = Path(path)
    notebook = read_notebook(path)
    titles = section_titles(notebook.cells)
    started, finished = {}, {}
    with tempfile.TemporaryDirectory(prefix="kdviz-run-") as scratch:
        shutil.copyfile(path, Path(scratch, path.name))
        client = NotebookClient(
            notebook,
            timeout=timeout,
            kernel_name=notebook.metadata.get("kernelspec", {}).get("name") or "python3",
            resources={"metadata": {"path": scratch}},
            on_cell_execute=lambda cell, cell_index: started.__setitem__(cell_index, time.perf_counter()),
            on_cell_executed=lambda cell, cell_index, execute_reply: finished.__setitem__(
                cell_index, time.perf_counter()
            ),
        )
        launch = time.perf_counter()
        with open(Path(scratch, "kernel.log"), "wb") as log:  # the kernel's own messages, not the notebook's
            failure = _execute_stoppably(client, kernel_environment(env), log)
        seconds = time.perf_counter() - launch
        if failure is not None:
            index = max(started, default=None)
            where = "before its first cell" if index is None else f"in section {titles[index]!r} (cell {index})"
            raise NotebookFailed(_failure_message(path.name, failure, where, timeout, Path(scratch, "kernel.log")))
    cells = [
        {
            "index": index,
            "id": notebook.cells[index].get("id"),
            "section": titles[index],
            "start": round(started[index] - launch, 2),
            "seconds": round(finished[index] - started[index], 2),
        }
        for index in sorted(started)
        if index in finished
    ]
    return NotebookRun(notebook, round(seconds, 2), cells)


def _failure_message(name, failure, where, timeout, log):
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    if isinstance(failure, CellExecutionError):
        return f"{name} failed {where}: {failure.ename}: {failure.evalue}"
    if isinstance(failure, CellTimeoutError):
        return f"{name}: a cell ran longer than {timeout} s {where} (raise --timeout)"
    if isinstance(failure, DeadKernelError):
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        return f"{name}: the kernel died {where}" + (f"; its last message: {lines[-1]}" if lines else "")
    return f"{name} could not run {where}: {type(failure).__name__}: {failure}"


def _execute_stoppably(client, env, log):
    """Run ``client.execute(env=env)`` in a worker thread, the kernel's stdout and stderr to ``log``; the
    exception it raised, or None.

    The main thread only waits, so Ctrl-C reaches it here: the kernel's process group is killed, the worker is
    given a moment to clean up (nbclient removes the connection file), and the KeyboardInterrupt goes on.
    """
    outcome = {}

    def work():
        try:
            client.execute(env=env, stdout=log, stderr=log)
        except BaseException as err:  # handed to the main thread, which decides
            outcome["error"] = err

    worker = threading.Thread(target=work, name="kdviz-notebook", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        stop_kernel(client)
        worker.join(STOP_WAIT_SECONDS)
        stop_kernel(client)  # a kernel that was still starting when Ctrl-C came
        raise
    return outcome.get("error")


def stop_kernel(client):
    """Kill the client's kernel and every process in its group (the kernel starts a session of its own)."""
    manager = getattr(client, "km", None)
    provisioner = getattr(manager, "provisioner", None)
    process = getattr(provisioner, "process", None)
    if process is None or process.poll() is not None:
        return
    try:
        if hasattr(os, "killpg"):
            os.killpg(os.getpgid(process.pid), signal.SIGKILL)
        else:  # Windows: no process groups
            process.kill()
    except (ProcessLookupError, PermissionError):
        return
    try:
        process.wait(timeout=5)
    except Exception:  # it is killed; waiting is only to reap it
        pass
