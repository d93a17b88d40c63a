"""Bad training input is refused before any work, with a reason; runs that look finite but did not learn say so."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from kdviz.dark_knowledge import (
    best_class_bias,
    errors_against_temperature,
    final_accuracies,
    logit_gradient_sizes,
    omitted_class_experiment,
    small_data_report,
)
from kdviz.mnist.losses import kd_loss
from kdviz.mnist.models import teacher_mlp
from kdviz.mnist.train import (
    History,
    StudentConfig,
    TeacherConfig,
    TrainingOptions,
    TrainingWarning,
    count_errors,
    to_inputs,
    train_students,
    train_teacher,
    transfer_indices,
)
from kdviz.mnist.workspace import Workspace, get_preset, teacher_status
from kdviz.mnist_distillation import class_similarity, most_confusable, run_distillation, run_sweep, similar_pairs


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
    with pytest.raises((ValueError, TypeError), match=field):
        make()


COUNTS = {
    "TeacherConfig": ["hidden", "epochs", "batch_size", "jitter", "n_train", "seed"],
    "StudentConfig": ["hidden", "epochs", "batch_size", "seed"],
}
NUMBERS = {
    "TeacherConfig": ["lr", "momentum", "dropout_input", "dropout_hidden", "weight_decay"],
    "StudentConfig": ["lr", "momentum", "max_grad_norm"],
}
CONFIGS = {"TeacherConfig": TeacherConfig, "StudentConfig": StudentConfig}


@given(
    st.sampled_from([(kind, name) for kind, names in COUNTS.items() for name in names]),
    st.one_of(st.floats(), st.booleans(), st.text(max_size=3), st.none()),
)
def test_a_count_that_is_not_an_integer_is_a_type_error_naming_it(field, value):
    kind, name = field
    with pytest.raises(TypeError, match=rf"{kind}\.{name}.*integer"):
        CONFIGS[kind](**{name: value})


@pytest.mark.parametrize("kind", ["TeacherConfig", "StudentConfig"])
@pytest.mark.parametrize("seed", [-1, 2**31, 2**80])
def test_a_seed_outside_what_torch_and_numpy_both_take_is_refused(kind, seed):
    with pytest.raises(ValueError, match=rf"{kind}\.seed must be an integer in 0\.\.2147483647"):
        CONFIGS[kind](seed=seed)


@given(
    st.sampled_from([(kind, name) for kind, names in NUMBERS.items() for name in names]),
    st.one_of(st.booleans(), st.text(max_size=3), st.just([0.1])),
)
def test_a_number_that_is_not_a_number_is_a_type_error_naming_it(field, value):
    kind, name = field
    with pytest.raises(TypeError, match=rf"{kind}\.{name}.*number"):
        CONFIGS[kind](**{name: value})


def test_numpy_numbers_are_accepted_in_configurations():
    config = StudentConfig(hidden=np.int64(8), epochs=np.int32(1), lr=np.float32(0.1), max_grad_norm=np.float64(2))
    assert config.hidden == 8


@pytest.mark.parametrize("drop_class, error", [(12, ValueError), (-1, ValueError), (3.5, TypeError), ("3", TypeError)])
def test_transfer_indices_refuses_a_class_that_is_not_a_digit(drop_class, error):
    with pytest.raises(error, match="drop_class"):
        transfer_indices(np.arange(20) % 10, drop_class=drop_class)


def test_class_similarity_refuses_labels_that_name_no_class():
    logits = np.eye(10)[np.arange(20) % 10]
    with pytest.raises(ValueError, match=r"0\.\.9"):
        class_similarity(logits, np.r_[np.arange(10), [12] * 10], 2.0)
    with pytest.raises(TypeError, match="integer"):
        class_similarity(logits, (np.arange(20) % 10) + 0.5, 2.0)


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


BAD_TRAINING_INPUT = {
    "no labels with alpha < 1": (lambda x, y, v: {"y": None, "alpha": 0.0}, "every alpha must be 1"),
    "empty transfer set": (lambda x, y, v: {"x": x[:0], "y": y[:0], "teacher_logits": v[:0]}, "empty"),
    "no T": (lambda x, y, v: {"T": []}, "at least one"),
    "T a word": (lambda x, y, v: {"T": "hot"}, "number"),
    "T infinite": (lambda x, y, v: {"T": float("inf")}, "finite"),
    "T so small that T^2 underflows": (lambda x, y, v: {"T": 1e-38}, "too small for float32"),
    "logits / T beyond float32": (lambda x, y, v: {"teacher_logits": v * 1e30, "T": 1e-8}, "exceed the largest"),
    "alpha above 1": (lambda x, y, v: {"alpha": 1.5}, r"\[0, 1\]"),
    "teacher logits too short": (lambda x, y, v: {"teacher_logits": v[:10]}, "teacher logits"),
    "x_test alone": (lambda x, y, v: {"x_test": x[:10]}, "together"),
    "fractional seeds": (lambda x, y, v: {"seeds": [0.5]}, "integers"),
    "negative seed": (lambda x, y, v: {"seeds": [0, -1]}, r"0\.\.2147483647"),
    "labels 10-19": (lambda x, y, v: {"y": y + 10}, r"y must lie in 0\.\.9"),
    "float labels": (lambda x, y, v: {"y": y.float()}, "y must be integer"),
    "numpy labels": (lambda x, y, v: {"y": y.numpy()}, "y must be a label tensor"),
    "labels too short": (lambda x, y, v: {"y": y[:10]}, "one class per row"),
    "nan in x": (lambda x, y, v: {"x": torch.where(torch.arange(784) == 5, float("nan"), x)}, "x contains nan"),
    "x_test of 5 columns": (lambda x, y, v: {"x_test": x[:10, :5], "y_test": y[:10]}, "x_test must be a float tensor"),
    "y_test of the wrong length": (lambda x, y, v: {"x_test": x[:10], "y_test": y[:9]}, "y_test"),
    "numpy y_test": (lambda x, y, v: {"x_test": x[:10], "y_test": y[:10].numpy()}, "y_test must be a label tensor"),
    "y_test 10-19": (lambda x, y, v: {"x_test": x[:10], "y_test": y[:10] + 10}, r"y_test must lie in 0\.\.9"),
    "nan in x_test": (lambda x, y, v: {"x_test": x[:10] * float("nan"), "y_test": y[:10]}, "x_test contains nan"),
    "float64 images": (lambda x, y, v: {"x": x.double()}, r"x must be float32.*x\.float\(\)"),
    "float16 x_test": (lambda x, y, v: {"x_test": x[:10].half(), "y_test": y[:10]}, "x_test must be float32"),
    "empty x_test": (lambda x, y, v: {"x_test": x[:0], "y_test": y[:0]}, "x_test is empty"),
}


def test_a_configuration_that_is_not_a_student_config_or_training_errors_without_labels_are_refused(learnable):
    x, y, v = learnable
    with pytest.raises(TypeError, match="config must be a StudentConfig"):
        train_students(x, y, v, 4.0, 0.5, {"hidden": 8}, progress=False)
    with pytest.raises(ValueError, match="track_train_errors needs the labels"):
        train_students(
            x, None, v, 4.0, 1.0, StudentConfig(hidden=8, epochs=1), options=TrainingOptions(track_train_errors=True)
        )


def test_the_teacher_checks_its_input_before_training(learnable):
    x, y, _ = learnable
    config = TeacherConfig(hidden=8, epochs=1)
    with pytest.raises(ValueError, match="x must be float32"):
        train_teacher(x.double(), y, config, progress=False)
    with pytest.raises(ValueError, match=r"y must lie in 0\.\.9"):
        train_teacher(x, y + 10, config, progress=False)
    with pytest.raises(TypeError, match="config must be a TeacherConfig"):
        train_teacher(x, y, StudentConfig(), progress=False)


@pytest.mark.parametrize("name", BAD_TRAINING_INPUT)
def test_bad_training_input_is_refused_before_training(learnable, monkeypatch, name):
    x, y, teacher_logits = learnable
    change, message = BAD_TRAINING_INPUT[name]
    args = {"x": x, "y": y, "teacher_logits": teacher_logits, "T": 4.0, "alpha": 0.5, "seeds": None, "x_test": None}
    args.update(y_test=None)
    args.update(change(x, y, teacher_logits))
    test = (args.pop("x_test"), args.pop("y_test"))
    options = TrainingOptions(test=None if test == (None, None) else test)

    def no_training(*args, **kwargs):
        raise AssertionError("training started before the input was checked")

    monkeypatch.setattr("kdviz.mnist.train.initial_students", no_training)
    with pytest.raises((ValueError, TypeError), match=message):
        train_students(**args, config=StudentConfig(hidden=8, epochs=1), options=options, progress=False)


@pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")  # one short epoch: only equality matters
def test_int32_labels_train_like_int64_labels(learnable):
    x, y, teacher_logits = learnable
    config = StudentConfig(hidden=8, epochs=1)
    runs = [
        train_students(x[:256], labels[:256], teacher_logits[:256], 4.0, 0.5, config, progress=False)[1]
        for labels in (y, y.int())
    ]
    np.testing.assert_array_equal(runs[0].loss, runs[1].loss)


def test_the_clipping_warning_names_max_grad_norm(learnable):
    x, y, teacher_logits = learnable
    config = StudentConfig(hidden=16, epochs=1, max_grad_norm=1e-3)
    with pytest.warns(TrainingWarning, match=r"clipped in \d+%.*max_grad_norm \(now 0\.001\)"):
        train_students(x[:512], y[:512], teacher_logits[:512], 4.0, 0.5, config, progress=False)


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


@pytest.mark.parametrize(("hard_train", "by_heart"), [([100.0, 100.0, 100.0], True), ([100.0, 99.8, 100.0], False)])
def test_the_small_data_report_claims_learning_by_heart_only_when_every_seed_is_perfect(hard_train, by_heart):
    accuracy = {
        "hard labels": (hard_train, [83.4, 83.9, 83.7]),
        "soft targets": ([96.0, 96.4, 96.2], [89.0, 90.1, 89.9]),
    }
    lines = small_data_report(accuracy, n_train=500, epochs=40)
    assert lines[0].startswith("500 training images, 40 epochs, 3 seeds per setting")
    assert lines[1].startswith("  hard labels") and lines[2].startswith("  soft targets")
    assert ("learnt them by heart" in lines[3]) == by_heart
    assert not by_heart or "all 500" in lines[3]
    assert "a real difference in favour of soft targets" in lines[4]
    if by_heart:  # one format: no '100.0 +- 0.0 (range 100-100, 3 seeds) %', every accuracy with the same decimals
        assert lines[1] == "  hard labels   train 100.0% in all 3 seeds, test 83.7% (range 83.4-83.9%)"


def test_the_label_gradient_is_bounded_and_the_soft_one_is_measured(workspace):
    hard, soft = logit_gradient_sizes(workspace, hidden=16, T=20.0)
    assert 0 < hard <= np.sqrt(2) and soft > 0


def test_teacher_status_never_says_about_zero_minutes(monkeypatch, tmp_path):
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", "1")
    line = teacher_status(get_preset("quick"))
    assert "about 0 min" not in line and "no cached teacher" in line
    assert "min" in teacher_status(get_preset("paper"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"omitted": 3.5}, "omitted"),
        ({"omitted": 10}, "omitted"),
        ({"n_validation": 100.5}, "n_validation"),
        ({"T": "2"}, "T must be a number"),
        ({"T": [1.0, 2.0]}, "one number"),
    ],
)
def test_omitted_class_experiment_refuses_bad_arguments_before_training(workspace, monkeypatch, change, message):
    monkeypatch.setattr("kdviz.mnist.workspace.train_students", lambda *a, **k: pytest.fail("training started"))
    args = {"T": 20.0, "alpha": 1.0, "n_validation": 500, **change}
    with pytest.raises((ValueError, TypeError), match=message):
        omitted_class_experiment(workspace, StudentConfig(hidden=8, epochs=1), progress=False, **args)


@pytest.mark.parametrize("shape", [(0, 28, 28), (0, 784)])
def test_no_images_become_an_empty_batch_of_inputs(shape):
    for dtype in (np.uint8, np.float32):
        assert to_inputs(np.zeros(shape, dtype), "cpu").shape == (0, 784)


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2), st.just([1.0, 2.0])))
def test_get_preset_accepts_exactly_the_temperatures_that_kd_loss_accepts(T):
    z = torch.zeros(2, 10)
    try:
        kd_loss(z, z, torch.tensor([0, 1]), T, 0.5)
        accepted = True
    except (ValueError, TypeError) as err:
        accepted, kd_error = False, err
    if accepted:
        assert get_preset("quick", T=T).T == float(T)
    else:
        with pytest.raises(type(kd_error), match="T"):
            get_preset("quick", T=T)


@pytest.mark.parametrize("T", [float("inf"), 5000.0, "2", 1e-30, [1, 2]])
def test_run_distillation_never_loads_a_teacher_for_a_bad_temperature(monkeypatch, T):
    monkeypatch.setattr("kdviz.mnist.workspace.load_or_train_teacher", lambda *a, **k: pytest.fail("teacher loaded"))
    with pytest.raises((ValueError, TypeError), match="T"):
        run_distillation(None, get_preset("quick", T=T), "cpu", progress=False)
    with pytest.raises(TypeError, match="Preset"):
        run_distillation(None, {"T": T}, "cpu", progress=False)


@pytest.mark.parametrize(
    ("temperatures", "error", "words"),
    [
        ("20", TypeError, "temperatures must be a number"),
        ([], ValueError, "non-empty"),
        ([[1, 2]], ValueError, r"got shape \(1, 2\)"),
    ],
)
def test_experiment_settings_that_are_not_numbers_are_refused_before_training(workspace, temperatures, error, words):
    student = StudentConfig(hidden=8, epochs=1)
    with pytest.raises(error, match=words):
        errors_against_temperature(workspace, temperatures, 0.9, student)  # '20' was split into [2, 0]
    with pytest.raises(error, match=words):
        run_sweep(workspace, temperatures, [0.5], student)
    with pytest.raises(ValueError, match="alpha must be one number"):
        errors_against_temperature(workspace, [4.0], [0.5, 0.9], student)


@pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")  # one epoch of 8 units: only the shapes count
def test_one_temperature_may_be_given_as_a_number(workspace):
    errors, baseline = errors_against_temperature(workspace, 20, 0.9, StudentConfig(hidden=8, epochs=1), progress=False)
    assert errors.shape == (1, 1) and baseline.shape == (1,)


def test_errors_are_counted_from_numpy_arrays_as_from_tensors():
    logits = np.eye(10)[[0, 1, 2, 3]] + 0.0
    labels = np.array([0, 1, 2, 9])
    assert count_errors(logits, labels) == 1 == count_errors(torch.as_tensor(logits), torch.as_tensor(labels))
    with pytest.raises(ValueError, match="must agree"):
        count_errors(logits, labels[:3])


@pytest.mark.parametrize(("cls", "error"), [(10, ValueError), (-1, ValueError), (2.0, TypeError)])
def test_best_class_bias_needs_a_class_index_in_range(cls, error):
    with pytest.raises(error, match="cls"):
        best_class_bias(np.zeros((4, 10)), np.zeros(4, dtype=int), cls)


@pytest.mark.parametrize(
    ("n_validation", "error"), [(-5, ValueError), (0, ValueError), (2000, ValueError), (2.5, TypeError)]
)
def test_a_validation_split_must_leave_both_parts_non_empty(workspace, n_validation, error):
    with pytest.raises(error, match="n_validation"):
        workspace.split_validation(n_validation)


@pytest.mark.parametrize(("kwargs", "words"), [({"T": 0}, "T"), ({"T": -2}, "T"), ({"n_examples": 0}, "n_examples")])
def test_gradient_sizes_refuse_temperatures_and_sizes_that_mean_nothing(workspace, kwargs, words):
    with pytest.raises(ValueError, match=words):
        logit_gradient_sizes(workspace, **{"hidden": 16, "T": 20.0, **kwargs})


@pytest.mark.parametrize(
    ("args", "words"),
    [({"true_class": 2, "other_class": 10}, "other_class 10 is out of range"), ({"k": -1}, "k must be an integer")],
)
def test_most_confusable_checks_its_classes_and_k(args, words):
    kwargs = {"true_class": 2, "other_class": 3, "k": 3, **args}
    with pytest.raises(ValueError, match=words):
        most_confusable(np.zeros((4, 10)), np.zeros(4, dtype=int), **kwargs)


def test_final_accuracies_needs_one_name_per_setting():
    history = History(epochs=[1], loss=[[0] * 4], train_errors=[np.zeros(4)], test_errors=[np.zeros(4)])
    with pytest.raises(ValueError, match="one name per setting"):
        final_accuracies(history, n_train=100, n_test=10, names=["a", "b", "c"])


def test_transfer_indices_refuse_a_negative_seed_and_an_empty_result():
    with pytest.raises(ValueError, match="seed must be an integer in 0"):
        transfer_indices(np.arange(10) % 10, fraction=0.5, seed=-1)
    with pytest.raises(ValueError, match="all of class 3, which is dropped"):
        transfer_indices(np.full(5, 3), drop_class=3)
    with pytest.raises(ValueError, match="no examples left: 0 labels"):
        transfer_indices([], fraction=0.5)


def test_helpers_refuse_what_is_not_a_preset_data_or_duration(workspace):
    from kdviz.mnist.timing import estimate_seconds, format_seconds
    from kdviz.mnist.workspace import prepare

    with pytest.raises(TypeError, match="preset must be a Preset"):
        teacher_status("quick")
    with pytest.raises(TypeError, match="load_mnist"):
        prepare(None, get_preset("quick"))
    with pytest.raises(ValueError, match="duration"):
        format_seconds(float("nan"))
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        estimate_seconds(workspace, 8, -3)


def test_the_patient_preset_teaches_consistently_and_the_others_keep_fixed_targets():
    from kdviz.mnist.workspace import get_preset

    assert get_preset("patient").transfer_jitter == 2 and get_preset("patient").teacher == get_preset("paper").teacher
    assert get_preset("paper").transfer_jitter == 0 and get_preset("quick").transfer_jitter == 0
    assert get_preset("paper", transfer_jitter=1).transfer_jitter == 1
    with pytest.raises(ValueError, match="transfer_jitter"):
        get_preset("paper", transfer_jitter=-1)
