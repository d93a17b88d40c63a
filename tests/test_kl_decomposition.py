"""kdviz.temperature.kl_decomposition: the target / non-target split of KL(p || q) (Zhao et al. 2022), checked
against the KL computed directly and, at logits of 1e4 and -inf, against mpmath at high precision."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import log_softmax

from kdviz.temperature import kl_decomposition, kl_divergence, softmax

mpmath = pytest.importorskip("mpmath")


def direct_kl(v, z, T):
    """KL(softmax(v / T) || softmax(z / T)) along the last axis, with 0 log 0 = 0."""
    log_p, log_q = log_softmax(np.asarray(v) / T, -1), log_softmax(np.asarray(z) / T, -1)
    return np.where(log_p > -np.inf, np.exp(log_p) * (log_p - np.where(log_p > -np.inf, log_q, 0)), 0).sum(-1)


logit_batches = st.tuples(st.integers(1, 5), st.integers(2, 10)).flatmap(
    lambda shape: st.tuples(
        *[arrays(np.float64, shape, elements=st.floats(-40, 40))] * 2,
        arrays(np.int64, shape[:1], elements=st.integers(0, shape[1] - 1)),
    )
)


@given(logit_batches, st.floats(0.05, 100))
def test_the_parts_add_up_to_the_full_kl(batch, T):
    v, z, target = batch
    target_kl, non_target_kl, weight = kl_decomposition(v, z, target, T)
    full = direct_kl(v, z, T)
    np.testing.assert_allclose(target_kl + weight * non_target_kl, full, rtol=1e-12, atol=1e-12)
    assert (target_kl >= 0).all() and (non_target_kl >= 0).all() and ((weight >= 0) & (weight <= 1)).all()


@given(logit_batches, st.floats(0.05, 100))
def test_the_weight_is_one_minus_the_target_probability(batch, T):
    v, z, target = batch
    weight = kl_decomposition(v, z, target, T)[2]
    p_t = softmax(v, T)[np.arange(len(v)), target]
    np.testing.assert_allclose(weight, 1 - p_t, atol=1e-15)


def test_the_parts_are_the_binary_and_the_non_target_kl_by_hand():
    v, z, t, T = np.array([4.0, 1.0, 0.0, -1.0]), np.array([2.0, 0.5, 1.0, -2.0]), 0, 2.0
    p, q = softmax(v, T), softmax(z, T)
    binary = p[0] * np.log(p[0] / q[0]) + (1 - p[0]) * np.log((1 - p[0]) / (1 - q[0]))
    p_hat, q_hat = p[1:] / p[1:].sum(), q[1:] / q[1:].sum()
    target_kl, non_target_kl, weight = kl_decomposition(v, z, t, T)
    assert target_kl == pytest.approx(binary, rel=1e-13)
    assert non_target_kl == pytest.approx(np.sum(p_hat * np.log(p_hat / q_hat)), rel=1e-13)
    assert weight == pytest.approx(1 - p[0], rel=1e-13)


def test_one_row_per_temperature_matches_a_loop():
    rng = np.random.default_rng(0)
    v, z, target = rng.normal(size=(6, 10)) * 4, rng.normal(size=(6, 10)), rng.integers(0, 10, 6)
    temperatures = np.geomspace(0.5, 50, 7)
    curves = kl_decomposition(v[None], z[None], target, temperatures[:, None, None])
    for k, T in enumerate(temperatures):
        for part, curve in zip(kl_decomposition(v, z, target, T), curves, strict=True):
            np.testing.assert_allclose(curve[k], part, rtol=1e-14)


def test_the_weight_of_the_non_target_term_grows_with_T_when_the_target_wins():
    rng = np.random.default_rng(1)
    v, z = rng.normal(size=(50, 10)) * 5, rng.normal(size=(50, 10))
    target = v.argmax(1)
    weights = [kl_decomposition(v, z, target, T)[2] for T in np.geomspace(0.1, 100, 30)]
    assert (np.diff(weights, axis=0) >= 0).all()


def mp_parts(v, z, t, T):
    """The three parts at 300 digits, from the definitions, skipping classes of probability 0 (-inf logits)."""
    with mpmath.workdps(300):

        def probabilities(logits):
            finite = [mpmath.mpf(x) / T for x in logits if np.isfinite(x)]
            top = max(finite)
            total = mpmath.fsum(mpmath.exp(x - top) for x in finite)
            return [mpmath.exp(mpmath.mpf(x) / T - top) / total if np.isfinite(x) else mpmath.mpf(0) for x in logits]

        p, q = probabilities(v), probabilities(z)
        rest_p, rest_q = 1 - p[t], 1 - q[t]
        rest_p = mpmath.fsum(p[j] for j in range(len(p)) if j != t)  # exact, where 1 - p_t would cancel
        rest_q = mpmath.fsum(q[j] for j in range(len(q)) if j != t)

        def term(a, b):
            return a * mpmath.log(a / b) if a > 0 else mpmath.mpf(0)

        target_kl = term(p[t], q[t]) + term(rest_p, rest_q)
        others = [j for j in range(len(p)) if j != t and p[j] > 0]
        non_target = mpmath.fsum(term(p[j] / rest_p, q[j] / rest_q) for j in others) if rest_p > 0 else 0
        return target_kl, non_target, rest_p


EXTREME_CASES = [
    ([1e4, 0.0, -1e4, -np.inf], [0.0, 1e4, 3.0, -np.inf], 0),
    ([1e4, 9999.0, 9998.5, -np.inf], [1e4, 1e4, 0.0, 5.0], 0),
    ([0.0, 1e4, -np.inf, 2.0], [-1e4, 0.0, 1e4, 1.0], 1),
    ([1e4, 0.0, -1e4, -np.inf], [9000.0, 1e4, -1e4, -np.inf], 3),  # a target the teacher rules out
    ([5.0, -np.inf, -np.inf], [1e4, 0.0, -3.0], 0),  # no mass outside the target: p_hat is undefined
]


@pytest.mark.parametrize("v, z, t", EXTREME_CASES)
@pytest.mark.parametrize("T", [1e-3, 1.0, 20.0, 1e4])
def test_logits_of_1e4_and_minus_inf_give_the_exact_parts(v, z, t, T):
    # log-probabilities carry an absolute rounding error of ~1e-16, so a KL near 0 is exact to ~1e-16 absolute
    got = kl_decomposition(np.array(v), np.array(z), t, T)
    exact = mp_parts(v, z, t, T)
    for g, e in zip(got, exact, strict=True):
        assert np.isfinite(g)
        assert abs(mpmath.mpf(float(g)) - e) <= 1e-12 * abs(e) + mpmath.mpf(1e-14), (float(g), e)
    combined, full = got[0] + got[2] * got[1], exact[0] + exact[2] * exact[1]
    assert abs(mpmath.mpf(float(combined)) - full) <= 1e-12 * full + mpmath.mpf(1e-14)


@pytest.mark.parametrize(
    "args, error, message",
    [
        (([1.0, 2.0], [1.0, 2.0, 3.0], 0), ValueError, "same shape"),
        (([1.0, 2.0], [1.0, -np.inf], 0), ValueError, "rules out a class"),
        (([1.0, 2.0], [1.0, 2.0], 2), ValueError, "0..1"),
        (([1.0, 2.0], [1.0, 2.0], -1), ValueError, "0..1"),
        (([1.0, 2.0], [1.0, 2.0], 0.5), TypeError, "integer"),
        (([[1.0, 2.0]] * 3, [[1.0, 2.0]] * 3, [0, 1]), ValueError, "one class per row"),
        (([1.0, np.nan], [1.0, 2.0], 0), ValueError, "NaN"),
        (([1.0, 2.0], [np.inf, 2.0], 0), ValueError, r"\+inf"),
        (([1.0, 2.0], [1.0, 2.0], 0, 0.0), ValueError, "> 0"),
        (([1.0, 2.0], [1.0, 2.0], 0, -1.0), ValueError, ">= 0"),
        (([1.0, 2.0], [1.0, 2.0], 0, [1.0, 2.0]), ValueError, "each class"),
        (("1, 2", [1.0, 2.0], 0), TypeError, "teacher_logits"),
        (([1e308, -1e308], [-1e308, 1e308], 0, 1e-3), ValueError, "larger than float64 can hold"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(args, error, message):
    with pytest.raises(error, match=message):
        kl_decomposition(*args)


LARGE_T_CASES = [np.random.default_rng(seed).normal(scale=scale, size=(2, 10)) for seed, scale in ((0, 3.0), (1, 10.0))]


@pytest.mark.parametrize("T", [1e4, 1e5, 1e6])
@pytest.mark.parametrize("case", range(len(LARGE_T_CASES)))
def test_at_large_T_the_kl_and_T2_kl_keep_their_digits(case, T):
    """Issue #36: at T = 1e6 the KL is O(1e-12), a difference of nearly equal log-probabilities; computed from the
    log-ratios it keeps at least 10 significant digits (the issue asks for 6), the parts and T^2 KL alike."""
    v, z = LARGE_T_CASES[case]
    target_kl, non_target_kl, weight = kl_decomposition(v, z, 0, T)
    exact = mp_parts(v.tolist(), z.tolist(), 0, T)
    for got, want in zip((target_kl, non_target_kl, weight), exact, strict=True):
        assert abs(mpmath.mpf(float(got)) - want) <= 1e-10 * abs(want), (float(got), want)
    full = exact[0] + exact[2] * exact[1]
    for kl in (kl_divergence(v, z, T), target_kl + weight * non_target_kl):
        assert abs(mpmath.mpf(float(T**2 * kl)) - T**2 * full) <= 1e-10 * T**2 * full
