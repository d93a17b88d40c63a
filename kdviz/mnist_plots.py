"""Figures of the MNIST lessons: digits, a teacher's soft targets, training histories and error
grids. One function per figure; each takes numbers and returns a matplotlib Figure."""

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator

from .plots import new_figure
from .temperature import softmax


def plot_digits(images, labels, n=16, predictions=None):
    """A grid of the first n digits with their labels (and predictions, where given)."""
    n = min(n, len(images))
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
    """One test digit and the teacher's probabilities for it at several temperatures, on a log axis."""
    fig = Figure(figsize=(9, 2.8), layout="constrained")
    ax_img, ax = fig.subplots(1, 2, width_ratios=[1, 4])
    ax_img.imshow(np.asarray(image).reshape(28, 28), cmap="gray_r")
    ax_img.set_title(f"true class {label}")
    ax_img.axis("off")
    logits = np.asarray(teacher_logits, dtype=float)
    width = 0.8 / len(temperatures)
    for k, T in enumerate(temperatures):
        ax.bar(np.arange(10) + (k - (len(temperatures) - 1) / 2) * width, softmax(logits, T), width, label=f"T = {T:g}")
    ax.set(yscale="log", xticks=range(10), xlabel="class", ylabel="teacher probability")
    ax.set_ylim(bottom=max(1e-30, softmax(logits, temperatures[0]).min() / 10), top=2)
    ax.legend(fontsize=8)
    return fig


def class_similarity(teacher_logits, labels, T):
    """10 x 10 matrix: row c is the mean soft target softmax(v / T) over examples of true class c."""
    q = softmax(np.asarray(teacher_logits, dtype=float), T)
    labels = np.asarray(labels)
    return np.stack([q[labels == c].mean(axis=0) for c in range(q.shape[1])])


def plot_class_similarity(teacher_logits, labels, T, hide_diagonal=True):
    """Heatmap of the mean soft targets per true class: which digits the teacher thinks alike."""
    matrix = class_similarity(teacher_logits, labels, T)
    shown = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix) if hide_diagonal else matrix
    fig, ax = new_figure(5.2, 4.4)
    image = ax.imshow(shown, cmap="viridis")
    fig.colorbar(image, ax=ax, label="mean probability")
    ax.set(xticks=range(10), yticks=range(10), xlabel="class the teacher suggests", ylabel="true class")
    ax.set_title(f"mean soft targets at T = {T:g}" + (" (diagonal hidden)" if hide_diagonal else ""))
    return fig


def plot_training_curves(history, labels=None, title="training"):
    """Loss and error curves from a ``kdviz.train.History``, one line per student."""
    margins = {"left": 0.08, "right": 0.98, "bottom": 0.16, "top": 0.9, "wspace": 0.25}
    fig, (ax_loss, ax_err) = new_figure(9, 3.2, ncols=2, margins=margins)
    epochs = history.epochs
    loss = np.array(history.loss)
    k = loss.shape[1] if loss.ndim == 2 else 1
    labels = labels or [f"student {i}" for i in range(k)]
    for i in range(k):
        ax_loss.plot(epochs, loss[:, i], marker=".", label=labels[i])
        if history.test_errors:
            ax_err.plot(epochs, np.array(history.test_errors)[:, i], marker=".", label=f"{labels[i]} test")
        if history.train_errors:
            ax_err.plot(epochs, np.array(history.train_errors)[:, i], ls="--", label=f"{labels[i]} train")
    ax_loss.set(xlabel="epoch", ylabel="loss", title=title)
    ax_err.set(xlabel="epoch", ylabel="errors")
    ax_err.legend(fontsize=7)
    return fig


def plot_error_rates(history, n_train, n_test, labels):
    """Train and test accuracy (%) against epoch: the overfitting picture of the 3% experiment."""
    fig, ax = new_figure(6.5, 3.6)
    epochs = history.epochs
    train = 100 * (1 - np.array(history.train_errors) / n_train)
    test = 100 * (1 - np.array(history.test_errors) / n_test)
    for i, label in enumerate(labels):
        ax.plot(epochs, train[:, i], "--", color=f"C{i}", label=f"{label}: train")
        ax.plot(epochs, test[:, i], "-", color=f"C{i}", label=f"{label}: test")
    ax.set(xlabel="epoch", ylabel="accuracy (%)", title="same small transfer set, hard labels vs soft targets")
    ax.legend(fontsize=8)
    return fig


def plot_error_grid(temperatures, alphas, errors, title="student test errors"):
    """Heatmap of test errors over the T x alpha grid, each cell labelled."""
    errors = np.asarray(errors)
    fig, ax = new_figure(1.2 * len(alphas) + 2.5, 0.5 * len(temperatures) + 1.8)
    image = ax.imshow(errors, cmap="viridis_r", aspect="auto")
    for (r, c), value in np.ndenumerate(errors):
        ax.text(c, r, f"{value:g}", ha="center", va="center", color="w", fontsize=8)
    ax.set_xticks(range(len(alphas)), [f"{a:g}" for a in alphas])
    ax.set_yticks(range(len(temperatures)), [f"{t:g}" for t in temperatures])
    ax.set(xlabel="alpha (weight of the soft term)", ylabel="temperature T", title=title)
    fig.colorbar(image, ax=ax, label="test errors")
    return fig


def plot_errors_against_T(temperatures, errors_by_size, baseline_by_size=None):
    """Test errors against T, one line per student size (dict size -> errors)."""
    fig, ax = new_figure(6.5, 3.6)
    for k, (size, errors) in enumerate(errors_by_size.items()):
        ax.semilogx(temperatures, errors, "o-", color=f"C{k}", label=f"{size} hidden units")
        if baseline_by_size and size in baseline_by_size:
            ax.axhline(baseline_by_size[size], color=f"C{k}", ls=":", label=f"{size} units, labels only")
    ax.set(xlabel="temperature T", ylabel="test errors", title="distillation temperature and student size")
    ax.legend(fontsize=8)
    return fig


def plot_lab_results(rows):
    """Every lab run so far: mean test errors against T, coloured by alpha, one marker per student size,
    with a bar over each run's seed range (min to max)."""
    fig, ax = new_figure(6.5, 3.6, margins={"left": 0.13, "right": 0.97, "bottom": 0.15, "top": 0.9})
    markers, colours = {}, colormaps["plasma"]
    for row in rows:
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
    for hidden, marker in markers.items():
        ax.scatter([], [], marker=marker, c="w", edgecolors="k", label=f"{hidden} units")
    ax.set(
        xscale="log",
        xlabel="temperature T",
        ylabel="test errors (mean; bar: seed range)",
        title="lab runs (colour: alpha, 0 dark to 1 bright)",
    )
    ax.xaxis.set_major_locator(FixedLocator([1, 2, 5, 10, 20, 50]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter("{x:g}")
    ax.set_xlim(0.9, 55)
    if markers:
        ax.legend(fontsize=8)
    return fig
