"""Bad training input is refused before any work, with a reason; runs that look finite but did not learn say so."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kdviz.experiments import (
    Workspace,
    final_accuracies,
    get_preset,
    logit_gradient_sizes,
    most_confusable,
    omitted_class_experiment,
    teacher_status,
)
from kdviz.mnist_plots import class_similarity, similar_pairs
from kdviz.models import teacher_mlp
from kdviz.train import History, StudentConfig, TeacherConfig, TrainingWarning, to_inputs, train_students


@pytest.fixture
def learnable():
    """A task a student can learn: the teacher's logits are a linear map of the input."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 784, generator=g)
    teacher_logits = 3 * x[:, :10]
    return x, teacher_logits.argmax(-1), teacher_logits


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: TeacherConfig(epochs=0), "epochs"),
        (lambda: TeacherConfig(hidden=0), "hidden"),
        (lambda: TeacherConfig(dropout_hidden=1.0), "dropout_hidden"),
        (lambda: TeacherConfig(n_train=0), "n_train"),
        (lambda: StudentConfig(epochs=-3), "epochs"),
        (lambda: StudentConfig(batch_size=0), "batch_size"),
        (lambda: StudentConfig(lr=float("nan")), "lr"),
        (lambda: StudentConfig(momentum=1.0), "momentum"),
        (lambda: StudentConfig(max_grad_norm=0.0), "max_grad_norm"),
        (lambda: StudentConfig(max_grad_norm=-1.0), "max_grad_norm"),
        (lambda: StudentConfig(hidden=2.5), "hidden"),
    ],
)
def test_meaningless_configurations_are_refused_when_made(make, field):
    with pytest.raises(ValueError, match=field):
        make()


@given(st.integers(0, 255))
def test_float_images_in_0_1_mean_the_same_as_uint8_images(value):
    as_uint8 = to_inputs(np.full((1, 28, 28), value, np.uint8), "cpu")
    as_float = to_inputs(np.full((1, 28, 28), value / 255, np.float32), "cpu")
    torch.testing.assert_close(as_uint8, as_float)


@pytest.mark.parametrize(
    "images, message",
    [
        (np.full((2, 28, 28), 200.0), r"\[0, 1\]"),
        (np.full((2, 28, 28), -0.5), r"\[0, 1\]"),
        (np.zeros((2, 27, 27), np.uint8), "28, 28"),
        (np.zeros((2, 28, 28), bool), "uint8"),
    ],
)
def test_images_that_cannot_be_pixels_are_refused(images, message):
    with pytest.raises((ValueError, TypeError), match=message):
        to_inputs(images, "cpu")


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y": None, "alpha": 0.0}, "every alpha must be 1"),
        ({"x": "empty"}, "empty"),
        ({"T": []}, "at least one"),
        ({"T": "hot"}, "numbers"),
        ({"T": float("inf")}, "finite"),
        ({"alpha": 1.5}, r"\[0, 1\]"),
        ({"teacher_logits": "short"}, "teacher logits"),
        ({"x_test": "alone"}, "together"),
        ({"seeds": [0.5]}, "integers"),
    ],
)
def test_bad_training_input_is_refused_before_training(learnable, change, message):
    x, y, teacher_logits = learnable
    args = {"x": x, "y": y, "teacher_logits": teacher_logits, "T": 4.0, "alpha": 0.5, "seeds": None, "x_test": None}
    args.update(change)
    if args["x"] == "empty":
        args["x"], args["y"], args["teacher_logits"] = x[:0], y[:0], teacher_logits[:0]
    if isinstance(args["teacher_logits"], str):
        args["teacher_logits"] = teacher_logits[:10]
    if isinstance(args["x_test"], str):
        args["x_test"] = x[:10]
    with pytest.raises((ValueError, TypeError), match=message):
        train_students(
            args["x"],
            args["y"],
            args["teacher_logits"],
            args["T"],
            args["alpha"],
            StudentConfig(hidden=8, epochs=1),
            seeds=args["seeds"],
            x_test=args["x_test"],
            progress=False,
        )


def test_a_learning_rate_far_too_high_is_reported_although_clipping_keeps_the_loss_finite(learnable):
    x, y, teacher_logits = learnable
    with pytest.warns(
        TrainingWarning, match=r"T=4, alpha=0.5, seed 0.*(far above|no better than|clipped).*Lower StudentConfig.lr"
    ):
        _, history = train_students(
            x, y, teacher_logits, 4.0, 0.5, StudentConfig(hidden=64, epochs=2, lr=5.0), progress=False
        )
    assert np.isfinite(history.loss[-1]).all()


def test_a_sound_run_gives_no_warning(learnable):
    x, y, teacher_logits = learnable
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrainingWarning)
        train_students(
            x, y, teacher_logits, 4.0, 0.5, StudentConfig(hidden=64, epochs=3, batch_size=32), progress=False
        )


@pytest.fixture
def workspace(learnable):
    x, y, teacher_logits = learnable
    y = y % 10
    teacher = teacher_mlp(hidden=16).eval()
    return Workspace(x, y, x[:200], y[:200], teacher, teacher_logits, {"source": "cache", "seconds": 0.0}, "cpu")


def test_omitted_class_experiment_refuses_a_validation_split_that_leaves_no_transfer_set(workspace):
    with pytest.raises(ValueError, match="n_validation"):
        omitted_class_experiment(
            workspace, StudentConfig(hidden=8, epochs=1), 20.0, 1.0, n_validation=len(workspace.x_train)
        )


def test_most_confusable_picks_examples_the_teacher_gets_right():
    logits = np.array([[5.0, 4.9], [1.0, 9.0], [5.0, 2.0], [5.0, 4.0]])  # row 1 is a mistake with the largest margin
    labels = np.array([0, 0, 0, 0])
    np.testing.assert_array_equal(most_confusable(logits, labels, 0, 1, k=2), [0, 3])


def test_class_similarity_refuses_a_class_without_examples_and_ranks_pairs():
    logits, labels = np.eye(10)[[0, 1, 2, 3, 4, 5, 6, 7, 8, 8]] * 5, np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 8])
    with pytest.raises(ValueError, match=r"no examples of class\(es\) \[9\]"):
        class_similarity(logits, labels, 2.0)
    matrix = np.full((3, 3), 0.1) + np.diag([0.7] * 3)
    matrix[2, 0] = 0.3
    assert similar_pairs(matrix, k=1) == [(2, 0, 0.3)]


def test_final_accuracies_split_the_columns_by_setting():
    history = History(
        epochs=[1], loss=[[0] * 4], train_errors=[np.array([0, 1, 10, 20])], test_errors=[np.array([5, 5, 1, 0])]
    )
    result = final_accuracies(history, n_train=100, n_test=10, names=["hard", "soft"])
    assert result == {"hard": ([100.0, 99.0], [50.0, 50.0]), "soft": ([90.0, 80.0], [90.0, 100.0])}


def test_the_label_gradient_is_bounded_and_the_soft_one_is_measured(workspace):
    hard, soft = logit_gradient_sizes(workspace, hidden=16, T=20.0)
    assert 0 < hard <= np.sqrt(2) and soft > 0


def test_teacher_status_never_says_about_zero_minutes(monkeypatch, tmp_path):
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", "1")
    line = teacher_status(get_preset("quick"))
    assert "about 0 min" not in line and "no cached teacher" in line
    assert "min" in teacher_status(get_preset("paper"))
