"""Every plotting function returns a Figure; every widget panel redraws when its controls move,
refuses bad input with a clear ValueError, and carries a PNG of its figure in its display bundle."""

import base64

import ipywidgets
import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox

from kdviz import expected_logit, random_logits, softmax, turning_temperature
from kdviz import widgets as kw
from kdviz.figures import mnist as mnist_plots
from kdviz.figures import softmax as plots
from kdviz.mnist_distillation import similar_pairs

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


def legend_covers_a_bar(fig):
    """Whether any legend box overlaps the visible part of any bar, in screen coordinates."""
    FigureCanvasAgg(fig)
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        if ax.get_legend() is None:
            continue
        box = ax.get_legend().get_window_extent(renderer)
        for bar in ax.patches:
            visible = Bbox.intersection(bar.get_window_extent(renderer), ax.get_window_extent(renderer))
            if visible is not None and visible.width > 0 and visible.height > 0 and box.overlaps(visible):
                return True
    return False


def notebook_01_teacher():
    teacher_p = np.full(10, 1e-10)
    teacher_p[3], teacher_p[7] = 1e-6, 1e-9
    teacher_p[2] = 1 - (teacher_p.sum() - teacher_p[2])
    return teacher_p


def test_no_legend_hides_a_bar():
    assert not legend_covers_a_bar(plots.plot_dark_knowledge(notebook_01_teacher(), (1.0, 20.0), true_class=2))
    for T in (0.05, 1.0, 2.0, 100.0):
        for logits in ([1.0, 3.0, 2.0], [0.0, 5.0, 1.0, 2.0], [5.0, 0.0, 0.0]):
            assert not legend_covers_a_bar(plots.plot_probabilities(logits, T)), (logits, T)


def test_the_overlap_check_sees_a_legend_on_a_bar():
    fig = plots.plot_dark_knowledge(notebook_01_teacher(), (1.0, 20.0))
    fig.axes[0].legend(loc="upper left")  # over the T = 1 bar of class 2, which reaches 1
    assert legend_covers_a_bar(fig)


def curve_lines(fig):
    return [line for line in fig.axes[0].lines if line.get_label().startswith("z")]


def test_a_curve_lying_on_another_is_drawn_dashed_on_top_and_says_so():
    """z0 = 0.25 and z3 = 0.21 (notebook 02) give curves closer than the line width: z3 is dashed, so z0's
    colour shows through its gaps, and its legend entry names z0. Every other curve is solid."""
    fig = plots.plot_temperature_curves(Z)
    curves = curve_lines(fig)
    assert len(curves) == len(Z) and len({line.get_color() for line in curves}) == len(Z)
    styles = {i: line.get_linestyle() for i, line in enumerate(curves)}
    assert styles.pop(3) == "--" and set(styles.values()) == {"-"}
    assert curves[3].get_label() == "z3 = 0.21, on z0"
    assert not any("on z" in line.get_label() for i, line in enumerate(curves) if i != 3)


def test_curves_that_stay_apart_are_all_solid_and_three_on_one_get_three_styles():
    apart = plots.plot_temperature_curves([0.0, 2.0, 4.0])
    assert {line.get_linestyle() for line in curve_lines(apart)} == {"-"}
    same = curve_lines(plots.plot_temperature_curves([1.0, 1.0, 1.0, 1.0, 5.0]))
    assert [line.get_linestyle() for line in same] == ["-", "--", ":", "-.", "-"]
    assert [line.get_label().split(", ")[-1] for line in same[1:4]] == ["on z0"] * 3


def test_probability_bars_have_one_legend_entry_per_meaning():
    """At T = 1 the outlines would repeat the bars ('q at T = 1' twice); a T near 1 is never written as 1."""
    for T in (1.0, 1.0001, 0.99999, 2.0, 20.0):
        labels = [
            text.get_text() for text in plots.plot_probabilities([1.0, 3.0, 2.0], T).axes[0].get_legend().get_texts()
        ]
        assert len(labels) == len(set(labels)), (T, labels)
        assert labels.count("q at T = 1") == 1
        assert len(labels) == (2 if T == 1 else 3)


def test_temperature_curves_refuse_more_classes_than_colours():
    plots.plot_temperature_curves(random_logits(plots.MAX_CURVES, seed=0))
    with pytest.raises(ValueError, match="at most 20 classes"):
        plots.plot_temperature_curves(random_logits(21, seed=0))


def test_sign_map_draws_E_q_on_the_logit_axis_and_turns_rows_where_it_crosses():
    fig = plots.plot_sign_map(Z, T_min=0.05, T_max=50.0)
    ax_mean, ax_rows = fig.axes
    (mean_line,) = [line for line in ax_mean.lines if line.get_label().startswith("E_q[z]")]
    T, y = mean_line.get_data()
    np.testing.assert_allclose(y, expected_logit(Z[None, :], T[:, None]))  # on the logit axis
    order = np.argsort(Z)
    rising = [line for line in ax_rows.lines if line.get_color() == "C3"]
    for row, (i, line) in enumerate(zip(order, rising, strict=True)):  # one red line per class, on its own row
        heights = line.get_ydata()[np.isfinite(line.get_ydata())]
        assert np.all(heights == row)
        t_star = turning_temperature(Z, i)
        if t_star is not None:
            last_red = T[np.isfinite(line.get_ydata())].max()
            step = T[1] / T[0]
            assert t_star / step <= last_red <= t_star


def test_sign_map_has_one_labelled_row_per_class_and_a_key_for_the_turning_points():
    """Z's classes 0 and 3 have logits 0.04 apart: each still gets its own row, named by its tick label,
    and the key names the turning temperature although class 0 has none."""
    ax_rows = plots.plot_sign_map(Z).axes[1]
    labels = [tick.get_text() for tick in ax_rows.get_yticklabels()]
    assert list(ax_rows.get_yticks()) == list(range(len(Z)))
    assert labels == [f"class {i} (z = {Z[i]:.2f})" for i in np.argsort(Z)]
    assert [text.get_text() for text in ax_rows.get_legend().get_texts()] == [
        "q_i rising",
        "q_i falling",
        "turning temperature T*",
    ]
    assert sum(line.get_marker() == "o" for line in ax_rows.lines) == sum(
        turning_temperature(Z, i) is not None for i in range(len(Z))
    )


def test_dark_knowledge_bars_are_on_a_linear_axis_and_the_log_axis_has_only_dots():
    """A bar on a log axis starts at an arbitrary floor, so its length means nothing: the log panel has
    no bars, and the bars' lengths on the linear panel are the probabilities."""
    p = notebook_01_teacher()
    ax_bars, ax_log = plots.plot_dark_knowledge(p, (1.0, 20.0)).axes
    assert ax_bars.get_yscale() == "linear" and ax_bars.get_ylim()[0] == 0
    assert ax_log.get_yscale() == "log" and not ax_log.patches
    heights = np.array([bar.get_height() for bar in ax_bars.patches]).reshape(2, len(p))
    np.testing.assert_allclose(heights, softmax(np.log(p)[None, :], np.array([[1.0], [20.0]])))
    dots = [line for line in ax_log.lines if line.get_marker() == "o"]
    np.testing.assert_allclose(np.concatenate([line.get_ydata() for line in dots]), heights.ravel())


def test_a_probability_of_zero_is_marked_on_the_log_axis_not_dropped():
    ax_log = plots.plot_dark_knowledge([0.9, 0.1, 0.0], (1.0, 4.0)).axes[1]
    zeros = [line for line in ax_log.lines if line.get_marker() == "v" and len(line.get_xdata())]
    assert len(zeros) == 2 and all(y == ax_log.get_ylim()[0] * 2 for line in zeros for y in line.get_ydata())
    assert "exactly 0 (off the log axis)" in [text.get_text() for text in ax_log.get_legend().get_texts()]


def test_slopes_that_round_to_zero_read_0_00_not_minus_0_00():
    assert f"{plots.rounded(-4e-4):.2f}" == "0.00" and f"{plots.rounded(-2.0003):.2f}" == "-2.00"
    labels = [text.get_text() for text in plots.plot_gradient_scaling(Z, V).axes[0].get_legend().get_texts()]
    assert labels[1].endswith("(slope 0.00)") and not any("-0.00" in label for label in labels)


def test_logit_matching_title_gives_the_means_and_their_difference():
    z0, v0 = Z - Z.mean(), V - V.mean()
    same = plots.plot_logit_matching(z0 + 5, v0 + 5).axes[0].get_title()
    assert same.endswith("mean z = 5, mean v = 5 (difference 0)") and "shift" not in same
    shifted = plots.plot_logit_matching(z0, v0, shift=3.0).axes[0].get_title()
    assert shifted.endswith("mean z = 3, mean v = 0 (difference 3)")


def test_soft_share_refuses_a_label_outside_the_classes():
    with pytest.raises(ValueError, match="label 5 is out of range for 4 classes"):
        plots.soft_share(Z[:4], V[:4], 5, 2.0, 0.5)


DIGIT = np.zeros((28, 28), np.uint8)
BAD_PLOTS = {
    "fractional label": (lambda: plots.soft_share(Z, V, 1.5, 2.0, 0.5), TypeError, "label must be an integer"),
    "fractional class": (lambda: plots.plot_turning_point(Z, 1.0), TypeError, "class must be an integer"),
    "too few tick labels": (lambda: plots.plot_probabilities(Z, 1.0, labels=["a"]), ValueError, "one label per class"),
    "too many tick labels": (
        lambda: plots.plot_dark_knowledge(softmax(Z), labels=list("abcdefgh")),
        ValueError,
        "8 labels for 7 classes",
    ),
    "sign map from T = 0": (lambda: plots.plot_sign_map(Z, 0, 10), ValueError, "T_min must be a finite"),
    "logit matching from T = 0": (lambda: plots.plot_logit_matching(Z, V, T_min=0), ValueError, "T_min"),
    "uniform gap backwards": (lambda: plots.plot_uniform_gap(Z, 10, 1), ValueError, "T_min must be below T_max"),
    "gradient scaling to inf": (lambda: plots.plot_gradient_scaling(Z, V, T_max=np.inf), ValueError, "T_max"),
    "curves up to T = 0": (lambda: plots.plot_temperature_curves(Z, T_max=0), ValueError, "T_max"),
    "soft share up to T = 1": (lambda: plots.plot_soft_share(Z, V, 0, 2.0, 0.5, T_max=1.0), ValueError, "T_max"),
    "no digits": (lambda: mnist_plots.plot_digits(np.zeros((5, 28, 28)), [0] * 5, n=0), ValueError, "n .how many"),
    "no images": (lambda: mnist_plots.plot_digits(np.zeros((0, 28, 28)), []), ValueError, "no images"),
    "too few labels": (lambda: mnist_plots.plot_digits(np.zeros((5, 28, 28)), [0] * 3), ValueError, "labels must"),
    "label 12": (lambda: mnist_plots.plot_digit_soft_targets(DIGIT, np.arange(10.0), 12), ValueError, "label 12"),
    "error grid of the wrong shape": (
        lambda: mnist_plots.plot_error_grid([1, 2], [0.5], np.zeros((3, 3))),
        ValueError,
        r"\(2, 1\) for 2 temperatures and 1 alphas; got shape \(3, 3\)",
    ),
}


@pytest.mark.parametrize("name", BAD_PLOTS)
def test_a_plot_refuses_bad_input_with_a_message_naming_it(name):
    draw, error, message = BAD_PLOTS[name]
    with pytest.raises(error, match=message):
        draw()


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
    assert panel.figure.axes[0].patches[0].get_height() == pytest.approx(softmax([1.0, 3.0, 2.0], 20.0)[0])
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


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda: kw.turning_panel([1]), "at least two numbers"),
        (lambda: kw.turning_panel([1.0, float("nan"), 2.0]), "finite"),
        (lambda: kw.turning_panel([1.0, 2.0, 3.0], i=3), "class 3 is out of range for 3 classes"),
        (lambda: kw.soft_share_panel(Z[:4], V[:4], label=5), "label 5 is out of range for 4 classes"),
        (lambda: kw.soft_share_panel(Z[:4], V[:3], label=0), "same shape"),
    ],
)
def test_panels_refuse_bad_input_with_a_clear_value_error(build, words):
    with pytest.raises(ValueError, match=words):
        build()


def test_panels_refuse_logits_that_are_not_numbers_with_a_type_error():
    with pytest.raises(TypeError, match="student_logits must be real numbers, got the string '1, 2'"):
        kw.soft_share_panel("1, 2", V[:2], label=0)


def png_in(bundle):
    return base64.b64decode(bundle["image/png"])


PANELS = {
    "temperature_panel": lambda: kw.temperature_panel([1.0, 3.0, 2.0]),
    "curves_panel": lambda: kw.curves_panel(),
    "turning_panel": lambda: kw.turning_panel(Z),
    "soft_share_panel": lambda: kw.soft_share_panel(Z, V, 0),
    "similarity_panel": lambda: kw.similarity_panel(
        np.random.default_rng(0).normal(scale=5, size=(200, 10)), np.arange(200) % 10, T=20.0
    ),
}


@pytest.mark.parametrize("build", PANELS.values(), ids=PANELS.keys())
def test_every_panel_displays_as_the_live_widget_and_a_png_of_its_figure(build):
    panel = build()
    data = DisplayFormatter().format(panel)[0]  # what the kernel publishes for the panel
    assert data[kw.WIDGET_VIEW]["model_id"] == panel.model_id
    assert png_in(data).startswith(b"\x89PNG") and png_in(data) == panel.image.value


def test_the_png_follows_the_controls():
    panel = kw.temperature_panel()
    before = png_in(panel._repr_mimebundle_())
    assert drive(panel, T=30.0)
    after = png_in(panel._repr_mimebundle_())
    assert after != before and after == kw.figure_png(plots.plot_probabilities([1.0, 3.0, 2.0], 30.0))


def test_a_panel_whose_first_drawing_failed_carries_no_png():
    panel = kw.Panel(lambda x: plots.plot_probabilities(kw.parse_logits(x), 1.0), {"x": ipywidgets.Text("1")})
    assert panel.error and "image/png" not in panel._repr_mimebundle_()
    assert kw.WIDGET_VIEW in panel._repr_mimebundle_()


def test_static_png_mixes_into_any_widget_class():
    class Board(kw.StaticPNG, ipywidgets.VBox):
        picture = None

        def static_png(self):
            return self.picture

    board = Board([ipywidgets.HTML("hello")])
    assert set(board._repr_mimebundle_()) == {"text/plain", kw.WIDGET_VIEW}
    board.picture = kw.figure_png(plots.plot_probabilities([1.0, 2.0], 1.0))
    assert png_in(DisplayFormatter().format(board)[0]) == board.picture


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: kw.temperature_panel(T=1e6), ValueError, r"T = 1000000.0 is outside the slider's range"),
        (lambda: kw.curves_panel(n=1), ValueError, "n = 1 is outside"),
        (lambda: kw.curves_panel(n=50), ValueError, "n = 50 is outside"),
        (lambda: kw.curves_panel(seed=1.5), TypeError, "seed must be an integer"),
        (lambda: kw.soft_share_panel([1, 2], [2, 1], 0, alpha=2), ValueError, "alpha = 2 is outside"),
    ],
)
def test_panel_start_values_outside_their_sliders_are_refused_not_clamped(make, error, words):
    with pytest.raises(error, match=words):
        make()


@pytest.mark.parametrize(
    ("draw", "words"),
    [
        (lambda: plots.plot_logit_matching(Z, Z, shift=1.0), "equal \\(up to a shift\\)"),
        (lambda: plots.plot_gradient_scaling(Z, Z + 3.0), "equal \\(up to a shift\\)"),
        (lambda: plots.plot_uniform_gap([1.0, 1.0, 1.0]), "all logits are equal"),
        (lambda: plots.plot_soft_share(Z, V, 0, 5.0, 2.0), "alpha weights the soft term"),
    ],
)
def test_plots_that_would_be_blank_or_meaningless_say_why_instead(draw, words):
    with pytest.raises(ValueError, match=words):
        draw()


@pytest.mark.parametrize(
    ("logits", "i", "verdict"),
    [
        ([1.0, 1.0, 1.0], 1, "stays at 1/3"),  # was 'always falls (largest logit)'
        ([1.0, -np.inf, 1.0], 0, "stays at 1/2"),
        ([1.0, -np.inf, 2.0], 1, "stays 0"),  # was 'always rises'
        ([1.0, 3.0, 2.0], 1, "always falls"),
        ([1.0, 3.0, 2.0], 0, "always rises"),
    ],
)
def test_the_turning_point_verdict_matches_what_q_i_does(logits, i, verdict):
    assert verdict in plots.plot_turning_point(logits, i).axes[0].get_title()
    T = np.geomspace(0.01, 100, 50)
    q = softmax(np.array(logits)[None, :], T[:, None])[:, i]
    if verdict.startswith("stays"):
        np.testing.assert_allclose(q, q[0], atol=1e-15)


def test_soft_share_with_no_gradient_at_all_is_the_nominal_weight_not_nan():
    assert plots.soft_share(Z, Z, 0, 4.0, 1.0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"n": 5.5}, TypeError), ({"n": 5, "seed": -1}, ValueError), ({"n": 5, "scale": float("nan")}, ValueError)],
)
def test_random_logits_refuses_sizes_seeds_and_scales_that_mean_nothing(kwargs, error):
    with pytest.raises(error):
        random_logits(**kwargs)


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda: plots.plot_dark_knowledge([0.9, 0.05, 0.05], temperatures=()), ValueError, "non-empty"),
        (lambda: plots.plot_dark_knowledge([0.9, 0.05, 0.05], temperatures=[1, -2]), ValueError, "temperature > 0"),
        (lambda: plots.plot_temperature_curves(Z, n_points=0), ValueError, "n_points"),
        (lambda: plots.plot_probabilities([1.0, 2.0], "2"), TypeError, "T must be a number"),
        (lambda: similar_pairs(np.eye(3), k=100), ValueError, r"k must be an integer in 1\.\.6"),
        (lambda: mnist_plots.plot_error_rates(_history(4), 10, 10, ["a", "b", "c"]), ValueError, "one label"),
        (lambda: mnist_plots.plot_training_curves(_history(2), labels=["a"]), ValueError, "one label per student"),
    ],
)
def test_plot_arguments_that_mean_nothing_get_a_clear_error(call, error, words):
    with pytest.raises(error, match=words):
        call()


def test_one_temperature_may_be_given_as_a_number():
    figure = plots.plot_dark_knowledge([0.9, 0.05, 0.05], temperatures=20)
    assert [t.get_text() for t in figure.axes[1].get_legend().get_texts()] == ["T = 20"]


def _history(k):
    from kdviz.mnist.train import History

    return History(epochs=[1, 2], loss=[[1.0] * k, [0.5] * k], train_errors=[[3] * k] * 2, test_errors=[[4] * k] * 2)
