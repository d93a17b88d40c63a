"""The paper's MNIST comparison as one call: teacher, student alone, distilled student.

Used by the command line (``python -m kdviz distill``) and by the MNIST notebooks. Two presets:
``paper`` (full MNIST, the paper's network sizes) and ``quick`` (a 10,000-image subset and
smaller runs, for tests and a first look).
"""

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from . import teacher_store
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
    transfer_indices,
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
    "quick": Preset(TeacherConfig(epochs=12, n_train=10000), StudentConfig(hidden=300, epochs=10)),
}


def get_preset(name, T=None, alpha=None, hidden=None, seed=None, student_epochs=None):
    """A preset with any of its student settings overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if alpha is not None and not 0 <= alpha <= 1:
        raise ValueError(f"alpha weights the soft term and must lie in [0, 1], got {alpha}")
    if T is not None and not T > 0:
        raise ValueError(f"temperature T must be > 0, got {T}")
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


def students_test_errors(workspace, T, alpha, student, progress=True):
    """Train one student per (T, alpha) on the whole transfer set, stacked; their test errors, one per student."""
    model, _ = train_students(
        workspace.x_train, workspace.y_train, workspace.teacher_logits, T, alpha, student, progress=progress
    )
    return count_errors(logits_of(model, workspace.x_test), workspace.y_test)


def compare_students(workspace, preset, progress=True):
    """Test errors and seconds of the teacher, the student alone (alpha = 0) and the distilled student."""
    errors = {"teacher": single_errors(logits_of(workspace.teacher, workspace.x_test), workspace.y_test)}
    seconds = {"teacher": round(workspace.teacher_info["seconds"], 2)}
    for name, alpha in (("student", 0.0), ("distilled", preset.alpha)):
        start = time.perf_counter()
        errors[name] = int(students_test_errors(workspace, preset.T, alpha, preset.student, progress)[0])
        seconds[name] = round(time.perf_counter() - start, 2)
    return {
        "teacher_errors": errors["teacher"],
        "student_errors": errors["student"],
        "distilled_errors": errors["distilled"],
        "seconds": seconds,
        "teacher_cached": workspace.teacher_info["cached"],
        "device": str(workspace.device),
        "n_train": len(workspace.x_train),
        "T": preset.T,
        "alpha": preset.alpha,
        "student_hidden": preset.student.hidden,
    }


def run_distillation(data, preset, device=None, progress=True):
    """Load or train the teacher, then ``compare_students``: the paper's table in one call."""
    start = time.perf_counter()
    workspace = prepare(data, preset, device, progress)
    workspace.teacher_info["seconds"] = time.perf_counter() - start
    return compare_students(workspace, preset, progress)


def run_sweep(workspace, temperatures, alphas, student, progress=True):
    """Test errors of one student per (T, alpha) on the grid, trained together as stacked students.

    Returns an array of shape (len(temperatures), len(alphas)).
    """
    T_grid, alpha_grid = np.meshgrid(np.asarray(temperatures, float), np.asarray(alphas, float), indexing="ij")
    errors = students_test_errors(workspace, T_grid.ravel(), alpha_grid.ravel(), student, progress)
    return errors.reshape(T_grid.shape)


def errors_against_temperature(workspace, temperatures, alpha, student, progress=True):
    """Test errors of a distilled student at each temperature, and of the same student on labels alone.

    All len(temperatures) + 1 students train in one stacked pass (the last with alpha = 0, where T
    plays no part). Returns (errors, one per temperature; labels-only errors).
    """
    temperatures = [float(t) for t in temperatures]
    T = temperatures + [1.0]
    errors = students_test_errors(workspace, T, [alpha] * len(temperatures) + [0.0], student, progress)
    return errors[:-1], int(errors[-1])


def split_validation(workspace, n_validation, seed=0):
    """Carve a validation set from the *training* data: (train indices, validation indices)."""
    order = np.random.default_rng(seed).permutation(len(workspace.x_train))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def single_errors(logits, labels, class_bias=None):
    """Errors of one model as an int (logits (N, C), or (1, N, C) from a one-student stack)."""
    return int(np.sum(count_errors(logits, labels, class_bias)))


BIAS_CANDIDATES = np.round(np.arange(0.0, 20.05, 0.1), 2)


def best_class_bias(logits, labels, cls, candidates=BIAS_CANDIDATES):
    """The bias added to class ``cls``'s logit that leaves the fewest errors on (logits, labels)."""
    errors = []
    for b in candidates:
        bias = np.zeros(logits.shape[-1])
        bias[cls] = b
        errors.append(single_errors(logits, labels, bias))
    return float(candidates[int(np.argmin(errors))])


def omitted_class_experiment(workspace, student, T, alpha, omitted=3, n_validation=5000, progress=True):
    """Distil into a student whose transfer set has no examples of ``omitted``; choose a bias for its
    logit on a validation split of the training data; report the test digits of that class before/after."""
    train_idx, val_idx = split_validation(workspace, n_validation)
    y_train = workspace.y_train.cpu().numpy()
    keep = train_idx[y_train[train_idx] != omitted]
    keep_t = torch_index(keep, workspace)
    model, _ = train_students(
        workspace.x_train[keep_t],
        workspace.y_train[keep_t],
        workspace.teacher_logits[keep_t],
        T,
        alpha,
        student,
        progress=progress,
    )
    val_t = torch_index(val_idx, workspace)
    bias = best_class_bias(logits_of(model, workspace.x_train[val_t]), workspace.y_train[val_t], omitted)
    test_logits = logits_of(model, workspace.x_test)
    is_omitted = workspace.y_test == omitted
    bias_vector = np.zeros(10)
    bias_vector[omitted] = bias
    n_omitted = int(is_omitted.sum())
    wrong_before = single_errors(test_logits[:, is_omitted], workspace.y_test[is_omitted])
    wrong_after = single_errors(test_logits[:, is_omitted], workspace.y_test[is_omitted], bias_vector)
    return {
        "transfer examples": len(keep),
        f"{omitted}s in transfer set": int((y_train[keep] == omitted).sum()),
        "bias": bias,
        "test errors before bias": single_errors(test_logits, workspace.y_test),
        "test errors after bias": single_errors(test_logits, workspace.y_test, bias_vector),
        f"test {omitted}s": n_omitted,
        f"test {omitted}s correct before bias (%)": round(100 * (1 - wrong_before / n_omitted), 2),
        f"test {omitted}s correct after bias (%)": round(100 * (1 - wrong_after / n_omitted), 2),
    }


def torch_index(indices, workspace):
    return torch.as_tensor(indices, device=workspace.device)


def small_data_experiment(workspace, student, T, fraction=0.03, seed=0, progress=True):
    """Hard labels against soft targets on the same small fraction of the training data.

    Trains two students in one stacked pass (alpha = 0 and alpha = 1, soft targets from the teacher
    trained on all the data) and returns their History with train and test errors per epoch.
    """
    idx = torch_index(transfer_indices(workspace.y_train.cpu().numpy(), fraction=fraction, seed=seed), workspace)
    _, history = train_students(
        workspace.x_train[idx],
        workspace.y_train[idx],
        workspace.teacher_logits[idx],
        [T, T],
        [0.0, 1.0],
        student,
        x_test=workspace.x_test,
        y_test=workspace.y_test,
        track_train_errors=True,
        progress=progress,
    )
    return history, len(idx)


def estimate_seconds(workspace, hidden, epochs, n_students=1, n_examples=None, batch_size=128):
    """Rough wall time of a student run, from timing a few training steps on this machine."""
    n_examples = len(workspace.x_train) if n_examples is None else n_examples

    def steps(n):
        train_students(
            workspace.x_train[:n],
            workspace.y_train[:n],
            workspace.teacher_logits[:n],
            [4.0] * n_students,
            0.5,
            StudentConfig(hidden=hidden, epochs=1, batch_size=batch_size),
            progress=False,
        )

    probe = min(20 * batch_size, len(workspace.x_train))
    steps(2 * batch_size)  # untimed: the first run in a process pays for thread pools and memory growth
    start = time.perf_counter()
    steps(probe)
    return (time.perf_counter() - start) * epochs * n_examples / probe


def most_confusable(teacher_logits, labels, true_class, other_class, k=3):
    """Indices of the k examples of ``true_class`` to which the teacher gives most probability of ``other_class``."""
    logits = np.asarray(teacher_logits, dtype=float)
    candidates = np.flatnonzero(np.asarray(labels) == true_class)
    margin = logits[candidates, other_class] - logits[candidates, true_class]
    return candidates[np.argsort(margin)[::-1][:k]]


def teacher_status(preset):
    """A line telling whether the teacher is cached or how long training it will take (roughly)."""
    if teacher_store.cache_path(preset.teacher).exists():
        return "teacher found in the cache: loading it takes a second"
    # measured on a 2-core laptop CPU: about 12 s per epoch of 60,000 images for the 2x1200 teacher
    minutes = preset.teacher.epochs * preset.teacher.n_train / 60000 * 12 / 60
    return f"no cached teacher: training it takes about {minutes:.0f} min on a 2-core CPU (much less on a GPU)"
