"""What the course site does with an executed lesson (kdviz.course.pages), and what `site` refuses before it
builds anything (kdviz.course.site). No site is built here and no kernel is started: the refusals come first.
The MNIST lessons' pages are checked on the executions nbmake shares (conftest's executed_notebook)."""

import json
import types
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from kdviz import __main__ as cli
from kdviz.course import pages, site
from kdviz.course.documents import read_record
from kdviz.course.record import RECORD_FILE, source_hash
from kdviz.exercises import EXERCISES

ROOT = Path(__file__).resolve().parent.parent
RECORD = read_record(ROOT / RECORD_FILE)


def stream(text, name="stdout"):
    return new_output("stream", name=name, text=text)


def lesson(*cells):
    nb = new_notebook(cells=[new_markdown_cell("# 04 Lab\n## 5. The lab"), *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    for k, cell in enumerate(nb.cells):
        cell.id = f"c{k}"
        if cell.cell_type == "code":
            cell.execution_count = k
    return nb


def quiet_record(stem, cell, text, **changes):
    """A quiet full-size record that quotes ``cell`` of notebook ``stem`` as having printed ``text``."""
    quoted = {"id": cell.id, "section": "5. The lab", "start": 1, "seconds": 1, "text": text}
    quoted["source_sha256"] = source_hash(cell)
    notebook = {"title": "04 Lab", "seconds": 9, "sections": [], "cells": [quoted]}
    return {**RECORD, "notebooks": {stem: notebook}, "other_load_max": 0.1, "load_sample_seconds": 5, **changes}


def texts(page):
    """Every text the page's code cells output."""
    found = []
    for cell in page.cells:
        for output in cell.get("outputs", []):
            found.append(output.get("text", ""))
            found += [value for key, value in output.get("data", {}).items() if key.startswith("text/")]
    return "\n".join(text if isinstance(text, str) else "".join(text) for text in found)


def test_a_cell_the_record_quotes_shows_the_records_quiet_times_and_any_other_time_is_left_out():
    press = new_code_cell("lab.train()\nprint(took)", metadata={"tags": ["record"]})
    press.outputs = [
        stream("estimated time: about 40 s, from a probe just now (load average 9.1 on 2 cores); more if ...\n"),
        new_output("display_data", data={"text/plain": "3 seeds: 100%|##########| 3/3 [01:13<00:00, 24.4s/epoch]"}),
        stream("that press took 73 s\nrun  T  time\n  1  4  73 s\n"),
    ]
    other = new_code_cell("print(f'about {format_seconds(s)}')")
    other.outputs = [stream("6 students: about 17 s\n")]
    nb = lesson(press, other)
    recorded = "estimated time: about 3.1 s, from a probe just now (load average 0.2 on 2 cores); more if ...\n"
    recorded += "that press took 2.9 s\nrun  T  time\n  1  4  2.9 s"
    page = pages.lesson_page(nb, "04_lab", record=quiet_record("04_lab", press, recorded))
    shown = texts(page)
    assert "about 3.1 s" in shown and "that press took 2.9 s" in shown and "  1  4  2.9 s" in shown
    assert f"6 students: about {pages.TIME_LEFT_OUT}" in shown
    assert "73 s" not in shown and "load average" not in shown and "01:13" not in shown and "24.4s" not in shown
    assert "3/3" in shown  # the bar keeps its count
    busy = quiet_record("04_lab", press, recorded, other_load_max=2.5)  # a record that was not quiet quotes nothing
    assert "2.9 s" not in texts(pages.lesson_page(nb, "04_lab", record=busy))
    differs = quiet_record("04_lab", press, recorded.replace("run  T", "run  alpha"))  # another output: no quote
    assert "2.9 s" not in texts(pages.lesson_page(nb, "04_lab", record=differs))
    assert nb.cells[1].outputs[2].text.startswith("that press took 73 s")  # the executed notebook is unchanged


def test_a_page_shows_no_folder_of_the_machine_that_ran_it():
    from kdviz.mnist.data import default_dir

    cell = new_code_cell("print(mnist_status())")
    cell.outputs = [
        stream(f"MNIST found in {default_dir()} (each file is verified when loaded)\n"),
        stream(f"{ROOT}/kdviz/mnist/workspace.py:129: TrainingWarning: ...\n", "stderr"),
        stream(f"saved in {Path.home()}/notes/run.json and /srv/data/x.bin; see https://mybinder.org/v2/gh/a/b\n"),
    ]
    shown = texts(pages.lesson_page(lesson(cell), "04_lab"))
    assert "MNIST found in <MNIST folder>" in shown
    assert "kdviz/mnist/workspace.py:129: TrainingWarning" in shown and str(ROOT) not in shown
    assert "saved in ~/notes/run.json and <folder>; see https://mybinder.org/v2/gh/a/b" in shown


def test_the_students_page_drops_a_worked_solution_and_the_lecturers_keeps_it():
    name = "06_non_target_weight"
    cell = new_code_cell(f'show_solution("{name}")')
    cell.outputs = [
        new_output("display_data", data={"text/markdown": f"**{name}.** {EXERCISES[name].solution}"}),
        stream("left alone\n"),
    ]
    students = pages.lesson_page(lesson(cell), "06_x")
    assert EXERCISES[name].solution not in texts(students) and "left alone" in texts(students)
    assert EXERCISES[name].solution in texts(pages.lesson_page(lesson(cell), "06_x", lecturer=True))


def test_an_image_gets_the_docstring_of_the_function_that_drew_it_as_its_alt_text():
    png = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 640x480 with 1 Axes>"}
    figure = new_code_cell("z = random_logits(7)\nplot_temperature_curves(z, T_max=5.0)")
    figure.outputs = [new_output("execute_result", data=png, execution_count=1)]
    panel = new_code_cell("temperature_panel(DATA)")
    panel.outputs = [new_output("execute_result", data=png, execution_count=2)]
    unknown = new_code_cell("show(picture)")
    unknown.outputs = [new_output("display_data", data=png)]
    page = pages.lesson_page(lesson(figure, panel, unknown), "02_x")
    alts = [cell.metadata["mystnb"]["image"]["alt"] for cell in page.cells[1:]]
    assert alts[0].startswith("Figure: q_i(T) for every class")
    assert alts[1].startswith("A still picture of an interactive panel: Bar chart of q(T)")
    assert alts[2] == "A figure from section '5. The lab' of '04 Lab'."


TIMED_LESSONS = [
    "04_mnist_distillation_lab.ipynb",
    "05_dark_knowledge_experiments.ipynb",
    "06_calibration_smoothing_and_fidelity.ipynb",
    "07_temperature_in_language_models.ipynb",
]


@pytest.mark.parametrize("name", TIMED_LESSONS)
def test_the_training_lessons_pages_show_no_time_load_folder_or_instructor_notes_of_the_test_run(
    executed_notebook, name
):
    """These lessons print estimates, measured times and progress bars; quick mode's numbers are not the record's,
    so every time on the page is left out. 07 also holds a section of instructor notes, which students do not see."""
    result = executed_notebook(name)
    if result.error is not None:
        pytest.fail(f"{name} did not run to the end: {result.error.summary}", pytrace=False)
    before = texts(result.nb)
    assert pages.DURATION.search(before)  # there was something to hide
    page = pages.lesson_page(result.nb, Path(name).stem, record=RECORD)
    headings = [line for cell in page.cells for line in cell.source.splitlines() if pages.HEADING.match(line)]
    assert not [heading for heading in headings if "instructor notes" in heading.lower()]
    shown = texts(page)
    for pattern in (pages.DURATION, pages.BAR_TIME, pages.LOAD_NOTE, pages.ABSOLUTE_PATH):
        assert pattern.findall(shown) == [], f"{name}: {pattern.pattern} still finds {pattern.findall(shown)[:3]}"
    assert pages.TIME_LEFT_OUT in shown


# ---- what `site` refuses -------------------------------------------------------------------------------------


def small_lessons(folder, executed=False, failing=False):
    """Two tiny lessons; ``executed``: with outputs as nbclient leaves them; ``failing``: 02's cell raised."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("01_one.ipynb", "02_two.ipynb"):
        nb = lesson(new_code_cell("print(1)"))
        if executed:
            nb.cells[1].outputs = [stream("1\n")]
        else:
            nb.cells[1].execution_count = None
        if failing and name.startswith("02"):
            nb.cells[1].outputs = [
                new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])
            ]
        nbformat.write(nb, folder / name)
    return folder


def no_execution(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed")

    monkeypatch.setattr(site, "run_notebook", refuse)


def run_site(tmp_path, *arguments):
    lessons = small_lessons(tmp_path / "lessons")
    return cli.main(["site", "--out", str(tmp_path / "out"), "--notebooks", str(lessons), *arguments])


@pytest.mark.parametrize(
    ("prepare", "words"),
    [
        (lambda folder: folder.mkdir(), "holds none of the lessons (01_one.ipynb ...)"),
        (
            lambda folder: small_lessons(folder, executed=False),
            "01_one.ipynb was not executed (code cell 1 has no output); 02_two.ipynb was not",
        ),
        (
            lambda folder: small_lessons(folder, executed=True, failing=True),
            "02_two.ipynb is broken (cell 1 failed with ZeroDivisionError: division by zero)",
        ),
        (
            lambda folder: (small_lessons(folder, executed=True), (folder / "02_two.ipynb").unlink()),
            "lacks 02_two.ipynb",
        ),
        (
            lambda folder: (small_lessons(folder, executed=True), (folder / "02_two.ipynb").write_text("{")),
            "not a readable",
        ),
    ],
    ids=["empty", "unexecuted", "broken", "missing", "not-json"],
)
def test_site_refuses_executed_notebooks_it_cannot_use_naming_them_and_executes_nothing(
    tmp_path, monkeypatch, capsys, prepare, words
):
    no_execution(monkeypatch)
    executed = tmp_path / "executed"
    prepare(executed)
    assert run_site(tmp_path, "--executed", str(executed)) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.splitlines()) == 1, err
    if words != "holds none of the lessons (01_one.ipynb ...)":
        assert "02_two.ipynb" in err
    assert not (tmp_path / "out").exists()


def test_site_refuses_an_out_folder_where_pytest_collects(tmp_path, monkeypatch, capsys):
    no_execution(monkeypatch)
    for inside in (ROOT / "notebooks" / "site", ROOT / "tests" / "built" / "site"):
        assert cli.main(["site", "--out", str(inside), "--executed", str(tmp_path)]) == 2
        assert "where pytest collects tests" in capsys.readouterr().err
        assert not inside.exists()
    collected = json.dumps([str(folder) for folder in site.pytest_folders(ROOT)])
    assert "notebooks" in collected and "tests" in collected


def test_site_refuses_quick_with_executed_and_a_misspelt_repository(tmp_path, monkeypatch, capsys):
    no_execution(monkeypatch)
    executed = small_lessons(tmp_path / "executed", executed=True)
    assert run_site(tmp_path, "--executed", str(executed), "--quick") == 2
    assert "give one of them" in capsys.readouterr().err
    assert run_site(tmp_path, "--binder-repo", "not a repo") == 2
    assert "not a GitHub repository: give OWNER/NAME" in capsys.readouterr().err


def test_site_keeps_the_lessons_it_executes_for_the_other_edition_even_when_the_build_fails(
    tmp_path, monkeypatch, capsys
):
    """--keep-executed saves each executed lesson (frames drawn) before the book is built: a build that fails
    keeps minutes of executions; the kept folder then passes --executed's checks."""
    calls = []

    def execute(path, env, timeout):
        calls.append(env)
        notebook = nbformat.read(path, as_version=4)
        notebook.cells[1].outputs, notebook.cells[1].execution_count = [stream("1\n")], 1
        return types.SimpleNamespace(notebook=notebook)

    def build_fails(source, staging):
        raise RuntimeError("the book did not build")

    monkeypatch.setattr(site, "run_notebook", execute)
    monkeypatch.setattr(site, "jupyter_book", build_fails)
    monkeypatch.setattr(site, "mathjax_folder", lambda: None)
    kept = tmp_path / "kept"
    assert run_site(tmp_path, "--quick", "--keep-executed", str(kept)) == 2
    assert "the book did not build" in capsys.readouterr().err
    assert sorted(p.name for p in kept.iterdir()) == ["01_one.ipynb", "02_two.ipynb"]
    assert all(env["KDVIZ_FRAMES"] == "1" for env in calls) and len(calls) == 2
    assert site.check_executed(kept, ["01_one.ipynb", "02_two.ipynb"]) == [kept / "01_one.ipynb", kept / "02_two.ipynb"]


def test_site_refuses_keep_executed_with_executed_or_a_folder_that_holds_files(tmp_path, monkeypatch, capsys):
    no_execution(monkeypatch)
    executed = small_lessons(tmp_path / "executed", executed=True)
    assert run_site(tmp_path, "--executed", str(executed), "--keep-executed", str(tmp_path / "kept")) == 2
    assert "with --executed none is executed" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine.ipynb").write_text("{}")
    assert run_site(tmp_path, "--keep-executed", str(tmp_path / "full")) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "full" / "mine.ipynb").read_text() == "{}" and not (tmp_path / "out").exists()
