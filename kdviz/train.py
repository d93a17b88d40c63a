"""Training: the teacher (cached on disk), teacher logits computed once, and students trained
K at a time as stacked weights.

The whole transfer set lives as one tensor on the device and batches are slices of a seeded
permutation: no DataLoader, no per-sample Python. Seeded runs are deterministic on the CPU.
"""

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from . import teacher_store
from .data import data_fingerprint
from .losses import kd_loss
from .models import StackedStudents, student_mlp, teacher_mlp

PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081  # MNIST training-set statistics of pixel / 255


def choose_device(device=None):
    """``device`` if given, else cuda, then mps, then cpu."""
    if device is not None:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def to_inputs(images, device=None):
    """uint8 images (N, 28, 28) -> standardized float32 (N, 784) on the device."""
    x = torch.tensor(np.asarray(images), device=choose_device(device)).reshape(len(images), -1)
    return (x.float() / 255 - PIXEL_MEAN) / PIXEL_STD


def to_labels(labels, device=None):
    return torch.as_tensor(np.asarray(labels), dtype=torch.int64, device=choose_device(device))


def jitter(x, max_shift, generator):
    """Shift each 28x28 image by a random whole number of pixels in [-max_shift, max_shift] per axis."""
    n = x.shape[0]
    background = -PIXEL_MEAN / PIXEL_STD
    padded = torch.nn.functional.pad(x.view(n, 28, 28), (max_shift,) * 4, value=background)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator).to(x.device)
    grid = torch.arange(28, device=x.device)
    rows, cols = (grid + dy)[:, :, None], (grid + dx)[:, None, :]
    return padded[torch.arange(n, device=x.device)[:, None, None], rows, cols].reshape(n, -1)


def transfer_indices(labels, drop_class=None, fraction=1.0, seed=0):
    """Indices of a transfer set: all of ``labels``, minus one class, or a seeded random fraction."""
    labels = np.asarray(labels)
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction of the data to keep must lie in (0, 1], got {fraction}")
    keep = np.flatnonzero(labels != drop_class) if drop_class is not None else np.arange(len(labels))
    if fraction < 1:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(keep, size=max(1, round(fraction * len(keep))), replace=False))
    return keep


@dataclass(frozen=True)
class TeacherConfig:
    hidden: int = 1200
    dropout_input: float = 0.2
    dropout_hidden: float = 0.5
    jitter: int = 2
    epochs: int = 100
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    n_train: int = 60000
    seed: int = 0


@dataclass(frozen=True)
class StudentConfig:
    hidden: int = 800
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    max_grad_norm: float | None = 5.0  # per student; keeps soft-target runs at high T from diverging
    seed: int = 0


@dataclass
class History:
    """Per-epoch records of a run; each value holds one number per student."""

    epochs: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    train_errors: list = field(default_factory=list)
    test_errors: list = field(default_factory=list)


def _sgd_with_one_cycle(params, lr, momentum, weight_decay, total_steps):
    optimizer = torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=lr, total_steps=max(total_steps, 2), pct_start=0.15, cycle_momentum=False
    )
    return optimizer, schedule


@torch.no_grad()
def clip_per_student(params, max_norm):
    """Scale each stacked student's gradient so that its norm, over all of its parameters, is at most max_norm.

    Every parameter's first axis indexes the students, so one student's clipping never touches another's.
    """
    grads = [p.grad for p in params if p.grad is not None]
    norms = torch.stack([g.pow(2).flatten(1).sum(1) for g in grads]).sum(0).sqrt()
    scale = (max_norm / (norms + 1e-6)).clamp(max=1.0)
    for g in grads:
        g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))
    return norms


def _check_finite(losses, names, epoch, advice):
    """Raise if any run's mean epoch loss is nan or inf, naming the run and what to change."""
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        k = bad[0]
        raise FloatingPointError(
            f"training diverged: the loss of the {names[k]} became {losses[k]} in epoch {epoch + 1}; {advice}"
        )


@torch.no_grad()
def logits_of(model, x, batch_size=8192):
    """Model logits for all of x in eval mode (no dropout), in chunks."""
    was_training = model.training
    model.eval()
    out = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)], dim=-2)
    model.train(was_training)
    return out


def count_errors(logits, labels, class_bias=None):
    """Misclassified examples per model; ``class_bias`` (10,) is added to the logits first."""
    if class_bias is not None:
        logits = logits + torch.as_tensor(class_bias, dtype=logits.dtype, device=logits.device)
    wrong = (logits.argmax(-1) != labels).sum(-1)
    return wrong.cpu().numpy()


def train_teacher(x, y, config=TeacherConfig(), x_test=None, y_test=None, progress=True, callback=None):
    """Train the dropout teacher with SGD + one-cycle schedule and optional pixel jitter."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = teacher_mlp(config.hidden, config.dropout_input, config.dropout_hidden).to(x.device)
    steps_per_epoch = -(-len(x) // config.batch_size)
    optimizer, schedule = _sgd_with_one_cycle(
        model.parameters(), config.lr, config.momentum, config.weight_decay, config.epochs * steps_per_epoch
    )
    history = History()
    bar = tqdm(range(config.epochs), desc="teacher", disable=not progress, unit="epoch")
    for epoch in bar:
        model.train()
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total = 0.0
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            batch = jitter(x[idx], config.jitter, generator) if config.jitter else x[idx]
            loss = torch.nn.functional.cross_entropy(model(batch), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item() * len(idx)
        mean_loss = np.array([total / len(x)])
        _check_finite(mean_loss, ["teacher"], epoch, "lower the learning rate in TeacherConfig")
        _record(history, epoch, mean_loss, model, x_test, y_test)
        if history.test_errors:
            bar.set_postfix(test_errors=int(history.test_errors[-1][0]))
        if callback is not None:
            callback(epoch, history)
    model.eval()
    return model, history


def _record(history, epoch, losses, model, x_test, y_test, x_train=None, y_train=None):
    history.epochs.append(epoch + 1)
    history.loss.append(np.asarray(losses, dtype=float))
    if x_train is not None:
        history.train_errors.append(np.atleast_1d(count_errors(logits_of(model, x_train), y_train)))
    if x_test is not None:
        history.test_errors.append(np.atleast_1d(count_errors(logits_of(model, x_test), y_test)))


def load_or_train_teacher(data, config=TeacherConfig(), device=None, progress=True, callback=None, monitor=False):
    """The teacher for ``config``: the one shipped with kdviz, else the disk cache, else trained now and cached.

    ``monitor=True`` counts test errors after every epoch of a new training run (shown on the progress
    bar, passed to ``callback``); they are never used to choose anything.

    Returns (model, info); info["source"] is "shipped", "cache" or "trained", info["seconds"] the time it took.
    """
    device = choose_device(device)
    start = time.perf_counter()
    shipped = teacher_store.load_shipped(config)
    if shipped is not None:
        model, record = shipped
        info = {"source": "shipped", "path": str(teacher_store.SHIPPED_DIR / record["weights_file"])}
        info["recorded_test_errors"] = record["test_errors"]
    else:
        model = teacher_store.load_cached(config)
        info = {"source": "cache", "path": str(teacher_store.cache_path(config))}
    if model is None:
        x = to_inputs(data.train_images[: config.n_train], device)
        y = to_labels(data.train_labels[: config.n_train], device)
        test = (to_inputs(data.test_images, device), to_labels(data.test_labels, device)) if monitor else (None, None)
        model, _ = train_teacher(x, y, config, *test, progress=progress, callback=callback)
        saved = teacher_store.save_cached(model, config)
        info = {"source": "trained", "path": None if saved is None else str(saved)}
    info["cached"] = info["source"] != "trained"
    info["seconds"] = time.perf_counter() - start
    return model.to(device).eval(), info


def export_teacher(model, config, data, folder, name, record):
    """Write ``model`` as float16 weights plus a JSON record into ``folder``; return the record.

    The record gets the weights' sha256 and the test errors of the exported (float16) weights on the
    canonical test set, besides what the caller put in ``record`` (how it was made).
    """
    weights, sha256 = teacher_store.write_shipped(model, config, folder, name)
    exported = teacher_store.load_weights_file(config, weights)
    x_test, y_test = to_inputs(data.test_images, "cpu"), to_labels(data.test_labels, "cpu")
    record = {
        **record,
        "config": asdict(config),
        "data": data_fingerprint(),
        "weights_file": weights.name,
        "weights_sha256": sha256,
        "dtype": "float16",
        "test_errors": int(count_errors(logits_of(exported, x_test), y_test)),
    }
    teacher_store.write_record(record, weights.with_suffix(".json"))
    return record


def train_students(
    x,
    y,
    teacher_logits,
    T,
    alpha,
    config=StudentConfig(),
    x_test=None,
    y_test=None,
    track_train_errors=False,
    progress=True,
    callback=None,
):
    """Train one student per (T, alpha) pair, all stacked in one model, on the transfer set x.

    Each student starts from the same seeded initialisation and sees the same batches, so a
    student trained in a grid equals the same student trained alone. ``y=None`` trains on soft
    targets only; ``teacher_logits=None`` is allowed when every alpha is 0 (hard labels only).
    Returns (StackedStudents, History).
    """
    T = np.atleast_1d(np.asarray(T, dtype=float))
    alpha = np.atleast_1d(np.asarray(alpha, dtype=float))
    T, alpha = np.broadcast_arrays(T, alpha)
    if teacher_logits is None:
        if (alpha != 0).any() or y is None:
            raise ValueError("teacher_logits are needed unless every alpha is 0 and labels are given")
        teacher_logits = torch.zeros(len(x), 10, device=x.device)
    if len(teacher_logits) != len(x):
        raise ValueError(f"{len(teacher_logits)} teacher logits for {len(x)} transfer examples")
    if not torch.isfinite(teacher_logits).all():
        raise ValueError("teacher logits contain nan or inf: check the teacher (a diverged teacher gives nan)")
    torch.manual_seed(config.seed)
    model = StackedStudents([student_mlp(config.hidden)] * len(T)).to(x.device)  # one shared initialisation
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = -(-len(x) // config.batch_size)
    optimizer, schedule = _sgd_with_one_cycle(
        model.parameters(), config.lr, config.momentum, 0.0, config.epochs * steps_per_epoch
    )
    T_t = torch.as_tensor(T, dtype=torch.float32, device=x.device)
    alpha_t = torch.as_tensor(alpha, dtype=torch.float32, device=x.device)
    history = History()
    names = [f"student with T={t:g}, alpha={a:g}" for t, a in zip(T, alpha, strict=True)]
    label = f"{len(T)} students" if len(T) > 1 else f"student T={T[0]:g} alpha={alpha[0]:g}"
    bar = tqdm(range(config.epochs), desc=label, disable=not progress, unit="epoch")
    for epoch in bar:
        order = torch.randperm(len(x), generator=generator).to(x.device)
        totals = torch.zeros(len(T), device=x.device)
        for start in range(0, len(x), config.batch_size):
            idx = order[start : start + config.batch_size]
            labels = None if y is None else y[idx]
            losses = kd_loss(model(x[idx]), teacher_logits[idx], labels, T_t, alpha_t)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            if config.max_grad_norm is not None:
                clip_per_student(model.parameters(), config.max_grad_norm)
            optimizer.step()
            schedule.step()
            totals += losses.detach() * len(idx)
        mean_losses = (totals / len(x)).cpu().numpy()
        _check_finite(mean_losses, names, epoch, "lower the learning rate or set max_grad_norm in StudentConfig")
        train = (x, y) if track_train_errors and y is not None else (None, None)
        _record(history, epoch, mean_losses, model, x_test, y_test, *train)
        if history.test_errors:
            bar.set_postfix(test_errors=int(history.test_errors[-1].min()))
        if callback is not None:
            callback(epoch, history)
    return model, history
