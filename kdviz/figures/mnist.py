"""Figures of the MNIST lessons: digits, a teacher's soft targets, training histories and error
grids. One function per figure; each takes numbers and returns a matplotlib Figure."""

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter, NullLocator

from .._checks import class_index, count, logit_vector, non_empty, temperature_list
from ..mnist_distillation import class_similarity
from ..temperature import softmax
from .softmax import new_figure


def plot_digits(images, labels, n=16, predictions=None):
    """A grid of the first n digits with their labels (and predictions, where given)."""
    n = count(n, "n (how many digits to show)")
    non_empty(images, "image to show (there are no images)")
    n = min(n, len(images))
    for name, values in (("labels", labels), ("predictions", predictions)):
        if values is not None and len(values) < n:
            raise ValueError(f"{name} must give one entry per image shown: {len(values)} for {n} images")
    cols = min(n, 8)
    rows = -(-n // cols)
    fig = Figure(figsize=(1.1 * cols, 1.25 * rows), layout="constrained")
    for k, ax in enumerate(fig.subplots(rows, cols, squeeze=False).ravel()):
        ax.axis("off")
        if k < n:
            ax.imshow(np.asarray(images[k]).reshape(28, 28), cmap="gray_r")
            title = f"{labels[k]}" if predictions is None else f"{labels[k]} -> {predictions[k]}"
            ax.set_title(title, fontsize=9)
    return fig


def plot_digit_soft_targets(image, teacher_logits, label, temperatures=(1.0, 20.0)):
    """One digit and the teacher's probabilities for it, one panel per temperature. The classes stand in the
    teacher's order (most likely first) on a log axis fitted to each panel, so the same falling line at every T
    shows the order kept, and its flattening shows the wrong classes' share growing; the top three are labelled."""
    logits = logit_vector(teacher_logits, "teacher_logits (of one digit)")
    label = class_index(label, len(logits), "label")
    temperatures = temperature_list(temperatures)
    order = np.argsort(-logits, kind="stable")
    fig = Figure(figsize=(2 + 3.4 * len(temperatures), 2.9), layout="constrained")
    ax_img, *axes = fig.subplots(1, 1 + len(temperatures), width_ratios=[1] + [2.4] * len(temperatures))
    ax_img.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r")
    ax_img.set_title(f"true class {label}\n(red dot)", fontsize=10)
    ax_img.axis("off")
    x = np.arange(len(logits))
    for ax, T in zip(axes, temperatures, strict=True):
        q = softmax(logits, T)[order]
        ax.plot(x, q, "-", color="0.6", lw=1, zorder=1)
        ax.scatter(x, q, c=["C3" if c == label else "C0" for c in order], zorder=2)
        wrong = q[1:].sum()  # summed directly: 1 - q[0] loses it when q[0] rounds to 1
        for k in range(min(3, len(q))):
            text = f"1 - {wrong:.2g}" if k == 0 and q[0] >= 0.99 else f"{q[k]:.2g}"
            ax.annotate(text, (x[k], q[k]), textcoords="offset points", xytext=(7, 0), va="center", fontsize=7)
        shown = q[q > 0]
        ax.set(yscale="log", xticks=x, xticklabels=[str(c) for c in order])
        ax.set_title(f"T = {T:g}: wrong classes together {wrong:.2g}", fontsize=10)
        low, high = max(shown.min(), 1e-300) / 3, min(shown.max() * 3, 3)
        ax.set_ylim(low, high)
        if high / low < 1e3:  # under three decades: about five plain ticks, no crowd of minor labels
            ax.yaxis.set_major_locator(FixedLocator(log_ticks(low, high)))
            ax.yaxis.set_major_formatter("{x:.2g}")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("class, most likely first", fontsize=8)
    axes[0].set_ylabel("teacher probability")
    return fig


def log_ticks(low, high, n=5):
    """About n ticks from low to high (0 < low < high), evenly spread on a log scale, at two significant
    digits; the end ticks are rounded inwards so that every tick lies in [low, high]."""

    def two_digits(x, rounding=np.round):
        unit = 10.0 ** (np.floor(np.log10(x)) - 1)
        return float(f"{rounding(x / unit) * unit:.2g}")  # through text: 54 * 0.001 is not 0.054

    inner = [two_digits(t) for t in np.geomspace(low, high, n)[1:-1]]
    ends = [two_digits(low, np.ceil), two_digits(high, np.floor)]
    return np.unique([t for t in [*ends, *inner] if low <= t <= high])


def plot_class_similarity(teacher_logits, labels, T, hide_diagonal=True):
    """Heatmap of the mean soft targets per true class on a log colour scale: which digits the teacher thinks alike.

    The colour bar carries about five labelled ticks at any T (its range shrinks to under a decade at T = 20)."""
    matrix = class_similarity(teacher_logits, labels, T)
    shown = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix) if hide_diagonal else matrix
    visible = shown[np.isfinite(shown) & (shown > 0)]
    if visible.size == 0:
        raise ValueError(
            f"at T = {T:.3g} every mean soft target off the diagonal underflows to 0 (the teacher is certain of "
            "every example), so there is nothing to colour: raise T to see which digits it thinks alike"
        )
    fig = Figure(figsize=(5.4, 4.6), layout="constrained")
    ax = fig.subplots()
    low, high = visible.min(), visible.max()
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(low, high))
    bar = fig.colorbar(image, ax=ax, label="mean probability (log scale)")
    bar.ax.yaxis.set_major_locator(FixedLocator(log_ticks(low, high)))
    bar.ax.yaxis.set_major_formatter("{x:.2g}")
    bar.ax.yaxis.set_minor_locator(NullLocator())
    ax.set(xticks=range(10), yticks=range(10), xlabel="class the teacher suggests", ylabel="true class")
    fig.suptitle(f"mean soft targets at T = {T:.3g}" + (" (diagonal hidden)" if hide_diagonal else ""), fontsize=11)
    return fig


def _whole_epochs(ax):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _columns(values, n_groups):
    """Split (..., n_groups * n_seeds) into a list of n_groups arrays (..., n_seeds)."""
    values = np.asarray(values, dtype=float)
    if values.shape[-1] % n_groups:
        raise ValueError(
            f"{values.shape[-1]} result columns cannot be shared equally among {n_groups} labels: give one label "
            "per setting (each setting's seeds side by side)"
        )
    return np.split(values, n_groups, axis=-1)


def plot_training_curves(history, labels=None, title="training"):
    """Loss and error curves from a ``kdviz.mnist.train.History``, one line per student."""
    margins = {"left": 0.08, "right": 0.98, "bottom": 0.16, "top": 0.9, "wspace": 0.25}
    fig, (ax_loss, ax_err) = new_figure(9, 3.2, ncols=2, margins=margins)
    epochs = history.epochs
    loss = np.array(history.loss)
    k = loss.shape[1] if loss.ndim == 2 else 1
    labels = list(labels) if labels is not None else [f"student {i}" for i in range(k)]
    if len(labels) != k:
        raise ValueError(f"give one label per student: {k} students, {len(labels)} labels")
    for i in range(k):
        ax_loss.plot(epochs, loss[:, i], marker=".", label=labels[i])
        if history.test_errors:
            ax_err.plot(epochs, np.array(history.test_errors)[:, i], marker=".", label=f"{labels[i]} test")
        if history.train_errors:
            ax_err.plot(epochs, np.array(history.train_errors)[:, i], ls="--", label=f"{labels[i]} train")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title)
    ax_err.set(xlabel="epoch", ylabel="errors")
    for ax in (ax_loss, ax_err):
        _whole_epochs(ax)
    ax_err.legend(fontsize=7)
    return fig


def plot_error_rates(history, n_train, n_test, labels):
    """Train and test accuracy (%) against epoch, one colour per setting: the overfitting picture of the
    small-data experiment. History columns are grouped by setting (len(labels) groups of equal size, the
    seeds of one setting side by side); a line is the mean over seeds, the band its range."""
    fig, ax = new_figure(6.5, 3.6)
    epochs = history.epochs
    train = 100 * (1 - np.array(history.train_errors, dtype=float) / n_train)
    test = 100 * (1 - np.array(history.test_errors, dtype=float) / n_test)
    for i, (label, tr, te) in enumerate(
        zip(labels, _columns(train, len(labels)), _columns(test, len(labels)), strict=True)
    ):
        for values, style, part in ((tr, "--", "train"), (te, "-", "test")):
            ax.plot(epochs, values.mean(1), style, color=f"C{i}", label=f"{label}: {part}")
            if values.shape[1] > 1:
                ax.fill_between(epochs, values.min(1), values.max(1), color=f"C{i}", alpha=0.2, lw=0)
    seeds = train.shape[1] // len(labels)
    extra = f" (mean and range of {seeds} seeds)" if seeds > 1 else ""
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title="same small transfer set: hard labels vs soft targets" + extra)
    ax.title.set_fontsize(9)
    _whole_epochs(ax)
    ax.legend(fontsize=8)
    return fig


def plot_error_grid(temperatures, alphas, errors, title="student test errors"):
    """Heatmap of test errors over the T x alpha grid. ``errors`` is (T, alpha) or (T, alpha, seeds); with
    seeds each cell shows the mean and, under it, the seed range (min-max): the spread ``kdviz.noise`` judges by."""
    errors = np.asarray(errors, dtype=float)
    if errors.ndim not in (2, 3) or errors.shape[:2] != (len(temperatures), len(alphas)):
        raise ValueError(
            f"errors must have shape (T, alpha) or (T, alpha, seeds), here ({len(temperatures)}, {len(alphas)}) "
            f"for {len(temperatures)} temperatures and {len(alphas)} alphas; got shape {errors.shape}"
        )
    if errors.ndim == 2:
        errors = errors[..., None]
    mean = errors.mean(-1)
    fig, ax = new_figure(1.3 * len(alphas) + 2.7, 0.7 * len(temperatures) + 1.8)
    image = ax.imshow(mean, cmap="viridis_r", aspect="auto")
    for (r, c), value in np.ndenumerate(mean):
        low, high = errors[r, c].min(), errors[r, c].max()
        text = f"{value:.0f}" if errors.shape[-1] == 1 else f"{value:.1f}\n({low:.0f}-{high:.0f})"
        red, green, blue, _ = image.cmap(image.norm(value))
        ink = "k" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "w"  # dark text on light cells
        ax.text(c, r, text, ha="center", va="center", color=ink, fontsize=8)
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(temperatures)), [f"{t:g}" for t in temperatures])
    ax.set(xlabel="alpha (weight of the soft term)", ylabel="temperature T", title=title)
    seeds = errors.shape[-1]
    label = f"test errors: mean of {seeds} seeds\n(in brackets: their range)" if seeds > 1 else "test errors"
    fig.colorbar(image, ax=ax, label=label)
    return fig


def plot_errors_against_T(temperatures, errors_by_size, baseline_by_size=None):
    """Test errors against T, one line per student size (dict size -> errors, (T,) or (T, seeds)).

    With seeds: the mean, and a bar over each temperature's seed range; the labels-only baseline
    (dict size -> errors over seeds) is a dotted line with its range shaded.
    """
    fig, ax = new_figure(6.5, 3.6)
    temperatures = np.asarray(temperatures, dtype=float)
    for k, (size, errors) in enumerate(errors_by_size.items()):
        errors = np.asarray(errors, dtype=float).reshape(len(temperatures), -1)
        mean = errors.mean(1)
        ax.errorbar(
            temperatures,
            mean,
            yerr=[mean - errors.min(1), errors.max(1) - mean],
            fmt="o-",
            color=f"C{k}",
            capsize=3,
            label=f"{size} hidden units",
        )
        if baseline_by_size and size in baseline_by_size:
            base = np.atleast_1d(np.asarray(baseline_by_size[size], dtype=float))
            ax.axhline(base.mean(), color=f"C{k}", ls=":", label=f"{size} units, labels only")
            if base.size > 1:
                ax.axhspan(base.min(), base.max(), color=f"C{k}", alpha=0.12, lw=0)
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(temperatures))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set(
        xlabel="temperature T",
        ylabel="test errors (bars: seed range)",
        title="distillation temperature and student size",
    )
    ax.legend(fontsize=8)
    return fig


def plot_lab_results(rows):
    """Every lab run so far: mean test errors against T, coloured by alpha (the colour bar is the key), one
    marker per student size, with a bar over each run's seed range (min to max) and the run's number (its row
    in the lab's table)."""
    fig, ax = new_figure(7.2, 3.6, margins={"left": 0.11, "right": 0.99, "bottom": 0.15, "top": 0.9})
    markers, colours = {}, colormaps["plasma"]
    for run, row in enumerate(rows, start=1):
        marker = markers.setdefault(row["hidden"], "os^Dv<>"[len(markers) % 7])
        errors = np.asarray(row["errors"], dtype=float)
        mean = errors.mean()
        colour = colours(row["alpha"])
        ax.errorbar(
            row["T"],
            mean,
            yerr=[[mean - errors.min()], [errors.max() - mean]],
            fmt="none",
            ecolor=colour,
            capsize=3,
            lw=1.2,
        )
        ax.scatter(row["T"], mean, color=colour, marker=marker, s=50, edgecolors="k", zorder=3)
        ax.annotate(f"{run}", (row["T"], mean), textcoords="offset points", xytext=(7, 0), va="center", fontsize=7)
    for hidden, marker in markers.items():
        ax.scatter([], [], marker=marker, c="w", edgecolors="k", label=f"{hidden} units")
    key = fig.colorbar(ScalarMappable(Normalize(0, 1), colours), ax=ax, pad=0.02)
    key.set_label("alpha (0: labels only, 1: soft targets only)", fontsize=8)
    ax.set(xscale="log", xlabel="temperature T", ylabel="test errors (mean; bar: seed range)", title="lab runs")
    ax.xaxis.set_major_locator(FixedLocator([1, 2, 5, 10, 20, 50]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlim(0.9, 55)
    if markers:
        ax.legend(fontsize=8)
    return fig


def plot_teaching_curves(result):
    """Validation errors (left, where the recipe is chosen) and test errors (right) against epochs for each arm of
    ``kdviz.dark_knowledge.compare_teaching``: the mean over seeds, the seed range shaded, on a log axis. A run
    without a validation split leaves the left panel empty, and says so."""
    fig, axes = new_figure(9, 3.4, ncols=2)
    for ax, key in zip(axes, ("val_errors", "test_errors"), strict=True):
        low, high = np.inf, 0.0
        for k, (arm, curves) in enumerate(result["arms"].items()):
            if not curves[key]:
                continue
            errors = np.asarray(curves[key], dtype=float).reshape(len(curves[key]), -1)
            epochs = np.arange(1, len(errors) + 1)
            ax.plot(epochs, errors.mean(1), color=f"C{k}", label=arm)
            if errors.shape[1] > 1:
                ax.fill_between(epochs, errors.min(1), errors.max(1), color=f"C{k}", alpha=0.2, lw=0)
            low, high = min(low, errors.min()), max(high, errors.max())
        ax.set_yscale("log")
        if 0 < low < high:
            ax.yaxis.set_major_locator(FixedLocator(log_ticks(low, high)))
            ax.yaxis.set_major_formatter("{x:g}")
            ax.yaxis.set_minor_locator(NullLocator())
        _whole_epochs(ax)
    n_val, seeds = result["n_validation"], len(result["seeds"])
    titles = ("validation: chooses the recipe", "test: read to report, never to choose")
    labels = (f"validation errors (of {n_val:,})", "test errors (of 10,000)")
    if not n_val:
        titles = ("no validation split: the recipe was chosen before", "test: read to report, never to choose")
    for ax, title, label in zip(axes, titles, labels, strict=True):
        ax.set(xlabel="epoch", ylabel=label)
        ax.set_title(title, fontsize=10)
        if ax.lines:
            ax.legend(fontsize=8, title=f"mean of {seeds} seeds, range shaded", title_fontsize=8)
    return fig
