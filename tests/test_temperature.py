import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kdviz import dq_dT, entropy, expected_logit, softmax, turning_temperature

logit_vectors = arrays(np.float64, st.integers(2, 12), elements=st.floats(-30, 30))
temperatures = st.floats(0.05, 50)


@given(logit_vectors, temperatures, st.floats(-1e3, 1e3))
def test_probabilities_sum_to_one_and_ignore_a_shift(z, T, shift):
    q = softmax(z, T)
    assert np.all(q >= 0)
    assert q.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(softmax(z + shift, T), q, atol=1e-9)


def test_matches_scipy_in_input_order():
    from scipy.special import softmax as scipy_softmax

    data = [1.0, 3.0, 2.0]
    np.testing.assert_allclose(softmax(data), scipy_softmax(data), rtol=1e-15)
    assert np.argmax(softmax(data)) == 1


def test_temperature_curve_in_one_call_matches_loop():
    z = np.array([0.5, -1.0, 2.0, 0.0])
    T = np.geomspace(0.1, 100, 17)
    curve = softmax(z[None, :], T[:, None])
    assert curve.shape == (17, 4)
    for row, t in zip(curve, T, strict=True):
        np.testing.assert_allclose(row, softmax(z, t), rtol=1e-14)


@given(logit_vectors)
def test_zero_temperature_is_argmax_one_hot_and_small_T_approaches_it(z):
    q0 = softmax(z, 0.0)
    top = z == z.max()
    np.testing.assert_allclose(q0, top / top.sum())
    gap = np.sort(np.unique(z))
    if gap.size > 1 and gap[-1] - gap[-2] > 1e-3:
        np.testing.assert_allclose(softmax(z, 1e-6), q0, atol=1e-12)


def test_ties_share_the_zero_temperature_limit():
    np.testing.assert_allclose(softmax([2.0, 5.0, 5.0, 1.0], 0.0), [0, 0.5, 0.5, 0])


@given(logit_vectors)
def test_infinite_temperature_is_uniform_and_large_T_approaches_it(z):
    n = z.size
    np.testing.assert_allclose(softmax(z, np.inf), np.full(n, 1 / n))
    np.testing.assert_allclose(softmax(z, 1e9), np.full(n, 1 / n), atol=1e-7)


def test_minus_inf_logit_gets_probability_zero_at_every_temperature():
    z = np.array([1.0, -np.inf, 0.0])
    for T in [0.0, 1e-3, 1.0, 1e6, np.inf]:
        q = softmax(z, T)
        assert q[1] == 0.0 and np.isfinite(q).all() and q.sum() == pytest.approx(1.0)
        assert np.isfinite(dq_dT(z, T)).all()


@pytest.mark.parametrize("T", [1e-4, 1e-2, 1.0, 1e2, 1e4, 1e6])
def test_huge_logits_stay_finite(T):
    z = np.array([1e4, -1e4, 0.0, 9999.5, -np.inf])
    q = softmax(z, T)
    assert np.isfinite(q).all() and q.sum() == pytest.approx(1.0)
    assert np.isfinite(dq_dT(z, T)).all()
    assert np.isfinite(expected_logit(z, T)).all()


def central_difference(z, T, h=1e-6):
    step = h * T
    return (softmax(z, T + step) - softmax(z, T - step)) / (2 * step)


@given(logit_vectors, st.floats(0.2, 20))
def test_dq_dT_matches_finite_differences(z, T):
    analytic = dq_dT(z, T)
    numeric = central_difference(z, T)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(logit_vectors, st.floats(0.2, 20))
def test_dq_dT_matches_torch_autograd(z, T):
    zt = torch.tensor(z, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(zt / t, dim=-1), torch.tensor(T, dtype=torch.float64)
    ).numpy()
    analytic = dq_dT(z, T)
    # relative error; the 1e-12 floor covers derivatives that are zero up to rounding (tied logits)
    assert np.abs(analytic - jac).max() <= 1e-6 * np.abs(jac).max() + 1e-12


@given(logit_vectors, temperatures)
def test_sign_of_dq_dT_is_sign_of_expected_logit_minus_logit(z, T):
    gap = expected_logit(z, T) - z
    slope = dq_dT(z, T)
    clear = np.abs(gap) > 1e-9 * (1 + np.abs(z).max())
    q = softmax(z, T)
    clear &= q > 1e-250  # below that, the product underflows to zero
    np.testing.assert_array_equal(np.sign(slope[clear]), np.sign(gap[clear]))


@given(logit_vectors, st.floats(0.05, 20))
def test_expected_logit_falls_with_temperature(z, T):
    q = softmax(z, T)
    variance = q @ (z - q @ z) ** 2
    h = 1e-4 * T
    slope = (expected_logit(z, T + h) - expected_logit(z, T - h)) / (2 * h)
    rounding = 1e-14 * (1 + np.abs(z).max()) / h
    assert slope == pytest.approx(-variance / T**2, rel=1e-4, abs=rounding)


def test_largest_always_falls_smallest_always_rises():
    z = np.array([-1.0, 0.3, 2.0, 0.9, 1.7])
    T = np.geomspace(1e-2, 1e3, 400)
    slopes = dq_dT(z[None, :], T[:, None])
    assert (slopes[:, 2] <= 0).all()
    assert (slopes[:, 0] >= 0).all()


@given(logit_vectors)
def test_turning_temperature_is_a_zero_and_none_exactly_when_monotone(z):
    for i in range(z.size):
        t_star = turning_temperature(z, i)
        monotone = z[i] >= z.max() or z[i] <= z.mean()
        assert (t_star is None) == monotone
        if t_star is not None:
            assert abs(expected_logit(z, t_star) - z[i]) < 1e-9 * (1 + np.abs(z).max())
            assert dq_dT(z, 0.9 * t_star)[i] > 0 > dq_dT(z, 1.1 * t_star)[i]


def test_the_one_over_n_rule_counterexample():
    z = np.array([0, 0, 0, 0, 10, 10.5])
    t_star = turning_temperature(z, 4)
    assert t_star == pytest.approx(2.396, abs=1e-3)
    crossing = np.geomspace(0.1, t_star, 1000)
    q = softmax(z[None, :], crossing[:, None])[:, 4]
    assert (q > 1 / 6).any()  # above 1/n ...
    assert (dq_dT(z[None, :], crossing[:-1, None])[:, 4] > 0).all()  # ... and still rising


def test_entropy_limits():
    assert entropy([0.25] * 4) == pytest.approx(np.log(4))
    assert entropy([1.0, 0.0, 0.0]) == 0.0
    z = np.array([3.0, 1.0, 0.0])
    T = np.geomspace(0.1, 100, 50)
    h = entropy(softmax(z[None, :], T[:, None]))
    assert (np.diff(h) > 0).all()


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: softmax([1.0, 2.0], -1.0), "must be >= 0"),
        (lambda: softmax([1.0, 2.0], np.nan), "NaN"),
        (lambda: softmax([1.0, np.nan]), "NaN logits"),
        (lambda: softmax([1.0, np.inf]), r"\+inf"),
        (lambda: softmax(np.zeros((3, 0))), "empty"),
        (lambda: softmax([-np.inf, -np.inf]), "all -inf"),
        (lambda: softmax(3.0), "scalar"),
        (lambda: softmax(np.zeros(4), np.ones(3)), "do not broadcast"),
        (lambda: dq_dT([1.0, np.nan], 1.0), "NaN"),
        (lambda: dq_dT([1.0, 2.0], -2.0), "must be >= 0"),
        (lambda: turning_temperature([1.0, 2.0, 3.0], 5), "out of range"),
        (lambda: turning_temperature([[1.0, 2.0]], 0), "one vector"),
        (lambda: entropy([0.5, -0.5]), "negative"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
