"""Input checks for the numpy core: each bad input becomes a ValueError that says what was wrong."""

import numpy as np


def as_logits(z, name="z", axis=-1, allow_neg_inf=True):
    """Return ``z`` as float64, rejecting NaN, +inf and an empty class axis."""
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 0:
        raise ValueError(f"{name} must have at least one axis of classes, got a scalar")
    if z.shape[axis] == 0:
        raise ValueError(f"{name} has an empty class axis (shape {z.shape})")
    if np.isnan(z).any():
        raise ValueError(f"{name} contains NaN logits")
    if np.isposinf(z).any():
        raise ValueError(f"{name} contains +inf logits; only -inf (probability 0) is allowed")
    if np.isneginf(z).any():
        if not allow_neg_inf:
            raise ValueError(f"{name} contains -inf logits, which this formula cannot use")
        if np.isneginf(z).all(axis=axis).any():
            raise ValueError(f"{name} has a row whose logits are all -inf; softmax is undefined there")
    return z


def as_temperature(T, allow_zero=True):
    """Return ``T`` as float64, rejecting NaN and negative values (and zero unless allowed)."""
    T = np.asarray(T, dtype=np.float64)
    if np.isnan(T).any():
        raise ValueError("temperature T is NaN")
    if (T < 0).any():
        raise ValueError(f"temperature T must be >= 0, got {T.min():g}")
    if not allow_zero and (T == 0).any():
        raise ValueError("temperature T must be > 0 here")
    return T


def same_shape(a, b, names=("z", "v")):
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")
