"""Every plotting function returns a Figure; every widget panel redraws when its controls move."""

import numpy as np
import pytest
from matplotlib.figure import Figure

from kdviz import plots, random_logits, turning_temperature
from kdviz import widgets as kw

Z = random_logits(7, seed=0)
V = random_logits(7, seed=1)


@pytest.mark.parametrize(
    "draw",
    [
        lambda: plots.plot_probabilities([1.0, 3.0, 2.0], 2.0),
        lambda: plots.plot_temperature_curves(Z),
        lambda: plots.plot_temperature_curves(Z, T_max=1e3, log_T=True),
        lambda: plots.plot_uniform_gap(Z),
        lambda: plots.plot_sign_map(Z),
        lambda: plots.plot_turning_point(Z, int(np.argsort(Z)[-2])),
        lambda: plots.plot_turning_point(Z, int(np.argmax(Z))),
        lambda: plots.plot_dark_knowledge([0.98, 0.01, 0.01]),
        lambda: plots.plot_gradient_scaling(Z, V),
        lambda: plots.plot_soft_share(Z, V, 0, 5.0, 0.5),
        lambda: plots.plot_logit_matching(Z, V, shift=2.0),
    ],
)
def test_plot_functions_return_a_figure_with_axes(draw):
    fig = draw()
    assert isinstance(fig, Figure) and fig.axes


def test_turning_temperatures_are_marked_on_the_curves():
    fig = plots.plot_temperature_curves(Z, T_max=50.0)
    markers = [line for line in fig.axes[0].lines if line.get_marker() == "o"]
    expected = [turning_temperature(Z, i) for i in range(len(Z))]
    assert len(markers) == sum(t is not None for t in expected)


def test_soft_share_with_T_squared_stays_while_without_it_collapses():
    T = np.array([1.0, 100.0])
    with_T2 = plots.soft_share(Z, V, 0, T, 0.5, scale_by_T2=True)
    without = plots.soft_share(Z, V, 0, T, 0.5, scale_by_T2=False)
    assert without[1] < 0.01 < with_T2[1]


def test_loglog_slope_recovers_a_power_law():
    x = np.geomspace(1, 100, 20)
    assert plots.loglog_slope(x, 3 * x**-2) == pytest.approx(-2.0)


def drive(panel, **values):
    """Set controls as a student would; return whether the picture changed. Errors propagate."""
    before = panel.image.value
    for name, value in values.items():
        panel.controls[name].value = value
    assert panel.error is None, panel.error
    return panel.image.value != before


def test_temperature_panel_redraws_and_reports_bad_logits():
    panel = kw.temperature_panel()
    assert panel.image.value  # drawn once on creation
    assert drive(panel, T=20.0)
    assert panel.figure.axes[0].patches[0].get_height() == pytest.approx(
        __import__("kdviz").softmax([1.0, 3.0, 2.0], 20.0)[0]
    )
    assert drive(panel, logits="0, 5, 1, 2")
    panel.controls["logits"].value = "1, two"
    assert "numbers separated by commas" in panel.error and "1, two" in panel.message.value


def test_temperature_slider_spans_the_lesson_range():
    slider = kw.temperature_panel().controls["T"]
    assert 10**slider.min == pytest.approx(0.05) and 10**slider.max == pytest.approx(100.0)


def test_curves_panel_responds_to_every_control():
    panel = kw.curves_panel()
    assert drive(panel, n=12)
    assert drive(panel, seed=3)
    assert drive(panel, T_max=100.0)
    assert drive(panel, log_T=True)
    assert len([line for line in panel.figure.axes[0].lines if line.get_marker() != "o"]) >= 12


def test_turning_panel_switches_class():
    panel = kw.turning_panel(Z)
    for i in range(len(Z)):
        panel.controls["i"].value = i
        assert panel.error is None and f"class {i}" in panel.figure.axes[0].get_title()


def test_soft_share_panel_moves_with_T_and_alpha():
    panel = kw.soft_share_panel(Z, V, 0)
    assert drive(panel, T=50.0)
    assert drive(panel, alpha=0.9)
    assert "alpha = 0.90" in panel.figure.axes[0].get_title()


def test_parse_logits():
    np.testing.assert_array_equal(kw.parse_logits("1, 2.5; -3"), [1.0, 2.5, -3.0])
    with pytest.raises(ValueError, match="at least two"):
        kw.parse_logits("4")
