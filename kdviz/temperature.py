"""Temperature softmax q_i(T) = exp(z_i/T) / sum_j exp(z_j/T) and how it moves with T.

numpy and scipy only. Every function takes logits ``z`` with the classes on ``axis`` (last by
default) and a temperature ``T`` that broadcasts against ``z``, so
``softmax(z[None, :], T[:, None])`` is a whole curve q(T) in one call.
"""

import numpy as np
from scipy.optimize import brentq
from scipy.special import entr

from ._checks import (
    as_logits,
    as_temperature,
    broadcast_logits,
    broadcast_temperature,
    class_index,
    count,
    logit_vector,
    number,
    probabilities,
    representable,
    same_shape,
    sampling_cut,
    student_covers_teacher,
    target_classes,
)


def _scaled_logits(z, T, axis):
    """x_i = (z_i - max_j z_j) / T <= 0 with z and T broadcast, and the class axis (negative).

    Exact limits: T == 0 gives 0 for the maxima and -inf elsewhere, T == inf gives 0 for every
    finite logit; -inf marks a class of probability 0. Never NaN, even for logits near +-1e308.
    """
    z, T, axis = broadcast_temperature(z, T, axis)
    top = z.max(axis=axis, keepdims=True)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        d = z - top  # -inf for -inf logits, and where the gap itself overflows float64
        x = d / T
        far = np.isneginf(d) & np.isfinite(z) & (T >= 1)  # divide first: z/T - top/T is finite there
        x = np.where(far, z / T - top / T, x)
    x = np.where(T == 0, np.where(d == 0, 0.0, -np.inf), x)
    x = np.where(np.isinf(T), np.where(np.isfinite(z), 0.0, -np.inf), x)
    return z, x, T, axis


def _normalised(x, axis):
    """exp(x_i) / sum_j exp(x_j) for x <= 0 with max x = 0: no overflow, the sum is >= 1."""
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def softmax(z, T=1.0, axis=-1):
    """q_i = exp(z_i/T) / sum_j exp(z_j/T), computed as exp((z_i - max z)/T) / sum, so it never overflows.

    T broadcasts against z with size 1 on the class axis. Limits: T == 0 gives the argmax one-hot
    (tied maxima share equally); T == inf gives the uniform 1/n over the finite logits. A -inf
    logit gets probability 0.
    """
    _, x, _, axis = _scaled_logits(z, T, axis)
    return _normalised(x, axis)


def sampling_distribution(logits, T, top_k=None, top_p=None):
    """The distribution a language model draws its next token from, over the last axis, in three steps:

        q = softmax(logits / T)                           (T = 0: the argmax, tied maxima sharing it)
        top-k: keep q_i >= the k-th largest q             (ties at the boundary kept)
        top-p: keep q_i when sum_{j: q_j > q_i} q_j < p   (on top-k's result, renormalised)

    and the kept probabilities renormalised. Top-p keeps the smallest set of most probable classes whose
    probabilities reach p, so always at least the most probable class. The order and conventions are those of
    Hugging Face transformers' TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper, with one difference:
    where classes tie at top-p's boundary, transformers keeps those its sort happens to put last, kdviz keeps them
    all (as top-k does), so the result never depends on the order of the classes. None switches a cut off; top_k
    larger than the number of classes keeps them all. T broadcasts against the logits like softmax's.
    """
    as_logits(logits, "logits")
    as_temperature(T)
    top_k, top_p = sampling_cut(top_k, top_p)
    q = softmax(logits, T)
    if top_k is not None:
        kth_largest = np.sort(q, axis=-1)[..., -min(top_k, q.shape[-1]), None]
        q = _renormalised(np.where(q >= kth_largest, q, 0.0))
    if top_p is not None:
        q = _renormalised(np.where(_mass_above(q) < top_p, q, 0.0))
    return q


def _renormalised(q):
    return q / q.sum(axis=-1, keepdims=True)


def _mass_above(q):
    """sum_{j: q_j > q_i} q_j for every class i (the last axis): what the strictly more probable classes hold.

    Sorted from the most probable down, it is the running sum before each class, taken at the first of a tie."""
    order = np.argsort(-q, axis=-1, kind="stable")
    ranked = np.take_along_axis(q, order, axis=-1)
    before = np.concatenate([np.zeros_like(ranked[..., :1]), np.cumsum(ranked, axis=-1)[..., :-1]], axis=-1)
    positions = np.arange(q.shape[-1])
    starts_tie = np.concatenate([np.ones_like(ranked[..., :1], dtype=bool), ranked[..., 1:] != ranked[..., :-1]], -1)
    first_of_tie = np.maximum.accumulate(np.where(starts_tie, positions, 0), axis=-1)
    above = np.empty_like(q)
    np.put_along_axis(above, order, np.take_along_axis(before, first_of_tie, axis=-1), axis=-1)
    return above


def expected_logit(z, T, axis=-1):
    """E_q[z] = sum_i q_i(T) z_i, the logit averaged under the softmax. It falls as T grows:
    d/dT E_q[z] = -Var_q(z) / T^2."""
    z, x, _, axis = _scaled_logits(z, T, axis)
    q = _normalised(x, axis)
    top = z.max(axis=axis, keepdims=True)
    low = np.where(np.isfinite(z), z, top).min(axis=axis, keepdims=True)
    with np.errstate(over="ignore"):
        shift = np.where(np.isfinite(top - low), top, 0.0)  # sum q_i (z_i - top) is more exact, if it fits
    with np.errstate(invalid="ignore"):
        weighted = np.where(q > 0, q * (z - shift), 0.0).sum(axis=axis, keepdims=True)
    with np.errstate(over="ignore"):  # rounding can step past +-1.8e308; E_q[z] lies in [low, top]
        return np.squeeze(np.clip(weighted + shift, low, top), axis=axis)


def dq_dT(z, T, axis=-1):
    """dq_i/dT = q_i (E_q[z] - z_i) / T^2 = q_i (E_q[x] - x_i) / T with x = (z - max z)/T, exactly.

    Zero in the limits T == 0 and T == inf, and for -inf logits (whose probability stays 0).
    """
    _, x, T, axis = _scaled_logits(z, T, axis)
    q = _normalised(x, axis)
    with np.errstate(invalid="ignore"):
        mean_x = np.where(q > 0, q * x, 0.0).sum(axis=axis, keepdims=True)
        slope = np.where(q > 0, q * (mean_x - x), 0.0)  # |slope| < ~750: q_i > 0 needs x_i > -750
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        slope = np.where(T > 0, slope / T, 0.0)
    why = "that temperature is too small for logits this close together"
    return representable(slope, "dq/dT", lambda bad: f"T = {T[bad].min():g}: {why}")


def turning_temperature(z, i):
    """The unique T* > 0 where dq_i/dT = 0, that is E_q(T*)[z] = z_i, or None where q_i is monotone.

    E_q[z] falls strictly from max(z) (T -> 0) to mean(z) (T -> inf), so a root exists exactly
    when mean(z) < z_i < max(z), and then only one. Solved with brentq on log T. (With -inf
    logits, the mean is over the finite ones: those classes never carry probability.)
    """
    z = logit_vector(z)
    i = class_index(i, z.shape[0], "class index", negative=True)
    finite = z[np.isfinite(z)]
    zi = z[i]
    with np.errstate(over="ignore"):
        mean = finite.mean()
    if not np.isfinite(mean):  # the sum overflowed: add up the logits divided by n instead
        mean = (finite / finite.size).sum()
    if not np.isfinite(zi) or zi >= finite.max() or zi <= mean:
        return None

    with np.errstate(over="ignore"):
        apart = finite - zi
    if not np.isfinite(apart).all():
        apart = finite / 2 - zi / 2  # the same signs, and no overflow

    def gap(log_T):  # E_q[z] - z_i (or half of it) as sum_j q_j (z_j - z_i): E_q[z] is never rounded near z_i
        return softmax(finite, np.exp(log_T)) @ apart

    largest = np.log(np.finfo(np.float64).max)
    if gap(largest) >= 0:  # E_q[z] is still above z_i at the largest float: T* is beyond it
        raise ValueError(
            f"the turning temperature of logit {i} is larger than float64 can hold (about 1.8e308): "
            "that logit is too close to the mean"
        )
    half_spread = max(finite.max() / 2 - finite.min() / 2, np.finfo(np.float64).tiny)  # cannot overflow
    lo = hi = min(np.log(half_spread) + np.log(2), largest)
    while gap(lo) <= 0:
        lo -= 1.0
    while gap(hi) >= 0:
        hi = min(hi + 1.0, largest)
    return float(np.exp(brentq(gap, lo, hi, xtol=1e-13, rtol=1e-14)))


def entropy(q, axis=-1):
    """H(q) = -sum_i q_i log q_i in nats (0 log 0 = 0), for probability vectors q along ``axis``."""
    q = probabilities(q, axis)
    return entr(q).sum(axis=axis)


def random_logits(n, seed=0, scale=2.0):
    """n logits drawn from a normal distribution with standard deviation ``scale`` (seeded)."""
    n, seed = count(n, "n (the number of classes)", 2), count(seed, "seed", 0)
    scale = number(scale, "scale", 0, low_open=True)
    return np.random.default_rng(seed).normal(scale=scale, size=n)


def _top_and_rest(x, axis=-1):
    """(max_j x_j, log1p(sum of exp(x_j - max) over all but one maximum)): log sum_j exp(x_j) is their sum.

    Never overflows, keeps shares below float64's epsilon (log1p), and gives -inf for a row that is all -inf."""
    top = x.max(axis=axis, keepdims=True)
    safe_top = np.where(np.isneginf(top), 0.0, top)
    others = np.exp(x - safe_top)
    np.put_along_axis(others, np.argmax(x, axis=axis, keepdims=True), 0.0, axis=axis)
    return top, np.log1p(others.sum(axis=axis, keepdims=True))


def _log_sum_exp(x, axis=-1):
    """log sum_j exp(x_j); -inf for a row that is all -inf."""
    top, rest = _top_and_rest(x, axis)
    return np.squeeze(top + rest, axis=axis)


def _log_softmax(x, axis=-1):
    """log(exp(x_i) / sum_j exp(x_j)) as (x_i - max) - log1p(...): exact even where it is -1e-300."""
    top, rest = _top_and_rest(x, axis)
    with np.errstate(invalid="ignore"):  # rows that are all -inf give nan: the caller masks them
        return (x - top) - rest


_SERIES = (1 / 2, 1 / 3, 1 / 8, 1 / 30, 1 / 144, 1 / 840, 1 / 5760)  # f(r) = sum_k (k - 1) r^k / k!, k = 2..8


def _f(r):
    """f(r) = r e^r - e^r + 1 >= 0, so that q f(log(p / q)) = p log(p / q) - p + q: r^2 / 2 + r^3 / 3 + ... near 0
    (a series: no cancellation), f(-inf) = 1."""
    r = np.asarray(r, dtype=float)
    small = np.abs(r) < 1e-2
    series = r**2 * np.polynomial.polynomial.polyval(np.where(small, r, 0.0), _SERIES)
    with np.errstate(invalid="ignore", over="ignore"):
        direct = np.where(np.isneginf(r), 1.0, r * np.exp(r) - np.expm1(r))
    return np.where(small, series, direct)


def _log_ratios(x_p, x_q, inside):
    """For p = softmax(x_p) and q = softmax(x_q), both restricted to the classes where ``inside`` is True:
    (y, L, log q) with log(p_i / q_i) = y_i - L, y = x_p - x_q and L = log sum_j q_j e^(y_j), computed as
    log1p(sum_j q_j expm1(y_j)) so that p and q may agree to every digit but the ratio's (log q is -inf, and y
    0, outside the set and where q_i = 0)."""
    with np.errstate(invalid="ignore"):  # a row with nothing inside is all -inf: nothing is compared there
        log_q = _log_softmax(np.where(inside, x_q, -np.inf))
    present = np.isfinite(log_q)  # q_i > 0 (classes of probability 0 are not compared)
    with np.errstate(invalid="ignore"):
        y = np.where(present, x_p - np.where(present, x_q, 0.0), 0.0)
    q = np.where(present, np.exp(log_q), 0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        shift = np.where(present, q * np.expm1(np.clip(y, -1.0, 1.0)), 0.0).sum(-1)  # sum_j q_j e^(y_j) - 1
        far = _log_sum_exp(np.where(present, log_q + y, -np.inf))
    # every |y_j| <= 1: L can be near 0, where logsumexp would cancel, and no term that underflows can matter;
    # otherwise logsumexp of log q + y keeps every digit (a q_j that underflows may carry a large e^(y_j))
    near = (np.abs(y) <= 1.0).all(-1)
    return y, np.where(near, np.log1p(np.where(near, shift, 0.0)), far), log_q


def _kl_from_ratios(log_q, r):
    """sum_i p_i log(p_i / q_i) from log q and r = log(p / q), as sum_i q_i f(r_i) (terms >= 0, no cancellation
    of p log p against p log q) where |r_i| <= 1, and p_i r_i - p_i + q_i (the same term) elsewhere."""
    q = np.exp(log_q)
    with np.errstate(invalid="ignore", over="ignore"):
        p = np.exp(log_q + r)
        plain = np.where(p > 0, p * r, 0.0) - p + q
    terms = np.where(np.abs(r) <= 1.0, q * _f(np.where(np.abs(r) <= 1.0, r, 0.0)), plain)
    return np.where(np.isfinite(log_q), terms, 0.0).sum(-1)


def kl_divergence(teacher_logits, student_logits, T=1.0):
    """KL(p || q) = sum_i p_i (log p_i - log q_i) of p = softmax(v / T) and q = softmax(z / T), over the last axis.

    Teacher and student logits broadcast together ((N, C) against (K, N, C) compares K students with one
    teacher); the result has their batch shape. Computed from the log-ratios log(p_i / q_i) themselves, so it
    keeps its digits where p and q are close (large T: the KL is O(1/T^2)) and for logits of 1e4; 0 log 0 = 0,
    and a -inf teacher logit is a class of probability 0.
    """
    v, z = as_logits(teacher_logits, "teacher_logits"), as_logits(student_logits, "student_logits")
    v, z = broadcast_logits(v, z)
    student_covers_teacher(v, z)
    as_temperature(T, allow_zero=False)
    x_p, x_q = _scaled_logits(v, T, -1)[1], _scaled_logits(z, T, -1)[1]
    y, L, log_q = _log_ratios(x_p, x_q, np.ones(x_p.shape, dtype=bool))
    kl = _kl_from_ratios(log_q, y - L[..., None])
    representable(kl, "the KL", "the student's logits are too far from the teacher's at this temperature")
    return np.maximum(kl, 0.0)


def kl_decomposition(teacher_logits, student_logits, target, T=1.0):
    """KL(p || q) of p = softmax(v / T) and q = softmax(z / T), split at the target class t (Zhao et al. 2022):

        KL(p || q) = KL(b_p || b_q) + (1 - p_t) * KL(p_hat || q_hat)

    b = (probability of t, of all the other classes); p_hat and q_hat are the distributions over the
    non-target classes (the softmax of the other logits alone). Returns (target_kl, non_target_kl,
    non_target_weight = 1 - p_t), each of the batch shape (the logits' shape without the class axis, the last).
    Computed from log-ratios, as ``kl_divergence``: logits of 1e4 and temperatures up to 1e6 keep their digits;
    a -inf logit is a class of probability 0. Where the teacher gives the other classes no probability at all
    (every other logit -inf), p_hat is undefined and the weight and the non-target KL are 0.
    """
    v, z = as_logits(teacher_logits, "teacher_logits"), as_logits(student_logits, "student_logits")
    same_shape(v, z, ("teacher_logits", "student_logits"))
    student_covers_teacher(v, z)
    as_temperature(T, allow_zero=False)
    v, x_p, _, _ = _scaled_logits(v, T, -1)  # broadcast against T
    x_q = _scaled_logits(np.broadcast_to(z, v.shape), T, -1)[1]
    is_target = _target_mask(target, v.shape)
    y, L_all, log_q = _log_ratios(x_p, x_q, np.ones(v.shape, dtype=bool))
    _, L_rest, log_q_hat = _log_ratios(x_p, x_q, ~is_target)
    # the binary split (t, the rest): log(p_t / q_t) = y_t - L_all and log((1 - p_t) / (1 - q_t)) = L_rest - L_all
    with np.errstate(invalid="ignore"):
        binary_ratios = np.stack([np.where(is_target, y, 0.0).sum(-1) - L_all, L_rest - L_all], -1)
    log_b_q = np.stack(
        [_log_sum_exp(np.where(is_target, log_q, -np.inf)), _log_sum_exp(np.where(is_target, -np.inf, log_q))], -1
    )
    target_kl = _kl_from_ratios(log_b_q, binary_ratios)
    log_rest_p = _log_sum_exp(np.where(is_target, -np.inf, x_p)) - _log_sum_exp(x_p)  # log(1 - p_t), exact
    has_rest = np.isfinite(log_rest_p)
    with np.errstate(invalid="ignore"):
        non_target_kl = np.where(has_rest, _kl_from_ratios(log_q_hat, y - L_rest[..., None]), 0.0)
    for part in (target_kl, non_target_kl):  # logits near 1e308 at a small T: a gap beyond float64
        representable(part, "the KL", "the student's logits are too far from the teacher's at this temperature")
    # a KL is >= 0; rounding can leave -1e-16 where p and q agree
    return np.maximum(target_kl, 0.0), np.maximum(non_target_kl, 0.0), np.exp(log_rest_p)


def _target_mask(target, shape):
    """A boolean mask of ``shape`` (batch..., classes) that is True at each row's target class."""
    return np.arange(shape[-1]) == target_classes(target, shape)[..., None]
