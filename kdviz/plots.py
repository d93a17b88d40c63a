"""One function per figure. Each takes numbers, computes what it shows with the numpy core, and
returns a matplotlib Figure (never calls plt.show); widgets redraw by calling it again."""

import numpy as np
from matplotlib.figure import Figure

from ._checks import (
    as_logits,
    class_index,
    count,
    plot_temperature,
    same_shape,
    temperature_list,
    temperature_range,
    tick_labels,
    weight,
)
from .gradients import logit_matching_grad, soft_ce_grad
from .temperature import entropy, expected_logit, softmax, turning_temperature

CLASS_COLORS = [f"C{i % 10}" for i in range(20)]
MAX_CURVES = len(CLASS_COLORS)  # plot_temperature_curves draws at most this many classes


def new_figure(width=7.0, height=3.6, ncols=1, margins=None):
    """A figure with ncols axes. ``margins`` (subplots_adjust keywords) replaces the constrained layout,
    which halves the drawing time of figures that are redrawn during training."""
    fig = Figure(figsize=(width, height), layout=None if margins else "constrained")
    axes = fig.subplots(1, ncols)
    if margins:
        fig.subplots_adjust(**margins)
    return fig, axes


def loglog_slope(x, y):
    """Slope of the least-squares line through (log x, log y)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def plot_probabilities(logits, T, labels=None):
    """Bars of q(T) for the given logits, the T = 1 probabilities as outlines, entropy in the title."""
    logits = np.asarray(logits, dtype=float)
    T = plot_temperature(T, "T")
    q, q1 = softmax(logits, T), softmax(logits, 1.0)
    labels = tick_labels(labels, len(logits))
    fig, ax = new_figure(6.5, 3.4)
    x = np.arange(len(logits))
    ax.bar(x, q, color="C0", label=f"q at T = {T:.3g}")
    ax.bar(x, q1, fill=False, edgecolor="k", linestyle="--", label="q at T = 1")
    ax.axhline(1 / len(logits), color="gray", lw=0.8, label="1/n")
    ax.set(xticks=x, xticklabels=labels, ylim=(0, 1.05), ylabel="probability", xlabel="class")
    ax.set_title(f"T = {T:.3g}: entropy {entropy(q):.3f} nats (max log n = {np.log(len(logits)):.3f})")
    ax.legend(loc="upper right", fontsize=8)
    return fig


def plot_temperature_curves(logits, T_max=5.0, log_T=False, n_points=400, show_turning=True):
    """q_i(T) for every class, with the 1/n line, the T = 1 marker and each turning temperature T*.

    Each curve is drawn thinner than the one before it, so where two classes have nearly equal logits
    the later curve runs inside the earlier one and both stay visible."""
    logits = np.asarray(logits, dtype=float)
    n = len(logits)
    if n > MAX_CURVES:
        raise ValueError(f"plot_temperature_curves draws at most {MAX_CURVES} classes (one colour each), got {n}")
    T_max = plot_temperature(T_max)
    n_points = count(n_points, "n_points", 2)
    T = np.geomspace(T_max * 1e-3, T_max, n_points) if log_T else np.linspace(T_max / n_points, T_max, n_points)
    q = softmax(logits[None, :], T[:, None])
    widths = np.linspace(3.2, 1.2, n)
    fig, ax = new_figure()
    for i in range(n):
        ax.plot(T, q[:, i], color=CLASS_COLORS[i], lw=widths[i], label=f"z{i} = {logits[i]:.2f}")
        t_star = turning_temperature(logits, i) if show_turning else None
        if t_star is not None and T[0] <= t_star <= T[-1]:
            ax.plot(t_star, softmax(logits, t_star)[i], "o", color=CLASS_COLORS[i], mec="k")
    ax.axhline(1 / n, color="gray", ls="--", lw=1, label="1/n")
    ax.axvline(1.0, color="k", ls=":", lw=1, label="T = 1")
    ax.set(xlabel="temperature T", ylabel="q_i(T)", ylim=(0, 1.02), xscale="log" if log_T else "linear")
    ax.set_title("q_i(T) for each class (dots: turning temperatures T*)")
    ax.legend(fontsize=7, ncols=2 if n > 6 else 1, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def plot_uniform_gap(logits, T_min=1.0, T_max=1e3):
    """max_i |q_i(T) - 1/n| on log-log axes: for large T it falls like 1/T (slope -1)."""
    logits = as_logits(logits, "logits", allow_neg_inf=False)
    if np.ptp(logits) == 0:
        raise ValueError("all logits are equal: q is 1/n at every T, so there is no distance from uniform to plot")
    T = np.geomspace(*temperature_range(T_min, T_max), 200)
    gap = np.abs(softmax(logits[None, :], T[:, None]) - 1 / len(logits)).max(axis=1)
    tail = T >= T_max / 10
    slope = loglog_slope(T[tail], gap[tail])
    fig, ax = new_figure(5.5, 3.4)
    ax.loglog(T, gap, label="max |q_i - 1/n|")
    ax.loglog(T[tail], gap[tail][0] * (T[tail] / T[tail][0]) ** -1, "k--", lw=1, label="slope -1")
    ax.set(xlabel="temperature T", ylabel="distance from uniform", title=f"fitted slope for large T: {slope:.3f}")
    ax.legend()
    return fig


def plot_sign_map(logits, T_min=0.05, T_max=50.0):
    """Each class as a line at the height of its logit z_i, red while q_i rises with T and blue while it
    falls, and E_q[z] in black on the same logit axis: a row turns blue exactly where E_q[z] crosses it."""
    logits = np.asarray(logits, dtype=float)
    T_min, T_max = temperature_range(T_min, T_max)
    T = np.geomspace(T_min, T_max, 400)
    mean_logit = expected_logit(logits[None, :], T[:, None])
    rising = mean_logit[:, None] > logits[None, :]
    fig, ax = new_figure(7, 3.6)
    for i, z_i in enumerate(logits):
        first = i == 0
        ax.plot(T, np.where(rising[:, i], z_i, np.nan), color="C3", lw=4, label="q_i rising" if first else None)
        ax.plot(T, np.where(rising[:, i], np.nan, z_i), color="C0", lw=4, label="q_i falling" if first else None)
        t_star = turning_temperature(logits, i)
        if t_star is not None and T_min <= t_star <= T_max:
            ax.plot(t_star, z_i, "o", color="k", ms=5, label="turning temperature T*" if first else None)
    ax.plot(T, mean_logit, "k", lw=2, label="E_q[z] (falls with T)")
    ax.axhline(logits.mean(), color="gray", ls="--", lw=1, label="mean(z): E_q[z] as T -> inf")
    ax.set(xscale="log", xlabel="temperature T", ylabel="logit value")
    ax.set_title("each class at its logit: red while q_i rises, blue while it falls")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    return fig


def plot_turning_point(logits, i, T_max=20.0):
    """Class i's q_i(T) and the gap E_q[z] - z_i whose sign is that of dq_i/dT, with T* marked."""
    logits = as_logits(logits, "logits")
    i = class_index(i, len(logits))
    T_max = plot_temperature(T_max)
    T = np.geomspace(T_max * 1e-3, T_max, 400)
    q = softmax(logits[None, :], T[:, None])[:, i]
    gap = expected_logit(logits[None, :], T[:, None]) - logits[i]
    t_star = turning_temperature(logits, i)
    fig, (ax_q, ax_gap) = new_figure(9, 3.4, ncols=2)
    ax_q.semilogx(T, q, color=CLASS_COLORS[i % 20])
    ax_q.axhline(1 / len(logits), color="gray", ls="--", lw=1, label="1/n")
    ax_gap.semilogx(T, gap, color=CLASS_COLORS[i % 20])
    ax_gap.axhline(0, color="k", lw=0.8)
    if t_star is not None:
        for ax in (ax_q, ax_gap):
            ax.axvline(t_star, color="k", ls=":", label=f"T* = {t_star:.3f}")
        verdict = f"rises until T* = {t_star:.3f}, then falls"
    elif np.isneginf(logits[i]):
        verdict = "stays 0 (z_i = -inf)"
    elif np.all(logits[np.isfinite(logits)] == logits[i]):
        verdict = f"stays at 1/{np.isfinite(logits).sum()} (every finite logit is equal)"
    else:
        verdict = "always falls (largest logit)" if logits[i] >= logits.max() else "always rises (z_i <= mean z)"
    ax_q.set(xlabel="T", ylabel=f"q_{i}(T)", title=f"class {i} (z = {logits[i]:.2f}): {verdict}")
    ax_gap.set(xlabel="T", ylabel=f"E_q[z] - z_{i}", title="sign of this = sign of dq_i/dT")
    ax_q.legend(fontsize=8)
    return fig


def plot_dark_knowledge(probabilities, temperatures=(1.0, 20.0), labels=None, true_class=None):
    """A teacher's probabilities re-softened at several temperatures, on a log axis.

    Uses log q as logits: softmax(log q / T) is what the teacher would say at temperature T.
    """
    logits = np.log(np.asarray(probabilities, dtype=float))
    temperatures = temperature_list(temperatures)
    labels = tick_labels(labels, len(logits))
    fig, ax = new_figure(7, 3.4)
    width = 0.8 / len(temperatures)
    x = np.arange(len(logits))
    for k, T in enumerate(temperatures):
        ax.bar(x + (k - (len(temperatures) - 1) / 2) * width, softmax(logits, T), width, label=f"T = {T:g}")
    ax.set(yscale="log", xticks=x, xticklabels=labels, xlabel="class", ylabel="probability (log scale)")
    ax.set_ylim(bottom=min(1e-12, np.exp(logits[np.isfinite(logits)].min()) / 10), top=2)
    title = "the same teacher output at two temperatures"
    ax.set_title(title + (f" (true class {true_class})" if true_class is not None else ""))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # outside the axes: it hides no bar
    return fig


def _centred_pair(student_logits, teacher_logits):
    """Student and teacher logits as checked float vectors that differ by more than a shift (else every
    soft-term gradient is zero and a log-scale plot of it is empty)."""
    z, v = as_logits(student_logits, "student_logits"), as_logits(teacher_logits, "teacher_logits")
    same_shape(z, v, ("student_logits", "teacher_logits"))
    if np.allclose(z - z.mean(), v - v.mean(), rtol=0, atol=1e-12 * max(1.0, np.abs(z).max())):
        raise ValueError(
            "student and teacher logits are equal (up to a shift): the soft gradient is zero at every T, "
            "so there is nothing to plot; change one of them"
        )
    return z, v


def plot_gradient_scaling(student_logits, teacher_logits, T_min=1.0, T_max=1e3):
    """|dC/dz| against T (slope -2 for large T) and the flat T^2 |dC/dz|."""
    T = np.geomspace(*temperature_range(T_min, T_max), 200)
    z, v = _centred_pair(student_logits, teacher_logits)
    norms = np.linalg.norm(soft_ce_grad(z[None, :], v[None, :], T[:, None]), axis=1)
    tail = T >= T_max / 10
    fig, ax = new_figure(6, 3.6)
    ax.loglog(T, norms, label=f"|(q - p)/T|  (slope {loglog_slope(T[tail], norms[tail]):.2f})")
    ax.loglog(
        T, T**2 * norms, label=f"T^2 |(q - p)/T|  (slope {loglog_slope(T[tail], T[tail] ** 2 * norms[tail]):.2f})"
    )
    ax.set(xlabel="temperature T", ylabel="gradient norm", title="why the soft term is multiplied by T^2")
    ax.legend()
    return fig


def soft_share(student_logits, teacher_logits, label, T, alpha, scale_by_T2=True):
    """Share of the soft term in the norm of the blended gradient
    alpha * s * (q_T - p_T)/T + (1 - alpha) * (q_1 - y), with s = T^2 or 1."""
    z, v = np.asarray(student_logits, float), np.asarray(teacher_logits, float)
    label = class_index(label, len(z), "label")
    alpha = weight(alpha)
    T = np.asarray(T, float)[..., None]
    soft = alpha * (T**2 if scale_by_T2 else 1.0) * soft_ce_grad(z, v, T)
    hard = (1 - alpha) * (softmax(z) - np.eye(len(z))[label])
    soft_norm, hard_norm = np.linalg.norm(soft, axis=-1), np.linalg.norm(hard)
    total = soft_norm + hard_norm
    # no gradient at all (student already right on both terms): report the nominal weight alpha, not 0/0
    return np.divide(soft_norm, total, out=np.full_like(total, alpha), where=total > 0)


def plot_soft_share(student_logits, teacher_logits, label, T, alpha, T_max=100.0):
    """How much of the blended gradient comes from the soft term, with and without T^2, as T moves."""
    grid = np.geomspace(*temperature_range(1.0, T_max), 200)
    fig, ax = new_figure(6.5, 3.6)
    for scaled, style in ((True, "-"), (False, "--")):
        share = soft_share(student_logits, teacher_logits, label, grid, alpha, scaled)
        ax.semilogx(grid, share, style, label="alpha T^2 KL + (1-alpha) CE" if scaled else "without T^2")
    ax.axvline(T, color="k", ls=":")
    now = soft_share(student_logits, teacher_logits, label, T, alpha)
    ax.set(xlabel="temperature T", ylabel="soft share of gradient norm", ylim=(0, 1))
    ax.set_title(f"alpha = {alpha:.2f}, T = {T:.3g}: soft share {float(now):.2f} with T^2")
    ax.legend()
    return fig


def plot_logit_matching(student_logits, teacher_logits, shift=0.0, T_min=1.0, T_max=1e4):
    """Relative error of T^2 (q - p)/T against logit matching, raw (z - v)/N and centred, vs T."""
    _centred_pair(student_logits, teacher_logits)
    z = np.asarray(student_logits, float) + shift
    v = np.asarray(teacher_logits, float)
    T = np.geomspace(*temperature_range(T_min, T_max), 200)
    scaled = T[:, None] ** 2 * soft_ce_grad(z[None, :], v[None, :], T[:, None])
    raw = (z - v) / len(z)
    centred = T[:, None] ** 2 * logit_matching_grad(z, v, T[:, None])
    err_raw = np.linalg.norm(scaled - raw, axis=1) / np.linalg.norm(raw)
    err_centred = np.linalg.norm(scaled - centred, axis=1) / np.linalg.norm(centred, axis=1)
    tail = T >= T_max / 10
    fig, ax = new_figure(6.5, 3.6)
    ax.loglog(
        T,
        err_centred,
        label=f"centred ((z - mean z) - (v - mean v))/N, slope {loglog_slope(T[tail], err_centred[tail]):.2f}",
    )
    ax.loglog(T, err_raw, "--", label="raw (z - v)/N")
    ax.set(xlabel="temperature T", ylabel="relative error", title=f"T^2 dC/dz against logit matching (shift {shift:g})")
    ax.legend(fontsize=8)
    return fig
