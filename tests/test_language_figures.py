"""Notebook 07's figures and panels: each figure shows the numbers it names, each panel redraws when a student moves
any of its controls (and shows what the control asks for), and carries a PNG of its figure."""

import base64

import numpy as np
import pytest
from IPython.core.formatters import DisplayFormatter
from matplotlib.figure import Figure

from kdviz import language as L
from kdviz import widgets as kw
from kdviz.figures import language as figures
from kdviz.language_models import measure, two_mode_fits
from kdviz.temperature import sampling_distribution, softmax

TEACHER = np.log(0.97 * L.truth_table() + 0.03 / L.N_SYMBOLS)
STUDENTS = {  # two recipes, two seeds each: tables that differ by seed
    "even": [np.zeros_like(TEACHER), np.log(softmax(TEACHER + 1.0 * (np.arange(L.N_SYMBOLS) == 0)))],
    "sharp": [TEACHER * 2, TEACHER * 3],
}


def drive(panel, **values):
    """Set controls as a student would; return whether the picture changed. Errors propagate."""
    before = panel.image.value
    for name, value in values.items():
        panel.controls[name].value = value
    assert panel.error is None, panel.error
    return panel.image.value != before


@pytest.mark.parametrize(
    "draw",
    [
        lambda: figures.plot_sampling(TEACHER, 1.0),
        lambda: figures.plot_sampling(TEACHER, 2.0, top_k=3, top_p=0.9),
        lambda: figures.plot_two_modes(5.0, 0.3),
        lambda: figures.plot_precision_coverage(
            {"a": {"valid": [90, 91], "rare": [20, 22]}}, {"teacher": measure(TEACHER)}
        ),
        lambda: figures.plot_next_symbols(TEACHER, {name: tables[0] for name, tables in STUDENTS.items()}, "a"),
        lambda: figures.plot_two_jobs(TEACHER, "ba", 3.0),
    ],
)
def test_every_figure_of_07_is_a_figure_with_axes(draw):
    fig = draw()
    assert isinstance(fig, Figure) and fig.axes


def test_the_sampling_figure_marks_the_exact_numbers_at_T():
    fig = figures.plot_sampling(TEACHER, 2.0, top_k=3)
    table = sampling_distribution(TEACHER, 2.0, top_k=3)
    title = fig.axes[0].get_title()
    assert (
        f"entropy {L.string_entropy(table):.2f} nats" in title and f"{100 * L.valid_share(table):.1f}% valid" in title
    )
    shown = [t.get_text() for t in fig.axes[1].texts]
    assert len(shown) == 12 and all(text.startswith("x ") != L.is_valid(text.split(" ")[0]) for text in shown)


def test_the_two_modes_figure_draws_both_fits_it_names():
    fig = figures.plot_two_modes(6.0, 0.7)
    fits = two_mode_fits(6.0, 0.7)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert any(f"mean {fits['forward']['mean']:.2f}" in label for label in labels)
    assert any(f"mean {fits['reverse']['mean']:.2f}" in label for label in labels)


def test_the_next_symbol_bars_are_the_students_distributions_after_the_letter():
    tables = {name: tables[1] for name, tables in STUDENTS.items()}
    fig = figures.plot_next_symbols(TEACHER, tables, "o")
    bars = fig.axes[0].patches
    row = L.CONTEXT_INDEX[next(c for c in L.source_contexts() if c[1] == "o")]  # one-letter students: any such row
    expected = np.concatenate([softmax(tables[name])[row] for name in tables])
    np.testing.assert_allclose([bar.get_height() for bar in bars], expected)
    teacher_lines = [line.get_label() for line in fig.axes[0].get_lines()]
    assert sorted(teacher_lines) == sorted(f"teacher after '{c}'" for c in L.source_contexts() if c[1] == "o")


def test_the_two_jobs_bars_are_the_soft_target_at_T():
    fig = figures.plot_two_jobs(TEACHER, "da", 4.0)
    bars = [bar.get_height() for bar in fig.axes[0].patches]
    np.testing.assert_allclose(bars, softmax(TEACHER[L.CONTEXT_INDEX["da"]], 4.0))


@pytest.mark.parametrize(
    "draw, words",
    [
        (lambda: figures.plot_next_symbols(TEACHER, {}, "x"), "unknown last_letter 'x'"),
        (lambda: figures.plot_two_jobs(TEACHER, "zz", 1.0), "unknown context .one the source writes. 'zz'"),
        (lambda: figures.plot_two_jobs(TEACHER, "ba", 0.0), "T must be a finite temperature > 0"),
        (lambda: figures.plot_sampling(TEACHER, 1.0, top_k=0), "top_k"),
        (lambda: figures.plot_precision_coverage({}), "at least one recipe"),
    ],
)
def test_a_figure_refuses_what_it_cannot_draw(draw, words):
    with pytest.raises(ValueError, match=words):
        draw()


def test_the_sampling_panel_follows_every_control():
    panel = kw.sampling_panel(TEACHER)
    assert drive(panel, T=2.5) and "T = 2.5" in panel.figure.axes[0].get_title()
    assert drive(panel, top_k=3) and "top-k = 3" in panel.figure.axes[1].get_title()
    assert drive(panel, top_p=0.5) and "top-p = 0.5" in panel.figure.axes[1].get_title()
    assert drive(panel, top_k=L.N_SYMBOLS, top_p=1.0) and "top-" not in panel.figure.axes[1].get_title()


def test_the_two_modes_panel_follows_both_sliders():
    panel = kw.two_modes_panel()
    assert drive(panel, separation=2.0) and "modes 2 apart" in panel.figure.axes[0].get_title()
    assert drive(panel, left_weight=0.8) and "left weight 0.80" in panel.figure.axes[0].get_title()


def test_the_next_symbol_panel_follows_the_letter_and_the_seed():
    panel = kw.next_symbol_panel(TEACHER, STUDENTS)
    assert drive(panel, last_letter="o") and "after 'o'" in panel.figure.axes[0].get_title()
    before = [bar.get_height() for bar in panel.figure.axes[0].patches]
    assert drive(panel, seed=1)
    assert [bar.get_height() for bar in panel.figure.axes[0].patches] != before


def test_the_two_jobs_panel_follows_the_context_and_T():
    panel = kw.two_jobs_panel(TEACHER)
    assert drive(panel, T=8.0) and "T = 8" in panel.figure.axes[0].get_title()
    assert drive(panel, context="ka") and "after 'ka'" in panel.figure.axes[0].get_title()


@pytest.mark.parametrize(
    "build",
    [
        lambda: kw.sampling_panel(TEACHER),
        lambda: kw.two_modes_panel(),
        lambda: kw.next_symbol_panel(TEACHER, STUDENTS),
        lambda: kw.two_jobs_panel(TEACHER),
    ],
)
def test_every_07_panel_displays_as_the_live_widget_and_a_png_of_its_figure(build):
    panel = build()
    data = DisplayFormatter().format(panel)[0]
    assert data[kw.WIDGET_VIEW]["model_id"] == panel.model_id
    assert base64.b64decode(data["image/png"]) == panel.image.value


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: kw.sampling_panel(TEACHER, T=10.0), "outside the slider's range"),
        (lambda: kw.sampling_panel(TEACHER, top_k=9), "outside the slider's range"),
        (lambda: kw.two_modes_panel(left_weight=1.0), "outside the slider's range"),
        (lambda: kw.next_symbol_panel(TEACHER, STUDENTS, seed=2), "outside the slider's range"),
    ],
)
def test_panel_start_values_outside_their_sliders_are_refused(make, words):
    with pytest.raises(ValueError, match=words):
        make()
