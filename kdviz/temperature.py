"""Temperature softmax q_i(T) = exp(z_i/T) / sum_j exp(z_j/T) and how it moves with T.

numpy and scipy only. Every function takes logits ``z`` with the classes on ``axis`` (last by
default) and a temperature ``T`` that broadcasts against ``z``, so
``softmax(z[None, :], T[:, None])`` is a whole curve q(T) in one call.
"""

import numpy as np
from scipy.optimize import brentq
from scipy.special import entr

from ._checks import as_logits, as_temperature


def _shifted(z, T, axis):
    """Broadcast z against T and subtract the max logit: s_i = z_i - max_j z_j <= 0."""
    z, T = as_logits(z, axis=axis), as_temperature(T)
    try:
        z, T = np.broadcast_arrays(z, T)
    except ValueError:
        raise ValueError(
            f"temperatures of shape {T.shape} do not broadcast against logits of shape {z.shape}"
        ) from None
    return z - z.max(axis=axis, keepdims=True), T


def softmax(z, T=1.0, axis=-1):
    """q_i = exp(z_i/T) / sum_j exp(z_j/T), computed as exp((z_i - max z)/T) / sum, so it never overflows.

    Limits: T == 0 gives the argmax one-hot (tied maxima share equally); T == inf gives the
    uniform 1/n over the finite logits. A -inf logit gets probability 0.
    """
    s, T = _shifted(z, T, axis)
    regular = (T > 0) & np.isfinite(T)
    with np.errstate(invalid="ignore"):  # -inf logits at T = inf; masked out below
        e = np.exp(s / np.where(regular, T, 1.0))
    q = e / e.sum(axis=axis, keepdims=True)
    argmax = (s == 0).astype(np.float64)
    uniform = np.isfinite(s).astype(np.float64)
    q = np.where(T == 0, argmax / argmax.sum(axis=axis, keepdims=True), q)
    q = np.where(np.isinf(T), uniform / uniform.sum(axis=axis, keepdims=True), q)
    return q


def expected_logit(z, T, axis=-1):
    """E_q[z] = sum_i q_i(T) z_i, the logit averaged under the softmax. It falls as T grows:
    d/dT E_q[z] = -Var_q(z) / T^2."""
    z = as_logits(z, axis=axis)
    q = softmax(z, T, axis=axis)
    top = z.max(axis=axis, keepdims=True)
    with np.errstate(invalid="ignore"):
        weighted = np.where(q > 0, q * (z - top), 0.0)
    return weighted.sum(axis=axis) + np.squeeze(top, axis=axis)


def dq_dT(z, T, axis=-1):
    """dq_i/dT = q_i (E_q[z] - z_i) / T^2, exactly. Zero in the limits T == 0 and T == inf,
    and for -inf logits (whose probability stays 0)."""
    s, T = _shifted(z, T, axis)
    q = softmax(s, T, axis=axis)
    with np.errstate(invalid="ignore"):
        gap = np.where(q > 0, np.expand_dims(expected_logit(s, T, axis=axis), axis) - s, 0.0)
    regular = (T > 0) & np.isfinite(T)
    T_safe = np.where(regular, T, 1.0)
    return np.where(regular, q * gap / T_safe**2, 0.0)


def turning_temperature(z, i):
    """The unique T* > 0 where dq_i/dT = 0, that is E_q(T*)[z] = z_i, or None where q_i is monotone.

    E_q[z] falls strictly from max(z) (T -> 0) to mean(z) (T -> inf), so a root exists exactly
    when mean(z) < z_i < max(z), and then only one. Solved with brentq on log T. (With -inf
    logits, the mean is over the finite ones: those classes never carry probability.)
    """
    z = as_logits(z)
    if z.ndim != 1:
        raise ValueError(f"turning_temperature takes one vector of logits, got shape {z.shape}")
    n = z.shape[0]
    if not -n <= i < n:
        raise ValueError(f"class index {i} is out of range for {n} logits")
    finite = z[np.isfinite(z)]
    zi = z[i]
    if not np.isfinite(zi) or zi >= finite.max() or zi <= finite.mean():
        return None

    def gap(log_T):
        return expected_logit(finite, np.exp(log_T)) - zi

    spread = finite.max() - finite.min()
    lo = hi = np.log(spread)
    while gap(lo) <= 0:
        lo -= 1.0
    while gap(hi) >= 0:
        hi += 1.0
        if hi > 700:  # exp(700) is near the float64 limit
            raise ValueError(f"logit {i} is too close to the mean to resolve its turning temperature")
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-13, rtol=1e-14)))


def entropy(q, axis=-1):
    """H(q) = -sum_i q_i log q_i in nats (0 log 0 = 0)."""
    q = np.asarray(q, dtype=np.float64)
    if np.isnan(q).any() or (q < 0).any():
        raise ValueError("entropy needs probabilities: no NaN and no negative entries")
    return entr(q).sum(axis=axis)


def random_logits(n, seed=0, scale=2.0):
    """n logits drawn from a normal distribution with standard deviation ``scale`` (seeded)."""
    if n < 2:
        raise ValueError(f"need at least 2 classes, got {n}")
    return np.random.default_rng(seed).normal(scale=scale, size=n)
