"""Issue #24: one check layer with one rule. The same bad values go through every public entry point: a value
of the wrong kind (a bool, a string, None, a complex number, any object) is a TypeError, a value of the right
kind but out of range a ValueError, each naming the argument. Then the gaps the issue found, one test each."""

import numpy as np
import pytest
import torch

from kdviz import (
    _checks,
    dq_dT,
    entropy,
    expected_logit,
    logit_matching_grad,
    random_logits,
    sampling_distribution,
    soft_ce_grad,
    softmax,
    turning_temperature,
    widgets,
)
from kdviz.beyond_the_paper import top_k_logits
from kdviz.calibration import reliability
from kdviz.dark_knowledge import final_accuracies
from kdviz.exercises import feedback
from kdviz.figures import softmax as plots
from kdviz.figures.beyond import plot_seed_results
from kdviz.figures.mnist import plot_digits
from kdviz.mnist.losses import kd_loss
from kdviz.mnist.models import mlp_weights, teacher_mlp
from kdviz.mnist.timing import format_seconds
from kdviz.mnist.train import (
    History,
    StudentConfig,
    TeacherConfig,
    TrainingOptions,
    count_errors,
    to_inputs,
    to_labels,
    train_students,
    transfer_indices,
)
from kdviz.mnist.workspace import Preset, get_preset, seed_list
from kdviz.mnist_distillation import class_similarity, similar_pairs, soft_target_change
from kdviz.noise import describe_best, spread
from kdviz.runmode import env_flag, quick_mode
from kdviz.temperature import kl_decomposition, kl_divergence
from kdviz.verify import class_motions

Z = np.array([1.0, 3.0, 2.0])
LOGITS = torch.tensor([[1.0, 3.0, 2.0], [0.0, 1.0, 0.0]])
LABELS = torch.tensor([1, 0])


def tiny_transfer_set():
    return torch.zeros(4, 784), torch.zeros(4, dtype=torch.int64), torch.zeros(4, 10)


def function_matching(transfer_mixup):
    return TrainingOptions(teacher=torch.nn.Linear(784, 10), transfer_jitter=1, transfer_mixup=transfer_mixup)


# (entry point with one argument left open, words naming that argument, a value of the right kind out of range)
ENTRY_POINTS = {
    "softmax z": (lambda v: softmax(v, 1.0), "z", [1.0, np.nan]),
    "softmax T": (lambda v: softmax(Z, v), "temperature T", -1.0),
    "dq_dT T": (lambda v: dq_dT(Z, v), "temperature T", -1.0),
    "expected_logit T": (lambda v: expected_logit(Z, v), "temperature T", np.nan),
    "turning_temperature i": (lambda v: turning_temperature(Z, v), "class index", 5),
    "entropy q": (lambda v: entropy(v), "q|entropy", [0.5, 0.6]),
    "sampling_distribution logits": (lambda v: sampling_distribution(v, 1.0), "logits", [1.0, np.nan]),
    "sampling_distribution T": (lambda v: sampling_distribution(Z, v, top_k=2), "temperature T", -1.0),
    "random_logits n": (lambda v: random_logits(v), "n", 1),
    "random_logits scale": (lambda v: random_logits(3, scale=v), "scale", 0.0),
    "soft_ce_grad T": (lambda v: soft_ce_grad(Z, Z[::-1], v), "temperature T", 0.0),
    "logit_matching_grad T": (lambda v: logit_matching_grad(Z, Z[::-1], v), "temperature T", 0.0),
    "plot_temperature_curves T_max": (lambda v: plots.plot_temperature_curves(Z, T_max=v), "T_max", 0.0),
    "soft_share alpha": (lambda v: plots.soft_share(Z, Z[::-1], 0, 2.0, v), "alpha", 1.5),
    "kd_loss T": (lambda v: kd_loss(LOGITS, LOGITS, LABELS, v, 0.5), "T", 0.0),
    "kd_loss alpha": (lambda v: kd_loss(LOGITS, LOGITS, LABELS, 2.0, v), "alpha", 1.5),
    "StudentConfig lr": (lambda v: StudentConfig(lr=v), "lr", 0.0),
    "StudentConfig hidden": (lambda v: StudentConfig(hidden=v), "hidden", 10**6),
    "TeacherConfig dropout_input": (lambda v: TeacherConfig(dropout_input=v), "dropout_input", 1.0),
    "transfer_indices fraction": (lambda v: transfer_indices(np.arange(10), fraction=v), "fraction", 0.0),
    "transfer_indices seed": (lambda v: transfer_indices(np.arange(10), fraction=0.5, seed=v), "seed", -1),
    "train_students T": (lambda v: train_students(*tiny_transfer_set(), v, 0.5, progress=False), "T", 0.0),
    "train_students transfer_mixup": (
        lambda v: train_students(
            *tiny_transfer_set()[:2], None, 2.0, 1.0, options=function_matching(v), progress=False
        ),
        "transfer_mixup",
        -1.0,
    ),
    "Preset T": (lambda v: Preset(TeacherConfig(), StudentConfig(), T=v), "T", 0.0),
    "Preset alpha": (lambda v: Preset(TeacherConfig(), StudentConfig(), alpha=v), "alpha", 2.0),
    "format_seconds": (lambda v: format_seconds(v), "duration", -1.0),
    "seed_list n_seeds": (lambda v: seed_list(StudentConfig(), v), "number of seeds", 0),
    "spread": (lambda v: spread(v), "per-seed results", [np.nan]),
    "temperature_panel T": (lambda v: widgets.temperature_panel(T=v), "T", 1e6),
    "curves_panel n": (lambda v: widgets.curves_panel(n=v), "n", 50),
    # the sites that broke the rule before issue 30, and the checkers merged there
    "plot_digits n": (lambda v: plot_digits(np.zeros((4, 28, 28), np.uint8), [0] * 4, n=v), "n", 0),
    "soft_target_change T": (lambda v: soft_target_change(teacher_mlp(8), torch.rand(2, 784), T=v), "T", -1.0),
    "soft_target_change images": (lambda v: soft_target_change(teacher_mlp(8), v), "images", torch.rand(0, 784)),
    "top_k_logits teacher_logits": (lambda v: top_k_logits(v, 2), "teacher_logits", torch.zeros(10)),
    "train_students x": (lambda v: train_students(v, *tiny_transfer_set()[1:], 2.0, 0.5), "x", torch.zeros(4, 5)),
    "train_students teacher_logits": (
        lambda v: train_students(*tiny_transfer_set()[:2], v, 2.0, 0.5),
        "teacher logits",
        torch.zeros(4, 3),
        {"None"},  # no teacher: allowed when every alpha is 0
    ),
    "to_labels labels": (lambda v: to_labels(v, "cpu"), "labels", [[1, 2]]),
    "reliability labels": (lambda v: reliability(softmax(np.zeros((2, 3))), v), "labels", [0, 3]),
    "class_similarity labels": (lambda v: class_similarity(np.zeros((2, 3)), v, 1.0), "labels", [0, 5]),
    "kl_decomposition target": (lambda v: kl_decomposition(LOGITS, LOGITS, v), "target", [0, 3]),
    "kl_divergence T": (lambda v: kl_divergence(Z, Z, v), "temperature T", -1.0),
    "count_errors labels": (lambda v: count_errors(LOGITS, v), "labels", [0, 1, 2]),
    "get_preset name": (lambda v: get_preset(v), "preset", "huge", {"string"}),  # a name: any string is its kind
    "exercise name": (lambda v: feedback(v, 1.0), "exercise", "99_nothing", {"string"}),
    "similar_pairs matrix": (lambda v: similar_pairs(v), "matrix", np.zeros((2, 3))),
    "plot_seed_results": (lambda v: plot_seed_results(v, "errors", "title"), "setting's results", {}),
}
WRONG_KINDS = {"bool": True, "numpy bool": np.True_, "string": "2", "None": None, "complex": 2 + 0j, "object": object()}


def wrong_kinds_of(entry):
    """The kinds of WRONG_KINDS that are wrong for this entry point (a name takes strings; some take None)."""
    _, _, _, *accepted = ENTRY_POINTS[entry]
    return [kind for kind in WRONG_KINDS if not (accepted and kind in accepted[0])]


@pytest.mark.parametrize(("entry", "kind"), [(entry, kind) for entry in ENTRY_POINTS for kind in wrong_kinds_of(entry)])
def test_a_value_of_the_wrong_kind_is_a_type_error_naming_the_argument(entry, kind):
    call, words, *_ = ENTRY_POINTS[entry]
    with pytest.raises(TypeError, match=words):
        call(WRONG_KINDS[kind])


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_value_of_the_right_kind_out_of_range_is_a_value_error_naming_the_argument(entry):
    call, words, value, *_ = ENTRY_POINTS[entry]
    with pytest.raises(ValueError, match=words):
        call(value)


# --- the issue's examples ----------------------------------------------------------------------


def test_the_issue_examples_follow_the_rule():
    with pytest.raises(TypeError, match="class index"):
        turning_temperature(Z, True)  # was numpy's "truth value of an array is ambiguous"
    for q in ("ab", [0.5 + 0j, 0.5]):
        with pytest.raises(TypeError, match="q must be probabilities"):
            entropy(q)  # softmax refused them; entropy took them
    with pytest.raises(TypeError, match="duration"):
        format_seconds(True)  # was '1.0 s'
    with pytest.raises(TypeError, match="number of seeds"):
        seed_list(StudentConfig(), 2.0)  # was a ValueError, where count() gives a TypeError
    assert turning_temperature(Z, -1) == turning_temperature(Z, 2)  # negative indices still count from the end


def test_masked_entries_are_not_silently_read_as_numbers():
    z = np.ma.masked_array([1.0, 50.0, 2.0], mask=[False, True, False])
    with pytest.raises(ValueError, match="masked entries.*filled"):
        softmax(z)
    np.testing.assert_allclose(softmax(z.filled(-np.inf)), softmax([1.0, -np.inf, 2.0]))
    assert softmax(np.ma.masked_array(Z)).tolist() == softmax(Z).tolist()  # nothing masked: read as it is


def test_logit_matching_centres_each_vector_before_subtracting():
    """((z - mean z) - (v - mean v)) / (N T^2) as written: logits of very different sizes lose nothing."""
    z, v = np.array([1.0, 2.0, 3.0]), np.full(3, 1e30)
    np.testing.assert_allclose(logit_matching_grad(z, v, 2.0), [-1 / 12, 0.0, 1 / 12], rtol=1e-15)
    tiny = np.array([1.0, 2.0, 4.0]) * 1e-300
    exact = (tiny - tiny.mean()) / 3
    np.testing.assert_allclose(logit_matching_grad(tiny, np.full(3, 1e308), 1.0), exact, rtol=1e-14)
    shifted = logit_matching_grad(z + 1e15, v, 1.0)  # a shift of 1e15 leaves 1, 2, 3 exactly representable
    np.testing.assert_allclose(shifted, [-1 / 3, 0.0, 1 / 3], rtol=1e-15)


def test_class_motions_name_constant_classes():
    equal = {i: motion for i, _, motion, _ in class_motions([2.0, 2.0, 2.0])}
    assert set(equal.values()) == {"stays at 1/3 (all logits equal)"}  # was 'always falls'
    rows = {i: motion for i, _, motion, _ in class_motions([1.0, 3.0, -np.inf])}
    assert rows[2] == "stays at 0 (a -inf logit)" and rows[1] == "always falls" and rows[0] == "always rises"
    assert np.all(np.abs(dq_dT([1.0, 3.0, -np.inf], np.geomspace(0.1, 100, 50)[:, None])[:, 2]) == 0)


def test_to_inputs_reads_any_array_of_pixels():
    images = np.random.default_rng(0).integers(0, 256, (3, 28, 28)).astype(np.uint8)
    expected = to_inputs(images, "cpu")
    flipped = images[:, ::-1, :]  # a view with negative strides
    torch.testing.assert_close(to_inputs(flipped, "cpu"), to_inputs(flipped.copy(), "cpu"))
    torch.testing.assert_close(to_inputs(images.tolist(), "cpu"), expected)  # nested lists of ints 0-255
    torch.testing.assert_close(to_inputs(images.astype(np.int64), "cpu"), expected)
    with_grad = torch.tensor(images / 255.0, dtype=torch.float32, requires_grad=True)
    torch.testing.assert_close(to_inputs(with_grad, "cpu"), expected, rtol=1e-5, atol=1e-5)


def test_to_inputs_refuses_integer_pixels_outside_0_255():
    with pytest.raises(ValueError, match="0-255"):
        to_inputs(np.full((1, 28, 28), 300), "cpu")


def test_spread_of_results_near_the_largest_float_is_finite():
    s = spread([1.7e308, 1.7e308, 1.6e308])
    assert (
        s.mean == pytest.approx(1.7e308 / 3 * 2 + 1.6e308 / 3)
        and np.isfinite(s.sd)
        and s.sd == pytest.approx(5.7735e306, rel=1e-4)
    )
    assert "inf" not in str(s) and len(str(s)) < 80


def test_describe_best_names_single_seed_settings_apart():
    sentence = describe_best({"T = 2": [238, 245, 240], "T = 3": [241, 250, 236], "T = 20": [300]})
    assert "one seed only, so no difference counts yet" not in sentence  # the best has three seeds
    assert "Within noise of it (gap to the best not larger than the wider seed range): T = 3" in sentence
    assert "Not compared, with one seed only: T = 20" in sentence
    single = describe_best({"T = 2": [238], "T = 3": [241, 250, 236]})
    assert "one seed only, so no difference counts yet" in single


def test_final_accuracies_refuse_a_repeated_name():
    history = History(epochs=[1], loss=[[0] * 4], train_errors=[np.zeros(4)], test_errors=[np.zeros(4)])
    with pytest.raises(ValueError, match="must all differ: a appears more than once"):
        final_accuracies(history, n_train=100, n_test=10, names=["a", "a"])  # one group was dropped


# --- environment flags are read one way -------------------------------------------------------


@pytest.mark.parametrize("value", ["", "0", "false", "False", "no", "NO", "off", " 0 "])
def test_no_means_no(monkeypatch, value):
    monkeypatch.setenv("KDVIZ_SOME_FLAG", value)
    assert env_flag("KDVIZ_SOME_FLAG") is False


@pytest.mark.parametrize("value", ["1", "true", "Yes", "on"])
def test_yes_means_yes(monkeypatch, value):
    monkeypatch.setenv("KDVIZ_SOME_FLAG", value)
    assert env_flag("KDVIZ_SOME_FLAG") is True


def test_a_flag_that_is_neither_is_named(monkeypatch):
    monkeypatch.setenv("KDVIZ_QUICK", "maybe")
    with pytest.raises(ValueError, match="KDVIZ_QUICK='maybe' is neither yes nor no"):
        env_flag("KDVIZ_QUICK")


def test_quick_mode_off_outside_pytest(monkeypatch):
    monkeypatch.delenv("PYTEST_CURRENT_TEST")
    monkeypatch.setenv("KDVIZ_QUICK", "no")
    assert not quick_mode()  # 'no' meant on
    monkeypatch.setenv("KDVIZ_QUICK", "1")
    assert quick_mode()


def test_a_stack_too_large_to_train_is_refused_before_training():
    with pytest.raises(ValueError, match="stacked students of 4096 hidden units"):
        train_students(*tiny_transfer_set(), [2.0] * 20, 0.5, StudentConfig(hidden=4096), progress=False)
    assert _checks.stacked_size(45, 800, mlp_weights(800)) == 45  # the paper's sweep of 15 settings x 3 seeds fits
