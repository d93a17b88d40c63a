"""The paper's MNIST comparison as one call: teacher, student alone, distilled student.

Used by the command line (``python -m kdviz distill``) and by the MNIST notebooks. Two presets:
``paper`` (full MNIST, the paper's network sizes) and ``quick`` (a 10,000-image subset and
smaller runs, for tests and a first look).
"""

import time
from dataclasses import dataclass, replace

import numpy as np

from .train import (
    StudentConfig,
    TeacherConfig,
    choose_device,
    count_errors,
    load_or_train_teacher,
    logits_of,
    to_inputs,
    to_labels,
    train_students,
)

PAPER_ERRORS = {"teacher": 67, "student": 146, "distilled": 74}  # Hinton et al. 2015, section 3


@dataclass(frozen=True)
class Preset:
    teacher: TeacherConfig
    student: StudentConfig
    T: float = 20.0
    alpha: float = 0.9


PRESETS = {
    "paper": Preset(TeacherConfig(), StudentConfig(hidden=800, epochs=30)),
    "quick": Preset(TeacherConfig(epochs=6, n_train=10000), StudentConfig(hidden=300, epochs=10)),
}


def get_preset(name, T=None, alpha=None, hidden=None, seed=None, student_epochs=None):
    """A preset with any of its student settings overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    preset = PRESETS[name]
    student = replace(
        preset.student,
        **{k: v for k, v in {"hidden": hidden, "seed": seed, "epochs": student_epochs}.items() if v is not None},
    )
    return replace(
        preset,
        student=student,
        T=preset.T if T is None else T,
        alpha=preset.alpha if alpha is None else alpha,
    )


@dataclass
class Workspace:
    """Tensors on the device and the teacher's logits for the transfer set, computed once."""

    x_train: object
    y_train: object
    x_test: object
    y_test: object
    teacher: object
    teacher_logits: object
    teacher_info: dict
    device: object


def prepare(data, preset, device=None, progress=True, callback=None):
    """Move the data to the device, load or train the teacher, and compute its logits once."""
    device = choose_device(device)
    n = preset.teacher.n_train
    teacher, info = load_or_train_teacher(data, preset.teacher, device, progress=progress, callback=callback)
    x_train = to_inputs(data.train_images[:n], device)
    return Workspace(
        x_train=x_train,
        y_train=to_labels(data.train_labels[:n], device),
        x_test=to_inputs(data.test_images, device),
        y_test=to_labels(data.test_labels, device),
        teacher=teacher,
        teacher_logits=logits_of(teacher, x_train),
        teacher_info=info,
        device=device,
    )


def run_distillation(data, preset, device=None, progress=True):
    """Test errors (out of 10,000) and seconds for teacher, student alone and distilled student."""
    start = time.perf_counter()
    ws = prepare(data, preset, device, progress)
    seconds = {"teacher": time.perf_counter() - start}
    errors = {"teacher": int(count_errors(logits_of(ws.teacher, ws.x_test), ws.y_test))}
    for name, alpha in (("student", 0.0), ("distilled", preset.alpha)):
        start = time.perf_counter()
        model, _ = train_students(
            ws.x_train, ws.y_train, ws.teacher_logits, preset.T, alpha, preset.student, progress=progress
        )
        errors[name] = int(count_errors(logits_of(model, ws.x_test), ws.y_test)[0])
        seconds[name] = time.perf_counter() - start
    return {
        "teacher_errors": errors["teacher"],
        "student_errors": errors["student"],
        "distilled_errors": errors["distilled"],
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "teacher_cached": ws.teacher_info["cached"],
        "device": str(ws.device),
        "n_train": len(ws.x_train),
        "T": preset.T,
        "alpha": preset.alpha,
        "student_hidden": preset.student.hidden,
    }


def run_sweep(workspace, temperatures, alphas, student, progress=True):
    """Test errors of one student per (T, alpha) on the grid, trained together as stacked students.

    Returns an array of shape (len(temperatures), len(alphas)).
    """
    T_grid, alpha_grid = np.meshgrid(np.asarray(temperatures, float), np.asarray(alphas, float), indexing="ij")
    model, _ = train_students(
        workspace.x_train,
        workspace.y_train,
        workspace.teacher_logits,
        T_grid.ravel(),
        alpha_grid.ravel(),
        student,
        progress=progress,
    )
    return count_errors(logits_of(model, workspace.x_test), workspace.y_test).reshape(T_grid.shape)
