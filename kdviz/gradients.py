"""Gradients of the soft-target cross-entropy with respect to the student's logits (numpy).

C = -sum_i p_i log q_i with p = softmax(v, T) (teacher logits v) and q = softmax(z, T)
(student logits z).
"""

from ._checks import as_logits, as_temperature, same_shape
from .temperature import softmax


def soft_ce_grad(z, v, T):
    """dC/dz_i = (q_i - p_i) / T. Its size shrinks like 1/T^2 for large T, hence the T^2 factor."""
    z, v = as_logits(z), as_logits(v, name="v")
    same_shape(z, v)
    T = as_temperature(T, allow_zero=False)
    return (softmax(z, T) - softmax(v, T)) / T


def logit_matching_grad(z, v, T):
    """Large-T limit of soft_ce_grad: ((z_i - mean z) - (v_i - mean v)) / (N T^2).

    T^2 times this is logit matching; it equals (z_i - v_i) / N when both are zero-mean.
    """
    z = as_logits(z, allow_neg_inf=False)
    v = as_logits(v, name="v", allow_neg_inf=False)
    same_shape(z, v)
    T = as_temperature(T, allow_zero=False)
    n = z.shape[-1]
    centred = (z - z.mean(axis=-1, keepdims=True)) - (v - v.mean(axis=-1, keepdims=True))
    return centred / (n * T**2)
