"""Graded assignments (python -m kdviz assignment): the nbgrader course and the self-study copy, checked with
nbgrader itself: the release holds no solution, and autograde gives right / wrong / empty submissions full / zero /
zero points. One course is built and released once per session; one assignment (lesson 03: numbers, choices and
the two losses) is autograded, as nbgrader runs each submission in a kernel of its own."""

import contextlib
import io
import json
import math
import os
import re
from pathlib import Path

import nbformat
import pytest

from kdviz.__main__ import main
from kdviz.course import assignments
from kdviz.course.assignments import (
    BEGIN_HIDDEN,
    BEGIN_SOLUTION,
    END_HIDDEN,
    END_SOLUTION,
    WRITE_HERE,
    answer_name,
    lessons,
    points,
    write_course,
    write_student_copy,
)
from kdviz.exercises import EXERCISES
from kdviz.exercises.answers import Code, IndexSet, Number

# nbgrader 0.9.6 under SQLAlchemy 2 warns while it files an autograded submission; the scores asserted below are right
pytestmark = pytest.mark.filterwarnings("ignore:Object of type <Submitted:sqlalchemy.exc.SAWarning")

GRADED = "lesson03"  # the assignment autograded: Number, Choice and both Code exercises (the loss judge)
STUDENTS = ("right", "wrong", "empty")


def in_ci():
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def cells(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))["cells"]


def source_of(cell):
    return "".join(cell["source"])


def by_grade_id(notebook_cells):
    return {c["metadata"]["nbgrader"]["grade_id"]: c for c in notebook_cells if "nbgrader" in c["metadata"]}


def solution_lines(source):
    """The lines between the solution markers (the worked answer)."""
    lines = source.split("\n")
    start, end = (
        next(i for i, line in enumerate(lines) if marker in line) for marker in (BEGIN_SOLUTION, END_SOLUTION)
    )
    return [line.strip() for line in lines[start + 1 : end] if line.strip()]


def worked(source):
    """An answer cell as a student who knows the answer writes it: the worked answer, without the markers."""
    return "\n".join(line for line in source.split("\n") if "### " not in line)


def wrong_answers(exercise):
    """Known-wrong answers as source: each value a hint exists for, or each buggy loss A to E for code."""
    if isinstance(exercise, Code):
        return [
            f"from kdviz.exercises import BUGGY_LOSSES\n{answer_name(exercise)} = BUGGY_LOSSES[{k!r}]" for k in "ABCDE"
        ]
    wrongs = [hint.wrong for hint in exercise.hints if not callable(hint.wrong)]

    def literal(value):  # source that gives the value back: float('nan') and float('-inf') have no other literal
        if isinstance(value, (str, set)):
            return repr(value)
        return repr(float(value)) if math.isfinite(float(value)) else f"float({str(float(value))!r})"

    return [f"{answer_name(exercise)} = {literal(w)}" for w in wrongs]


# ---- the course as written (no nbgrader needed) ----


@pytest.fixture(scope="session")
def course(tmp_path_factory):
    return write_course(tmp_path_factory.mktemp("course") / "kdviz_course")


def test_every_lesson_with_exercises_is_one_assignment_with_every_exercise_once(course):
    assert sorted(course) == [f"lesson{n}" for n in sorted({name[:2] for name in EXERCISES})]
    for assignment, path in course.items():
        assert path == path.parents[2] / "source" / assignment / f"{assignment}.ipynb"
        nbformat.validate(nbformat.read(path, as_version=4))
        ids = by_grade_id(cells(path))
        names = lessons()[assignment.removeprefix("lesson")]
        assert all(name.startswith(assignment.removeprefix("lesson")) for name in names)
        for name in names:
            answer, test = ids[f"{name}_answer"]["metadata"]["nbgrader"], ids[f"{name}_test"]["metadata"]["nbgrader"]
            assert (answer["solution"], answer["grade"], answer["locked"]) == (True, False, False)
            assert (test["solution"], test["grade"], test["locked"]) == (False, True, True)
            assert test["points"] == points(EXERCISES[name]) and answer["schema_version"] == test["schema_version"] == 3
        assert sum(c["metadata"]["nbgrader"].get("points", 0) for c in ids.values()) == sum(
            points(EXERCISES[name]) for name in names
        )
    config = (next(iter(course.values())).parents[2] / "nbgrader_config.py").read_text()
    assert "c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))" in config


def test_hidden_tests_ask_kdvizs_checker_and_nothing_else(course):
    for path in course.values():
        for grade_id, cell in by_grade_id(cells(path)).items():
            if grade_id.endswith("_test"):
                name = grade_id.removesuffix("_test")
                hidden = source_of(cell).split(BEGIN_HIDDEN + "\n")[1].split("\n")
                call = f"right, message = feedback({name!r}, {answer_name(EXERCISES[name])})"
                assert hidden == ["from kdviz.exercises import feedback", "", call, "assert right, message", END_HIDDEN]


def run_cells(sources):
    """Run code cell sources in one namespace, as a kernel would; what they printed."""
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        for source in sources:
            exec(compile(source, "<cell>", "exec"), namespace)
    return printed.getvalue()


@pytest.mark.parametrize("name", list(EXERCISES))
def test_each_test_cell_passes_the_worked_answer_and_fails_a_wrong_or_missing_one(name):
    exercise = EXERCISES[name]
    answer, test = assignments.solution_source(exercise), assignments.grading_source(exercise)
    run_cells([worked(answer), test])  # passes: no AssertionError
    untouched = assignments._without_regions(answer, BEGIN_SOLUTION, END_SOLUTION, WRITE_HERE)
    wrongs = wrong_answers(exercise)
    assert wrongs
    for wrong in [*wrongs, untouched]:
        with pytest.raises(AssertionError):
            run_cells([wrong, test])


def test_the_student_copy_has_no_solution_no_hidden_test_and_runs_top_to_bottom(tmp_path):
    paths = write_student_copy(tmp_path / "self_study")
    assert [p.name for p in paths] == [f"lesson{n}.ipynb" for n in lessons()]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        text = path.read_text(encoding="utf-8")
        assert "BEGIN" not in text and "nbgrader" not in text and "feedback(" not in text
        assert by_grade_id(cells(path)) == {}
        names = lessons()[path.stem.removeprefix("lesson")]
        course_cells = by_grade_id(assignments.lesson_notebook(path.stem.removeprefix("lesson"))["cells"])
        lines = {line.strip() for cell in nb.cells for line in cell.source.split("\n")}
        for name in names:
            assert not set(solution_lines(source_of(course_cells[f"{name}_answer"]))) & lines
            assert f"check({name!r}, {answer_name(EXERCISES[name])})" in lines
        printed = run_cells([c.source for c in nb.cells if c.cell_type == "code"])
        untouched = printed.count("replace None with your answer") + printed.count("your function returns None")
        assert untouched == len(names)


# ---- the command: a new folder, written at once ----


def test_the_command_writes_the_course_and_the_student_copy(tmp_path, capsys):
    assert main(["assignment", "--out", str(tmp_path / "course")]) == 0
    assert (tmp_path / "course" / "nbgrader_config.py").is_file()
    assert "nbgrader generate_assignment" in capsys.readouterr().out
    (tmp_path / "empty").mkdir()
    assert main(["assignment", "--student-copy", "--out", str(tmp_path / "empty")]) == 0
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == [f"lesson{n}.ipynb" for n in lessons()]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "empty"]  # no temporary folder left


@pytest.mark.parametrize("what", ["a non-empty folder", "a file"])
def test_an_existing_out_is_refused_and_left_as_it_was(tmp_path, capsys, what):
    out = tmp_path / "out"
    if what == "a file":
        out.write_text("mine")
    else:
        out.mkdir()
        (out / "mine.txt").write_text("mine")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert main(["assignment", "--out", str(out)]) == 2
    assert "nothing is overwritten" in capsys.readouterr().err
    with pytest.raises(FileExistsError, match="nothing is overwritten"):
        write_course(out)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("folder", assignments.COLLECTED)
def test_an_out_where_pytest_collects_is_refused(folder, capsys):
    out = assignments.CHECKOUT / folder / "kdviz_course_never_written"
    assert main(["assignment", "--out", str(out)]) == 2
    assert "where pytest collects" in capsys.readouterr().err
    assert not out.exists()


def test_a_write_that_fails_half_way_leaves_no_folder_and_no_temporary_file(tmp_path, monkeypatch):
    written = []
    real_write = Path.write_text

    def fail_on_the_third(self, *args, **kwargs):
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(self)
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", fail_on_the_third)
    with pytest.raises(OSError, match="No space left"):
        write_course(tmp_path / "course")
    assert list(tmp_path.iterdir()) == []


# ---- nbgrader itself: generate_assignment and autograde ----


@pytest.fixture(scope="session")
def nbgrader_api(course):
    """nbgrader's API on the course, configured by the course's own nbgrader_config.py; every assignment released."""
    try:
        import nbgrader.api
        from alembic.script import ScriptDirectory
        from nbgrader.apps import NbGraderAPI
        from nbgrader.dbutil import ALEMBIC_DIR
        from traitlets.config.loader import PyFileConfigLoader
    except ImportError:
        reason = 'the grading tests need nbgrader: pip install -e ".[test]" (or ".[grading]")'
        if in_ci():
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    root = next(iter(course.values())).parents[2]
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    api = NbGraderAPI(config=config)
    assert api.coursedir.root == str(root)
    # A new gradebook is stamped with alembic's head revision, which nbgrader asks a subprocess (`alembic heads`,
    # 3 s of CPU): ask alembic for the same revision here instead.
    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nbgrader.api, "get_alembic_version", lambda: head)
        result = api.generate_assignment("lesson*")  # every assignment in one call
    assert result["success"], result["log"]
    return api


def test_generate_assignment_releases_every_lesson_without_any_solution_text(course, nbgrader_api):
    root = Path(nbgrader_api.coursedir.root)
    for assignment, source_path in course.items():
        released = cells(root / "release" / assignment / f"{assignment}.ipynb")
        text = "\n".join(source_of(c) for c in released)
        code = "\n".join(source_of(c) for c in released if c["cell_type"] == "code")
        assert "BEGIN" not in text and "HIDDEN" not in text and "feedback(" not in text
        source = by_grade_id(cells(source_path))
        for name in lessons()[assignment.removeprefix("lesson")]:
            worked_lines = set(solution_lines(source_of(source[f"{name}_answer"])))
            assert worked_lines and not worked_lines & {line.strip() for line in text.split("\n")}, name
            if isinstance(EXERCISES[name], (Number, IndexSet)):  # a choice's word is among its options
                value = assignments.answer_literal(EXERCISES[name])
                assert value not in re.findall(r"\{[\d, ]*\}|(?<![\w.])-?\d+(?:\.\d+)?(?!\w)", code), name


@pytest.fixture(scope="session")
def autograded(course, nbgrader_api):
    """{student: (score, max score)} after nbgrader autograde of GRADED for the right, wrong and empty
    submissions, each made from the released notebook."""
    root = Path(nbgrader_api.coursedir.root)
    source = by_grade_id(cells(course[GRADED]))
    answers = {
        "right": lambda name: worked(source_of(source[f"{name}_answer"])),
        "wrong": lambda name: wrong_answers(EXERCISES[name])[0],
        "empty": None,  # handed in as released: None, and nbgrader's raise NotImplementedError()
    }
    scores = {}
    for student in STUDENTS:
        submitted = json.loads((root / "release" / GRADED / f"{GRADED}.ipynb").read_text())
        for cell in submitted["cells"]:
            meta = cell["metadata"].get("nbgrader", {})
            if meta.get("solution") and answers[student]:
                cell["source"] = answers[student](meta["grade_id"].removesuffix("_answer"))
        folder = root / "submitted" / student / GRADED
        folder.mkdir(parents=True)
        (folder / f"{GRADED}.ipynb").write_text(json.dumps(submitted))
        result = nbgrader_api.autograde(GRADED, student)
        assert result["success"], result["log"]
        submission = nbgrader_api.get_submission(GRADED, student)
        scores[student] = (submission["score"], submission["max_score"])
    return scores


def test_autograde_gives_the_right_answers_full_points(autograded):
    score, most = autograded["right"]
    assert most == sum(points(EXERCISES[name]) for name in lessons()[GRADED[-2:]])
    assert score == most


@pytest.mark.parametrize("student", ["wrong", "empty"])
def test_autograde_gives_wrong_or_empty_answers_zero_points(autograded, student):
    score, most = autograded[student]
    assert most > 0 and score == 0
