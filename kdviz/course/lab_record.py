"""Lesson 04's lab, recorded: its grid of T, alpha and student size trained once, for the course site.

A browser cannot train, but it can show what a press of Train gives. ``record_lab`` trains every setting of a grid
as the lab's presses do (``kdviz.widgets.lab``: PRESS_EPOCHS epochs on the first PRESS_IMAGES transfer images, seeds
0, 1, 2, the test errors counted after the last epoch), the settings of one student size stacked in one pass (a
student in a stack equals the same student trained alone), and keeps the errors with the date and the machine. It
also keeps one test digit and the teacher's logits for it, so the site can draw the soft targets at each T. ``python
-m kdviz record-lab`` writes it to docs/lab_run.json, which ``python -m kdviz site`` reads.
"""

import datetime
import json
import time
from pathlib import Path

import numpy as np

from .. import _checks
from .._files import write_atomically

LAB_RECORD_FILE = Path("docs") / "lab_run.json"
FORMAT = 1
FULL_GRID = {
    "T": [1.0, 2.0, 4.0, 10.0, 20.0, 50.0],
    "alpha": [0.0, 0.25, 0.5, 0.75, 1.0],
    "hidden": [30, 100, 300, 800],
}
SEEDS = [0, 1, 2]
T_RANGE = (1.0, 50.0)  # the lab's temperature slider


def checked_grid(T, alpha, hidden):
    """The grid as sorted lists without repeats; a clear error for a value the lab's controls cannot take."""
    T = sorted({_checks.number(t, "T (the lab's slider runs from 1 to 50)", *T_RANGE) for t in T})
    alpha = sorted({_checks.weight(a) for a in alpha})
    hidden = sorted({_checks.count(h, "hidden units per layer", 1, _checks.MAX_HIDDEN) for h in hidden})
    if not (T and alpha and hidden):
        raise ValueError("the grid needs at least one T, one alpha and one student size")
    return {"T": T, "alpha": alpha, "hidden": hidden}


def result_of(record, T, alpha, hidden):
    """The recorded test errors (one per seed) of one setting."""
    for row in record["results"]:
        if row["T"] == T and row["alpha"] == alpha and row["hidden"] == hidden:
            return row["errors"]
    raise KeyError(f"the lab record has no result for T={T:g}, alpha={alpha:g}, hidden={hidden}")


def describe_machine(record):
    """'recorded on Intel(R) Xeon(R) ... (2 cores, 2 torch threads), device cpu, torch 2.13.0'."""
    return (
        f"recorded on {record['cpu_model']} ({record['cpu_count']} cores, {record['torch_threads']} torch threads), "
        f"device {record['device']}, torch {record['torch']}"
    )


def _settings(grid):
    """The (T, alpha) pairs to train: every pair, but alpha = 0 once (labels only: T changes nothing)."""
    pairs = [(T, alpha) for T in grid["T"] for alpha in grid["alpha"] if alpha > 0]
    return ([(grid["T"][0], 0.0)] if 0.0 in grid["alpha"] else []) + pairs


def record_lab(workspace, test_images, grid, epochs, images, seeds=SEEDS, progress=print):
    """Train the grid's settings as the lab's presses do; the record (a dict) with the date and the machine.

    ``workspace``: a prepared ``kdviz.mnist.Workspace`` and ``test_images`` its test images as MNIST stores them
    (uint8, for the digit kept); each student trains ``epochs`` epochs on its first ``images`` transfer images (all
    of them where there are fewer), ``seeds`` seeds per setting.
    """
    from ..mnist.models import mlp_weights
    from ..mnist.train import StudentConfig, TrainingOptions
    from ..mnist_distillation import dark_knowledge_examples
    from .record import machine

    grid = checked_grid(grid["T"], grid["alpha"], grid["hidden"])
    epochs = _checks.count(epochs, "epochs")
    images = min(_checks.count(images, "images"), len(workspace.x_train))
    part, pairs, seeds = workspace.subset(images), _settings(grid), list(seeds)
    start, results = time.perf_counter(), {}
    for hidden in grid["hidden"]:
        per_stack = max(1, _checks.MAX_STACKED_WEIGHTS // 4 // (mlp_weights(hidden) * len(seeds)))
        began = time.perf_counter()
        for first in range(0, len(pairs), per_stack):
            chunk = pairs[first : first + per_stack]
            T = np.repeat([t for t, _ in chunk], len(seeds))
            alpha = np.repeat([a for _, a in chunk], len(seeds))
            options = TrainingOptions(test=workspace.test_set)
            student = StudentConfig(hidden=hidden, epochs=epochs)
            _, history = part.train_students(T, alpha, student, seeds * len(chunk), options=options, progress=False)
            errors = np.asarray(history.test_errors[-1]).reshape(len(chunk), len(seeds))
            for (t, a), row in zip(chunk, errors, strict=True):
                results[(t, a, hidden)] = [int(e) for e in row]
        progress(
            f"{len(pairs)} settings x {len(seeds)} seeds of {hidden} hidden units: {time.perf_counter() - began:.0f} s"
        )
    rows = [
        {
            "T": T,
            "alpha": alpha,
            "hidden": hidden,
            "errors": results[(grid["T"][0] if alpha == 0 else T, alpha, hidden)],
        }
        for T in grid["T"]
        for alpha in grid["alpha"]
        for hidden in grid["hidden"]
    ]
    teacher_logits = workspace.test_logits(workspace.teacher)
    labels = workspace.y_test.cpu().numpy()
    index = int(dark_knowledge_examples(teacher_logits, labels, k=1)[0])
    pixels = np.asarray(test_images[index], dtype=np.uint8).reshape(28, 28)
    return {
        "format": FORMAT,
        "date": datetime.date.today().isoformat(),
        **machine(),
        "seconds": round(time.perf_counter() - start, 1),
        "epochs": epochs,
        "images": images,
        "seeds": seeds,
        "grid": grid,
        "results": rows,
        "digit": {
            "index": index,
            "label": int(labels[index]),
            "pixels": [row.tobytes().hex() for row in pixels],  # 28 rows of 28 bytes, as hex
            "teacher_logits": [round(float(v), 6) for v in teacher_logits[index]],
        },
    }


REQUIRED = ("date", "cpu_model", "cpu_count", "torch_threads", "device", "torch", "epochs", "images", "seeds")


def read_lab_record(path):
    """The lab record at ``path``; a ValueError naming the file and what is wrong with it."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable lab record ({type(err).__name__}: {err})") from None
    missing = [key for key in (*REQUIRED, "grid", "results", "digit") if key not in record]
    if missing:
        raise ValueError(f"{path} lacks {', '.join(missing)}: make it with `python -m kdviz record-lab`")
    grid = record["grid"]
    try:
        for T in grid["T"]:
            for alpha in grid["alpha"]:
                for hidden in grid["hidden"]:
                    result_of(record, T, alpha, hidden)
    except KeyError as err:
        raise ValueError(f"{path}: {err.args[0]}") from None
    return record


def digit_pixels(record):
    """The kept test digit as a (28, 28) uint8 array."""
    return np.array([list(bytes.fromhex(row)) for row in record["digit"]["pixels"]], dtype=np.uint8)


def write_lab_record(record, path):
    """Write the record as JSON, one result a line, atomically (a failure leaves the old file whole)."""
    text = json.dumps({**record, "results": "RESULTS"}, indent=1)
    rows = ",\n  ".join(json.dumps(row) for row in record["results"])
    write_atomically(path, text.replace('"RESULTS"', f"[\n  {rows}\n ]") + "\n")
