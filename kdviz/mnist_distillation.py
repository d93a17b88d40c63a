"""Lesson 04, the paper's MNIST experiment: the teacher's soft targets, how alike it finds the digits, the
paper's comparison (teacher, student alone, distilled student), a T x alpha grid, and the teacher left in train
mode. Each experiment runs on a ``kdviz.mnist.Workspace``; the sentences that report them are printed from their
numbers (never typed in), by the seed rule of ``kdviz.noise``.
"""

import time

import numpy as np
import torch
import torch.nn.functional as F

from . import _checks
from .mnist.train import TrainingOptions, logits_of, single_errors
from .mnist.workspace import PRESETS, Preset, prepare, seed_list
from .noise import compare, describe_best, exceeds_noise, spread, with_quick_mode_note
from .temperature import softmax

PAPER_ERRORS = {"teacher": 67, "student": 146, "distilled": 74}  # Hinton et al. 2015, section 3


# ---- the teacher's soft targets ----


def dark_knowledge_examples(teacher_logits, labels, k=2, confident=0.99, T=20.0):
    """Indices of k test images, of k different true classes, that show dark knowledge: the teacher gets each
    right with top probability above ``confident`` at T = 1 (so the wrong classes are invisible there), and at
    temperature T its most likely wrong class is as far ahead of the next one as can be found, so the order of
    the wrong classes can be read. The first wrong class's lead over the second at T is the probability ratio
    exp((v_2nd - v_3rd) / T) of the teacher's second and third largest logits."""
    logits = _checks.logit_batch(teacher_logits, "teacher_logits", min_classes=3)
    labels = _checks.label_array(labels, logits.shape[1], len(logits))
    k = _checks.count(k, "k")
    _checks.T_and_alpha(T, 1.0)
    confident = _checks.number(confident, "confident (a probability)", 0, 1, low_open=True, high_open=True)
    top = softmax(logits, 1.0).max(1)
    candidates = np.flatnonzero((logits.argmax(1) == labels) & (top > confident))
    second, third = np.sort(logits[candidates], axis=1)[:, -3:-1].T[::-1]
    chosen = []
    for index in candidates[np.argsort(second - third, kind="stable")[::-1]]:
        if labels[index] not in labels[chosen]:
            chosen.append(index)
        if len(chosen) == k:
            return np.array(chosen)
    raise ValueError(
        f"only {len(chosen)} true classes have an image the teacher gets right with probability > {confident:g} "
        f"at T = 1; ask for k <= {len(chosen)} or lower confident"
    )


def most_confusable(teacher_logits, labels, true_class, other_class, k=3):
    """Indices of the k examples of ``true_class`` that the teacher classifies correctly but finds most
    like ``other_class`` (largest margin of the other_class logit over the runner-up of the rest)."""
    logits = _checks.logit_batch(teacher_logits, "teacher_logits")
    labels = _checks.label_array(labels, logits.shape[1], len(logits))
    true_class = _checks.class_index(true_class, logits.shape[1], "true_class")
    other_class = _checks.class_index(other_class, logits.shape[1], "other_class")
    k = _checks.count(k, "k")
    candidates = np.flatnonzero((labels == true_class) & (logits.argmax(1) == true_class))
    margin = logits[candidates, other_class] - logits[candidates, true_class]
    return candidates[np.argsort(margin)[::-1][:k]]


def top_classes_line(logits, T, k=4):
    """'P(4) = 0.292, P(9) = 0.157, ...': the k most likely classes of one image at temperature T, in order.

    A probability of 0.999 or more is written 1 - (sum of the others), so 1 - 4.3e-06 is not rounded to 1."""
    p = softmax(np.asarray(logits, dtype=float), T)
    parts = []
    for c in np.argsort(p, kind="stable")[::-1][: _checks.count(k, "k")]:
        if p[c] >= 0.999:
            text = f"1 - {np.delete(p, c).sum():.2g}"
        else:
            text = f"{p[c]:.3f}" if p[c] >= 0.01 else f"{p[c]:.2g}"
        parts.append(f"P({c}) = {text}")
    return ", ".join(parts)


# ---- which digits the teacher finds alike ----


def class_similarity(teacher_logits, labels, T):
    """10 x 10 matrix: row c is the mean soft target softmax(v / T) over examples of true class c."""
    q = softmax(_checks.logit_batch(teacher_logits, "teacher_logits"), T)
    labels = _checks.label_array(labels, q.shape[1], len(q))
    missing = [c for c in range(q.shape[1]) if not (labels == c).any()]
    if missing:
        raise ValueError(
            f"no examples of class(es) {missing} among the labels: their row of mean soft targets is empty"
        )
    return np.stack([q[labels == c].mean(axis=0) for c in range(q.shape[1])])


def similar_pairs(matrix, k=3):
    """The k largest off-diagonal cells of a class-similarity matrix, as (true class, suggested class, value)."""
    matrix = _checks.square_matrix(matrix, "matrix (classes x classes)")
    k = _checks.count(k, "k", 1, len(matrix) * (len(matrix) - 1))
    off = np.where(np.eye(len(matrix), dtype=bool), -np.inf, matrix)
    flat = np.argsort(off, axis=None)[::-1][:k]
    return [(int(r), int(c), float(matrix[r, c])) for r, c in zip(*np.unravel_index(flat, off.shape), strict=True)]


# ---- the paper's comparison and the T x alpha grid ----


def compare_students(workspace, preset, n_seeds=1, progress=True):
    """Test errors of the teacher, and of ``n_seeds`` seeds each of the student alone (alpha = 0) and the
    distilled student, all students trained stacked in one pass. Errors are lists with one entry per seed."""
    seeds = seed_list(preset.student, n_seeds)
    start = time.perf_counter()
    options = TrainingOptions(
        transfer_jitter=preset.transfer_jitter,
        description=f"student alone + distilled student, {n_seeds} seed{'s' if n_seeds > 1 else ''} each",
    )
    alphas = [0.0] * n_seeds + [preset.alpha] * n_seeds
    model, _ = workspace.train_students(preset.T, alphas, preset.student, seeds * 2, options=options, progress=progress)
    errors = workspace.test_errors(model)
    alone, distilled = errors[:n_seeds].tolist(), errors[n_seeds:].tolist()
    result = {
        "teacher_errors": single_errors(logits_of(workspace.teacher, workspace.x_test), workspace.y_test),
        "teacher_source": workspace.teacher_info["source"],
        "seeds": seeds,
        "student_errors": alone,
        "distilled_errors": distilled,
    }
    for name, values in (("student", alone), ("distilled", distilled)):
        result[f"{name}_errors_mean"] = round(spread(values).mean, 2)
        result[f"{name}_errors_sd"] = round(spread(values).sd, 2)
    result["verdict"] = compare("student alone", alone, "distilled student", distilled)
    result["seconds"] = {
        "teacher": round(workspace.teacher_info["seconds"], 2),
        "students": round(time.perf_counter() - start, 2),
    }
    result.update(
        teacher_cached=workspace.teacher_info["cached"],
        device=str(workspace.device),
        n_train=len(workspace.x_train),
        T=preset.T,
        alpha=preset.alpha,
        student_hidden=preset.student.hidden,
        student_epochs=preset.student.epochs,
        transfer_jitter=preset.transfer_jitter,
    )
    return result


def run_distillation(data, preset, device=None, n_seeds=1, progress=True):
    """Load or train the teacher, then ``compare_students``: the paper's table in one call."""
    _checks.instance_of(preset, Preset, "preset", "get_preset('quick')")
    seed_list(preset.student, n_seeds)  # refuse a bad count before any work
    start = time.perf_counter()
    workspace = prepare(data, preset, device, progress)
    workspace.teacher_info["seconds"] = time.perf_counter() - start
    return compare_students(workspace, preset, n_seeds, progress)


def run_sweep(workspace, temperatures, alphas, student, n_seeds=1, progress=True, transfer_jitter=0):
    """Test errors of one student per (T, alpha, seed) on the grid, trained together as stacked students.

    Returns an array of shape (len(temperatures), len(alphas), n_seeds).
    """
    temperatures, alphas = _checks.number_list(temperatures, "temperatures"), _checks.number_list(alphas, "alphas")
    seeds = seed_list(student, n_seeds)
    T_grid, alpha_grid, seed_grid = np.meshgrid(temperatures, alphas, seeds, indexing="ij")
    options = TrainingOptions(transfer_jitter=transfer_jitter, description="T x alpha grid")
    model, _ = workspace.train_students(
        T_grid.ravel(), alpha_grid.ravel(), student, seed_grid.ravel(), options=options, progress=progress
    )
    return workspace.test_errors(model).reshape(T_grid.shape)


def comparison_report(result):
    """The paper's comparison in lines, from a ``compare_students`` result: each model against the paper's
    errors, the seed-spread verdict, and which part of the paper's result this run reproduces (the ordering
    teacher < distilled < student alone, decided by the means and, between the students, by the seed range)."""
    teacher = result["teacher_errors"]
    alone, distilled = spread(result["student_errors"]), spread(result["distilled_errors"])
    lines = [
        f"  teacher            {teacher}  (paper {PAPER_ERRORS['teacher']})",
        f"  student alone      {alone}  (paper {PAPER_ERRORS['student']})",
        f"  distilled student  {distilled}  (paper {PAPER_ERRORS['distilled']})",
        result["verdict"],
    ]
    order = f"teacher {teacher} < distilled {distilled.mean:.1f} < student alone {alone.mean:.1f} (means)"
    beyond = exceeds_noise(result["distilled_errors"], result["student_errors"])
    if teacher < distilled.mean < alone.mean and beyond:
        lines.append(f"The paper's ordering reproduces here: {order}, the students' gap beyond the seed range.")
    elif teacher < distilled.mean < alone.mean:
        lines.append(f"The means fall in the paper's order, {order}, but the students' gap is within noise.")
    else:
        lines.append(
            f"The paper's ordering (teacher < distilled < student alone) does not hold here: teacher {teacher}, "
            f"distilled {distilled.mean:.1f}, student alone {alone.mean:.1f} (means)."
        )
    lines.append(
        f"Error counts: the paper's distilled student made {PAPER_ERRORS['distilled']}, these {distilled.mean:.1f} "
        f"after {result['student_epochs']} epochs on {result['n_train']:,} images; `python -m kdviz distill --preset "
        f"paper --seeds 3` trains the paper preset's {PRESETS['paper'].student.epochs}-epoch students."
    )
    return with_quick_mode_note(lines)


def sweep_report(temperatures, alphas, errors):
    """The T x alpha grid of ``run_sweep`` in lines: the best cell, and the cells worse beyond the noise and
    within it (``kdviz.noise.describe_best``)."""
    cells = {
        f"T = {T:g}, alpha = {a:g}": errors[i, j] for i, T in enumerate(temperatures) for j, a in enumerate(alphas)
    }
    return "\n".join(with_quick_mode_note([describe_best(cells, what="cell")]))


# ---- the teacher left in train mode: soft targets that change from call to call ----


@torch.no_grad()
def soft_target_change(teacher, images, T=20.0, seed=0):
    """How much the teacher's soft targets softmax(teacher(images) / T) differ between two calls on the same images,
    in eval mode and in train mode (dropout on): {mode: {"mean total variation": 1/2 sum |p1 - p2| averaged over
    images, "largest change": max |p1 - p2|, "top class changed": images whose argmax differs}}. The teacher's
    mode, and torch's random state, are as they were afterwards."""
    _checks.torch_module(teacher, "teacher")
    _checks.image_batch(images, "images")
    T = _checks.number(T, "temperature T", 0, low_open=True)
    was_training = teacher.training
    result = {}
    try:
        with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
            torch.manual_seed(seed)
            for mode in ("eval", "train"):
                teacher.train(mode == "train")
                first, second = (F.softmax(teacher(images).double() / T, dim=-1) for _ in range(2))
                result[mode] = {
                    "mean total variation": 0.5 * (first - second).abs().sum(-1).mean().item(),
                    "largest change": (first - second).abs().max().item(),
                    "top class changed": int((first.argmax(-1) != second.argmax(-1)).sum()),
                }
    finally:
        teacher.train(was_training)
    return result
