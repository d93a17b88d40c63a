"""Input checks for the numpy core: each bad input becomes a ValueError that says what was wrong."""

import numpy as np

MAX_SEED = 2**31 - 1  # every seed must suit torch, numpy and the seeds that follow it


def is_integer(value):
    """True for Python and numpy integers; False for bools, which are not counts."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def is_number(value):
    """True for real Python and numpy numbers other than bools."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def count(value, name, low=1, high=None):
    """``value`` as an int: a TypeError unless it is an integer, a ValueError unless it lies in low..high."""
    limits = f">= {low}" if high is None else f"in {low}..{high}"
    if not is_integer(value):
        raise TypeError(f"{name} must be an integer {limits}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be an integer {limits}, got {value!r}")
    return int(value)


def class_axis(shape, axis, name="z"):
    """``axis`` as a negative index into ``shape`` (so it still names the classes after broadcasting)."""
    if not is_integer(axis):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} is out of range for {name} of shape {shape}")
    return int(axis) - len(shape) if axis >= 0 else int(axis)


def real_array(value, name, expected="real numbers"):
    """``value`` (numbers, lists, numpy arrays, or torch tensors of any dtype, on any device, with or without
    grad) as a float64 numpy array; strings, bools, None and other non-numbers are a TypeError naming ``name``."""
    if hasattr(value, "detach"):  # a torch tensor: leave autograd, the device and dtypes numpy lacks
        value = value.detach().cpu()
        value = value.double() if value.is_floating_point() else value
        value = value.numpy()
    try:
        array = np.asarray(value)
    except ValueError:  # a ragged list
        array = np.asarray(None)
    if array.dtype.kind not in "iuf":
        what = f"the string {value!r}" if isinstance(value, (str, bytes)) else f"{value!r}"[:80]
        raise TypeError(f"{name} must be {expected}, got {what}")
    return array.astype(np.float64)


def as_logits(z, name="z", axis=-1, allow_neg_inf=True):
    """Return ``z`` as float64, rejecting NaN, +inf and an empty class axis."""
    z = real_array(z, name)
    if z.ndim == 0:
        raise ValueError(f"{name} must have at least one axis of classes, got a scalar")
    axis = class_axis(z.shape, axis, name)
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
    T = real_array(T, "temperature T")
    if np.isnan(T).any():
        raise ValueError("temperature T is NaN")
    if (T < 0).any():
        raise ValueError(f"temperature T must be >= 0, got {T.min():g}")
    if not allow_zero and (T == 0).any():
        raise ValueError("temperature T must be > 0 here")
    return T


def broadcast_temperature(z, T, axis=-1, allow_zero=True):
    """Checked logits and temperatures broadcast together, and the class axis as a negative index.

    T must have size 1 along the class axis: one temperature per row of logits (a curve q(T) is
    ``z[None, :]`` with ``T[:, None]``), never one per class.
    """
    z, T = as_logits(z, axis=axis), as_temperature(T, allow_zero)
    axis = class_axis(z.shape, axis)
    try:
        shape = np.broadcast_shapes(z.shape, T.shape)
    except ValueError:
        raise ValueError(
            f"temperatures of shape {T.shape} do not broadcast against logits of shape {z.shape}"
        ) from None
    if T.ndim >= -axis and T.shape[axis] != 1:
        raise ValueError(
            f"temperatures of shape {T.shape} would give each class (axis {axis} of logits of shape {z.shape}) "
            "its own temperature; T needs size 1 on the class axis, e.g. softmax(z[None, :], T[:, None]) "
            "for one row per temperature"
        )
    return np.broadcast_to(z, shape), np.broadcast_to(T, shape), axis


def representable(result, what, why):
    """``result`` unchanged if it is all finite; otherwise a ValueError saying it overflows float64."""
    if not np.isfinite(result).all():
        raise ValueError(f"{what} is larger than float64 can hold (about 1.8e308): {why}")
    return result


def same_shape(a, b, names=("z", "v")):
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")


def class_index(i, n, name="class"):
    """``i`` as an int if it names one of ``n`` classes (0..n-1); else a TypeError or ValueError."""
    if not is_integer(i):
        raise TypeError(f"{name} must be an integer class index 0..{n - 1}, got {i!r}")
    if not 0 <= i < n:
        raise ValueError(f"{name} {i} is out of range for {n} classes (0..{n - 1})")
    return int(i)


def plot_temperature(value, name="T_max"):
    """A temperature that bounds a plotted range: a finite number > 0 (T axes may be logarithmic)."""
    if not is_number(value):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite temperature > 0, got {value!r}")
    return float(value)


def temperature_range(T_min, T_max):
    """A plotted range of temperatures: 0 < T_min < T_max, both finite."""
    T_min, T_max = plot_temperature(T_min, "T_min"), plot_temperature(T_max, "T_max")
    if not T_min < T_max:
        raise ValueError(f"T_min must be below T_max, got T_min = {T_min:g} and T_max = {T_max:g}")
    return T_min, T_max


def tick_labels(labels, n):
    """One label per class: the given ones (checked to number n) or '0'..'n-1'."""
    if labels is None:
        return [str(i) for i in range(n)]
    labels = list(labels)
    if len(labels) != n:
        raise ValueError(f"give one label per class: {len(labels)} labels for {n} classes")
    return labels


def slider_start(value, low, high, name, integer=False):
    """A slider's starting value: a number (an integer where ``integer``) within low..high, never clamped silently."""
    if not (is_integer(value) if integer else is_number(value)):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} = {value!r} is outside the slider's range {low:g}..{high:g}")
    return value


def number_list(values, name, what="a number or a non-empty list of numbers"):
    """One number or a non-empty 1-D list of them (a tensor or array too), as a list of floats."""
    array = np.atleast_1d(real_array(values, name, what))
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be {what}, got shape {array.shape}")
    return array.tolist()


def temperature_list(values, name="temperatures"):
    """One temperature or a non-empty list of them, each a finite number > 0, as a tuple of floats."""
    return tuple(
        plot_temperature(T, name) for T in number_list(values, name, "a temperature or a non-empty list of them")
    )
