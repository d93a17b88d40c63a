"""The paper's MNIST comparison as one call: teacher, student alone, distilled student.

Used by the command line (``python -m kdviz distill``) and by the MNIST notebooks. Two presets:
``paper`` (full MNIST, the paper's network sizes) and ``quick`` (the same shipped teacher, a
10,000-image transfer set and smaller students, for tests and a first look).
"""

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from ._checks import (
    T_and_alpha,
    class_index,
    count,
    instance_of,
    number,
    number_list,
    real_array,
    seeds_in_range,
)
from .mnist.losses import distillation_loss
from .mnist.models import StackedStudents, student_mlp
from .mnist.timing import probe_training, run_seconds
from .mnist.train import (
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
from .noise import compare, spread
from .temperature import softmax

PAPER_ERRORS = {"teacher": 67, "student": 146, "distilled": 74}  # Hinton et al. 2015, section 3


@dataclass(frozen=True)
class Preset:
    teacher: TeacherConfig
    student: StudentConfig
    T: float = 20.0
    alpha: float = 0.9
    n_transfer: int | None = None  # training images the students see; None: the teacher's n_train
    transfer_jitter: int = 0  # > 0: consistent teaching, the teacher labels each shifted batch (train_students)

    def __post_init__(self):
        """T and alpha checked by the rules train_students and kd_loss use, when the preset is made."""
        instance_of(self.teacher, TeacherConfig, "a Preset's teacher")
        instance_of(self.student, StudentConfig, "a Preset's student")
        if self.n_transfer is None:
            object.__setattr__(self, "n_transfer", self.teacher.n_train)
        count(self.n_transfer, "Preset.n_transfer", 1, 60000)
        count(self.transfer_jitter, "Preset.transfer_jitter (a shift in whole pixels)", 0, 13)
        T, alpha = T_and_alpha(self.T, self.alpha)
        object.__setattr__(self, "T", float(T))
        object.__setattr__(self, "alpha", float(alpha))


PRESETS = {
    "paper": Preset(TeacherConfig(), StudentConfig(hidden=800, epochs=30)),
    # the shipped paper teacher (loads in seconds, so a test run trains no teacher), smaller students on fewer images
    "quick": Preset(TeacherConfig(), StudentConfig(hidden=300, epochs=10), n_transfer=10000),
    # patient and consistent teaching (Beyer et al. 2022): the teacher labels each jittered view, a long schedule;
    # 150 epochs: the measured long run (README), both arms of `python -m kdviz consistency` in about an hour on 2 cores
    "patient": Preset(TeacherConfig(), StudentConfig(hidden=800, epochs=150), T=8.0, alpha=1.0, transfer_jitter=2),
}
TEACHER_PRESETS = {  # what `python -m kdviz teacher --preset NAME` trains
    "paper": PRESETS["paper"].teacher,
    "small": TeacherConfig(epochs=12, n_train=10000),  # a teacher to train from scratch in a few minutes on a CPU
}


def get_preset(name, T=None, alpha=None, hidden=None, seed=None, student_epochs=None, transfer_jitter=None):
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
        transfer_jitter=preset.transfer_jitter if transfer_jitter is None else transfer_jitter,
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
    """Move the data to the device, load or train the teacher, and compute its logits on the transfer set once.

    The transfer set is the first ``preset.n_transfer`` training images (all the teacher saw, for ``paper``).
    """
    if not all(hasattr(data, part) for part in ("train_images", "train_labels", "test_images", "test_labels")):
        raise TypeError(f"data must be the MNIST of kdviz.mnist.data.load_mnist(), got {type(data).__name__}")
    instance_of(preset, Preset, "preset", "get_preset('quick')")
    device = choose_device(device)
    n = preset.n_transfer
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


def seed_list(student, n_seeds):
    """The seeds of ``n_seeds`` repeated runs: student.seed, student.seed + 1, ..."""
    return seeds_in_range(student.seed, n_seeds, "the student's seed")


def students_test_errors(workspace, T, alpha, student, seeds=None, progress=True, description=None, transfer_jitter=0):
    """Train one student per (T, alpha, seed) on the whole transfer set, stacked; their test errors, one each.

    ``transfer_jitter`` > 0: consistent teaching, the teacher labels each shifted batch (see train_students)."""
    model, _ = train_students(
        workspace.x_train,
        workspace.y_train,
        workspace.teacher_logits,
        T,
        alpha,
        student,
        seeds=seeds,
        progress=progress,
        description=description,
        teacher=workspace.teacher if transfer_jitter else None,
        transfer_jitter=transfer_jitter,
    )
    return count_errors(logits_of(model, workspace.x_test), workspace.y_test)


def compare_students(workspace, preset, n_seeds=1, progress=True):
    """Test errors of the teacher, and of ``n_seeds`` seeds each of the student alone (alpha = 0) and the
    distilled student, all students trained stacked in one pass. Errors are lists with one entry per seed."""
    seeds = seed_list(preset.student, n_seeds)
    start = time.perf_counter()
    errors = students_test_errors(
        workspace,
        preset.T,
        [0.0] * n_seeds + [preset.alpha] * n_seeds,
        preset.student,
        seeds * 2,
        progress,
        description=f"student alone + distilled student, {n_seeds} seed{'s' if n_seeds > 1 else ''} each",
        transfer_jitter=preset.transfer_jitter,
    )
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
    instance_of(preset, Preset, "preset", "get_preset('quick')")
    seed_list(preset.student, n_seeds)  # refuse a bad count before any work
    start = time.perf_counter()
    workspace = prepare(data, preset, device, progress)
    workspace.teacher_info["seconds"] = time.perf_counter() - start
    return compare_students(workspace, preset, n_seeds, progress)


def run_sweep(workspace, temperatures, alphas, student, n_seeds=1, progress=True, transfer_jitter=0):
    """Test errors of one student per (T, alpha, seed) on the grid, trained together as stacked students.

    Returns an array of shape (len(temperatures), len(alphas), n_seeds).
    """
    temperatures, alphas = number_list(temperatures, "temperatures"), number_list(alphas, "alphas")
    seeds = seed_list(student, n_seeds)
    grid = np.meshgrid(temperatures, alphas, seeds, indexing="ij")
    T_grid, alpha_grid, seed_grid = grid
    errors = students_test_errors(
        workspace,
        T_grid.ravel(),
        alpha_grid.ravel(),
        student,
        seed_grid.ravel(),
        progress,
        "T x alpha grid",
        transfer_jitter,
    )
    return errors.reshape(T_grid.shape)


def errors_against_temperature(workspace, temperatures, alpha, student, n_seeds=1, progress=True):
    """Test errors of a distilled student at each temperature, and of the same student on labels alone.

    All (len(temperatures) + 1) x n_seeds students train in one stacked pass (the labels-only one
    with alpha = 0, where T plays no part). Returns (errors of shape (len(temperatures), n_seeds);
    labels-only errors, one per seed).
    """
    if np.ndim(real_array(alpha, "alpha", "a number")) != 0:
        raise ValueError(f"alpha must be one number here (every temperature shares it), got {alpha!r}")
    seeds = seed_list(student, n_seeds)
    temperatures = number_list(temperatures, "temperatures") + [1.0]
    alphas = [alpha] * (len(temperatures) - 1) + [0.0]
    T, A, S = (np.repeat(temperatures, n_seeds), np.repeat(alphas, n_seeds), np.tile(seeds, len(temperatures)))
    errors = students_test_errors(workspace, T, A, student, S, progress, f"{len(T)} students").reshape(-1, n_seeds)
    return errors[:-1], errors[-1]


def split_validation(workspace, n_validation, seed=0):
    """Carve a validation set from the *training* data: (train indices, validation indices)."""
    n_validation = count(n_validation, "n_validation (the rest is for training)", 1, len(workspace.x_train) - 1)
    order = np.random.default_rng(seed).permutation(len(workspace.x_train))
    return np.sort(order[n_validation:]), np.sort(order[:n_validation])


def single_errors(logits, labels, class_bias=None):
    """Errors of one model as an int (logits (N, C), or (1, N, C) from a one-student stack)."""
    return int(np.sum(count_errors(logits, labels, class_bias)))


BIAS_CANDIDATES = np.round(np.arange(0.0, 20.05, 0.1), 2)


def best_class_bias(logits, labels, cls, candidates=BIAS_CANDIDATES):
    """The bias added to class ``cls``'s logit that leaves the fewest errors on (logits, labels)."""
    logits = torch.as_tensor(logits)
    cls = class_index(cls, logits.shape[-1], "cls")
    candidates = np.atleast_1d(real_array(candidates, "candidates", "a list of biases (numbers)"))
    if candidates.size == 0 or not np.isfinite(candidates).all():
        raise ValueError("candidates must be a non-empty list of finite biases")
    errors = []
    for b in candidates:
        bias = np.zeros(logits.shape[-1])
        bias[cls] = b
        errors.append(single_errors(logits, labels, bias))
    return float(candidates[int(np.argmin(errors))])


def omitted_class_experiment(workspace, student, T, alpha, omitted=3, n_validation=5000, progress=True):
    """Distil into a student whose transfer set has no examples of ``omitted``; choose a bias for its
    logit on a validation split of the training data; report the test digits of that class before/after."""
    omitted = count(omitted, "omitted (a digit)", 0, 9)
    T_and_alpha(T, alpha)
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


def small_data_experiment(workspace, student, T, fraction=0.03, n_seeds=1, progress=True):
    """Hard labels against soft targets on the same small fraction of the training data.

    Trains 2 x n_seeds students in one stacked pass (alpha = 0, then alpha = 1, each with seeds
    student.seed, student.seed + 1, ...; soft targets from the teacher trained on all the data).
    Returns (History with train and test errors per epoch, columns [hard seeds..., soft seeds...];
    number of training images).
    """
    seeds = seed_list(student, n_seeds)
    idx = transfer_indices(workspace.y_train.cpu().numpy(), fraction=fraction, seed=student.seed)
    idx = torch_index(idx, workspace)
    _, history = train_students(
        workspace.x_train[idx],
        workspace.y_train[idx],
        workspace.teacher_logits[idx],
        T,
        [0.0] * n_seeds + [1.0] * n_seeds,
        student,
        seeds=seeds * 2,
        x_test=workspace.x_test,
        y_test=workspace.y_test,
        track_train_errors=True,
        progress=progress,
        description=f"hard labels + soft targets, {n_seeds} seed{'s' if n_seeds > 1 else ''} each",
    )
    return history, len(idx)


def estimate_seconds(
    workspace, hidden, epochs, n_students=1, n_examples=None, batch_size=128, n_seeds=1, n_evaluated=0
):
    """Wall time of a run of n_students settings x n_seeds seeds, stacked, for ``epochs`` epochs over n_examples
    transfer images (default: all of them), computing logits for ``n_evaluated`` images after every epoch (a test
    set that is tracked): a few seconds' probe of that stack on this machine now, scaled up (``kdviz.mnist.timing``)."""
    n_examples = len(workspace.x_train) if n_examples is None else n_examples
    for value, name in ((hidden, "hidden"), (epochs, "epochs"), (n_examples, "n_examples"), (batch_size, "batch_size")):
        count(value, name)
    count(n_evaluated, "n_evaluated", 0)
    measured = probe_training(workspace, hidden, n_students, n_seeds, batch_size, evaluate=n_evaluated > 0)
    return run_seconds(measured, epochs, n_examples, batch_size, n_evaluated)


def most_confusable(teacher_logits, labels, true_class, other_class, k=3):
    """Indices of the k examples of ``true_class`` that the teacher classifies correctly but finds most
    like ``other_class`` (largest margin of the other_class logit over the runner-up of the rest)."""
    logits = np.asarray(teacher_logits, dtype=float)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"teacher_logits (N, classes) and labels (N,) must agree, got shapes {logits.shape} and {labels.shape}"
        )
    true_class = class_index(true_class, logits.shape[1], "true_class")
    other_class = class_index(other_class, logits.shape[1], "other_class")
    k = count(k, "k")
    candidates = np.flatnonzero((labels == true_class) & (logits.argmax(1) == true_class))
    margin = logits[candidates, other_class] - logits[candidates, true_class]
    return candidates[np.argsort(margin)[::-1][:k]]


def dark_knowledge_examples(teacher_logits, labels, k=2, confident=0.99, T=20.0):
    """Indices of k test images, of k different true classes, that show dark knowledge: the teacher gets each
    right with top probability above ``confident`` at T = 1 (so the wrong classes are invisible there), and at
    temperature T its most likely wrong class is as far ahead of the next one as can be found, so the order of
    the wrong classes can be read. The first wrong class's lead over the second at T is the probability ratio
    exp((v_2nd - v_3rd) / T) of the teacher's second and third largest logits."""
    logits = real_array(teacher_logits, "teacher_logits")
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[1] < 3 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f"teacher_logits (N, classes >= 3) and labels (N,) must agree, got shapes {logits.shape} and {labels.shape}"
        )
    k = count(k, "k")
    T_and_alpha(T, 1.0)
    confident = number(confident, "confident (a probability)", 0, 1, low_open=True, high_open=True)
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


def logit_gradient_sizes(workspace, hidden, T, n_examples=512, seed=0):
    """Mean per-example norm of d(loss)/d(logits) of an untrained student: (hard term CE(y, q_1), soft term T^2 KL).

    The hard term's gradient q_1 - y has norm at most sqrt(2); the soft term's, T (q_T - p_T), grows with the gap
    between student and teacher logits. Both at the first step, on the first n_examples transfer images.
    """
    T_, _ = T_and_alpha(T, 1.0)
    StudentConfig(hidden=hidden, seed=seed)  # checks hidden and seed
    count(n_examples, "n_examples")
    T = float(T_)
    torch.manual_seed(seed)
    student = StackedStudents([student_mlp(hidden)]).to(workspace.device)
    x, y, v = (t[:n_examples] for t in (workspace.x_train, workspace.y_train, workspace.teacher_logits))
    sizes = []
    for alpha in (0.0, 1.0):
        logits = student(x).detach().requires_grad_(True)
        distillation_loss(logits, v, y, torch.tensor(float(T)), torch.tensor(alpha)).sum().backward()
        sizes.append(float(logits.grad[0].norm(dim=-1).mean() * len(x)))  # undo the batch mean
    return tuple(sizes)
