"""The MNIST lessons' figures show what their text says: keys for every colour, ticks to read a scale by,
titles clear of colour bars, the spread the verdicts use."""

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from kdviz import softmax
from kdviz.figures import mnist as mnist_plots
from kdviz.mnist_distillation import class_similarity


def confident_teacher(n=500, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    logits = rng.normal(scale=3.0, size=(n, 10))
    logits[np.arange(n), labels] += 15.0
    return logits, labels


def extent(artist):
    FigureCanvasAgg(artist.figure)
    return artist.get_window_extent(artist.figure.canvas.get_renderer())


@pytest.mark.parametrize("T", [1.0, 20.0, 50.0])
def test_the_similarity_map_has_a_readable_colour_bar_below_a_clear_title(T):
    fig = mnist_plots.plot_class_similarity(*confident_teacher(), T)
    image_ax, bar_ax = fig.axes
    low, high = image_ax.images[0].norm.vmin, image_ax.images[0].norm.vmax
    ticks = bar_ax.yaxis.get_majorticklocs()
    assert len(ticks) >= 4 and all(low <= t <= high for t in ticks), (ticks, low, high)
    title = fig._suptitle
    assert not extent(title).overlaps(extent(bar_ax)) and not extent(title).overlaps(extent(image_ax))


@pytest.mark.parametrize(("low", "high"), [(0.041, 0.123), (4.4e-5, 0.014), (0.5, 0.51), (1e-12, 1.0)])
def test_log_ticks_lie_in_their_range(low, high):
    ticks = mnist_plots.log_ticks(low, high)
    assert len(ticks) >= 2 and all(low <= t <= high for t in ticks)
    assert all(float(f"{t:.2g}") == t for t in ticks)  # two significant digits


def test_the_similarity_map_shows_the_diagonal_when_asked():
    logits, labels = confident_teacher()
    shown = mnist_plots.plot_class_similarity(logits, labels, 1.0, hide_diagonal=False)
    matrix = class_similarity(logits, labels, 1.0)
    assert shown.axes[0].images[0].norm.vmax == pytest.approx(matrix.diagonal().max())


def test_a_digits_panels_keep_the_teachers_order_at_every_temperature():
    logits = np.array([0.0, 9.0, 3.0, 20.0, 1.0, 5.0, 2.0, 4.0, 8.0, 6.0])
    fig = mnist_plots.plot_digit_soft_targets(np.zeros((28, 28)), logits, 3, temperatures=(1.0, 5.0, 20.0))
    order = [str(c) for c in np.argsort(-logits)]
    for ax, T in zip(fig.axes[1:], (1.0, 5.0, 20.0), strict=True):
        assert [label.get_text() for label in ax.get_xticklabels()] == order
        shown = ax.collections[0].get_offsets()[:, 1]
        np.testing.assert_allclose(shown, np.sort(softmax(logits, T))[::-1])
        assert f"T = {T:g}" in ax.get_title()


def test_the_lab_plot_keys_its_colours_and_numbers_its_runs():
    rows = [
        {"T": 4.0, "alpha": 0.5, "hidden": 100, "errors": [300, 310, 305]},
        {"T": 20.0, "alpha": 1.0, "hidden": 30, "errors": [280, 290, 285]},
    ]
    fig = mnist_plots.plot_lab_results(rows)
    key = [ax for ax in fig.axes if "alpha" in ax.get_ylabel()]
    assert len(key) == 1 and key[0].get_ylim() == (0.0, 1.0)
    assert [text.get_text() for text in fig.axes[0].texts] == ["1", "2"]


def test_the_grid_shows_the_seed_range_the_verdict_uses():
    errors = np.array([[[150, 160, 155], [170, 172, 171]]])
    fig = mnist_plots.plot_error_grid([20.0], [0.5, 1.0], errors)
    assert [text.get_text() for text in fig.axes[0].texts] == ["155.0\n(150-160)", "171.0\n(170-172)"]
    assert [text.get_text() for text in mnist_plots.plot_error_grid([20.0], [0.5], errors[:, :1, 0]).axes[0].texts] == [
        "150"
    ]


def test_the_teaching_curves_show_every_arm_and_a_run_without_validation_images():
    curve = [[30, 32], [20, 21]]
    arms = {name: {"val_errors": curve, "test_errors": curve} for name in ("a", "b", "c")}
    fig = mnist_plots.plot_teaching_curves({"arms": arms, "n_validation": 9, "seeds": [0, 1]})
    assert [len(ax.lines) for ax in fig.axes] == [3, 3]
    no_validation = {"arms": {"a": {"val_errors": [], "test_errors": curve}}, "n_validation": 0, "seeds": [0, 1]}
    left, right = mnist_plots.plot_teaching_curves(no_validation).axes
    assert not left.lines and left.get_legend() is None and left.get_title().startswith("no validation split")
    assert len(right.lines) == 1
