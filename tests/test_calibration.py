"""kdviz.calibration: the ECE against a brute-force loop, the fitted temperature at the NLL's minimum, bad input."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar

from kdviz.calibration import expected_calibration_error, fit_temperature, mean_nll, reliability
from kdviz.temperature import softmax


def ece_by_loop(probabilities, labels, n_bins):
    """The ECE written out: one pass over the bins, one over the examples in each (Guo et al. 2017, eq. 3)."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    total = 0.0
    for b in range(n_bins):
        members = []
        for p, y in zip(probabilities, labels, strict=True):
            confidence = max(p)
            inside = edges[b] < confidence <= edges[b + 1] or (b == 0 and confidence == 0)
            if inside:
                members.append((confidence, int(np.argmax(p)) == y))
        if members:
            mean_confidence = sum(c for c, _ in members) / len(members)
            accuracy = sum(right for _, right in members) / len(members)
            total += len(members) / len(labels) * abs(accuracy - mean_confidence)
    return total


@given(
    n=st.integers(1, 60),
    n_classes=st.integers(2, 6),
    n_bins=st.integers(1, 20),
    scale=st.floats(0.1, 10),
    seed=st.integers(0, 2**32 - 1),
)
def test_ece_matches_a_brute_force_loop_on_random_cases(n, n_classes, n_bins, scale, seed):
    rng = np.random.default_rng(seed)
    p = softmax(rng.normal(scale=scale, size=(n, n_classes)))
    labels = rng.integers(0, n_classes, n)
    assert expected_calibration_error(p, labels, n_bins) == pytest.approx(ece_by_loop(p, labels, n_bins), abs=1e-12)


@pytest.mark.parametrize("n_bins", [1, 4, 5, 10, 15])
def test_ece_puts_confidences_on_a_bin_edge_where_the_loop_does(n_bins):
    confidence = np.array([0.5, 0.6, 0.75, 0.8, 1.0, 0.5, 0.6])  # edges of several of the bin counts
    p = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.array([0, 1, 0, 0, 0, 1, 0])
    assert expected_calibration_error(p, labels, n_bins) == pytest.approx(ece_by_loop(p, labels, n_bins), abs=1e-12)


def test_ece_of_known_cases():
    # all right with confidence 1: calibrated; all wrong with confidence 1: off by 1
    one_hot = np.eye(3)[[0, 1, 2, 0]]
    assert expected_calibration_error(one_hot, [0, 1, 2, 0]) == 0
    assert expected_calibration_error(one_hot, [1, 2, 0, 1]) == 1
    # confidence 0.7 everywhere, 7 of 10 right: calibrated; 5 of 10 right: off by 0.2
    p = np.tile([0.7, 0.3], (10, 1))
    assert expected_calibration_error(p, [0] * 7 + [1] * 3) == pytest.approx(0)
    assert expected_calibration_error(p, [0] * 5 + [1] * 5) == pytest.approx(0.2)


def test_reliability_counts_every_example_once():
    rng = np.random.default_rng(0)
    p = softmax(rng.normal(size=(500, 10)) * 3)
    labels = rng.integers(0, 10, 500)
    confidence, accuracy, sizes = reliability(p, labels, 15)
    assert sizes.sum() == 500
    used = sizes > 0
    assert np.isnan(confidence[~used]).all() and np.isnan(accuracy[~used]).all()
    assert ((confidence[used] > 0) & (confidence[used] <= 1) & (accuracy[used] >= 0) & (accuracy[used] <= 1)).all()


def nll_slope_by_autograd(logits, labels, T):
    """dNLL/dT from torch autograd in float64: a derivation of the slope independent of kdviz."""
    z = torch.as_tensor(logits, dtype=torch.float64)
    temperature = torch.tensor(T, dtype=torch.float64, requires_grad=True)
    nll = torch.nn.functional.cross_entropy(z / temperature, torch.as_tensor(labels))
    nll.backward()
    return temperature.grad.item()


def random_classifier(seed, n=400, n_classes=10, sharpness=3.0):
    """Logits of a noisy classifier that is right more often than not, and the labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    logits = rng.normal(size=(n, n_classes))
    logits[np.arange(n), labels] += rng.uniform(0, 2 * sharpness, n)
    return logits * rng.uniform(0.2, 20), labels


@pytest.mark.parametrize("seed", range(12))
def test_the_nll_slope_is_zero_at_the_fitted_temperature(seed):
    logits, labels = random_classifier(seed)
    T = fit_temperature(logits, labels)
    assert abs(nll_slope_by_autograd(logits, labels, T)) < 1e-6
    # and it is the minimum, not another stationary point: a bounded scalar search finds the same T
    search = minimize_scalar(lambda log_T: mean_nll(logits, labels, np.exp(log_T)), bounds=(-8, 8), method="bounded")
    assert T == pytest.approx(np.exp(search.x), rel=1e-4)
    assert mean_nll(logits, labels, T) <= min(mean_nll(logits, labels, T * f) for f in (0.99, 1.01))


def test_fitting_the_temperature_of_scaled_logits_undoes_the_scale():
    logits, labels = random_classifier(3)
    T = fit_temperature(logits, labels)
    assert fit_temperature(logits * 7.5, labels) == pytest.approx(7.5 * T, rel=1e-9)


def test_huge_logits_give_a_finite_nll_and_temperature():
    logits, labels = random_classifier(5, sharpness=1.0)
    big = logits / np.abs(logits).max() * 1e4
    T = fit_temperature(big, labels)
    assert np.isfinite(T) and np.isfinite(mean_nll(big, labels, T))
    assert abs(nll_slope_by_autograd(big, labels, T)) < 1e-6


def test_mean_nll_matches_torch_cross_entropy():
    logits, labels = random_classifier(1)
    for T in (0.3, 1.0, 4.0):
        reference = torch.nn.functional.cross_entropy(torch.as_tensor(logits) / T, torch.as_tensor(labels)).item()
        assert mean_nll(logits, labels, T) == pytest.approx(reference, rel=1e-12)


def test_temperature_scaling_keeps_every_prediction():
    logits, labels = random_classifier(2)
    T = fit_temperature(logits, labels)
    assert (softmax(logits, T).argmax(1) == logits.argmax(1)).all()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: expected_calibration_error([[0.5, 0.6]], [0]), ValueError, "sum to 1"),
        (lambda: expected_calibration_error([[2.0, -1.0]], [0]), ValueError, r"\[0, 1\]"),
        (lambda: expected_calibration_error([[np.nan, 1.0]], [0]), ValueError, "NaN"),
        (lambda: expected_calibration_error([0.5, 0.5], [0]), ValueError, "examples, classes"),
        (lambda: expected_calibration_error(np.zeros((0, 3)), []), ValueError, "at least one"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [2]), ValueError, "0..1"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [0, 1]), ValueError, "one label per example"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [0.0]), TypeError, "integer"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [0], n_bins=0), ValueError, "n_bins"),
        (lambda: expected_calibration_error([[0.5, 0.5]], [0], n_bins=2.5), TypeError, "n_bins"),
        (lambda: expected_calibration_error("0.5", [0]), TypeError, "probabilities"),
        (lambda: fit_temperature([[3.0, 0.0], [0.0, 2.0]], [0, 1]), ValueError, r"T -> 0"),
        (lambda: fit_temperature([[0.0, 3.0], [0.0, 2.0]], [0, 0]), ValueError, r"T -> inf"),
        # issue #36: constant logits leave the NLL flat at log C, neither falling to T -> 0 nor to T -> inf
        (
            lambda: fit_temperature([[2.0, 2.0, 2.0], [0.5, 0.5, 0.5]], [0, 2]),
            ValueError,
            r"NLL is log C whatever T is",
        ),
        (lambda: fit_temperature([[np.nan, 0.0]], [0]), ValueError, "NaN"),
        (lambda: fit_temperature([[-np.inf, 0.0]], [0]), ValueError, "-inf"),
        (lambda: fit_temperature([1.0, 2.0], [0]), ValueError, "examples, classes"),
        (lambda: fit_temperature([[1.0], [2.0]], [0, 0]), ValueError, ">= 2 classes"),
        (lambda: fit_temperature([[1.0, 2.0]], [1, 0]), ValueError, "one label per example"),
        (lambda: fit_temperature([[1.0, 2.0]], [3]), ValueError, "0..1"),
        (lambda: mean_nll([[1.0, 2.0]], [0], T=0), ValueError, "T must be a finite"),
        (lambda: mean_nll([[1.0, 2.0]], [0], T="1"), TypeError, "T must be a number"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, error, message):
    with pytest.raises(error, match=message):
        call()
