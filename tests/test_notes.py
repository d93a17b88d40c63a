"""The lesson plan in notebook 00 and the instructor notes: complete (every lesson, section and exercise has its
place) and true (the minutes add up, the install is the README's). Text only: nothing runs."""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LESSONS = sorted((ROOT / "notebooks").glob("0[1-9]_*.ipynb"))
NOTES = (ROOT / "docs" / "instructor_notes.md").read_text(encoding="utf-8")
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBER_WORDS = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine"}


def markdown(path):
    return "\n".join(
        "".join(c["source"])
        for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "markdown"
    )


START = markdown(ROOT / "notebooks" / "00_start_here.ipynb")


def table(text, header):
    """The rows (lists of cells) of the Markdown table whose header row starts with ``header``."""
    lines = text[text.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def test_the_extension_minutes_add_up_to_what_the_plan_says():
    extensions = sum(int(re.fullmatch(r"(\d+) min", row[0])[1]) for row in table(START, "| about | extensions |"))
    said = {
        int(n)
        for n in re.findall(r"about\s+(\d+)\s+minutes of extensions|extensions \(about (\d+) minutes\)", START)[0]
        if n
    }
    assert said == {extensions}, f"00 says {said} minutes of extensions; its rows add up to {extensions}"
    core = table(START, "| minutes | core path |")
    assert core[-1][0].endswith("-90") and "90-minute" in START
    careful = int(re.search(r"takes about (\d+) minutes", START)[1])
    assert careful == 90 + extensions


def test_every_numbered_section_of_every_lesson_has_a_slot_in_the_plan():
    slots = " ".join(
        row[-1] for header in ("| minutes | core path |", "| about | extensions |") for row in table(START, header)
    )
    covered = set()
    for lesson, first, last in re.findall(r"\b(0\d) sections? (\d)(?:-(\d))?", slots):
        covered |= {(lesson, k) for k in range(int(first), int(last or first) + 1)}
    for path in LESSONS:
        numbers = re.findall(r"^## (\d+)\. ", markdown(path), re.M)
        missing = [k for k in map(int, numbers) if (path.name[:2], k) not in covered]
        assert missing == [], f"{path.name}: sections {missing} have no slot in 00's plan"


def numbers(first, last):
    """['01', '02', '03'] for ('01', '03'); ['04'] for ('04', '')."""
    return [f"{k:02d}" for k in range(int(first), int(last or first) + 1)]


def test_the_notes_count_the_lessons_and_give_each_its_paragraph():
    assert f"the {NUMBER_WORDS[len(LESSONS)]} lessons" in NOTES and "five notebooks" not in NOTES
    live = NOTES[NOTES.index("## What runs live") : NOTES.index("## Expected outputs")]
    given = {
        n for first, last in re.findall(r"^- \*\*(\d\d)(?:-(\d\d))?\*\*", live, re.M) for n in numbers(first, last)
    }
    assert given == {path.name[:2] for path in LESSONS}, f"'What runs live' has paragraphs for {sorted(given)}"


def test_the_notes_install_the_lessons_as_the_readme_does():
    for command in (
        "python3 -m venv .venv",
        "python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu",
        'python -m pip install -e ".[lab]"',
    ):
        assert command in README and command in NOTES, command
    assert "pip install -r requirements.txt" not in NOTES  # the old second install line


def test_the_notes_say_to_run_04_down_to_the_lab_and_so_does_04():
    assert "Run All Above Selected Cell" in NOTES and "Do not use *Run All* before the lab" in NOTES
    intro = markdown(ROOT / "notebooks" / "04_mnist_distillation_lab.ipynb")
    assert "not with *Run All*" in intro


def test_every_exercise_has_a_row_in_the_notes():
    from kdviz.exercises import EXERCISES

    rows = " ".join(row[0] for row in table(NOTES, "| exercise | asks for |"))
    ranges = re.findall(r"(\w+)_([A-Z]) to \1_([A-Z])", rows)  # "03_bug_A to 03_bug_E"
    named = set(re.findall(r"\b\d\d_\w+", rows))
    named |= {f"{stem}_{chr(k)}" for stem, first, last in ranges for k in range(ord(first), ord(last) + 1)}
    missing = [name for name in EXERCISES if name not in named]
    assert missing == [], f"exercises without a row in the notes: {missing}"
