"""Gradients of the soft-target cross-entropy with respect to the student's logits (numpy).

C = -sum_i p_i log q_i with p = softmax(v, T) (teacher logits v) and q = softmax(z, T)
(student logits z). T broadcasts against the logits with size 1 on the class axis.
"""

import numpy as np

from ._checks import as_logits, broadcast_temperature, representable, same_shape
from .temperature import softmax


def _finite(grad, T, name):
    why = "the gradient grows like 1/T or 1/T^2, so use a larger temperature"
    return representable(grad, name, lambda bad: f"T = {np.min(T[bad]):g}: {why}")


def soft_ce_grad(z, v, T, axis=-1):
    """dC/dz_i = (q_i - p_i) / T. Its size shrinks like 1/T^2 for large T, hence the T^2 factor."""
    z, v = as_logits(z, axis=axis), as_logits(v, name="v", axis=axis)
    same_shape(z, v)
    _, T_rows, _ = broadcast_temperature(z, T, axis, allow_zero=False)
    with np.errstate(over="ignore"):
        return _finite((softmax(z, T, axis) - softmax(v, T, axis)) / T_rows, T_rows, "soft_ce_grad")


def _centred(x, axis):
    """x - mean(x) along ``axis`` as (m, e): x - mean x = m 2^e with max |m| in [0.5, 1), or m = 0 and e very
    negative (so that a zero never sets the scale).

    x is scaled by a power of two into [-1, 1] (exact; nothing overflows) and measured from its first entry
    (exact for nearby values), so the mean is taken of the spread alone: a tiny spread on a huge shift keeps
    all its digits, and equal logits centre to exactly 0."""
    _, shift = np.frexp(np.abs(x).max(axis=axis, keepdims=True))
    scaled = np.ldexp(x, -shift)
    apart = scaled - np.take(scaled, [0], axis=axis)
    centred = apart - apart.mean(axis=axis, keepdims=True)
    largest = np.abs(centred).max(axis=axis, keepdims=True)
    _, spread = np.frexp(largest)
    return np.ldexp(centred, -spread), np.where(largest > 0, shift + spread, -(2**20))


def logit_matching_grad(z, v, T, axis=-1):
    """Large-T limit of soft_ce_grad: ((z_i - mean z) - (v_i - mean v)) / (N T^2).

    T^2 times this is logit matching; it equals (z_i - v_i) / N when both are zero-mean. Computed as written,
    each vector centred on its own (so logits of very different sizes lose nothing to z - v), with powers of
    two split off so that neither the logits, their means nor T^2 overflows.
    """
    z = as_logits(z, axis=axis, allow_neg_inf=False)
    v = as_logits(v, name="v", axis=axis, allow_neg_inf=False)
    same_shape(z, v)
    z, T, axis = broadcast_temperature(z, T, axis, allow_zero=False)
    v = np.broadcast_to(v, z.shape)
    (z_m, z_e), (v_m, v_e) = _centred(z, axis), _centred(v, axis)
    power = np.maximum(z_e, v_e) + 1
    d = np.ldexp(z_m, z_e - power) - np.ldexp(v_m, v_e - power)  # ((z - mean z) - (v - mean v)) / 2^power
    mantissa, exponent = np.frexp(T)
    with np.errstate(over="ignore"):
        grad = np.ldexp(d / (z.shape[axis] * mantissa**2), power - 2 * exponent)
    return _finite(grad, T, "logit_matching_grad")
