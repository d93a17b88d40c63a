"""Fixed soft targets against consistent teaching (Beyer et al. 2022), chosen on a validation split.

Fixed targets: the teacher labels each transfer image once, unshifted, and the student sees those images.
Consistent teaching: every batch is shifted by up to k pixels and the teacher labels that very view. Both arms
train the same students (seeds, epochs, T, alpha) on the training images minus a validation split carved from
them. The validation errors choose the recipe; the test errors of the chosen one are the figure to quote.
"""

import time

import numpy as np

from ._checks import count, instance_of
from .experiments import Preset, Workspace, seed_list, split_validation, torch_index
from .mnist.train import train_students
from .noise import compare, exceeds_noise, spread

FIXED, CONSISTENT = "fixed targets", "consistent teaching"


def compare_teaching(
    workspace, preset, n_seeds=3, n_validation=10000, transfer_jitter=None, progress=True, on_epoch=None
):
    """Train ``n_seeds`` students with fixed soft targets, then as many with consistent teaching (shifts of up to
    ``transfer_jitter`` pixels; default the preset's, else 2), on workspace's training images minus a validation
    split of ``n_validation``; count validation and test errors after every epoch.

    ``on_epoch(result)`` is called after each epoch with the result so far. Returns a dict: per arm the
    validation and test errors (epochs x seeds) and seconds; the validation verdict; the chosen arm (the better
    beyond the seed spread, else fixed targets, the cheaper); its test errors.
    """
    instance_of(workspace, Workspace, "workspace", "kdviz.experiments.prepare(data, preset)")
    instance_of(preset, Preset, "preset", "get_preset('patient')")
    jitter = (preset.transfer_jitter or 2) if transfer_jitter is None else transfer_jitter
    count(jitter, "transfer_jitter (consistent teaching needs a shift of 1 to 13 pixels)", 1, 13)
    seeds = seed_list(preset.student, n_seeds)
    train_idx, val_idx = split_validation(workspace, n_validation)
    train_rows, val_rows = torch_index(train_idx, workspace), torch_index(val_idx, workspace)
    x, y = workspace.x_train[train_rows], workspace.y_train[train_rows]
    x_val, y_val = workspace.x_train[val_rows], workspace.y_train[val_rows]
    result = {
        "T": preset.T,
        "alpha": preset.alpha,
        "transfer_jitter": jitter,
        "student_hidden": preset.student.hidden,
        "epochs": preset.student.epochs,
        "seeds": seeds,
        "n_train": len(train_idx),
        "n_validation": len(val_idx),
        "device": str(workspace.device),
        "arms": {},
    }
    for arm, shift in ((FIXED, 0), (CONSISTENT, jitter)):
        start = time.perf_counter()

        def record(epoch, history, arm=arm, start=start):
            result["arms"][arm] = {
                "val_errors": np.array(history.val_errors).tolist(),
                "test_errors": np.array(history.test_errors).tolist(),
                "seconds": round(time.perf_counter() - start, 1),
            }
            if on_epoch is not None:
                on_epoch(result)

        train_students(
            x,
            y,
            None if shift else workspace.teacher_logits[train_rows],
            preset.T,
            preset.alpha,
            preset.student,
            seeds=seeds,
            x_test=workspace.x_test,
            y_test=workspace.y_test,
            x_val=x_val,
            y_val=y_val,
            progress=progress,
            callback=record,
            description=f"{arm}, {n_seeds} seed{'s' if n_seeds > 1 else ''}",
            teacher=workspace.teacher if shift else None,
            transfer_jitter=shift,
        )
    final_val = {arm: result["arms"][arm]["val_errors"][-1] for arm in (FIXED, CONSISTENT)}
    result["verdict"] = compare(FIXED, final_val[FIXED], CONSISTENT, final_val[CONSISTENT], "validation errors")
    result["chosen"] = choose_recipe(final_val[FIXED], final_val[CONSISTENT])
    result["chosen_test_errors"] = result["arms"][result["chosen"]]["test_errors"][-1]
    return result


def choose_recipe(fixed_val_errors, consistent_val_errors):
    """The arm with fewer validation errors (mean over seeds) when the gap exceeds both seed ranges; else fixed
    targets, the cheaper recipe."""
    if exceeds_noise(fixed_val_errors, consistent_val_errors):
        return FIXED if spread(fixed_val_errors).mean < spread(consistent_val_errors).mean else CONSISTENT
    return FIXED


def choice_sentence(result):
    """Which recipe the validation errors chose, and its test errors (read for that recipe only)."""
    chosen, test = result["chosen"], spread(result["chosen_test_errors"])
    final_val = [result["arms"][arm]["val_errors"][-1] for arm in (FIXED, CONSISTENT)]
    why = (
        "fewer validation errors, beyond the seed spread"
        if exceeds_noise(*final_val)
        else "the cheaper of two recipes within noise of each other on the validation images"
    )
    return (
        f"Chosen: {chosen} ({why}). Its test errors after {result['epochs']} epochs: {test.text()} "
        f"out of 10,000 test images."
    )


def epoch_marks(epochs, n=6):
    """About n epochs spread over 1..epochs, the last included: where a table samples the curves."""
    return sorted({max(1, int(round(e))) for e in np.linspace(epochs / n, epochs, n)} | {epochs})


def errors_table(result, marks=None):
    """A Markdown table of both arms' validation and test errors (mean, seed range) at the epochs ``marks``."""
    marks = epoch_marks(len(result["arms"][FIXED]["val_errors"])) if marks is None else marks
    header = ["epoch"] + [f"{arm}: {split}" for arm in (FIXED, CONSISTENT) for split in ("validation", "test")]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for epoch in marks:
        cells = [
            spread(result["arms"][arm][key][epoch - 1]).text(seeds=False)
            for arm in (FIXED, CONSISTENT)
            for key in ("val_errors", "test_errors")
        ]
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
