"""Gradients of the soft-target cross-entropy with respect to the student's logits (numpy).

C = -sum_i p_i log q_i with p = softmax(v, T) (teacher logits v) and q = softmax(z, T)
(student logits z). T broadcasts against the logits with size 1 on the class axis.
"""

import numpy as np

from ._checks import as_logits, broadcast_temperature, same_shape
from .temperature import softmax


def _finite(grad, T, name):
    if not np.isfinite(grad).all():
        raise ValueError(
            f"{name} is larger than float64 can hold (above 1.8e308) at T = {np.min(T[~np.isfinite(grad)]):g}: "
            "the gradient grows like 1/T or 1/T^2, so use a larger temperature"
        )
    return grad


def soft_ce_grad(z, v, T, axis=-1):
    """dC/dz_i = (q_i - p_i) / T. Its size shrinks like 1/T^2 for large T, hence the T^2 factor."""
    z, v = as_logits(z, axis=axis), as_logits(v, name="v", axis=axis)
    same_shape(z, v)
    _, T_rows, _ = broadcast_temperature(z, T, axis, allow_zero=False)
    with np.errstate(over="ignore"):
        return _finite((softmax(z, T, axis) - softmax(v, T, axis)) / T_rows, T_rows, "soft_ce_grad")


def logit_matching_grad(z, v, T, axis=-1):
    """Large-T limit of soft_ce_grad: ((z_i - mean z) - (v_i - mean v)) / (N T^2) = (d_i - mean d) / (N T^2)
    with d = z - v.

    T^2 times this is logit matching; it equals (z_i - v_i) / N when both are zero-mean. d is scaled by
    a power of two into [-1, 1] and T split as m 2^e, so that neither d, its mean nor T^2 overflows.
    """
    z = as_logits(z, axis=axis, allow_neg_inf=False)
    v = as_logits(v, name="v", axis=axis, allow_neg_inf=False)
    same_shape(z, v)
    z, T, axis = broadcast_temperature(z, T, axis, allow_zero=False)
    v = np.broadcast_to(v, z.shape)
    with np.errstate(over="ignore", invalid="ignore"):
        d = z - v
    halved = ~np.isfinite(d).all(axis=axis, keepdims=True)  # z - v overflows there: use (z - v) / 2
    d = np.where(halved, z / 2 - v / 2, d)
    _, power = np.frexp(np.abs(d).max(axis=axis, keepdims=True))
    d = np.ldexp(d, -power)
    mantissa, exponent = np.frexp(T)
    with np.errstate(over="ignore"):
        grad = np.ldexp(
            (d - d.mean(axis=axis, keepdims=True)) / (z.shape[axis] * mantissa**2), power + halved - 2 * exponent
        )
    return _finite(grad, T, "logit_matching_grad")
