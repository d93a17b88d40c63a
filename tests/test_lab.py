"""The MNIST notebooks' widgets, driven as a student would: set the sliders, press Train."""

import base64

import numpy as np
import pytest
import torch

from kdviz import softmax
from kdviz.dark_knowledge import best_class_bias, errors_against_temperature
from kdviz.mnist.models import teacher_mlp
from kdviz.mnist.train import StudentConfig, count_errors, logits_of, train_students
from kdviz.mnist.workspace import Workspace
from kdviz.mnist_distillation import (
    class_similarity,
    comparison_report,
    dark_knowledge_examples,
    most_confusable,
    top_classes_line,
)
from kdviz.widgets import similarity_panel
from kdviz.widgets.lab import PRESS_EPOCHS, PRESS_IMAGES, distillation_lab

# random toy data: students that cannot learn it are expected, and TrainingWarning says so
pytestmark = pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")


@pytest.fixture
def workspace():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(400, 784, generator=g)
    y = torch.randint(0, 10, (400,), generator=g)
    teacher = teacher_mlp(hidden=16).eval()
    with torch.no_grad():
        teacher_logits = teacher(x)
    return Workspace(x, y, x[:100], y[:100], teacher, teacher_logits, {"cached": True, "seconds": 0.0}, "cpu")


def test_each_train_press_adds_a_row_and_a_point(workspace):
    lab = distillation_lab(workspace, epochs=1, sizes=(8, 16), hidden=8, seeds=1)
    lab.controls["T"].value = 10.0
    lab.controls["alpha"].value = 0.9
    lab.button.click()
    assert lab.error is None, lab.error
    assert len(lab.rows) == 1 and lab.rows[0]["T"] == pytest.approx(10.0) and lab.rows[0]["alpha"] == 0.9
    assert lab.live.value and lab.results_plot.value
    first_plot = lab.results_plot.value
    lab.controls["hidden"].value = 16
    lab.controls["alpha"].value = 0.0
    lab.button.click()
    assert lab.error is None, lab.error
    assert [r["hidden"] for r in lab.rows] == [8, 16]
    assert lab.table.value.count("<tr>") == 3  # header + two runs
    assert lab.results_plot.value != first_plot
    assert not lab.button.disabled


def test_a_failing_press_is_recorded_not_lost(workspace):
    workspace.teacher_logits = workspace.teacher_logits[:10]  # wrong length: training must refuse
    lab = distillation_lab(workspace, epochs=1, sizes=(8,), hidden=8)
    lab.button.click()  # ipywidgets swallows the exception; the lab keeps it
    assert isinstance(lab.error, ValueError) and "teacher logits" in str(lab.error)
    assert "training failed" in lab.message.value and not lab.rows


def test_a_failing_press_leaves_the_results_of_earlier_presses_in_view(workspace):
    lab = distillation_lab(workspace, epochs=1, sizes=(8,), hidden=8, seeds=1, n_transfer=200)
    lab.button.click()
    assert lab.error is None, lab.error
    table = lab.table.value
    lab.controls["T"].value = 50.0
    workspace.teacher_logits[:200] = float("nan")  # the next press must fail
    lab.button.click()
    assert isinstance(lab.error, ValueError) and "training failed" in lab.message.value
    assert lab.table.value == table and len(lab.rows) == 1
    workspace.teacher_logits[:200] = 0.0
    lab.button.click()
    assert lab.error is None and lab.message.value == "" and len(lab.rows) == 2


def test_the_lab_trains_on_the_first_n_transfer_images_only(workspace):
    workspace.teacher_logits[200:] = float("nan")  # poison the rest: training on them is refused
    lab = distillation_lab(workspace, epochs=1, sizes=(8,), hidden=8, n_transfer=200)
    lab.button.click()
    assert lab.error is None, lab.error
    everything = distillation_lab(workspace, epochs=1, sizes=(8,), hidden=8)
    everything.button.click()
    assert isinstance(everything.error, ValueError) and "nan" in str(everything.error)
    with pytest.raises(ValueError, match="n_transfer"):
        distillation_lab(workspace, n_transfer=0)


def test_the_full_size_press_is_the_default_and_a_small_workspace_uses_all_it_has(workspace):
    assert (PRESS_EPOCHS, PRESS_IMAGES) == (3, 15000)
    lab = distillation_lab(workspace)
    assert lab.epochs == PRESS_EPOCHS and lab.n_transfer == min(PRESS_IMAGES, len(workspace.x_train))
    assert f"first {lab.n_transfer:,} transfer images" in lab.describe()
    for bad, error in (({"epochs": 0}, ValueError), ({"n_transfer": 0}, ValueError)):
        with pytest.raises(error, match=next(iter(bad))):
            distillation_lab(workspace, **bad)
    for bad in ({"epochs": 1.5}, {"n_transfer": True}, {"n_transfer": 2.5}):  # not whole numbers: a wrong type
        with pytest.raises(TypeError, match=next(iter(bad))):
            distillation_lab(workspace, **bad)


def test_similarity_panel_follows_the_temperature(workspace):
    logits = workspace.teacher_logits.numpy() * 5
    labels = workspace.y_train.numpy()
    panel = similarity_panel(logits, labels, T=1.0)
    before = panel.image.value
    panel.controls["T"].value = 30.0
    assert panel.error is None and panel.image.value != before
    matrix = class_similarity(logits, labels, 30.0)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    hidden = panel.image.value
    panel.controls["show_diagonal"].value = True
    assert panel.error is None and panel.image.value != hidden
    assert panel.figure.axes[0].images[0].norm.vmax == pytest.approx(matrix.max())  # the diagonal's colour counts


def confident_logits(n=300, seed=0):
    """Logits of a teacher that gets every example right with a margin of at least 12 (top probability > 0.99)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    logits = rng.normal(scale=2.0, size=(n, 10))
    logits[np.arange(n), labels] = logits.max(1) + 12 + rng.uniform(0, 5, n)
    logits[:5, 0] = 100.0  # five examples the teacher gets wrong, with huge margins: never chosen
    return logits, labels


def test_dark_knowledge_examples_are_confident_and_most_legible_at_high_T():
    logits, labels = confident_logits()
    chosen = dark_knowledge_examples(logits, labels, k=3, confident=0.99, T=20.0)
    top = softmax(logits, 1.0).max(1)
    candidates = np.flatnonzero((logits.argmax(1) == labels) & (top > 0.99))
    second, third = np.sort(logits, axis=1)[:, -2], np.sort(logits, axis=1)[:, -3]
    lead = np.exp((second - third) / 20)  # P_T(first wrong class) / P_T(second wrong class)
    assert set(chosen) <= set(candidates) and len(set(labels[chosen])) == 3
    assert lead[chosen[0]] == lead[candidates].max()
    for index in set(candidates) - set(chosen):  # any better-led image left out shares a chosen class
        assert lead[index] <= lead[chosen].min() or labels[index] in labels[chosen]
    p20 = softmax(logits[chosen], 20.0)
    wrong = np.sort(p20, axis=1)[:, -3:-1]
    np.testing.assert_allclose(wrong[:, 1] / wrong[:, 0], lead[chosen])


def test_dark_knowledge_examples_say_when_too_few_classes_qualify():
    logits, labels = confident_logits()
    with pytest.raises(ValueError, match="only 10 true classes"):
        dark_knowledge_examples(logits, labels, k=11)
    with pytest.raises(ValueError, match=r"confident \(a probability\) must be a finite number in \(0, 1\)"):
        dark_knowledge_examples(logits, labels, confident=1.5)


def test_top_classes_line_keeps_a_near_certain_class_from_rounding_to_one():
    logits = np.array([0.0, 20.0, 5.0, 1.0])
    line = top_classes_line(logits, 1.0, k=3)
    assert line.startswith("P(1) = 1 - 3.1e-07, P(2) = 3.1e-07, P(3) = ")
    assert top_classes_line(logits, 20.0, k=2) == "P(1) = 0.449, P(2) = 0.212"


def test_similarity_panel_says_so_when_every_off_diagonal_probability_underflows():
    labels = np.arange(20) % 10
    logits = 1e4 * np.eye(10)[labels]  # at T = 1 every other class has probability exp(-1e4) = 0
    panel = similarity_panel(logits, labels, T=1.0)
    assert "underflows to 0" in panel.error and "raise T" in panel.error
    panel.controls["T"].value = 50.0
    assert panel.error is None and panel.image.value


def test_best_class_bias_fixes_a_suppressed_class():
    logits = torch.tensor([[[0.0, 2.0], [0.0, 1.0], [1.0, 0.0]]])  # class 0 is suppressed by up to 2
    labels = torch.tensor([0, 0, 0])
    assert best_class_bias(logits, labels, 0) == pytest.approx(2.0)  # argmax breaks the tie at 2 towards class 0


def test_most_confusable_ranks_by_margin():
    logits = np.array([[5.0, 0.0], [5.0, 4.0], [1.0, 9.0], [5.0, 2.0]])
    labels = np.array([0, 0, 1, 0])
    np.testing.assert_array_equal(most_confusable(logits, labels, 0, 1, k=2), [1, 3])


def test_errors_against_temperature_match_students_trained_one_at_a_time(workspace):
    config = StudentConfig(hidden=16, epochs=2, batch_size=64)
    errors, labels_only = errors_against_temperature(workspace, [1, 4], 0.9, config, n_seeds=2, progress=False)

    def alone(T, alpha, seed):
        model, _ = train_students(
            workspace.x_train, workspace.y_train, workspace.teacher_logits, T, alpha, config, seeds=seed, progress=False
        )
        return int(count_errors(logits_of(model, workspace.x_test), workspace.y_test)[0])

    assert errors.shape == (2, 2) and labels_only.shape == (2,)
    assert errors.tolist() == [[alone(1.0, 0.9, s) for s in (0, 1)], [alone(4.0, 0.9, s) for s in (0, 1)]]
    assert labels_only.tolist() == [alone(1.0, 0.0, s) for s in (0, 1)]


def test_a_press_trains_each_seed_as_if_alone_and_reports_the_spread(workspace):
    lab = distillation_lab(workspace, epochs=1, sizes=(8,), hidden=8, seeds=3)
    lab.button.click()
    assert lab.error is None, lab.error
    errors = lab.rows[0]["errors"]
    config = StudentConfig(hidden=8, epochs=1)
    for seed in range(3):
        model, _ = train_students(
            workspace.x_train, workspace.y_train, workspace.teacher_logits, 4.0, 0.5, config, seeds=seed, progress=False
        )
        assert errors[seed] == int(count_errors(logits_of(model, workspace.x_test), workspace.y_test)[0])
    assert f"{min(errors)}-{max(errors)}" in lab.table.value and "+-" in lab.table.value
    assert "3 seeds" not in lab.describe() and "1 epoch each" in lab.describe()


def test_lab_refuses_settings_it_cannot_offer(workspace):
    with pytest.raises(ValueError, match="seeds"):
        distillation_lab(workspace, seeds=6)
    with pytest.raises(ValueError, match="not one of the sizes"):
        distillation_lab(workspace, sizes=(30, 100), hidden=50)


def test_the_lab_carries_a_picture_of_its_results_for_exported_notebooks(workspace):
    lab = distillation_lab(workspace, epochs=1, sizes=(8,), hidden=8, seeds=2)
    assert "image/png" not in lab._repr_mimebundle_()  # nothing trained, nothing to show
    lab.button.click()
    bundle = lab._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]) == lab.results_plot.value


def test_the_lab_table_as_text_has_a_line_per_press_with_the_seed_range(workspace):
    lab = distillation_lab(workspace, epochs=1, sizes=(8, 16), hidden=8, seeds=2)
    lab.button.click()
    lab.controls["hidden"].value = 16
    lab.button.click()
    heading, *lines = lab.results_text().splitlines()
    assert "range" in heading and len(lines) == 2
    for number, (line, row) in enumerate(zip(lines, lab.rows, strict=True), start=1):
        cells = line.split()
        assert cells[0] == str(number) and cells[3] == str(row["hidden"])
        assert f"{min(row['errors'])}-{max(row['errors'])}" in cells


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"T": 0}, ValueError, "outside the slider's range 1..50"),
        ({"T": 1000}, ValueError, "outside the slider's range 1..50"),
        ({"alpha": 2}, ValueError, "alpha = 2 is outside"),
        ({"alpha": -1}, ValueError, "alpha = -1 is outside"),
        ({"seeds": "3"}, TypeError, "seeds must be an integer"),
        ({"sizes": (-5, 100)}, ValueError, "sizes must be whole numbers"),
    ],
)
def test_lab_start_values_outside_its_controls_are_refused_not_clamped(workspace, kwargs, error, words):
    from kdviz.widgets.lab import DistillationLab

    with pytest.raises(error, match=words):
        DistillationLab(workspace, **kwargs)


@pytest.mark.parametrize(
    ("alone", "distilled", "teacher", "words"),
    [
        ([150, 152, 154], [120, 121, 125], 78, "The paper's ordering reproduces here: teacher 78 < distilled 122.0 <"),
        ([150, 152, 154], [145, 149, 151], 78, "but the students' gap is within noise"),
        ([150, 152, 154], [160, 161, 162], 78, "does not hold here: teacher 78, distilled 161.0, student alone 152.0"),
        ([150, 152, 154], [120, 121, 125], 130, "does not hold here"),
    ],
)
def test_the_comparison_report_says_which_part_of_the_paper_reproduces(alone, distilled, teacher, words):
    result = {
        "teacher_errors": teacher,
        "student_errors": alone,
        "distilled_errors": distilled,
        "verdict": "(verdict)",
        "student_epochs": 6,
        "n_train": 60000,
    }
    lines = comparison_report(result)
    assert lines[3] == "(verdict)" and words in lines[4]
    assert lines[0].split()[:2] == ["teacher", str(teacher)] and "(paper 67)" in lines[0]
    assert "made 74, these" in lines[5] and "6 epochs on 60,000 images" in lines[5] and "30-epoch" in lines[5]
