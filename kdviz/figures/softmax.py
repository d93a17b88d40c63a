"""One function per figure. Each takes numbers, computes what it shows with the numpy core, and
returns a matplotlib Figure (never calls plt.show); widgets redraw by calling it again."""

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .._checks import (
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
from ..gradients import logit_matching_grad, soft_ce_grad
from ..temperature import entropy, expected_logit, softmax, turning_temperature
from ..verify import loglog_slope

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


def rounded(value, decimals=2):
    """``value`` rounded to ``decimals`` places for a label; + 0.0 turns -0.0 into 0.0, so no label reads -0.00."""
    return round(float(value), decimals) + 0.0


def temperature_text(T):
    """T in three significant digits, or as many more as it takes for a T other than 1 not to read as 1."""
    for digits in range(3, 18):
        text = f"{T:.{digits}g}"
        if T == 1 or text != "1":
            return text
    return repr(float(T))


def plot_probabilities(logits, T, labels=None):
    """Bars of q(T) for the given logits, the T = 1 probabilities as outlines (none at T = 1, where they
    are the bars), entropy in the title."""
    logits = np.asarray(logits, dtype=float)
    T = plot_temperature(T, "T")
    q = softmax(logits, T)
    labels = tick_labels(labels, len(logits))
    fig, ax = new_figure(6.5, 3.4)
    x = np.arange(len(logits))
    ax.bar(x, q, color="C0", label=f"q at T = {temperature_text(T)}")
    if T != 1:
        ax.bar(x, softmax(logits, 1.0), fill=False, edgecolor="k", linestyle="--", label="q at T = 1")
    ax.axhline(1 / len(logits), color="gray", lw=0.8, label="1/n")
    ax.set(xticks=x, xticklabels=labels, ylim=(0, 1.05), ylabel="probability", xlabel="class")
    ax.set_title(f"T = {temperature_text(T)}: entropy {entropy(q):.3f} nats (max log n = {np.log(len(logits)):.3f})")
    ax.legend(loc="upper right", fontsize=8)
    return fig


COINCIDE = 0.02  # two q_i(T) curves closer than this everywhere on the plot (of a 0..1 axis) are drawn apart
ON_TOP_STYLES = ("--", ":", "-.")  # the second, third, fourth curve of a coinciding group


def coinciding_with(q, i):
    """The first class j < i whose curve q[:, j] stays within COINCIDE of q[:, i] at every plotted T, or None."""
    for j in range(i):
        if np.abs(q[:, i] - q[:, j]).max() < COINCIDE:
            return j
    return None


def plot_temperature_curves(logits, T_max=5.0, log_T=False, n_points=400, show_turning=True):
    """q_i(T) for every class, with the 1/n line, the T = 1 marker and each turning temperature T*.

    A curve that lies on an earlier one (within COINCIDE at every T) is drawn dashed, dotted or dash-dot
    on top of it, and its legend entry names the class it lies on, so both stay visible."""
    logits = np.asarray(logits, dtype=float)
    n = len(logits)
    if n > MAX_CURVES:
        raise ValueError(f"plot_temperature_curves draws at most {MAX_CURVES} classes (one colour each), got {n}")
    T_max = plot_temperature(T_max)
    n_points = count(n_points, "n_points", 2)
    T = np.geomspace(T_max * 1e-3, T_max, n_points) if log_T else np.linspace(T_max / n_points, T_max, n_points)
    q = softmax(logits[None, :], T[:, None])
    fig, ax = new_figure(8.5 if n > 10 else 7.0)
    solid = list(range(n))  # class i -> the class whose solid curve i is drawn on (itself if none)
    on_top = [0] * n  # class i -> how many curves are drawn on top of its solid curve so far
    for i in range(n):
        label, style = f"z{i} = {logits[i]:.2f}", "-"
        j = coinciding_with(q, i)
        if j is not None:
            solid[i] = solid[j]
            style = ON_TOP_STYLES[on_top[solid[i]] % len(ON_TOP_STYLES)]
            on_top[solid[i]] += 1
            label += f", on z{solid[i]}"
        ax.plot(T, q[:, i], style, color=CLASS_COLORS[i], lw=2, label=label)
        t_star = turning_temperature(logits, i) if show_turning else None
        if t_star is not None and T[0] <= t_star <= T[-1]:
            ax.plot(t_star, softmax(logits, t_star)[i], "o", color=CLASS_COLORS[i], mec="k")
    ax.axhline(1 / n, color="gray", ls="--", lw=1, label="1/n")
    ax.axvline(1.0, color="k", ls=":", lw=1, label="T = 1")
    ax.set(xlabel="temperature T", ylabel="q_i(T)", ylim=(0, 1.02), xscale="log" if log_T else "linear")
    ax.set_title("q_i(T) for each class (dots: turning temperatures T*)")
    ax.legend(fontsize=7, ncols=2 if n > 10 else 1, loc="center left", bbox_to_anchor=(1, 0.5))
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
    ax.set(xlabel="temperature T", ylabel="distance from uniform")
    ax.set_title(f"fitted slope for large T: {rounded(slope, 3):.3f}")
    ax.legend()
    return fig


def plot_sign_map(logits, T_min=0.05, T_max=50.0):
    """Above, E_q[z] against T with a line at each logit z_i; below, one row per class (largest logit on
    top), red while q_i rises with T and blue while it falls. Since sign(dq_i/dT) = sign(E_q[z] - z_i),
    a row turns blue at its turning temperature T*, where E_q[z] crosses z_i (dots in both panels)."""
    logits = as_logits(logits, "logits", allow_neg_inf=False)
    T_min, T_max = temperature_range(T_min, T_max)
    T = np.geomspace(T_min, T_max, 400)
    mean_logit = expected_logit(logits[None, :], T[:, None])
    rising = mean_logit[:, None] > logits[None, :]
    order = np.argsort(logits, kind="stable")  # row 0 (at the bottom) is the smallest logit
    fig = Figure(figsize=(7.5, 2.2 + 0.28 * len(logits)), layout="constrained")
    ax_mean, ax_rows = fig.subplots(2, 1, sharex=True, height_ratios=(2, max(2, 0.28 * len(logits))))
    for i, z_i in enumerate(logits):
        ax_mean.axhline(z_i, color="gray", lw=0.6, label="z_i, one line per class" if i == 0 else None)
    ax_mean.plot(T, mean_logit, "k", lw=2, label="E_q[z] (falls with T)")
    ax_mean.axhline(logits.mean(), color="gray", ls="--", lw=1, label="mean(z): E_q[z] as T -> inf")
    for row, i in enumerate(order):
        ax_rows.plot(T, np.where(rising[:, i], row, np.nan), color="C3", lw=6, solid_capstyle="butt")
        ax_rows.plot(T, np.where(rising[:, i], np.nan, row), color="C0", lw=6, solid_capstyle="butt")
        t_star = turning_temperature(logits, i)
        if t_star is not None and T_min <= t_star <= T_max:
            ax_mean.plot(t_star, logits[i], "o", color="k", ms=5)
            ax_rows.plot(t_star, row, "o", color="k", ms=5)
            for ax in (ax_mean, ax_rows):
                ax.axvline(t_star, color="k", ls=":", lw=0.8)
    ax_mean.set(xscale="log", ylabel="logit value", title="E_q[z] crosses a class's logit z_i at its T*")
    ax_mean.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax_rows.set(
        xlabel="temperature T",
        ylim=(-0.6, len(logits) - 0.4),
        yticks=range(len(logits)),
        yticklabels=[f"class {i} (z = {logits[i]:.2f})" for i in order],
        title="sign of dq_i/dT, one row per class",
    )
    key = [Line2D([], [], color="C3", lw=6, label="q_i rising"), Line2D([], [], color="C0", lw=6, label="q_i falling")]
    if any(line.get_marker() == "o" for line in ax_rows.lines):
        key.append(Line2D([], [], color="k", marker="o", ls=":", lw=0.8, ms=5, label="turning temperature T*"))
    ax_rows.legend(handles=key, fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
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
    """A teacher's probabilities re-softened at several temperatures: softmax(log q / T) is what the
    teacher would say at temperature T.

    Left, bars on a linear axis: a bar's length is the probability. Right, a dot per class on a log axis,
    where small probabilities and their order can be read; a log axis has no zero to start a bar from, so
    it shows no bars, and a probability of exactly 0 is a triangle on the bottom edge.
    """
    with np.errstate(divide="ignore"):  # a probability of 0 is the logit -inf
        logits = np.log(np.asarray(probabilities, dtype=float))
    temperatures = temperature_list(temperatures)
    labels = tick_labels(labels, len(logits))
    q = softmax(logits[None, :], np.asarray(temperatures)[:, None])
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax_bars, ax_log = fig.subplots(1, 2)
    width = 0.8 / len(temperatures)
    x = np.arange(len(logits))
    floor = q[q > 0].min() / 10
    for k, T in enumerate(temperatures):
        offset = x + (k - (len(temperatures) - 1) / 2) * width
        ax_bars.bar(offset, q[k], width, color=f"C{k}", label=f"T = {T:g}")
        shown = q[k] > 0
        ax_log.plot(offset[shown], q[k, shown], "o", color=f"C{k}", label=f"T = {T:g}")
        if not shown.all():
            ax_log.plot(offset[~shown], np.full((~shown).sum(), floor), "v", color=f"C{k}", mec="k")
    if (q == 0).any():
        ax_log.plot([], [], "v", color="w", mec="k", label="exactly 0 (off the log axis)")
    for ax in (ax_bars, ax_log):
        ax.set(xticks=x, xticklabels=labels, xlabel="class")
        ax.grid(axis="y", alpha=0.3)
    ax_bars.set(ylim=(0, 1.02), ylabel="probability", title="linear axis: length = probability")
    ax_log.set(yscale="log", ylim=(floor / 2, 2), ylabel="probability (log scale)")
    ax_log.set_title("log axis: one dot per class and T")
    title = "the same teacher output at " + ", ".join(f"T = {T:g}" for T in temperatures)
    fig.suptitle(title + (f" (true class {true_class})" if true_class is not None else ""))
    ax_log.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # outside the axes: it hides nothing
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
    slope, scaled_slope = loglog_slope(T[tail], norms[tail]), loglog_slope(T[tail], T[tail] ** 2 * norms[tail])
    ax.loglog(T, norms, label=f"|(q - p)/T|  (slope {rounded(slope):.2f})")
    ax.loglog(T, T**2 * norms, label=f"T^2 |(q - p)/T|  (slope {rounded(scaled_slope):.2f})")
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
    """Relative error of T^2 (q - p)/T against logit matching, raw (z - v)/N and centred, vs T.

    ``shift`` is added to the student's logits; the title gives both means and their difference, the
    number the raw form depends on."""
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
    fig, ax = new_figure(6.5, 3.8)
    ax.loglog(
        T,
        err_centred,
        label=f"centred ((z - mean z) - (v - mean v))/N, slope {rounded(loglog_slope(T[tail], err_centred[tail])):.2f}",
    )
    ax.loglog(T, err_raw, "--", label="raw (z - v)/N")
    means = f"mean z = {rounded(z.mean(), 3):g}, mean v = {rounded(v.mean(), 3):g}"
    ax.set(xlabel="temperature T", ylabel="relative error")
    ax.set_title(f"T^2 dC/dz against logit matching\n{means} (difference {rounded(z.mean() - v.mean(), 3):g})")
    ax.legend(fontsize=8)
    return fig
