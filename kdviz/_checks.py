"""Every input check of kdviz, numpy and torch, by one rule: a TypeError when a value is of the wrong kind
(bools are not numbers), a ValueError when it is of the right kind but a wrong value. Each message names
the argument and says what it must be. Public functions call these in one to three lines at their top.

torch is imported inside the functions that check tensors, so the numpy core and the command line load
without it.
"""

import math

import numpy as np

MAX_SEED = 2**31 - 1  # every seed must suit torch, numpy and the seeds that follow it
MAX_HIDDEN = 4096  # hidden units per layer: a 784-4096x2-10 student already holds 20 M weights
MAX_STACKED_WEIGHTS = 2**28  # weights of all students trained in one stacked pass (1 GiB of float32)
# Above these temperatures kd_loss's T^2 KL is lost in rounding: the KL is O(1/T^2) while log-softmax
# carries an absolute error of about eps * log(n); T^2 times that error must stay well below the loss.
MAX_TEMPERATURE = {"float32": 1e3, "float64": 1e7}
# Below these, T^2 underflows to 0 and the soft term is lost: the square root of the smallest normal number
MIN_TEMPERATURE = {name: float(np.finfo(name).tiny) ** 0.5 for name in ("float32", "float64")}
MAX_SHIFT = 13  # jitter in whole pixels: half the 28-pixel side, so a shifted digit keeps part of its image
PROBABILITY_SUM_TOLERANCE = 1e-6  # float32 probabilities over thousands of classes still pass


# ---- numbers and counts ------------------------------------------------------------------------


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


def _interval(low, high, low_open, high_open):
    if low == -math.inf and high == math.inf:
        return ""
    if high == math.inf:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def number(value, name, low=-math.inf, high=math.inf, low_open=False, high_open=False, must=None):
    """``value`` as a float: a TypeError unless it is a real number, a ValueError unless it is finite and
    lies between ``low`` and ``high`` (an ``*_open`` end is left out). ``must`` rewords "a finite number ..."."""
    must = must or f"a finite number {_interval(low, high, low_open, high_open)}".rstrip()
    if not is_number(value):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    try:
        as_float = float(value)
    except OverflowError:  # an int beyond float64
        as_float = math.copysign(math.inf, value)
    inside = (low < as_float if low_open else low <= as_float) and (as_float < high if high_open else as_float <= high)
    if not (math.isfinite(as_float) and inside):
        raise ValueError(f"{name} must be {must}, got {value!r}")
    return as_float


def weight(alpha, name="alpha"):
    """One weight of the soft term, a number in [0, 1], as a float."""
    if not is_number(alpha):
        raise TypeError(f"{name} must be a number in [0, 1], got {alpha!r}")
    return float(weights_in_unit_interval(alpha, name))


def weights_in_unit_interval(alpha, name="alpha"):
    """Checked numbers (an array) that weight the soft term: each must lie in [0, 1]."""
    alpha = np.asarray(alpha)
    if np.isnan(alpha).any() or (alpha < 0).any() or (alpha > 1).any():
        raise ValueError(f"{name} weights the soft term and must lie in [0, 1], got {alpha.tolist()}")
    return alpha


def seeds_in_range(first, n_seeds, name="seed"):
    """The seeds first, first + 1, ..., first + n_seeds - 1, each a valid seed."""
    first, n_seeds = count(first, name, 0, MAX_SEED), count(n_seeds, "the number of seeds", 1)
    if first + n_seeds - 1 > MAX_SEED:
        raise ValueError(f"{name} {first} with {n_seeds} seeds runs past {MAX_SEED}")
    return list(range(first, first + n_seeds))


def stacked_size(n_students, hidden, weights_per_student):
    """Refuse a stack of students too large to train at once (more than MAX_STACKED_WEIGHTS in all)."""
    total = n_students * weights_per_student
    if total > MAX_STACKED_WEIGHTS:
        raise ValueError(
            f"{n_students} stacked students of {hidden} hidden units hold {total / 1e6:.0f} M weights, more than "
            f"the {MAX_STACKED_WEIGHTS / 1e6:.0f} M trained at once here (with gradients and momentum, several GB): "
            "use fewer seeds or settings, or fewer hidden units"
        )
    return n_students


def shift(value, name, low=0):
    """A shift in whole pixels, low..MAX_SHIFT (jitter of the teacher's images, consistent teaching)."""
    return count(value, f"{name} (a shift in whole pixels)", low, MAX_SHIFT)


def duration(seconds):
    """A duration: a finite number of seconds >= 0."""
    if not is_number(seconds):
        raise TypeError(f"a duration must be a number of seconds, got {seconds!r}")
    return number(seconds, "a duration", 0, must="a finite number of seconds >= 0")


def instance_of(value, kind, name, example=None):
    """``value`` if it is a ``kind`` (a configuration, a preset); else a TypeError, with an example call."""
    if not isinstance(value, kind):
        shown = f"{value!r}"[:60] if isinstance(value, str) else type(value).__name__
        hint = f": e.g. {example}" if example else ""
        raise TypeError(f"{name} must be a {kind.__name__}, got {shown}{hint}")
    return value


def distinct_names(names, what="names"):
    """``names`` as a list with no repeats (each names one group of results)."""
    names = list(names)
    repeated = sorted({str(n) for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} must all differ: {', '.join(repeated)} appears more than once")
    return names


# ---- arrays of numbers (numpy core) -----------------------------------------------------------


def real_array(value, name, expected="real numbers"):
    """``value`` (numbers, lists, numpy arrays, or torch tensors of any dtype, on any device, with or without
    grad) as a float64 numpy array; strings, bools, complex numbers, None and other non-numbers are a TypeError
    naming ``name``, and a masked array with masked entries a ValueError (its mask would be ignored)."""
    if np.ma.isMaskedArray(value):
        if np.ma.getmaskarray(value).any():
            raise ValueError(
                f"{name} is a masked array with masked entries, which would be read as plain numbers: fill them "
                "first (for logits, z.filled(-np.inf) gives those classes probability 0)"
            )
        value = np.ma.getdata(value)
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


def class_axis(shape, axis, name="z"):
    """``axis`` as a negative index into ``shape`` (so it still names the classes after broadcasting)."""
    if not is_integer(axis):
        raise TypeError(f"axis must be an integer, got {axis!r}")
    if not -len(shape) <= axis < len(shape):
        raise ValueError(f"axis {axis} is out of range for {name} of shape {shape}")
    return int(axis) - len(shape) if axis >= 0 else int(axis)


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


def logit_vector(z, name="z", allow_neg_inf=True):
    """One vector of logits (a 1-D array), checked as ``as_logits`` checks them."""
    z = as_logits(z, name, allow_neg_inf=allow_neg_inf)
    if z.ndim != 1:
        raise ValueError(f"{name} must be one vector of logits (one per class), got shape {z.shape}")
    return z


def logit_batch(z, name="logits", min_classes=1, allow_neg_inf=True):
    """A batch of logits (examples, classes) with at least one example and ``min_classes`` classes."""
    z = as_logits(z, name, allow_neg_inf=allow_neg_inf)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < min_classes:
        raise ValueError(
            f"{name} must be a batch (examples, classes) with >= 1 example and >= {min_classes} classes, got shape "
            f"{z.shape}"
        )
    return z


def square_matrix(matrix, name, min_size=1):
    """A square matrix of real numbers (classes x classes), at least min_size x min_size, as float64."""
    matrix = real_array(matrix, name)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or len(matrix) < min_size:
        raise ValueError(f"{name} must be a square matrix of at least {min_size} classes, got shape {matrix.shape}")
    return matrix


def finite_values(values, name="the per-seed results"):
    """A number or a sequence of numbers, at least one, all finite, as a flat float array."""
    array = np.ravel(real_array(values, name))
    if array.size == 0:
        raise ValueError(f"{name} must hold at least one result")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {array.tolist()}: did a run diverge?")
    return array


def non_empty(items, what, mapping=False):
    """``items`` (a sequence, or a dict where ``mapping``) if it holds at least one entry; else a ValueError saying
    what to give (a TypeError for something that is not a dict where one is needed)."""
    if mapping and not isinstance(items, dict):
        raise TypeError(f"give a dict {{name: values}} with at least one {what}, got {type(items).__name__}")
    if len(items) == 0:
        raise ValueError(f"give at least one {what}")
    return items


def same_settings(results_by_measure):
    """Dicts {setting: results}, one per measure, that name the same settings, at least one."""
    for measure, results in results_by_measure.items():
        non_empty(results, f"setting's {measure}", mapping=True)
    names = [set(results) for results in results_by_measure.values()]
    if not names[0] or any(n != names[0] for n in names):
        raise ValueError(f"{', '.join(results_by_measure)} must name the same settings, at least one")
    return results_by_measure


def one_of(value, choices, name):
    """``value`` if it is one of ``choices`` (names); else a ValueError listing them (a TypeError for a non-string)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a name, one of {sorted(choices)}, got {value!r}")
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {sorted(choices)}")
    return value


def logit_list(logits, name="logits"):
    """At least two finite logits in one flat list (a widget's input), as a float array."""
    z = real_array(logits, name)
    if z.ndim != 1 or len(z) < 2:
        raise ValueError(f"{name} must be a list of at least two numbers, got {z.tolist()}")
    if not np.isfinite(z).all():
        raise ValueError(f"{name} must be finite numbers, got {z.tolist()}")
    return z


def label_array(labels, n_classes, n=None, name="labels"):
    """Integer class labels as a flat int64 numpy array, each in 0..n_classes-1, and ``n`` of them where given
    (one per example). numpy arrays, lists and tensors of integers are read; bools, floats and strings are a
    TypeError."""
    if hasattr(labels, "detach"):
        labels = labels.detach().cpu().numpy()
    try:
        array = np.asarray(labels)
    except ValueError:  # a ragged list
        array = np.asarray(None)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class indices, got {array.dtype} values")
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat list of class indices, one per example, got shape {array.shape}")
    if n is not None and len(array) != n:
        raise ValueError(f"give one label per example: {len(array)} {name} for {n} examples")
    if array.size and (array.min() < 0 or array.max() >= n_classes):
        raise ValueError(f"{name} must lie in 0..{n_classes - 1} (one per class), got {array.min()}..{array.max()}")
    return array.astype(np.int64)


def target_classes(target, shape, name="target"):
    """One class index per row of logits of ``shape`` (batch..., classes), broadcast to the batch shape."""
    if hasattr(target, "detach"):
        target = target.detach().cpu().numpy()
    target = np.asarray(target)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer class indices, got {target.dtype} values")
    try:
        target = np.broadcast_to(target, shape[:-1])
    except ValueError:
        raise ValueError(
            f"{name} of shape {target.shape} must give one class per row of logits of shape {shape}"
        ) from None
    n = shape[-1]
    if target.size and (target.min() < 0 or target.max() >= n):
        raise ValueError(f"{name} must lie in 0..{n - 1} (a class of each row), got {target.min()}..{target.max()}")
    return target


def probabilities(q, axis=-1, tolerance=PROBABILITY_SUM_TOLERANCE, name="q", rows=False):
    """``q`` as float64 probability vectors along ``axis``: entries in [0, 1] summing to 1 (within tolerance)."""
    """``q`` as float64 probability vectors along ``axis``: entries in [0, 1] summing to 1 (within tolerance).
    ``rows``: a batch (examples, classes) with at least one example."""
    q = real_array(q, name, "probabilities (real numbers)")
    if rows and (q.ndim != 2 or q.shape[0] == 0):
        raise ValueError(f"{name} must be (examples, classes) with at least one example, got shape {q.shape}")
    if q.ndim == 0:
        raise ValueError(f"{name} must be a probability vector, got a scalar")
    if q.shape[class_axis(q.shape, axis, name)] == 0:
        raise ValueError(f"{name} must be a probability vector, got an empty one (shape {q.shape})")
    if np.isnan(q).any():
        raise ValueError(f"{name} must be probabilities in [0, 1], got NaN")
    if (q < 0).any():
        raise ValueError(f"{name} must be probabilities in [0, 1], got a negative entry {q.min():g}")
    total = q.sum(axis=axis)
    if (q > 1).any() or not np.allclose(total, 1.0, rtol=0, atol=tolerance):
        worst = total.flat[np.argmax(np.abs(total - 1.0))]
        raise ValueError(
            f"{name} must be probabilities in [0, 1] that sum to 1 along axis {axis}; got entries up to "
            f"{q.max():g} and a sum of {worst:g}. Pass softmax(z, T), not the logits z."
        )
    return q


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


def broadcast_logits(v, z, names=("teacher_logits", "student_logits")):
    """Two arrays of logits broadcast together, with the same number of classes (the last axis)."""
    if v.shape[-1] != z.shape[-1]:
        raise ValueError(f"{names[0]} and {names[1]} must have as many classes, got shapes {v.shape} and {z.shape}")
    try:
        shape = np.broadcast_shapes(v.shape, z.shape)
    except ValueError:
        raise ValueError(f"{names[0]} of shape {v.shape} and {names[1]} of shape {z.shape} do not broadcast") from None
    return np.broadcast_to(v, shape), np.broadcast_to(z, shape)


def student_covers_teacher(v, z):
    """Refuse a student logit of -inf where the teacher's is finite: KL(p || q) would be infinite."""
    if (np.isneginf(z) & np.isfinite(v)).any():
        raise ValueError(
            "a student logit is -inf where the teacher's is finite: the student rules out a class the teacher "
            "gives probability, so the KL is infinite"
        )


def representable(result, what, why):
    """``result`` unchanged if it is all finite; otherwise a ValueError saying it overflows float64 and why
    (``why`` may be a function of the mask of entries that are not finite)."""
    bad = ~np.isfinite(result)
    if bad.any():
        raise ValueError(
            f"{what} is larger than float64 can hold (about 1.8e308){' at ' if callable(why) else ': '}"
            f"{why(bad) if callable(why) else why}"
        )
    return result


def same_shape(a, b, names=("z", "v")):
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {a.shape} and {b.shape}")


def class_index(i, n, name="class", negative=False):
    """``i`` as an int if it names one of ``n`` classes (0..n-1, or -n..-1 too where ``negative``)."""
    low = -n if negative else 0
    if not is_integer(i):
        raise TypeError(f"{name} must be an integer class index {low}..{n - 1}, got {i!r}")
    if not low <= i < n:
        raise ValueError(f"{name} {i} is out of range for {n} classes ({low}..{n - 1})")
    return int(i)


def plot_temperature(value, name="T_max"):
    """A temperature that bounds a plotted range: a finite number > 0 (T axes may be logarithmic)."""
    return number(value, name, 0, low_open=True, must="a finite temperature > 0")


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


def hidden_sizes(sizes, hidden):
    """Student sizes to offer (whole numbers of hidden units, 1..MAX_HIDDEN, at least one) and the one chosen first."""
    if not all(is_integer(h) for h in sizes):
        raise TypeError(f"sizes must be whole numbers of hidden units, got {sizes}")
    if not sizes or not all(1 <= h <= MAX_HIDDEN for h in sizes):
        raise ValueError(f"sizes must be whole numbers of hidden units in 1..{MAX_HIDDEN}, got {sizes}")
    if hidden not in sizes:
        raise ValueError(f"hidden={hidden} is not one of the sizes offered, {sizes}")
    return sizes


def slider_start(value, low, high, name, integer=False):
    """A slider's starting value: a number (an integer where ``integer``) within low..high, never clamped silently."""
    if not (is_integer(value) if integer else is_number(value)):
        raise TypeError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} = {value!r} is outside the slider's range {low:g}..{high:g}")
    return value


def sampling_cut(top_k, top_p):
    """(top_k, top_p) of a sampler, each None (no cut) or checked: top_k an integer >= 1, top_p a number in (0, 1]."""
    if top_k is not None:
        top_k = count(top_k, "top_k (how many of the most probable classes to keep, or None)", 1)
    if top_p is not None:
        top_p = number(
            top_p,
            "top_p (the probability the kept classes must reach, or None)",
            0,
            1,
            low_open=True,
            must="a number in (0, 1] (for greedy decoding use T = 0)",
        )
    return top_k, top_p


def next_symbol_table(table, shape, name="table"):
    """A model of kdviz.language: one row of next-symbol probabilities per context, of ``shape`` (contexts,
    symbols), each row a distribution; as float64."""
    table = probabilities(table, name=name)
    if table.shape != tuple(shape):
        raise ValueError(
            f"{name} must hold one row of {shape[1]} next-symbol probabilities per context, shape {tuple(shape)}, "
            f"got {table.shape}"
        )
    return table


def recipes(recipes, methods, keys):
    """Recipes of students, {name: {keyword: value}}: at least one, each naming one of ``methods`` as its
    "method" and using no keyword but ``keys``."""
    non_empty(recipes, "recipe", mapping=True)
    for name, recipe in recipes.items():
        instance_of(recipe, dict, f"recipe {name!r}", '{"method": "reverse"}')
        one_of(recipe.get("method"), methods, f"method of recipe {name!r}")
        unknown = sorted(set(recipe) - set(keys))
        if unknown:
            raise ValueError(f"recipe {name!r} may give only {', '.join(keys)}; got {', '.join(unknown)}")
    return recipes


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


# ---- the distillation loss (torch) ------------------------------------------------------------


def logit_tensor(value, name, stacked=True):
    """Floating-point logits (batch, classes), or (students, batch, classes) where ``stacked``, as a torch tensor."""
    import torch

    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch tensor, got {type(value).__name__} (use torch.as_tensor)")
    if not value.is_floating_point():
        raise TypeError(f"{name} must hold floating-point logits, got {value.dtype}")
    if value.dim() not in ((2, 3) if stacked else (2,)):
        shapes = "(batch, classes) or (students, batch, classes)" if stacked else "(batch, classes)"
        raise ValueError(
            f"{name} must be {shapes}, got shape {tuple(value.shape)}; for a single example use logits[None, :]"
        )
    if value.shape[-2] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(value.shape)})")
    if value.shape[-1] < 2:
        raise ValueError(f"{name} must have at least two classes (last axis), got shape {tuple(value.shape)}")
    return value


_WHY_NOT_FINITE = {
    "teacher": "check the teacher (a diverged teacher gives nan)",
    "student": "the student has diverged (lower its learning rate, or clip its gradient)",
}
_ALL_NEG_INF = {"teacher": "its soft targets are undefined", "student": "its probabilities are undefined"}


def finite_rows(logits, who):
    """Refuse nan and +inf logits of the ``who`` ('teacher' or 'student'), and rows that are all -inf
    (-inf alone is a class of probability 0)."""
    import torch

    if torch.isnan(logits).any() or torch.isposinf(logits).any():
        raise ValueError(f"{who} logits contain nan or +inf: {_WHY_NOT_FINITE[who]}")
    if torch.isneginf(logits).all(-1).any():
        raise ValueError(f"a row of {who} logits is all -inf: {_ALL_NEG_INF[who]}")
    return logits


def per_student(value, name, n_students=None):
    """A number, or one number per stacked student, as a float64 array (0-d or (K,))."""
    array = real_array(value, name, "a number (or one number per student)")
    if array.ndim == 1 and array.size == 1 and n_students is None:
        array = array[0]
    if array.ndim > 1 or (array.ndim == 1 and array.size != n_students):
        students = "a single student" if n_students is None else f"{n_students} stacked students"
        raise ValueError(f"{name} must be one number, or one per student, for {students}; got shape {array.shape}")
    return np.asarray(array)


def loss_temperature(T, dtype):
    """Refuse T (an array) that is not finite and > 0, so small that T^2 underflows, or so large that T^2 KL
    drowns in rounding in ``dtype``."""
    name = str(dtype).removeprefix("torch.")
    limit = MAX_TEMPERATURE[name]
    if np.isnan(T).any() or (T <= 0).any() or np.isinf(T).any():
        raise ValueError(f"temperature T must be a finite number > 0, got {T.tolist()}")
    if (T < MIN_TEMPERATURE[name]).any():
        raise ValueError(
            f"temperature T = {T.min():g} is too small for {name}: below T = {MIN_TEMPERATURE[name]:.2g} "
            "T^2 underflows to 0 and logits / T overflow, so the soft term would be lost or nan. Use a larger T "
            "(at T = 0.01 the soft targets are already one-hot, to within e^-20 per class, where the teacher's top "
            "logit leads the others by 0.2 or more; tied top logits share it equally)."
        )
    if (T > limit).any():
        raise ValueError(
            f"temperature T = {T.max():g} is too large for kd_loss in {name}: "
            f"above T = {limit:g} the soft term T^2 KL is lost in rounding. Use a smaller T (float64 logits allow "
            f"up to {MAX_TEMPERATURE['float64']:g}); at such temperatures distillation is logit matching "
            "(notebook 03)."
        )
    return T


def T_and_alpha(T, alpha, n_students=None, dtype=None, device="cpu"):
    """T and alpha as float64 tensors (0-d, or (K,) for K students), checked by the rules of kd_loss
    (``dtype``: that of the logits, float32 by default). kd_loss, train_students and the presets check here."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    T = loss_temperature(per_student(T, "T", n_students), dtype)
    alpha = weights_in_unit_interval(per_student(alpha, "alpha", n_students))
    return torch.as_tensor(T, device=device), torch.as_tensor(alpha, device=device)


def scaled_logits(logits, T, dtype, name="teacher logits", read_at_T1=False):
    """Refuse logits whose size, or spread within a row (max - min, which log_softmax subtracts), divided by
    the smallest T overflows ``dtype``: the soft targets or the loss would be inf or nan. ``read_at_T1``:
    the hard term also reads these logits at T = 1, so no temperature can help."""
    import torch

    logits = logits.detach().double()
    finite = torch.isfinite(logits)
    if not finite.any():
        return
    largest = logits[finite].abs().max().item()
    rows = finite.any(-1)
    high = torch.where(finite, logits, -torch.inf).amax(-1)[rows]
    low = torch.where(finite, logits, torch.inf).amin(-1)[rows]
    widest = (high - low).max().item()
    size, smallest_T = max(largest, widest), float(np.min(np.asarray(T.cpu() if torch.is_tensor(T) else T)))
    limit, kind = torch.finfo(dtype).max, str(dtype).removeprefix("torch.")
    if size / smallest_T > limit:
        what = f"up to {largest:g}" if largest >= widest else f"spread over {widest:g} in one row"
        raise ValueError(
            f"{name} {what} divided by T = {smallest_T:g} exceed the largest {kind} "
            f"number ({limit:.3g}), so the soft targets and the loss would be inf or nan. "
            + (
                "The hard term reads them at T = 1: use float64 logits"
                if read_at_T1 and size > limit
                else f"Use T >= {size / limit * 10:.2g}"
            )
            + ", or logits of a sensible size."
        )


def _classes_in_range(low, high, n_classes, name):
    if low < 0 or high >= n_classes:
        raise ValueError(f"{name} must lie in 0..{n_classes - 1} (one per class), got {low}..{high}")


def class_labels(labels, n_classes, shapes, device, name="labels"):
    """Integer class labels as int64 on ``device``, of one of ``shapes``, each in 0..n_classes-1."""
    import torch

    if not torch.is_tensor(labels):
        try:
            array = np.asarray(labels)
        except ValueError:  # a ragged list
            raise TypeError(f"{name} must be a flat list of integer class indices, one per example") from None
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer class indices, got {array.dtype} values")
        _classes_in_range(array.min() if array.size else 0, array.max() if array.size else 0, n_classes, name)
        labels = torch.as_tensor(array.astype(np.int64))
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"{name} must be integer class indices, got {labels.dtype}")
    labels = labels.to(dtype=torch.int64)
    if tuple(labels.shape) not in [tuple(shape) for shape in shapes]:
        wanted = " or ".join(str(tuple(shape)) for shape in shapes)
        raise ValueError(f"{name} {tuple(labels.shape)} must hold one class per row of the batch: shape {wanted}")
    if labels.numel():
        _classes_in_range(labels.min().item(), labels.max().item(), n_classes, name)
    return labels.to(device=device)


def kd_loss_inputs(student_logits, teacher_logits, labels, T, alpha):
    """Everything kd_loss needs, checked: (z, v, labels, T, alpha) with labels as int64 (or None) and T, alpha
    as float64 tensors on the logits' device."""
    import torch

    z = logit_tensor(student_logits, "student_logits")
    v = logit_tensor(teacher_logits, "teacher_logits")
    if v.shape[-1] != z.shape[-1] or v.shape[-2] != z.shape[-2] or (v.dim() == 3 and v.shape != z.shape):
        raise ValueError(
            f"student logits {tuple(z.shape)} and teacher logits {tuple(v.shape)} must end in the same "
            "(batch, classes) shape"
        )
    finite_rows(v, "teacher")
    finite_rows(z, "student")
    dtype = torch.float64 if z.dtype == torch.float64 else torch.float32  # the loss's precision (kdviz.mnist.losses)
    T, alpha = T_and_alpha(T, alpha, z.shape[0] if z.dim() == 3 else None, dtype, z.device)
    scaled_logits(v, T, dtype)
    # the hard term reads the student's logits at T = 1
    student_T = T if labels is None else T.clamp(max=1.0)
    scaled_logits(z, student_T, dtype, "student logits", read_at_T1=labels is not None)
    if labels is None:
        if (alpha != 1).any():
            raise ValueError(
                f"labels=None (an unlabeled transfer set) leaves only the soft term, so alpha must be 1; got "
                f"{alpha.tolist()}. Pass the labels to blend in the hard term."
            )
    else:
        labels = class_labels(labels, z.shape[-1], {z.shape[:-1], z.shape[-2:-1]}, z.device)
    return z, v, labels, T, alpha


def finite_loss(loss, student_logits):
    """``loss`` if every entry is finite; else a ValueError saying why it is not."""
    import torch

    if torch.isinf(loss).any():
        if torch.isneginf(student_logits).any():
            raise ValueError(
                "the loss is infinite: a student logit is -inf (probability 0) where the teacher's soft targets or "
                "the label give probability; a student should never rule a class out completely"
            )
        raise ValueError(
            f"the loss exceeds the largest {str(loss.dtype).removeprefix('torch.')} number: student logits as large "
            f"as {student_logits.detach().abs().max().item():g} are far beyond what a network produces; pass "
            "float64 logits to compute it, or check the student"
        )
    return loss


# ---- training (torch) -------------------------------------------------------------------------


def _config_counts(config, kind, names, high=None):
    for name in names:
        count(getattr(config, name), f"{kind}.{name}", 1, high)


def _config_common(config, kind):
    count(config.hidden, f"{kind}.hidden", 1, MAX_HIDDEN)
    _config_counts(config, kind, ("epochs", "batch_size"))
    number(config.lr, f"{kind}.lr", 0, low_open=True)
    number(config.momentum, f"{kind}.momentum", 0, 1, high_open=True)
    count(config.seed, f"{kind}.seed", 0, MAX_SEED)


def teacher_config(config):
    """The fields of a TeacherConfig, checked when it is made."""
    _config_common(config, "TeacherConfig")
    for name in ("dropout_input", "dropout_hidden"):
        number(getattr(config, name), f"TeacherConfig.{name}", 0, 1, high_open=True)
    number(config.weight_decay, "TeacherConfig.weight_decay", 0)
    shift(config.jitter, "TeacherConfig.jitter")
    count(config.n_train, "TeacherConfig.n_train", 1, 60000)


def student_config(config):
    """The fields of a StudentConfig, checked when it is made."""
    _config_common(config, "StudentConfig")
    if config.max_grad_norm is not None:
        number(
            config.max_grad_norm,
            "StudentConfig.max_grad_norm (or None for no clipping)",
            0,
            low_open=True,
            must="a finite number > 0, or None for no clipping",
        )


def preset(preset, teacher_kind, student_kind):
    """The fields of a Preset, checked when it is made: (n_transfer, T, alpha) as it stores them (n_transfer
    None becomes the teacher's n_train)."""
    instance_of(preset.teacher, teacher_kind, "a Preset's teacher")
    instance_of(preset.student, student_kind, "a Preset's student")
    n_transfer = preset.teacher.n_train if preset.n_transfer is None else preset.n_transfer
    count(n_transfer, "Preset.n_transfer", 1, 60000)
    shift(preset.transfer_jitter, "Preset.transfer_jitter")
    T, alpha = T_and_alpha(preset.T, preset.alpha)
    return int(n_transfer), float(T), float(alpha)


def mnist_data(data):
    """MNIST as kdviz.mnist.load_mnist() returns it: an object with train and test images and labels."""
    if not all(hasattr(data, part) for part in ("train_images", "train_labels", "test_images", "test_labels")):
        raise TypeError(f"data must be the MNIST of kdviz.mnist.load_mnist(), got {type(data).__name__}")
    return data


def row_indices(indices, n_rows, name="indices"):
    """Distinct row numbers 0..n_rows-1, at least one, as an int64 numpy array in the order given."""
    if hasattr(indices, "detach"):
        indices = indices.detach().cpu().numpy()
    array = np.asarray(indices)
    if array.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer row numbers, got {array.dtype} values")
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D list of row numbers, got shape {array.shape}")
    if array.min() < 0 or array.max() >= n_rows:
        raise ValueError(
            f"{name} must lie in 0..{n_rows - 1} (rows of the transfer set), got {array.min()}..{array.max()}"
        )
    return array.astype(np.int64)


def fraction(value, name="fraction"):
    """A share of the data to keep, in (0, 1]."""
    return number(value, name, 0, 1, low_open=True, must="in (0, 1] (the share of the data to keep)")


def images(images):
    """Images (N, 28, 28) or (N, 784) as a C-ordered numpy array of uint8 (0-255) or float (in [0, 1]) pixels.

    numpy arrays (flipped too), lists and tensors (with grad too) are read; bools, strings and other kinds are a
    TypeError."""
    if hasattr(images, "detach"):
        images = images.detach().cpu().numpy()
    try:
        array = np.ascontiguousarray(images)
    except ValueError:  # a ragged list
        raise TypeError("images must be an array (N, 28, 28) or (N, 784) of pixels, got a ragged list") from None
    if array.dtype.kind not in "uif":
        raise TypeError(f"images must be uint8 (0-255) or float in [0, 1], got {array.dtype}")
    if array.ndim not in (2, 3) or array.shape[1:] not in ((28, 28), (784,)):
        raise ValueError(f"images must be (N, 28, 28) or (N, 784), got shape {array.shape}")
    if array.dtype.kind in "ui" and array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise ValueError(f"integer images hold pixels 0-255, got values in [{array.min()}, {array.max()}]")
        array = array.astype(np.uint8)
    if array.dtype.kind == "f" and array.size and (np.isnan(array).any() or array.min() < 0 or array.max() > 1):
        raise ValueError(
            f"float images must lie in [0, 1] (pixel / 255), got values in [{np.nanmin(array):g}, "
            f"{np.nanmax(array):g}]{' and nan' if np.isnan(array).any() else ''}; pass uint8 images for 0-255"
        )
    return array


def digit_labels(labels):
    """Class labels 0-9 as a flat int64 numpy array (tensors, lists and arrays of integers)."""
    return label_array(labels, 10)


def logits_and_labels(logits, labels):
    """Logits (N, classes) or (models, N, classes) and labels (N,) that agree, as tensors on the logits' device."""
    import torch

    logits = torch.as_tensor(real_array(logits, "logits") if not torch.is_tensor(logits) else logits)
    if not torch.is_tensor(labels):
        kind = np.asarray(labels, dtype=object if labels is None else None).dtype
        if kind.kind not in "iu":
            raise TypeError(f"labels must be integer class indices, got {labels!r}"[:120])
    labels = torch.as_tensor(labels, device=logits.device)
    if not logits.is_floating_point() or labels.is_floating_point() or labels.dtype == torch.bool:
        raise TypeError(
            f"logits must be floating-point and labels integer classes, got {logits.dtype} and {labels.dtype}"
        )
    if logits.dim() not in (2, 3) or labels.shape != logits.shape[-2:-1]:
        raise ValueError(
            f"logits (N, classes) or (models, N, classes) and labels (N,) must agree, got shapes "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    return logits, labels


def input_tensor(x, name, device=None):
    """A finite float32 tensor (N, 784) from to_inputs, on ``device`` where given."""
    import torch

    if not torch.is_tensor(x) or not x.is_floating_point():
        kind = x.dtype if torch.is_tensor(x) else type(x).__name__
        raise TypeError(f"{name} must be a float tensor (N, 784) from kdviz.mnist.train.to_inputs, got {kind}")
    if x.dim() != 2 or x.shape[1] != 784:
        raise ValueError(
            f"{name} must be a float tensor (N, 784) from kdviz.mnist.train.to_inputs, got shape {tuple(x.shape)}"
        )
    if x.dtype != torch.float32:
        raise ValueError(f"{name} must be float32 like the students' weights, got {x.dtype}: use {name}.float()")
    if len(x) == 0:
        raise ValueError(f"{name} is empty: give at least one image")
    if device is not None and x.device != device:
        raise ValueError(f"{name} is on {x.device}, the transfer set on {device}: move it with .to({str(device)!r})")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains nan or inf: make the images with kdviz.mnist.train.to_inputs")
    return x


def torch_module(model, name):
    """A torch module (a teacher, a student)."""
    import torch

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{name} must be a torch module, got {type(model).__name__}")
    return model


def image_batch(images, name):
    """A non-empty floating-point tensor with one image per row (what a model takes)."""
    import torch

    if not torch.is_tensor(images) or not images.is_floating_point():
        kind = images.dtype if torch.is_tensor(images) else type(images).__name__
        raise TypeError(f"{name} must be a floating-point tensor with one image per row, got {kind}")
    if images.dim() < 2 or len(images) == 0:
        raise ValueError(f"{name} must hold at least one image, one per row, got shape {tuple(images.shape)}")
    return images


def label_tensor(y, n, device, name):
    """Labels of n examples as int64 on ``device``, checked as kd_loss checks them (``class_labels``)."""
    import torch

    if not torch.is_tensor(y):
        raise TypeError(
            f"{name} must be a label tensor of shape ({n},) from kdviz.mnist.train.to_labels, got {type(y).__name__}"
        )
    if y.device != device:
        raise ValueError(f"{name} is on {y.device}, the transfer set on {device}: move it with .to({str(device)!r})")
    return class_labels(y, 10, [(n,)], device, name)


def test_set(x_test, y_test, device, name="test"):
    """(x_test, y_test) checked together, or (None, None); ``name`` "val" checks (x_val, y_val)."""
    if (x_test is None) != (y_test is None):
        raise ValueError(f"give x_{name} and y_{name} together (or neither)")
    if x_test is None:
        return None, None
    input_tensor(x_test, f"x_{name}", device)
    return x_test, label_tensor(y_test, len(x_test), device, f"y_{name}")


def students(T, alpha, seeds, default_seed):
    """One (T, alpha, seed) per student, as three equal-length numpy arrays; checked like kd_loss checks them."""
    T = np.atleast_1d(real_array(T, "T", "a number (or one number per student)"))
    alpha = np.atleast_1d(real_array(alpha, "alpha", "a number (or one number per student)"))
    seeds = np.atleast_1d(np.asarray(default_seed if seeds is None else seeds))
    if min(T.size, alpha.size, seeds.size) == 0:
        raise ValueError("T, alpha and seeds must each hold at least one value")
    if seeds.dtype.kind not in "iu":
        raise TypeError(f"seeds must be integers, got {seeds.tolist()}")
    if seeds.min() < 0 or seeds.max() > MAX_SEED:
        raise ValueError(f"seeds must be integers in 0..{MAX_SEED}, got {seeds.tolist()}")
    try:
        T, alpha, seeds = np.broadcast_arrays(T, alpha, seeds)
    except ValueError:
        raise ValueError(
            f"T {T.shape}, alpha {alpha.shape} and seeds {seeds.shape} do not broadcast together"
        ) from None
    if T.ndim != 1:
        raise ValueError(f"T, alpha and seeds must be numbers or 1-D lists, got shape {T.shape}")
    T_and_alpha(T, alpha, n_students=len(T))
    return T, alpha, seeds.astype(int)


def transfer_set(x, y, teacher_logits, T, alpha, options):
    """Everything about train_students' data that would otherwise fail deep inside torch, or silently, mid-run.

    Returns y as int64 labels (None stays None) and the (images, labels) pairs of ``options.test`` and
    ``options.validation``, checked ((None, None) where not given)."""
    import torch

    input_tensor(x, "x")
    if y is None and (alpha != 1).any():
        raise ValueError(
            f"without labels (y=None) only the soft term can be trained, so every alpha must be 1; got {alpha.tolist()}"
        )
    if y is None and options.track_train_errors:
        raise ValueError("track_train_errors needs the labels y: without them there are no training errors to count")
    if y is not None:
        y = label_tensor(y, len(x), x.device, "y")
    if teacher_logits is None:
        if (alpha != 0).any():
            raise ValueError("teacher_logits are needed unless every alpha is 0 (labels only)")
    else:
        if not torch.is_tensor(teacher_logits) or not teacher_logits.is_floating_point():
            kind = teacher_logits.dtype if torch.is_tensor(teacher_logits) else type(teacher_logits).__name__
            raise TypeError(f"teacher logits must be a float tensor ({len(x)}, 10), got {kind}")
        if teacher_logits.shape != (len(x), 10):
            shape = tuple(teacher_logits.shape)
            raise ValueError(f"teacher logits must be a tensor ({len(x)}, 10) for {len(x)} examples, got {shape}")
        finite_rows(teacher_logits, "teacher")
        scaled_logits(teacher_logits, T, torch.float32)  # the students' loss is computed in float32
    return y, evaluation_set(options.test, x.device, "test"), evaluation_set(options.validation, x.device, "validation")


def evaluation_set(pair, device, name):
    """An (images, labels) pair whose errors are counted after every epoch, checked; (None, None) for None."""
    if pair is None:
        return None, None
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise TypeError(f"TrainingOptions.{name} must be a pair (images, labels), e.g. workspace.test_set")
    return test_set(*pair, device, name)


def consistent_teaching(teacher, transfer_jitter, x):
    """``transfer_jitter`` (whole pixels, 0..MAX_SHIFT) checked with the teacher it needs: a module on x's device that
    maps (N, 784) images to (N, 10) logits, given exactly when transfer_jitter > 0."""
    import torch

    transfer_jitter = shift(transfer_jitter, "transfer_jitter")
    if not transfer_jitter:
        if teacher is not None:
            raise ValueError("a teacher is used only with transfer_jitter > 0; otherwise give its teacher_logits")
        return 0
    if not isinstance(teacher, torch.nn.Module):
        raise TypeError(f"transfer_jitter needs the teacher model (teacher=...), got {type(teacher).__name__}")
    input_tensor(x, "x")
    parameter = next(teacher.parameters(), None)
    if parameter is not None and parameter.device != x.device:
        raise ValueError(f"the teacher is on {parameter.device}, the transfer set on {x.device}: move one of them")
    was_training = teacher.training
    with torch.no_grad():
        shape = tuple(teacher.eval()(x[:2]).shape)
    teacher.train(was_training)
    if shape != (len(x[:2]), 10):
        raise ValueError(f"the teacher must give 10 logits per image, got shape {shape} for {len(x[:2])}")
    return transfer_jitter


def function_matching(transfer_mixup, transfer_jitter, alpha):
    """``transfer_mixup``, the a of mixup's Beta(a, a) weights: 0 (off) or a finite number > 0, which needs the
    shifts of consistent teaching (transfer_jitter >= 1) and every alpha 1, since a mixed image has no one label."""
    mixup = number(transfer_mixup, "transfer_mixup (the a of mixup's Beta(a, a); 0: no mixup)", 0)
    if not mixup:
        return 0.0
    if not transfer_jitter:
        raise ValueError(
            "transfer_mixup mixes the shifted views of consistent teaching (function matching): give transfer_jitter "
            f"1..{MAX_SHIFT} and the teacher as well"
        )
    if (np.asarray(alpha) != 1).any():
        raise ValueError(
            "transfer_mixup mixes two images into one, which has no one label for the hard term: function matching "
            f"trains the soft term alone, so every alpha must be 1; got {np.asarray(alpha).tolist()}"
        )
    return mixup


def subset_of(values, choices, name):
    """A non-empty selection from ``choices`` without repeats (a list or tuple), returned in the order of
    ``choices``."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be a list of names from {', '.join(choices)}, got {values!r}")
    unknown = [value for value in values if value not in choices]
    if unknown or not values:
        shown = f"{', '.join(map(repr, unknown))} unknown" if unknown else "none given"
        raise ValueError(f"{name} must be one or more of {', '.join(choices)}: {shown}")
    distinct_names(values, name)
    return tuple(choice for choice in choices if choice in values)


def mixup_arm(transfer_mixup, trained, default, transfer_jitter, alpha):
    """The a of the function-matching arm's Beta(a, a) (``default`` for None), checked with the preset's alpha
    before any arm trains; None when that arm is not ``trained`` (then transfer_mixup must be None)."""
    if not trained:
        if transfer_mixup is not None:
            raise ValueError("transfer_mixup is for the function matching arm, which arms leaves out: add that arm")
        return None
    name = "transfer_mixup (the a of mixup's Beta(a, a))"
    mixup = number(default if transfer_mixup is None else transfer_mixup, name, 0, low_open=True)
    return function_matching(mixup, transfer_jitter, alpha)


def validation_split(n_validation, n_images, n_arms):
    """Validation images to hold out of ``n_images``: 1..n_images - 1, or 0 (train on every image) for one arm,
    a recipe chosen before, since with nothing held out there is nothing to choose on."""
    n_validation = count(n_validation, "n_validation (the rest is for training)", 0, n_images - 1)
    if not n_validation and n_arms != 1:
        raise ValueError(
            f"n_validation=0 trains on every image and leaves nothing to choose on, so it takes one arm (the recipe "
            f"chosen before on validation images), got {n_arms}"
        )
    return n_validation
