import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kdviz import logit_matching_grad, soft_ce_grad, softmax

pairs = st.integers(2, 10).flatmap(
    lambda n: st.tuples(
        arrays(np.float64, n, elements=st.floats(-10, 10)),
        arrays(np.float64, n, elements=st.floats(-10, 10)),
    )
)


def autograd_soft_ce(z, v, T):
    zt = torch.tensor(z, dtype=torch.float64, requires_grad=True)
    p = torch.softmax(torch.tensor(v, dtype=torch.float64) / T, dim=-1)
    loss = -(p * torch.log_softmax(zt / T, dim=-1)).sum()
    loss.backward()
    return zt.grad.numpy()


@given(pairs, st.floats(0.1, 50))
def test_soft_ce_grad_matches_autograd(zv, T):
    z, v = zv
    expected = autograd_soft_ce(z, v, T)
    np.testing.assert_allclose(soft_ce_grad(z, v, T), expected, rtol=1e-6, atol=1e-12)


def test_batches_are_handled_row_by_row():
    rng = np.random.default_rng(0)
    z, v = rng.normal(size=(2, 5, 7))
    batch = soft_ce_grad(z, v, 3.0)
    for row, zi, vi in zip(batch, z, v, strict=True):
        np.testing.assert_allclose(row, soft_ce_grad(zi, vi, 3.0))
    assert batch.dtype == np.float64


def test_gradient_size_falls_like_one_over_T_squared():
    rng = np.random.default_rng(1)
    z, v = rng.normal(size=(2, 10))
    T = np.geomspace(20, 2000, 12)
    norms = [np.linalg.norm(soft_ce_grad(z, v, t)) for t in T]
    slope = np.polyfit(np.log(T), np.log(norms), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.02)


def test_T_squared_scaled_gap_to_logit_matching_shrinks_like_one_over_T():
    rng = np.random.default_rng(2)
    z, v = rng.normal(size=(2, 10))
    T = np.geomspace(20, 2000, 12)
    gaps = [np.linalg.norm(t**2 * (soft_ce_grad(z, v, t) - logit_matching_grad(z, v, t))) for t in T]
    slope = np.polyfit(np.log(T), np.log(gaps), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.05)


def test_zero_mean_logits_give_plain_logit_matching():
    rng = np.random.default_rng(3)
    z, v = rng.normal(size=(2, 6))
    z, v = z - z.mean(), v - v.mean()
    T = 1e4
    np.testing.assert_allclose(T**2 * soft_ce_grad(z, v, T), (z - v) / z.size, rtol=1e-3)


def test_a_shift_breaks_the_raw_formula_but_not_the_centred_one():
    rng = np.random.default_rng(4)
    z, v = rng.normal(size=(2, 6))
    z = z + 5.0
    T = 1e4
    scaled = T**2 * soft_ce_grad(z, v, T)
    np.testing.assert_allclose(scaled, T**2 * logit_matching_grad(z, v, T), rtol=1e-3)
    assert not np.allclose(scaled, (z - v) / z.size, rtol=1e-1)


@pytest.mark.parametrize("T", [1e-4, 1.0, 1e6])
def test_huge_logits_give_finite_gradients(T):
    z = np.array([1e4, -1e4, 0.0])
    v = np.array([-1e4, 1e4, 5.0])
    assert np.isfinite(soft_ce_grad(z, v, T)).all()
    assert np.isfinite(logit_matching_grad(z, v, T)).all()


def test_soft_targets_sum_rule():
    z, v = np.array([1.0, 2.0, 0.5]), np.array([0.0, 3.0, 1.0])
    assert soft_ce_grad(z, v, 2.0).sum() == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(soft_ce_grad(z, z, 2.0), 0.0)
    assert softmax(v, 2.0).sum() == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: soft_ce_grad([1.0, 2.0], [1.0, 2.0, 3.0], 1.0), "same shape"),
        (lambda: soft_ce_grad([1.0, 2.0], [1.0, 2.0], 0.0), "> 0"),
        (lambda: soft_ce_grad([1.0, 2.0], [1.0, 2.0], -1.0), ">= 0"),
        (lambda: soft_ce_grad([1.0, np.nan], [1.0, 2.0], 1.0), "NaN"),
        (lambda: logit_matching_grad([1.0, -np.inf], [1.0, 2.0], 1.0), "-inf"),
        (lambda: logit_matching_grad([1.0, 2.0], [1.0], 1.0), "same shape"),
    ],
)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
