"""The course site's live outputs (kdviz.course.live) and lesson 04's recorded lab (kdviz.course.lab_record),
read from the HTML they make; tests/test_site.py moves them in Chromium."""

import html
import json
import re

import ipywidgets as widgets
import pytest

from kdviz.course.lab_record import (
    checked_grid,
    describe_machine,
    read_lab_record,
    result_of,
)
from kdviz.course.live import LiveOutputs, quiz_html
from kdviz.exercises import EXERCISES, feedback
from kdviz.exercises.quiz import QUIZ_MIME, quiz
from kdviz.figures.softmax import plot_probabilities
from kdviz.noise import spread
from kdviz.widgets import panels
from kdviz.widgets.frames import FRAMES_MIME, render_frames
from kdviz.widgets.lab import LAB_MIME

CHOICES = [name for name, exercise in EXERCISES.items() if hasattr(exercise, "options")]


def attributes(tag_html, name):
    return [html.unescape(value) for value in re.findall(rf'{name}="([^"]*)"', tag_html)]


@pytest.mark.parametrize("name", CHOICES)
def test_a_quiz_offers_the_tables_options_each_with_the_feedback_check_gives(name):
    made = quiz_html(name)
    exercise = EXERCISES[name]
    shown = [html.unescape(label).strip() for label in re.findall(r"> ([^<]*)</label>", made)]
    assert shown == exercise.labels()
    words, rights = attributes(made, "value"), attributes(made, "data-right")
    messages = attributes(made, "data-feedback")
    assert words == exercise.words()
    for word, right, message in zip(words, rights, messages, strict=True):
        assert (right == "1", message) == feedback(name, word)
    assert rights.count("1") >= 1 and rights.count("0") >= 1
    assert exercise.solution not in html.unescape(made)


def test_a_quiz_displayed_in_a_notebook_names_itself_for_the_site():
    name = CHOICES[0]
    assert quiz(name)._repr_mimebundle_()[QUIZ_MIME] == {"name": name}


def test_a_panels_frames_become_files_named_by_content_and_controls_over_grid_indices(tmp_path):
    controls = {"T": panels.temperature_slider(1.0), "logits": widgets.Text("1, 3, 2")}
    draw = lambda T, logits: plot_probabilities(panels.parse_logits(logits), T)  # noqa: E731
    payload = render_frames(draw, controls, panels.figure_png, {"T": 3})
    live = LiveOutputs(tmp_path / "frames")
    output = {"output_type": "display_data", "data": {FRAMES_MIME: payload, "image/png": "..."}, "metadata": {}}
    assert live.convert(output, "An interactive panel")
    made = output["data"]["text/html"]
    assert list(output["data"]) == ["text/html"]
    frames = json.loads(attributes(made, "data-frames")[0])
    assert len(frames) == 3 and len(set(frames)) == 3
    assert all((tmp_path / "frames" / src.rsplit("/", 1)[1]).is_file() for src in frames)
    assert 'type="range" min="0" max="2"' in made and "(fixed on this page)" in made
    assert live.counts["panels"] == 1 and live.counts["frames"] == 3
    live.convert({"data": {FRAMES_MIME: payload}}, "again")  # the same frames are not written twice
    assert live.counts["frames"] == 3 and live.counts["panels"] == 2


@pytest.fixture(scope="module")
def lab_record(toy_lab_record):
    return read_lab_record(toy_lab_record)


def test_the_lab_record_holds_every_setting_over_three_seeds_with_its_date_and_machine(lab_record):
    assert lab_record["grid"] == {"T": [2.0, 20.0], "alpha": [0.0, 0.5], "hidden": [8, 16]}
    assert len(lab_record["results"]) == 8 and lab_record["seeds"] == [0, 1, 2]
    assert all(len(row["errors"]) == 3 and all(0 <= e <= 100 for e in row["errors"]) for row in lab_record["results"])
    for hidden in (8, 16):  # alpha = 0 trains on the labels only: one training serves every T
        assert result_of(lab_record, 2.0, 0.0, hidden) == result_of(lab_record, 20.0, 0.0, hidden)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", lab_record["date"]) and lab_record["images"] == 200
    assert "cores" in describe_machine(lab_record) and lab_record["digit"]["label"] in range(10)


def test_the_sites_lab_shows_each_settings_errors_with_their_seed_range_and_says_it_was_recorded(lab_record, tmp_path):
    live = LiveOutputs(tmp_path / "frames", lab_record)
    output = {"data": {LAB_MIME: {}, "image/png": "..."}}
    assert live.convert(output, "lab")
    made = output["data"]["text/html"]
    assert "A recorded run" in made and lab_record["date"] in made
    assert html.escape(describe_machine(lab_record)) in made
    frames = json.loads(attributes(made, "data-frames")[0])
    combos = [(T, a, h) for T in (2.0, 20.0) for a in (0.0, 0.5) for h in (8, 16)]
    assert len(frames) == len(combos) and live.counts["labs"] == 1
    for (T, alpha, hidden), frame in zip(combos, frames, strict=True):
        assert spread(result_of(lab_record, T, alpha, hidden)).text() in frame["caption"]
        assert f"{hidden}-unit" in frame["caption"]
    assert len({frame["src"] for frame in frames}) == 2  # one soft-target figure per T
    assert LiveOutputs(tmp_path / "other").convert({"data": {LAB_MIME: {}, "image/png": "..."}}, "lab") is False


def test_a_bad_grid_or_record_is_refused_with_what_is_wrong(tmp_path):
    with pytest.raises(ValueError, match="T"):
        checked_grid([0.5], [0.5], [100])
    with pytest.raises(ValueError, match="alpha"):
        checked_grid([2.0], [1.5], [100])
    with pytest.raises(TypeError, match="hidden"):
        checked_grid([2.0], [0.5], [True])
    bad = tmp_path / "lab_run.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ValueError, match="not a readable lab record"):
        read_lab_record(bad)
    bad.write_text('{"date": "2026-01-01"}', encoding="utf-8")
    with pytest.raises(ValueError, match="lacks .*record-lab"):
        read_lab_record(bad)
