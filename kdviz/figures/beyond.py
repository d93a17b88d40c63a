"""Figures of notebook 06: reliability diagrams, the two temperatures, two teachers' class similarities,
results over seeds, fidelity, and the split of the distillation KL. One function per figure; each takes
numbers and returns a matplotlib Figure."""

import numpy as np
from matplotlib.colors import LogNorm

from .._checks import (
    as_logits,
    count,
    logit_batch,
    non_empty,
    plot_temperature,
    same_settings,
    square_matrix,
    temperature_range,
)
from ..calibration import expected_calibration_error, mean_nll, reliability
from ..temperature import kl_decomposition, softmax
from .softmax import new_figure


def plot_reliability(probabilities_by_name, labels, n_bins=15):
    """One reliability diagram per entry of {title: probabilities (N, C)}: accuracy against mean confidence
    in each bin (bars), the gap to the diagonal shaded, the ECE and the number of examples per bin written in."""
    non_empty(probabilities_by_name, "set of probabilities to draw", mapping=True)
    fig, axes = new_figure(4.2 * len(probabilities_by_name), 4.1, ncols=len(probabilities_by_name))
    axes = np.atleast_1d(axes)
    edges = np.linspace(0, 1, count(n_bins, "n_bins") + 1)
    for ax, (title, p) in zip(axes, probabilities_by_name.items(), strict=True):
        confidence, accuracy, sizes = reliability(p, labels, n_bins)
        used = sizes > 0
        left, width = edges[:-1][used], np.diff(edges)[used]
        ax.bar(left, accuracy[used], width, align="edge", color="C0", edgecolor="k", lw=0.5, label="accuracy")
        ax.bar(
            left,
            confidence[used] - accuracy[used],
            width,
            bottom=accuracy[used],
            align="edge",
            fill=False,
            hatch="////",
            edgecolor="C3",
            lw=0.5,
            label="gap to the mean confidence",
        )
        ax.plot([0, 1], [0, 1], "k--", lw=1, label="calibrated")
        for x, w, a, n in zip(left, width, accuracy[used], sizes[used], strict=True):
            ax.text(x + w / 2, min(a, 0.9) + 0.02, f"{n}", ha="center", fontsize=6, rotation=90)
        ece = 100 * expected_calibration_error(p, labels, n_bins)
        ax.set(xlim=(0, 1), ylim=(0, 1.05), xlabel="confidence (largest probability)", ylabel="accuracy")
        ax.set_title(f"{title}\nECE = {ece:.2f}%", fontsize=10)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=3, fontsize=8)  # outside: it hides no bar
    return fig


def plot_two_temperatures(logits, labels, calibration_T, distillation_T, T_min=0.1, T_max=100.0):
    """The two jobs of T on one axis. Left: the mean NLL and the ECE of softmax(logits / T) on (logits, labels),
    lowest near the calibration T. Right: the mean probability the soft targets give all the wrong classes
    together (1 - p_label) against T, with both temperatures marked."""
    T_min, T_max = temperature_range(T_min, T_max)
    calibration_T = plot_temperature(calibration_T, "calibration_T")
    distillation_T = plot_temperature(distillation_T, "distillation_T")
    grid = np.geomspace(T_min, T_max, 60)
    logits, labels = np.asarray(logits, dtype=float), np.asarray(labels)
    nll = [mean_nll(logits, labels, T) for T in grid]
    ece = [100 * expected_calibration_error(softmax(logits, T), labels) for T in grid]

    def wrong_mass(T):
        return float(np.mean(1 - softmax(logits, T)[np.arange(len(labels)), labels]))

    fig, (ax_fit, ax_mass) = new_figure(10, 3.8, ncols=2)
    ax_fit.loglog(grid, nll, color="C0", label="mean NLL")
    ax_fit.set(xlabel="temperature T", ylabel="mean NLL (nats, log scale)")
    ax_ece = ax_fit.twinx()
    ax_ece.loglog(grid, ece, color="C1", ls="--", label="ECE (%)")
    ax_ece.set_ylabel("ECE (%, log scale)")
    ax_fit.axvline(calibration_T, color="k", ls=":")
    ax_fit.set_title(f"calibration: the NLL is lowest at T = {calibration_T:.3g}", fontsize=10)
    ax_fit.legend(ax_fit.get_lines()[:1] + ax_ece.get_lines(), ["mean NLL", "ECE (%)"], loc="upper center", fontsize=8)
    ax_mass.semilogx(grid, [wrong_mass(T) for T in grid], color="C2")
    for T, name, style in ((calibration_T, "calibration", ":"), (distillation_T, "distillation", "-.")):
        label = f"{name} T = {T:.3g}: {100 * wrong_mass(T):.2g}% on wrong classes"
        ax_mass.axvline(T, color="k", ls=style, label=label)
    ax_mass.set(xlabel="temperature T", ylabel="mean 1 - p(label)", ylim=(0, 1))
    ax_mass.set_title("distillation: how much the soft targets say about the wrong classes", fontsize=10)
    ax_mass.legend(fontsize=8, loc="upper left")
    return fig


def plot_similarity_pair(matrices, T):
    """Class-similarity matrices ({title: 10 x 10 mean soft targets}) side by side on one log colour scale,
    diagonals hidden: row c, column j is the mean probability a teacher gives class j for images of class c."""
    non_empty(matrices, "class-similarity matrix", mapping=True)
    T = plot_temperature(T, "T")
    shown = {}
    for title, matrix in matrices.items():
        matrix = square_matrix(matrix, f"{title}: a class-similarity matrix")
        shown[title] = np.where(np.eye(len(matrix), dtype=bool), np.nan, matrix)
    values = np.concatenate([m[np.isfinite(m) & (m > 0)] for m in shown.values()])
    norm = LogNorm(values.min(), values.max())
    fig, axes = new_figure(4.6 * len(shown) + 0.8, 4.2, ncols=len(shown))
    axes = np.atleast_1d(axes)
    for ax, (title, matrix) in zip(axes, shown.items(), strict=True):
        image = ax.imshow(matrix, cmap="viridis", norm=norm)
        n = len(matrix)
        ax.set(xticks=range(n), yticks=range(n), xlabel="class the teacher suggests", ylabel="true class")
        ax.set_title(f"{title}, T = {T:.3g}", fontsize=10)
    fig.colorbar(image, ax=list(axes), label="mean probability (log scale; diagonal hidden)")
    return fig


def plot_seed_results(results, ylabel, title, references=None):
    """Each setting's per-seed results as dots with a bar at their mean ({setting: values}); ``references``
    ({name: values}) are drawn across the plot as a line at their mean over a band of their seed range."""
    non_empty(results, "setting's results", mapping=True)
    fig, ax = new_figure(max(5.0, 1.1 * len(results) + 2.5), 3.6)
    for k, values in enumerate(results.values()):
        values = np.atleast_1d(np.asarray(values, dtype=float))
        ax.plot(np.full(values.size, k), values, "o", color="C0", alpha=0.7)
        ax.plot([k - 0.25, k + 0.25], [values.mean()] * 2, color="k", lw=2)
    for j, (name, values) in enumerate((references or {}).items()):
        values = np.atleast_1d(np.asarray(values, dtype=float))
        colour = f"C{j + 1}"
        ax.axhline(values.mean(), color=colour, ls=":", label=f"{name} (mean; band: seed range)")
        ax.axhspan(values.min(), values.max(), color=colour, alpha=0.12, lw=0)
    ax.set_xticks(range(len(results)), list(results), fontsize=8)
    ax.set(ylabel=ylabel, title=title, xlim=(-0.6, len(results) - 0.4))
    if references:
        ax.legend(fontsize=8)
    return fig


def plot_fidelity(errors, disagreements, kls):
    """Accuracy against fidelity, one dot per student: test errors against test images on which it disagrees
    with the teacher (left) and against mean KL(teacher || student) at T = 1 (right). Each argument maps a
    setting's name to its per-seed values."""
    same_settings({"errors": errors, "disagreements": disagreements, "kls": kls})
    fig, (ax_agree, ax_kl) = new_figure(10, 3.8, ncols=2)
    for k, name in enumerate(errors):
        for ax, fidelity in ((ax_agree, disagreements[name]), (ax_kl, kls[name])):
            ax.plot(errors[name], fidelity, "o", color=f"C{k % 10}", label=name, alpha=0.8)
    ax_agree.set(xlabel="test errors", ylabel="test images where top-1 differs from the teacher's")
    ax_kl.set(xlabel="test errors", ylabel="mean KL(teacher || student), T = 1")
    ax_agree.set_title("does the more accurate student agree more?", fontsize=10)
    ax_kl.set_title("... and match the teacher's probabilities better?", fontsize=10)
    ax_kl.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return fig


def plot_kl_split(teacher_logits, student_logits, targets, T, T_min=0.5, T_max=50.0):
    """The distillation KL split at the target class, averaged over a batch, against T (log axis), with a
    marker at T. Left: the weight 1 - p_t of the non-target term. Right: the two parts, KL(b_p || b_q) and
    (1 - p_t) KL(p_hat || q_hat), times T^2 as in the loss, stacked; the top of the stack is T^2 KL(p_T || q_T)."""
    T = plot_temperature(T, "T")
    T_min, T_max = temperature_range(T_min, T_max)
    grid = np.unique(np.append(np.geomspace(T_min, T_max, 50), T))
    v, z = logit_batch(teacher_logits, "teacher_logits"), as_logits(student_logits, "student_logits")
    target_kl, non_target_kl, weight = kl_decomposition(v[None], z[None], targets, grid[:, None, None])
    target_part, non_target_part = grid**2 * target_kl.mean(1), grid**2 * (weight * non_target_kl).mean(1)
    now = np.flatnonzero(grid == T)[0]
    fig, (ax_w, ax_kl) = new_figure(10, 3.6, ncols=2)
    ax_w.semilogx(grid, weight.mean(1), color="C2")
    ax_w.plot(T, weight.mean(1)[now], "o", color="C2", mec="k")
    ax_w.set(xlabel="temperature T", ylabel="mean 1 - p_t", ylim=(0, 1))
    ax_w.set_title(f"weight of the non-target term: {weight.mean(1)[now]:.3g} at T = {T:.3g}", fontsize=10)
    ax_kl.stackplot(grid, target_part, non_target_part, labels=["target part", "non-target part"], alpha=0.8)
    ax_kl.set_xscale("log")
    ax_kl.axvline(T, color="k", ls=":")
    total = target_part[now] + non_target_part[now]
    share = non_target_part[now] / total if total > 0 else 0.0
    ax_kl.set(xlabel="temperature T", ylabel="T^2 x mean KL(p_T || q_T)")
    ax_kl.set_title(f"non-target share of the KL at T = {T:.3g}: {100 * share:.0f}%", fontsize=10)
    ax_kl.legend(fontsize=8, loc="upper right")
    return fig
