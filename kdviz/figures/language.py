"""Figures of notebook 07: sampling temperature against diversity and validity, one Gaussian fitted to two modes
each way, students' precision against their coverage of rare strings, next-symbol distributions in one context,
and the two jobs of one temperature. One function per figure; each takes numbers and returns a matplotlib Figure."""

import numpy as np
from scipy.stats import norm

from .._checks import count, non_empty, one_of, plot_temperature, sampling_cut
from ..language import (
    CONTEXT_INDEX,
    CONTEXTS,
    LETTERS,
    SYMBOLS,
    is_valid,
    sample_strings,
    source_contexts,
    string_entropy,
)
from ..language import valid_share as exact_valid_share
from ..language_models import two_mode_fits
from ..temperature import entropy, sampling_distribution, softmax
from .softmax import new_figure, temperature_text

SAMPLING_GRID = np.geomspace(0.1, 5.0, 25)


def _entropy_and_validity(teacher_logits, temperatures, top_k, top_p):
    tables = [sampling_distribution(teacher_logits, T, top_k, top_p) for T in temperatures]
    return [string_entropy(t) for t in tables], [100 * exact_valid_share(t) for t in tables]


def plot_sampling(teacher_logits, T, top_k=None, top_p=None, n_shown=12, seed=0):
    """Left: the entropy of the teacher's strings (nats) and the share of valid ones (%) against the sampling T
    (log axis), with top_k and top_p (solid) and without them (dashed), the current T marked. Right: ``n_shown``
    strings written at T (seeded), the invalid ones in red."""
    T = plot_temperature(T, "T")
    top_k, top_p = sampling_cut(top_k, top_p)
    n_shown = count(n_shown, "n_shown", 1, 30)
    grid = np.unique(np.append(SAMPLING_GRID, T))
    fig, (ax, ax_text) = new_figure(10.5, 3.8, ncols=2)
    ax_valid = ax.twinx()
    cut = top_k is not None or top_p is not None
    settings = [(None, None, "--", "T alone")] + ([(top_k, top_p, "-", _cut_name(top_k, top_p))] if cut else [])
    for k, p, style, label in settings:
        entropies, valid = _entropy_and_validity(teacher_logits, grid, k, p)
        ax.semilogx(grid, entropies, style, color="C0", label=f"entropy, {label}")
        ax_valid.semilogx(grid, valid, style, color="C3", label=f"valid %, {label}")
    now = sampling_distribution(teacher_logits, T, top_k, top_p)
    entropy_now, valid_now = string_entropy(now), 100 * exact_valid_share(now)
    ax.plot(T, entropy_now, "o", color="C0", mec="k")
    ax_valid.plot(T, valid_now, "o", color="C3", mec="k")
    ax.set(xlabel="sampling temperature T", ylabel="entropy of the strings (nats)")
    ax_valid.set(ylabel="valid strings (%)", ylim=(0, 102))
    ax.set_title(f"T = {temperature_text(T)}: entropy {entropy_now:.2f} nats, {valid_now:.1f}% valid", fontsize=10)
    lines = ax.get_lines()[::1] + ax_valid.get_lines()
    shown = [line for line in lines if not line.get_label().startswith("_")]
    ax.legend(shown, [line.get_label() for line in shown], fontsize=7, loc="center left")
    written = sample_strings(now, n_shown, seed).texts
    ax_text.axis("off")
    ax_text.set_title(
        f"{n_shown} strings written at T = {temperature_text(T)}" + (f", {_cut_name(top_k, top_p)}" if cut else ""),
        fontsize=10,
    )
    for row, text in enumerate(written):
        ok = is_valid(text)
        shown_text = text if text.endswith(".") else text + " (cut)"
        ax_text.text(
            0.05 + 0.5 * (row % 2),
            0.92 - 0.15 * (row // 2),
            ("" if ok else "x ") + shown_text,
            family="monospace",
            color="k" if ok else "C3",
            transform=ax_text.transAxes,
        )
    return fig


def _cut_name(top_k, top_p):
    parts = ([f"top-k = {top_k}"] if top_k is not None else []) + ([f"top-p = {top_p:g}"] if top_p is not None else [])
    return ", ".join(parts) or "no cut"


def plot_two_modes(separation=5.0, left_weight=0.5, sd=0.7):
    """The mixture p = w N(-d/2, sd^2) + (1 - w) N(d/2, sd^2) and the single Gaussians fitted to it by forward
    KL(p || q) (mode-covering) and reverse KL(q || p) (mode-seeking), with their means, sds and both KLs."""
    fits = two_mode_fits(separation, left_weight, sd)
    x = np.linspace(-separation / 2 - 5 * sd - 3, separation / 2 + 5 * sd + 3, 600)
    p = left_weight * norm.pdf(x, -separation / 2, sd) + (1 - left_weight) * norm.pdf(x, separation / 2, sd)
    fig, ax = new_figure(7.5, 3.6)
    ax.fill_between(x, p, color="0.8", label="p: two modes")
    for (name, fit), colour in zip(fits.items(), ("C0", "C3"), strict=True):
        ax.plot(
            x,
            norm.pdf(x, fit["mean"], fit["sd"]),
            color=colour,
            label=f"{name} KL: mean {fit['mean']:.2f}, sd {fit['sd']:.2f}; KL(p||q) {fit['KL(p || q)']:.2f}, "
            f"KL(q||p) {fit['KL(q || p)']:.2f}",
        )
    ax.set(xlabel="x", ylabel="density", ylim=(0, None))
    ax.set_title(
        f"modes {separation:g} apart, left weight {left_weight:.2f}: one Gaussian fitted each way", fontsize=10
    )
    ax.legend(fontsize=7, loc="upper left")
    return fig


def plot_precision_coverage(results, references=None):
    """Each student as a dot: the rare strings it covers (%) against the valid strings it writes (%); ``results``
    maps a recipe to {measure: per-seed values} (``Students.results``), ``references`` a name to one measure dict
    (the teacher, say), drawn as stars."""
    non_empty(results, "recipe's results", mapping=True)
    fig, ax = new_figure(6.5, 4.0)
    for k, (name, values) in enumerate(results.items()):
        ax.plot(values["rare"], values["valid"], "o", color=f"C{k % 10}", alpha=0.8, label=name)
    for name, values in (references or {}).items():
        ax.plot(values["rare"], values["valid"], "*", color="k", ms=12, label=name)
    ax.set(xlabel="rare strings covered (%)", ylabel="valid strings written (%)")
    ax.set_title("precision against coverage, one dot per student (seed)", fontsize=10)
    ax.legend(fontsize=7, loc="best")
    return fig


def plot_next_symbols(teacher_logits, student_logits, last_letter):
    """What follows ``last_letter``: the teacher's next-symbol distribution in each context of the source that ends
    with it (the letter before it is what a student that reads one letter cannot see), as lines, and each student's
    one distribution there ({name: logit table}, read in the first of those contexts), as bars."""
    one_of(last_letter, list(LETTERS), "last_letter")
    rows = [CONTEXT_INDEX[c] for c in source_contexts() if c[1] == last_letter]
    teacher = softmax(np.asarray(teacher_logits, dtype=float))
    fig, ax = new_figure(8.5, 3.8)
    x = np.arange(len(SYMBOLS))
    width = 0.8 / max(1, len(student_logits))
    for k, (name, logits) in enumerate(student_logits.items()):
        q = softmax(np.asarray(logits, dtype=float))[rows[0]]
        ax.bar(x - 0.4 + width * (k + 0.5), q, width, color=f"C{k % 10}", alpha=0.8, label=f"student: {name}")
    for j, row in enumerate(rows):
        ax.plot(
            x,
            teacher[row],
            marker="_",
            ms=18,
            mew=2,
            ls="none",
            color=f"C{(j + 5) % 10}",
            label=f"teacher after '{CONTEXTS[row]}'",
        )
    ax.set(xticks=x, xticklabels=[repr(s) for s in SYMBOLS], ylabel="probability of the next symbol", ylim=(0, 1.05))
    ax.set_title(f"after '{last_letter}': students read only this letter, the teacher also the one before", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    return fig


def plot_two_jobs(teacher_logits, context, T):
    """One vector, two jobs. Left: softmax(teacher logits / T) in ``context``: the soft target of distillation at T
    and the distribution a sampler draws from at T are the same numbers. Right, against T: the entropy of that
    vector (what the soft targets show of the small probabilities) and the share of valid strings the teacher
    writes when sampled at T, the current T marked."""
    T = plot_temperature(T, "T")
    one_of(context, source_contexts(), "context (one the source writes)")
    logits = np.asarray(teacher_logits, dtype=float)
    row = logits[CONTEXT_INDEX[context]]
    q = softmax(row, T)
    grid = np.unique(np.append(np.geomspace(0.1, 20.0, 30), T))
    fig, (ax_bars, ax_curves) = new_figure(10.5, 3.6, ncols=2)
    ax_bars.bar(np.arange(len(SYMBOLS)), q, color="C2")
    ax_bars.set(
        xticks=np.arange(len(SYMBOLS)), xticklabels=[repr(s) for s in SYMBOLS], ylim=(0, 1.05), ylabel="probability"
    )
    ax_bars.set_title(
        f"after '{context}' at T = {temperature_text(T)}: soft target = sampling distribution", fontsize=9
    )
    ax_curves.semilogx(
        grid, [entropy(softmax(row, t)) for t in grid], color="C2", label=f"entropy after '{context}' (nats)"
    )
    ax_curves.axvline(T, color="k", ls=":")
    ax_valid = ax_curves.twinx()
    ax_valid.semilogx(grid, [100 * exact_valid_share(sampling_distribution(logits, t)) for t in grid], color="C3")
    ax_valid.set(ylabel="valid strings when sampled at T (%)", ylim=(0, 102))
    ax_curves.set(xlabel="temperature T", ylabel="entropy of the soft target (nats)")
    ax_curves.set_title("distillation reads the small probabilities; sampling writes them", fontsize=9)
    ax_curves.legend(
        ax_curves.get_lines()[:1] + ax_valid.get_lines(),
        ["soft target's entropy", "valid strings sampled (%)"],
        fontsize=7,
        loc="center left",
    )
    return fig
