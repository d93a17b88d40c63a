"""A panel's frames (kdviz.widgets.frames): its own draw function over a grid of its control values."""

import base64
import json

import ipywidgets as widgets
import numpy as np
import pytest

from kdviz.figures.softmax import plot_probabilities
from kdviz.widgets import panels
from kdviz.widgets.frames import FRAMES_MIME, control_grid, frame_index, grid_steps, render_frames


def test_a_log_slider_gets_log_spaced_values_holding_both_ends_and_its_value():
    slider = panels.temperature_slider(2.0, low=0.05, high=100.0)
    kind, values, labels = control_grid(slider, 17)
    assert kind == "slider" and values == sorted(values) and 2.0 in values
    assert values[0] == pytest.approx(0.05) and values[-1] == pytest.approx(100.0)
    ratios = np.diff(np.log(values))
    inner = ratios[1:-1]  # the gaps next to the ends may be shorter or longer, by half a spacing at most
    assert np.allclose(inner, inner[0]) and np.all(ratios <= 1.5 * inner[0] + 1e-9)
    assert np.all(ratios >= 0.5 * inner[0] - 1e-9) and 12 <= len(values) <= 20
    assert labels == [format(v, slider.readout_format) for v in values]


def test_a_linear_slider_steps_on_its_step_and_a_menu_or_checkbox_offers_every_choice():
    slider = widgets.FloatSlider(value=0.45, min=0.0, max=1.0, step=0.05)
    kind, values, _ = control_grid(slider, 5)
    assert kind == "slider" and 0.45 in values and values[0] == 0.0 and values[-1] == 1.0
    assert all(abs(v / 0.05 - round(v / 0.05)) < 1e-9 for v in values)
    assert control_grid(widgets.Checkbox(value=True), 9)[:2] == ("checkbox", [False, True])
    menu = widgets.Dropdown(options=[("one", 1), ("two", 2), ("three", 3)], value=2)
    assert control_grid(menu, 3) == ("select", [1, 2, 3], ["one", "two", "three"])
    assert control_grid(widgets.Text("1, 2"), 9) == ("fixed", ["1, 2"], ["1, 2"])


def test_quick_mode_draws_fewer_values_of_each_control_but_still_moves_every_one(monkeypatch):
    controls = {"T": panels.temperature_slider(), "alpha": widgets.FloatSlider(0.5, min=0, max=1, step=0.05)}
    monkeypatch.setenv("KDVIZ_QUICK", "1")
    assert grid_steps(controls, {"T": 33, "alpha": 5}) == {"T": 3, "alpha": 2}
    monkeypatch.delenv("KDVIZ_QUICK")
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    assert grid_steps(controls, {"T": 33, "alpha": 5}) == {"T": 33, "alpha": 5}


def test_each_frame_is_the_figure_draw_makes_for_its_values_the_first_control_slowest():
    def draw(T, logits):
        return plot_probabilities(panels.parse_logits(logits), T)

    controls = {"T": panels.temperature_slider(1.0), "logits": widgets.Text("1, 3, 2")}
    made = render_frames(draw, controls, panels.figure_png, {"T": 3})
    T = made["controls"][0]["values"]
    assert [entry["name"] for entry in made["controls"]] == ["T", "logits"] and len(made["frames"]) == len(T)
    for k, value in enumerate(T):
        png = base64.b64decode(made["frames"][frame_index(made, [k, 0])])
        assert png == panels.figure_png(plot_probabilities([1.0, 3.0, 2.0], value))
    assert made["controls"][0]["values"][made["controls"][0]["start"]] == 1.0
    json.dumps(made)  # the payload is plain JSON, as a notebook stores it


def test_values_the_draw_function_refuses_become_its_message():
    controls = {"logits": widgets.Text("1, x"), "T": panels.temperature_slider(1.0)}
    draw = lambda logits, T: plot_probabilities(panels.parse_logits(logits), T)  # noqa: E731
    made = render_frames(draw, controls, panels.figure_png, {"T": 2})
    assert all("logits" in frame["error"] for frame in made["frames"])


def test_frame_index_counts_the_first_control_slowest():
    payload = {"controls": [{"values": [1, 2, 3]}, {"values": [True, False]}]}
    assert [frame_index(payload, (i, j)) for i in range(3) for j in range(2)] == list(range(6))


def test_a_panel_carries_its_frames_and_its_recipe_only_when_the_site_asks(monkeypatch):
    panel = panels.soft_share_panel(np.array([1.0, 2.0, 0.5]), [2.0, 1.0, 0.0], label=np.int64(1))
    assert FRAMES_MIME not in panel._repr_mimebundle_()
    monkeypatch.setenv("KDVIZ_FRAMES", "1")
    payload = panel._repr_mimebundle_()[FRAMES_MIME]
    recipe = json.loads(json.dumps(payload["panel"]))
    assert recipe == {
        "function": "soft_share_panel",
        "arguments": {"student_logits": [1.0, 2.0, 0.5], "teacher_logits": [2.0, 1.0, 0.0], "label": 1},
    }
    again = getattr(panels, recipe["function"])(**recipe["arguments"])
    positions = [len(entry["values"]) - 1 for entry in payload["controls"]]
    values = {entry["name"]: entry["values"][-1] for entry in payload["controls"]}
    frame = base64.b64decode(payload["frames"][frame_index(payload, positions)])
    assert frame == panels.figure_png(again.draw(**values))
    big = panels.soft_share_panel(np.linspace(0, 1, 2000), np.linspace(1, 0, 2000), label=0).recipe
    assert set(big) == {"function", "arguments_sha256"}  # long arguments are kept as their digest
    monkeypatch.setenv("KDVIZ_FRAMES", "maybe")
    with pytest.raises(ValueError, match="KDVIZ_FRAMES"):
        panel._repr_mimebundle_()
