"""kdviz.temperature.sampling_distribution against an independent implementation: a port of the semantics of
Hugging Face transformers' TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper in torch (the logits are
divided by T, then masked to -inf by top-k, then by top-p, and torch's softmax of what is left is the distribution),
and the properties a sampler's distribution must have."""

import numpy as np
import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kdviz import sampling_distribution, softmax
from kdviz.temperature import _mass_above

logit_vectors = arrays(np.float64, st.integers(2, 12), elements=st.floats(-20, 20))
temperatures = st.floats(0.05, 20)
top_ks = st.none() | st.integers(1, 14)
top_ps = st.none() | st.floats(0.01, 1.0)


def warped_like_transformers(logits, T, top_k=None, top_p=None):
    """The three warpers as transformers applies them, on float64 torch logits (one row), then softmax."""
    scores = torch.tensor(logits, dtype=torch.float64)[None, :] / T
    if top_k is not None:  # remove every score below the k-th largest one
        kth = torch.topk(scores, min(top_k, scores.shape[-1])).values[..., -1:]
        scores = scores.masked_fill(scores < kth, -torch.inf)
    if top_p is not None:  # sort ascending; remove while the running sum is <= 1 - p; never the last (largest)
        ascending, where = torch.sort(scores, descending=False, stable=True)
        remove = ascending.softmax(-1).cumsum(-1) <= 1 - top_p
        remove[..., -1] = False
        scores = scores.masked_fill(remove.scatter(1, where, remove), -torch.inf)
    return scores.softmax(-1)[0].numpy()


def clear_of_boundaries(z, T, top_k, top_p):
    """No two logits within rounding of each other and no running sum within rounding of p: where rounding
    decides, two correct implementations may keep different classes."""
    distinct = np.diff(np.sort(z)).min() > 1e-6 * max(1.0, T)
    if not distinct or top_p is None:
        return distinct
    q = sampling_distribution(z, T, top_k)
    return bool(np.abs(_mass_above(q) - top_p).min() > 1e-9)


@given(logit_vectors, temperatures, top_ks, top_ps)
def test_it_matches_the_transformers_warpers(z, T, top_k, top_p):
    assume(clear_of_boundaries(z, T, top_k, top_p))
    np.testing.assert_allclose(
        sampling_distribution(z, T, top_k, top_p), warped_like_transformers(z, T, top_k, top_p), atol=1e-12
    )


def test_the_port_and_kdviz_agree_on_the_textbook_example_and_differ_only_on_a_tie_at_top_p():
    z = np.log([0.5, 0.25, 0.15, 0.1])
    for top_k, top_p in ((None, 0.7), (3, None), (3, 0.7), (None, 0.8), (2, 0.95)):
        np.testing.assert_allclose(
            sampling_distribution(z, 1.0, top_k, top_p), warped_like_transformers(z, 1.0, top_k, top_p)
        )
    kept = sampling_distribution(z, 1.0, top_p=0.8)
    np.testing.assert_allclose(kept, [0.5 / 0.9, 0.25 / 0.9, 0.15 / 0.9, 0.0])  # 0.5 + 0.25 < 0.8 needs the third
    np.testing.assert_allclose(sampling_distribution(z, 1.0, top_p=0.7), [2 / 3, 1 / 3, 0.0, 0.0])  # 0.75 >= 0.7
    tied = np.log([0.4, 0.3, 0.3])  # p = 0.6: either 0.3 completes the set; transformers keeps one, kdviz both
    np.testing.assert_allclose(sampling_distribution(tied, 1.0, top_p=0.6), [0.4, 0.3, 0.3])
    assert np.count_nonzero(warped_like_transformers(tied, 1.0, top_p=0.6)) == 2


def test_top_k_keeps_ties_at_its_boundary_like_transformers():
    z = [2.0, 1.0, 1.0, 0.0]
    q = sampling_distribution(z, 1.0, top_k=2)
    np.testing.assert_allclose(q, softmax([2.0, 1.0, 1.0]).tolist() + [0.0])
    np.testing.assert_allclose(q, warped_like_transformers(z, 1.0, top_k=2))


@given(logit_vectors, temperatures, top_ks, top_ps)
def test_it_is_a_distribution_proportional_to_the_softmax_where_it_keeps(z, T, top_k, top_p):
    q, full = sampling_distribution(z, T, top_k, top_p), softmax(z, T)
    assert np.all(q >= 0) and q.sum() == pytest.approx(1.0, abs=1e-12)
    kept = q > 0
    assert kept[np.argmax(full)]  # the most probable class always stays
    np.testing.assert_allclose(q[kept], full[kept] / full[kept].sum(), rtol=1e-9)


@given(logit_vectors, temperatures, st.integers(1, 12), st.floats(0.01, 1.0))
def test_the_kept_classes_grow_with_k_and_with_p(z, T, k, p):
    assert np.all((sampling_distribution(z, T, top_k=k) > 0) <= (sampling_distribution(z, T, top_k=k + 1) > 0))
    more = min(1.0, p + 0.1)
    assert np.all((sampling_distribution(z, T, top_p=p) > 0) <= (sampling_distribution(z, T, top_p=more) > 0))


@given(logit_vectors, temperatures, st.floats(0.01, 1.0))
def test_top_p_keeps_the_smallest_set_that_reaches_p(z, T, p):
    full, q = softmax(z, T), sampling_distribution(z, T, top_p=p)
    kept = q > 0
    assume(np.abs(_mass_above(full) - p).min() > 1e-9)
    assert full[kept].sum() >= p
    weakest = full[kept].min()
    assert full[kept & (full > weakest)].sum() < p  # without the least probable kept classes it falls short


@given(logit_vectors, top_ks, top_ps)
def test_the_limits_in_T_greedy_and_uniform(z, top_k, top_p):
    top = z == z.max()
    np.testing.assert_allclose(sampling_distribution(z, 0.0, top_k, top_p), top / top.sum())
    gaps = np.diff(np.unique(z))
    if gaps.size and gaps.min() > 1e-3:
        np.testing.assert_allclose(sampling_distribution(z, 1e-6, top_k, top_p), top / top.sum(), atol=1e-12)
    np.testing.assert_allclose(sampling_distribution(z, np.inf, top_k, top_p), np.full(z.size, 1 / z.size))


def test_minus_inf_logits_get_zero_and_huge_logits_stay_finite():
    z = np.array([1e4, 0.0, -1e4, -np.inf, 9999.0])
    for T in (0.0, 1e-3, 1.0, 1e4, np.inf):
        for top_k, top_p in ((None, None), (2, None), (None, 0.5), (5, 1.0)):
            q = sampling_distribution(z, T, top_k, top_p)
            assert np.isfinite(q).all() and q[3] == 0 and q.sum() == pytest.approx(1.0)
    assert sampling_distribution(z, 1.0)[0] == pytest.approx(1 / (1 + np.exp(-1.0)))


def test_it_is_batched_over_leading_axes_with_T_per_row():
    z = np.random.default_rng(0).normal(size=(3, 4, 6))
    T = np.array([0.5, 1.0, 3.0])[:, None, None]
    q = sampling_distribution(z, T, top_k=4, top_p=0.8)
    assert q.shape == (3, 4, 6)
    for i in range(3):
        for j in range(4):
            np.testing.assert_allclose(q[i, j], sampling_distribution(z[i, j], T[i, 0, 0], top_k=4, top_p=0.8))


def test_tensors_are_read_like_arrays():
    z = torch.tensor([1.0, 3.0, 2.0], requires_grad=True)
    np.testing.assert_allclose(sampling_distribution(z, 1.0, top_k=2), sampling_distribution([1.0, 3.0, 2.0], 1.0, 2))


@pytest.mark.parametrize(
    "call, error, words",
    [
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_k=0), ValueError, "top_k"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_k=2.0), TypeError, "top_k"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_k=True), TypeError, "top_k"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_k="3"), TypeError, "top_k"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_p=0.0), ValueError, "top_p"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_p=1.5), ValueError, "top_p"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_p=np.nan), ValueError, "top_p"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_p=np.True_), TypeError, "top_p"),
        (lambda: sampling_distribution([1.0, 2.0], 1.0, top_p="0.9"), TypeError, "top_p"),
        (lambda: sampling_distribution([1.0, np.inf], 1.0), ValueError, "logits"),
        (lambda: sampling_distribution([[1.0, 2.0]], [1.0, 2.0]), ValueError, "temperature"),
        (lambda: sampling_distribution([1.0, 2.0], -0.5), ValueError, "temperature T"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call, error, words):
    with pytest.raises(error, match=words):
        call()
