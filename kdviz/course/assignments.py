"""Graded assignments made from the exercise table: an nbgrader course, or a self-study copy without solutions.

``write_course(out)`` writes an nbgrader course folder: ``nbgrader_config.py`` and ``source/lessonNN/lessonNN.ipynb``,
one assignment per lesson with exercises (an exercise's name starts with its lesson's number). Each exercise is
three cells: its question (markdown, locked), the answer cell (an nbgrader solution cell holding the worked answer
between ``### BEGIN SOLUTION`` and ``### END SOLUTION``) and the test cell (a grade cell worth ``points(exercise)``,
whose ``### BEGIN HIDDEN TESTS`` block asks kdviz's own checker, ``feedback(name, answer)``: the grade applies the
checker's tolerance, the loss judge included, and nothing here holds a second copy of an answer).

``write_student_copy(out)`` writes the same notebooks stripped the scikit-learn MOOC's way: every solution region
becomes ``# Write your code here.``, every test cell ``check(name, answer)`` (the lessons' hints), and no nbgrader
metadata is left. Both write into a new or empty folder, through a temporary folder renamed at the end.
"""

import inspect
import json
import os
import re
import secrets
import shutil
import textwrap
from pathlib import Path

from ..exercises import EXERCISES
from ..exercises.answers import Choice, Code, IndexSet, Number

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
WRITE_HERE = "# Write your code here."  # what the MOOC's stripping leaves in place of a solution
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
POINTS = {Code: 3}  # writing a loss is worth three; a number, a set of classes or a choice one
CONFIG = '''"""nbgrader's settings for the kdviz course written by `python -m kdviz assignment`: run nbgrader here."""

import os

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # this folder, wherever it is moved
c.CourseDirectory.course_id = "kdviz"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
c.Execute.timeout = 120  # seconds per cell: the first cell imports torch, the loss judge runs five batches
'''


def lessons():
    """{lesson number ("01"): [the names of its exercises, in the table's order]}."""
    by_lesson = {}
    for name in EXERCISES:
        by_lesson.setdefault(name[:2], []).append(name)
    return by_lesson


def points(exercise):
    return POINTS.get(type(exercise), 1)


def answer_name(exercise):
    """The variable a student's answer goes in: the function the question names (my_kd_loss) for code,
    answer_<exercise name> otherwise."""
    if isinstance(exercise, Code):
        return re.search(r"\bmy_\w+", exercise.question).group(0)
    return f"answer_{exercise.name}"


def answer_literal(exercise):
    """The expected answer as Python source: the shortest number the checker accepts, the set of indices, or the
    option's word."""
    if isinstance(exercise, Number):
        return next(text for k in range(1, 18) if exercise.accepts(float(text := f"{exercise.answer:.{k}g}")))
    if isinstance(exercise, IndexSet):
        return "{" + ", ".join(map(str, sorted(exercise.answer))) + "}"
    if isinstance(exercise, Choice):
        return repr(exercise.answer)
    raise TypeError(f"{exercise.name}: no literal answer for a {type(exercise).__name__} exercise")


def _comments(markdown, indent=""):
    """The worked solution's prose as comment lines (its code blocks left out: the code follows them)."""
    prose = re.sub(r"```.*?```\n?", "", markdown, flags=re.S)
    lines = []
    for paragraph in prose.split("\n"):
        paragraph = re.sub(r"\*\*(.+?)\*\*", r"\1", paragraph)  # bold in markdown, not T**2
        lines += textwrap.wrap(paragraph, 100, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# ")
    return lines


def solution_source(exercise):
    """The answer cell: the student's starting line, then the worked answer between the solution markers."""
    variable = answer_name(exercise)
    if not isinstance(exercise, Code):
        lines = [f"{variable} = None  # your answer", BEGIN_SOLUTION, *_comments(exercise.solution)]
        return "\n".join([*lines, f"{variable} = {answer_literal(exercise)}", END_SOLUTION])
    worked = inspect.getsource(exercise.answer).rstrip().split("\n")  # def ...: body ... return <the loss>
    *body, last = worked[1:]
    if not last.startswith("    return "):
        raise ValueError(f"{exercise.name}: the worked function must end with `return <the loss>`")
    header = re.sub(r"def \w+", f"def {variable}", worked[0])
    solution = [*_comments(exercise.solution, "    "), *body, "    loss = " + last.removeprefix("    return ")]
    lines = ["import torch", "import torch.nn.functional as F", "", "", header, "    loss = None  # your loss"]
    return "\n".join([*lines, f"    {BEGIN_SOLUTION}", *solution, f"    {END_SOLUTION}", "    return loss"])


def grading_source(exercise):
    """The test cell: a visible reminder, and the hidden test that asks kdviz's checker."""
    variable, name = answer_name(exercise), exercise.name
    visible = f'assert {variable} is not None, "replace None with your answer"'
    if isinstance(exercise, Code):
        visible = f"assert callable({variable}), 'keep the function {variable}'"
    hidden = ["from kdviz.exercises import feedback", "", f"right, message = feedback({name!r}, {variable})"]
    return "\n".join([visible, BEGIN_HIDDEN, *hidden, "assert right, message", END_HIDDEN])


def question_markdown(exercise, number):
    """The question as a student reads it: the prompt, the options as a list, and how to answer."""
    worth = points(exercise)
    head = f"### {number}. `{exercise.name}` ({worth} point{'s' * (worth > 1)})\n\n"
    if isinstance(exercise, Code):
        return f"{head}{exercise.question}\n\nComplete the function `{answer_name(exercise)}` in the cell below."
    if isinstance(exercise, Choice):
        body = exercise.question + "\n\n" + "\n".join(f"- {label}" for label in exercise.labels())
        forms = f"{exercise.forms()}, as a string"
    else:
        body, forms = exercise.prompt(), exercise.forms()
    return f"{head}{body}\n\n{forms[0].upper()}{forms[1:]}: put it in `{answer_name(exercise)}` in the cell below."


def _nbgrader(cell_id, grade=False, solution=False, locked=False, worth=None):
    meta = {"grade": grade, "grade_id": cell_id, "locked": locked, "schema_version": 3, "solution": solution}
    return {"nbgrader": meta | ({"points": worth} if grade else {})}


def _cell(kind, source, cell_id, metadata):
    cell = {"cell_type": kind, "id": cell_id, "metadata": metadata, "source": source}
    return cell | ({"execution_count": None, "outputs": []} if kind == "code" else {})


def lesson_notebook(lesson):
    """The nbgrader source notebook of one lesson's exercises, as a dict in nbformat 4.5."""
    intro = (
        f"# Lesson {lesson}: graded exercises\n\n"
        f"The exercises of lesson {lesson}. Answer each question in the code cell below it and run that cell; the "
        "cell after it tests your answer with kdviz's checker, the one `check` uses in the lessons, with the same "
        "tolerance. Run every cell from the top before you submit."
    )
    cells = [_cell("markdown", intro, f"lesson{lesson}_intro", _nbgrader(f"lesson{lesson}_intro", locked=True))]
    context_shown = False
    for number, name in enumerate(lessons()[lesson], start=1):
        exercise = EXERCISES[name]
        if "show_buggy_losses()" in exercise.question and not context_shown:  # the losses A to E, shown once
            source = "from kdviz.exercises import show_buggy_losses\n\nshow_buggy_losses()"
            cells.append(_cell("code", source, "buggy_losses", _nbgrader("buggy_losses", locked=True)))
            context_shown = True
        ids = {part: f"{name}_{part}" for part in ("question", "answer", "test")}
        cells += [
            _cell(
                "markdown",
                question_markdown(exercise, number),
                ids["question"],
                _nbgrader(ids["question"], locked=True),
            ),
            _cell("code", solution_source(exercise), ids["answer"], _nbgrader(ids["answer"], solution=True)),
            _cell(
                "code",
                grading_source(exercise),
                ids["test"],
                _nbgrader(ids["test"], True, False, True, points(exercise)),
            ),
        ]
    return {"cells": cells, "metadata": {"kernelspec": KERNELSPEC}, "nbformat": 4, "nbformat_minor": 5}


def _without_regions(source, begin, end, stub=None):
    """``source`` without the lines from ``begin`` to ``end``, replaced by ``stub`` at the begin line's indent."""
    kept, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            kept += [line[: line.index(begin)] + stub] if stub else []
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


def student_copy(notebook, lesson):
    """The self-study copy of lesson ``lesson``'s source notebook: solution regions become WRITE_HERE, tests
    become check()."""
    intro = (
        f"# Lesson {lesson}: exercises\n\n"
        f"The exercises of lesson {lesson}, for self-study. Answer each question in the code cell below it and run "
        "that cell; the cell after it checks your answer and, if it is not right yet, gives a hint aimed at the "
        "likely mistake. `show_solution(name)` shows a worked solution."
    )
    setup = "from kdviz.exercises import check, show_solution"
    cells = [_cell("markdown", intro, "intro", {}), _cell("code", setup, "setup", {})]
    for cell in notebook["cells"][1:]:
        meta, source = cell["metadata"].get("nbgrader", {}), cell["source"]
        if meta.get("grade"):
            name = meta["grade_id"].removesuffix("_test")
            source = f"check({name!r}, {answer_name(EXERCISES[name])})\n# show_solution({name!r})"
        elif meta.get("solution"):
            source = _without_regions(source, BEGIN_SOLUTION, END_SOLUTION, WRITE_HERE)
        cells.append(_cell(cell["cell_type"], source, cell["id"], {}))
    return notebook | {"cells": cells}


CHECKOUT = Path(__file__).resolve().parents[2]
COLLECTED = ("notebooks", "tests")  # pytest's testpaths in a checkout: a notebook there would run as a test


def _check_new_folder(out):
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an empty folder: choose a new --out (nothing is overwritten)")
    if any(out.resolve().is_relative_to(CHECKOUT / folder) for folder in COLLECTED):
        raise ValueError(
            f"{out} lies in {' or '.join(COLLECTED)}/, where pytest collects notebooks: choose another --out"
        )
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{out}: its folder {out.parent} does not exist")
    return out


def _write_folder(out, files):
    """Write {relative path: text} into the new folder ``out`` at once: into a temporary folder beside it, renamed
    to ``out`` when every file is written (on any failure nothing is left behind)."""
    out = _check_new_folder(out)
    tmp = out.parent / f".{out.name}.{secrets.token_hex(4)}.tmp"
    tmp.mkdir()  # the usual permissions (umask), unlike mkdtemp's 0o700
    try:
        for relative, text in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        if out.is_dir():
            out.rmdir()  # empty (checked above); a file put there since makes this fail, and nothing is lost
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _notebook_text(notebook):
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def write_course(out):
    """Write the nbgrader course into ``out`` (a new or empty folder); return {assignment: source notebook path}."""
    _check_new_folder(out)
    files = {"nbgrader_config.py": CONFIG}
    for lesson in lessons():
        files[f"source/lesson{lesson}/lesson{lesson}.ipynb"] = _notebook_text(lesson_notebook(lesson))
    out = _write_folder(out, files)
    return {f"lesson{lesson}": out / f"source/lesson{lesson}/lesson{lesson}.ipynb" for lesson in lessons()}


def write_student_copy(out):
    """Write the self-study copy into ``out`` (a new or empty folder): lessonNN.ipynb per lesson; return the paths."""
    _check_new_folder(out)
    files = {
        f"lesson{lesson}.ipynb": _notebook_text(student_copy(lesson_notebook(lesson), lesson)) for lesson in lessons()
    }
    out = _write_folder(out, files)
    return [out / name for name in files]
