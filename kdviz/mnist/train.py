"""Training: the teacher (cached on disk), teacher logits computed once, and students trained
K at a time as stacked weights.

The whole transfer set lives as one tensor on the device and batches are slices of a seeded
permutation: no DataLoader, no per-sample Python. Seeded runs are deterministic on the CPU.
"""

import functools
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import _checks
from .._checks import MAX_SEED
from . import teacher_store
from .data import data_fingerprint
from .losses import distillation_loss
from .models import N_CLASSES, N_PIXELS, StackedStudents, mlp_weights, student_mlp, teacher_mlp

PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081  # MNIST training-set statistics of pixel / 255


def choose_device(device=None):
    """``device`` if given (checked to exist), else cuda, then mps, then cpu."""
    if device is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}: use cpu, cuda, cuda:N or mps") from None
    if chosen.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available: this PyTorch ({torch.__version__}) sees no CUDA GPU")
        if chosen.index is not None and chosen.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA GPU(s) found")
    elif chosen.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device {device!r} is not available on this machine (no Apple GPU)")
    elif chosen.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {device!r} is not supported: use cpu, cuda or mps")
    return chosen


def to_inputs(images, device=None):
    """Images (N, 28, 28) or (N, 784) -> standardized float32 (N, 784) on the device.

    uint8 (or other integer) images hold pixels 0-255; float images must already lie in [0, 1] (pixel / 255).
    """
    array = _checks.images(images)
    if array.dtype == np.uint8:
        pixels = torch.tensor(array, device=choose_device(device)).float() / 255  # a copy: MNIST arrays are read-only
    else:
        pixels = torch.as_tensor(array, dtype=torch.float32, device=choose_device(device))
    return ((pixels - PIXEL_MEAN) / PIXEL_STD).reshape(len(array), N_PIXELS)


def to_labels(labels, device=None):
    """Integer class labels 0-9 as int64 on the device."""
    return torch.as_tensor(_checks.digit_labels(labels), dtype=torch.int64, device=choose_device(device))


def random_shifts(n, max_shift, generator):
    """(dy, dx) for n images, each a whole number in 0..2 max_shift: the offset is (dy - max_shift, dx - max_shift)."""
    return torch.randint(0, 2 * max_shift + 1, (2, n), generator=generator)


def shift_images(x, dy, dx, max_shift):
    """Image k of x (N, 784) seen through a 28x28 window at (dy[k], dx[k]) of its copy padded by max_shift pixels
    of background: moved by (max_shift - dy[k], max_shift - dx[k]) pixels."""
    n, side = x.shape[0], 28 + 2 * max_shift
    padded = torch.nn.functional.pad(x.view(n, 28, 28), (max_shift,) * 4, value=-PIXEL_MEAN / PIXEL_STD)
    grid = torch.arange(28, device=x.device)
    window = (grid[:, None] * side + grid[None, :]).view(1, -1)  # the top-left 28x28 of the padded image
    return padded.view(n, -1).gather(1, window + (dy * side + dx).view(n, 1))


def jitter(x, max_shift, generator):
    """Shift each 28x28 image by a random whole number of pixels in [-max_shift, max_shift] per axis."""
    dy, dx = random_shifts(x.shape[0], max_shift, generator).to(x.device)
    return shift_images(x, dy, dx, max_shift)


VIEW_TABLE_MAX_BYTES = 512 * 2**20  # consistent teaching looks the teacher's logits up when all views fit in this


def teacher_view_logits(teacher, x, max_shift, chunk=4096):
    """The teacher's logits (eval mode) of every shifted view of every image of x: (N, (2k+1)^2, 10), view
    dy * (2k + 1) + dx being shift_images(x, dy, dx, k). With k = 2 that is 25 views, computed once."""
    side = 2 * max_shift + 1
    table = torch.empty(len(x), side * side, N_CLASSES, device=x.device)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk]
        for view in range(side * side):
            dy, dx = (torch.full((len(part),), d, device=x.device) for d in divmod(view, side))
            table[start : start + len(part), view] = logits_of(teacher, shift_images(part, dy, dx, max_shift))
    return table


def transfer_indices(labels, drop_class=None, fraction=1.0, seed=0):
    """Indices of a transfer set: all of ``labels``, minus one class, or a seeded random fraction."""
    labels, fraction = np.asarray(labels), _checks.fraction(fraction)
    drop_class = None if drop_class is None else _checks.count(drop_class, "drop_class", 0, N_CLASSES - 1)
    _checks.count(seed, "seed", 0, MAX_SEED)
    keep = np.flatnonzero(labels != drop_class) if drop_class is not None else np.arange(len(labels))
    if len(keep) == 0:
        raise ValueError(
            f"no examples left: {len(labels)} labels"
            + (f", all of class {drop_class}, which is dropped" if drop_class is not None and len(labels) else "")
        )
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

    def __post_init__(self):
        _checks.teacher_config(self)

    def recipe(self):
        """How this teacher is regularised and trained, in words (the paper names dropout, weight constraints and
        jitter, without rates)."""
        constraint = f"weight decay {self.weight_decay:g}" if self.weight_decay else "no weight constraint or decay"
        return (
            f"784-{self.hidden}-{self.hidden}-10; dropout {self.dropout_input:g} on the input pixels and "
            f"{self.dropout_hidden:g} on the hidden units; jitter up to {self.jitter} pixels each way; {constraint}; "
            f"{self.epochs} epochs on {self.n_train:,} images"
        )


@dataclass(frozen=True)
class StudentConfig:
    hidden: int = 800
    epochs: int = 30
    batch_size: int = 128
    lr: float = 0.05
    momentum: float = 0.9
    max_grad_norm: float | None = 5.0  # per student; keeps soft-target runs at high T from diverging
    seed: int = 0

    def __post_init__(self):
        _checks.student_config(self)


class TrainingWarning(RuntimeWarning):
    """A run finished but its result should not be trusted (it diverged, or clipping held it down)."""


@dataclass
class History:
    """Per-epoch records of a run; each value holds one number per student."""

    epochs: list = field(default_factory=list)
    loss: list = field(default_factory=list)
    train_errors: list = field(default_factory=list)
    test_errors: list = field(default_factory=list)
    val_errors: list = field(default_factory=list)


def epoch_bar(epochs, description, enabled=True):
    """A tqdm progress bar over range(epochs).

    In a notebook tqdm draws a widget, and the text an executed or exported notebook keeps for it is what the
    bar said when it first appeared (0%). There the bar is shown with a display id and shown again when it
    closes, so the saved output holds the finished bar (100%, the time taken)."""
    bar, notebook = tqdm, sys.modules.get("tqdm.notebook")  # tqdm.auto imported it when it chose the widget
    if enabled and notebook is not None and issubclass(tqdm, notebook.tqdm_notebook):
        bar = _final_state_notebook_bar()
    return bar(range(epochs), desc=description, disable=not enabled, unit="epoch")


@functools.cache
def _final_state_notebook_bar():
    from IPython.display import display

    class FinalStateBar(tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self.handle = display(self.container, display_id=True)

        def close(self):
            super().close()
            handle, self.handle = getattr(self, "handle", None), None
            if handle is not None:
                handle.update(self.container)

    return FinalStateBar


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


def _warn_if_untrustworthy(names, final_losses, chance_losses, clipped_share, max_grad_norm=None):
    """Warn about each student whose last epoch ended no better than (90% of) the loss of uniform guessing,
    or whose gradient the clipping held down in most steps of its last epoch: results that look finite but
    are not learning. Clipping in most steps names max_grad_norm as a possible cause."""
    for name, loss, chance, share in zip(names, final_losses, chance_losses, clipped_share, strict=True):
        clipping = (
            f"Its gradient was clipped in {100 * share:.0f}% of the steps of its last epoch. Lower StudentConfig.lr, "
            f"or raise StudentConfig.max_grad_norm (now {max_grad_norm:g}) if it is too small for this loss "
            "(the soft term's gradient grows with T)."
            if share > 0.5
            else ""
        )
        if loss >= 0.9 * chance:
            how = "far above" if loss > 1.5 * chance else "no better than"
            advice = clipping or "Lower StudentConfig.lr or train longer."
            warnings.warn(
                f"the {name} ended with loss {loss:.3g}, {how} the {chance:.3g} of predicting uniform probabilities: "
                f"it did not learn (often a learning rate that is too high, or too few epochs). {advice}",
                TrainingWarning,
                stacklevel=3,
            )
        elif clipping:
            warnings.warn(
                f"the {name} is not trustworthy: the clipping, not the learning rate schedule, controlled its "
                f"steps. {clipping}",
                TrainingWarning,
                stacklevel=3,
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
    """Misclassified examples per model; ``class_bias`` (10,) is added to the logits first. Tensors or arrays."""
    logits, labels = _checks.logits_and_labels(logits, labels)
    if class_bias is not None:
        logits = logits + torch.as_tensor(class_bias, dtype=logits.dtype, device=logits.device)
    wrong = (logits.argmax(-1) != labels).sum(-1)
    return wrong.cpu().numpy()


def single_errors(logits, labels, class_bias=None):
    """Errors of one model as an int (logits (N, C), or (1, N, C) from a one-student stack)."""
    return int(np.sum(count_errors(logits, labels, class_bias)))


def train_teacher(x, y, config=TeacherConfig(), x_test=None, y_test=None, progress=True, callback=None):
    """Train the dropout teacher with SGD + one-cycle schedule and optional pixel jitter."""
    _checks.instance_of(config, TeacherConfig, "config", "TeacherConfig(epochs=12)")
    y = _checks.label_tensor(y, len(_checks.input_tensor(x, "x")), x.device, "y")
    x_test, y_test = _checks.test_set(x_test, y_test, x.device)
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    model = teacher_mlp(config.hidden, config.dropout_input, config.dropout_hidden).to(x.device)
    steps_per_epoch = -(-len(x) // config.batch_size)
    optimizer, schedule = _sgd_with_one_cycle(
        model.parameters(), config.lr, config.momentum, config.weight_decay, config.epochs * steps_per_epoch
    )
    history = History()
    bar = epoch_bar(config.epochs, "teacher", progress)
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
    """Write ``model`` as float16 weights plus a JSON record into ``folder`` (``teacher_store.write_shipped``);
    return the record.

    The record gets the test errors of the exported (float16) weights on the canonical test set, besides what
    the caller put in ``record`` (how it was made) and the sha256 sums write_shipped adds.
    """
    state = teacher_store.shipped_state(model)
    exported = teacher_store.model_from_state(config, state)
    x_test, y_test = to_inputs(data.test_images, "cpu"), to_labels(data.test_labels, "cpu")
    record = {
        **record,
        "config": asdict(config),
        "data": data_fingerprint(),
        "dtype": "float16",
        "test_errors": int(count_errors(logits_of(exported, x_test), y_test)),
    }
    return teacher_store.write_shipped(state, folder, name, record)


def _chance_losses(teacher_logits, labels, T, alpha):
    """The loss of a student that always predicts uniform probabilities, one per student: ``distillation_loss``
    of all-zero logits, alpha T^2 KL(p_T || u) + (1 - alpha) log C, in float64."""
    if teacher_logits is None:
        return np.full(len(T), float(np.log(N_CLASSES)))
    v = teacher_logits.double()
    y = None if labels is None else labels.to(v.device)
    uniform = torch.zeros_like(v)
    losses = [distillation_loss(uniform, v, y, torch.tensor(t), torch.tensor(a)) for t, a in zip(T, alpha, strict=True)]
    return np.array([float(loss) for loss in losses])


def initial_students(hidden, seeds):
    """A StackedStudents whose student k starts from ``torch.manual_seed(seeds[k])``; equal seeds, equal starts."""
    start = {}
    for seed in seeds:
        if seed not in start:
            torch.manual_seed(int(seed))
            start[seed] = student_mlp(hidden)
    return StackedStudents([start[seed] for seed in seeds])


@dataclass(frozen=True)
class TrainingOptions:
    """What a training run does besides learning the transfer set's fixed soft targets: consistent teaching or
    function matching, what it counts after every epoch, and what it tells the caller.

    Consistent teaching (Beyer et al. 2022): ``transfer_jitter=k`` shifts each transfer batch by up to k pixels,
    and ``teacher`` (in eval mode, no gradient) labels exactly that shifted batch. Function matching (the same
    paper): ``transfer_mixup=a`` (> 0, with transfer_jitter >= 1) then mixes the shifted images, view i becoming
    lambda_i v_i + (1 - lambda_i) v_(i-1) with lambda_i ~ Beta(a, a) drawn per image, and the teacher labels that
    mixed view; a = 1 (lambda uniform in [0, 1]) is the paper's (big_vision's distillation configs: mixup p=1.0).
    A mixed image has no one label, so function matching trains the soft term alone (every alpha 1). ``test``
    and ``validation`` are (images, labels) pairs whose errors are counted after every epoch (History.test_errors,
    .val_errors); ``track_train_errors`` counts the transfer set's too. ``callback(epoch, history)`` runs after
    each epoch; ``description`` names the run on its progress bar.
    """

    teacher: object = None
    transfer_jitter: int = 0
    transfer_mixup: float = 0.0
    test: tuple | None = None
    validation: tuple | None = None
    track_train_errors: bool = False
    callback: object = None
    description: str | None = None


def train_students(x, y, teacher_logits, T, alpha, config=StudentConfig(), seeds=None, options=None, progress=True):
    """Train one student per (T, alpha, seed), all stacked in one model, on the transfer set x.

    T, alpha and ``seeds`` (default: ``config.seed`` for all) broadcast against each other. A student's
    seed fixes its initialisation and the order of its batches, so a student trained in a stack equals
    the same student trained alone, and students that differ only in seed measure the seed spread.
    ``y=None`` trains on soft targets only (alpha must be 1); ``teacher_logits=None`` is allowed when
    every alpha is 0 (labels only). Every input is checked before training starts.

    ``options`` (a TrainingOptions) adds consistent teaching, the sets whose errors are counted after every
    epoch, a callback and the progress bar's description. With consistent teaching (``transfer_jitter=k``) the
    teacher labels each shifted view and ``teacher_logits`` are not used; each seed draws its own shifts, so a
    student in a stack still equals the same student trained alone. When all (2k+1)^2 views of the transfer set
    fit in VIEW_TABLE_MAX_BYTES, the teacher labels each view once before training (teacher_view_logits) and
    every step looks its targets up: the same numbers, without a teacher pass a step. With function matching
    (``transfer_mixup=a``) the shifted views are mixed (each seed its own Beta(a, a) draws) and the teacher labels
    every mixed batch as it comes: no table can hold mixed views.

    Returns (StackedStudents, History).
    """
    _checks.instance_of(config, StudentConfig, "config", "StudentConfig(hidden=100)")
    options = _checks.instance_of(
        TrainingOptions() if options is None else options, TrainingOptions, "options", "TrainingOptions(test=...)"
    )
    teacher, transfer_jitter, callback, description = (
        options.teacher,
        options.transfer_jitter,
        options.callback,
        options.description,
    )
    T, alpha, seeds = _checks.students(T, alpha, seeds, config.seed)
    _checks.stacked_size(len(T), config.hidden, mlp_weights(config.hidden))
    transfer_jitter = _checks.consistent_teaching(teacher, transfer_jitter, x)
    mixup = _checks.function_matching(options.transfer_mixup, transfer_jitter, alpha)
    if transfer_jitter and teacher_logits is None:  # on the unshifted images: for the checks and the chance loss
        teacher_logits = logits_of(teacher, x)
    y, (x_test, y_test), (x_val, y_val) = _checks.transfer_set(x, y, teacher_logits, T, alpha, options)
    if teacher_logits is None:
        teacher_logits = torch.zeros(len(x), N_CLASSES, device=x.device)
    teacher_was_training = teacher is not None and teacher.training
    if teacher is not None:
        teacher.eval()
    view_logits = None
    if (
        transfer_jitter
        and not mixup
        and (2 * transfer_jitter + 1) ** 2 * len(x) * N_CLASSES * 4 <= VIEW_TABLE_MAX_BYTES
    ):
        view_logits = teacher_view_logits(teacher, x, transfer_jitter)
    if mixup:  # uniform guessing scores less on mixed views (flatter targets): its loss on a draw of them
        chance = _chance_losses(_mixed_view_logits(teacher, x, transfer_jitter, mixup), None, T, alpha)
    else:
        chance = _chance_losses(None if (alpha == 0).all() else teacher_logits, y, T, alpha)
    distinct = list(dict.fromkeys(seeds.tolist()))  # each seed's batch order, in order of first appearance
    seed_of_student = torch.as_tensor([distinct.index(s) for s in seeds], device=x.device)
    # one seed: one batch for every student, so the first layer is one wide GEMM; else (students, batch)
    pick = 0 if len(distinct) == 1 else seed_of_student
    generators = [torch.Generator().manual_seed(s) for s in distinct]
    shift_generators = [torch.Generator().manual_seed(s + JITTER_SEED_OFFSET) for s in distinct]
    mix_generators = [np.random.default_rng(s + MIXUP_SEED_OFFSET) for s in distinct] if mixup else None
    model = initial_students(config.hidden, seeds).to(x.device)
    steps_per_epoch = -(-len(x) // config.batch_size)
    optimizer, schedule = _sgd_with_one_cycle(
        model.parameters(), config.lr, config.momentum, 0.0, config.epochs * steps_per_epoch
    )
    T_t = torch.as_tensor(T, dtype=torch.float32, device=x.device)
    alpha_t = torch.as_tensor(alpha, dtype=torch.float32, device=x.device)
    history = History()
    names = [f"student with T={t:g}, alpha={a:g}, seed {s}" for t, a, s in zip(T, alpha, seeds, strict=True)]
    if description is None:
        description = f"{len(T)} students" if len(T) > 1 else f"student T={T[0]:g} alpha={alpha[0]:g}"
    bar = epoch_bar(config.epochs, description, progress)
    for epoch in bar:
        orders = torch.stack([torch.randperm(len(x), generator=g) for g in generators]).to(x.device)
        totals = torch.zeros(len(T), device=x.device)
        clipped = torch.zeros(len(T), device=x.device)
        for start in range(0, len(x), config.batch_size):
            idx = orders[:, start : start + config.batch_size]  # (seeds, batch)
            rows = idx[pick]
            if mixup:
                views, targets = _matching_batches(
                    x, idx, teacher, transfer_jitter, shift_generators, mix_generators, mixup
                )
                views, targets = views[pick], targets[pick]
            elif transfer_jitter:
                views, targets = _consistent_batches(x, idx, teacher, transfer_jitter, shift_generators, view_logits)
                views, targets = views[pick], targets[pick]
            else:  # one gather straight from the transfer set
                views, targets = x[rows], teacher_logits[rows]
            labels = None if y is None or mixup else y[rows]  # a mixed image has no one label (every alpha is 1)
            losses = distillation_loss(model(views), targets, labels, T_t, alpha_t)
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            if config.max_grad_norm is not None:
                clipped += clip_per_student(model.parameters(), config.max_grad_norm) > config.max_grad_norm
            optimizer.step()
            schedule.step()
            totals += losses.detach() * idx.shape[-1]
        mean_losses = (totals / len(x)).cpu().numpy()
        _check_finite(mean_losses, names, epoch, "lower the learning rate or set max_grad_norm in StudentConfig")
        train = (x, y) if options.track_train_errors else (None, None)
        _record(history, epoch, mean_losses, model, x_test, y_test, *train)
        if x_val is not None:
            history.val_errors.append(count_errors(logits_of(model, x_val), y_val))
        if history.test_errors:
            bar.set_postfix(test_errors=int(history.test_errors[-1].min()))
        if callback is not None:
            callback(epoch, history)
    clipped_share = (clipped / steps_per_epoch).cpu().numpy()
    _warn_if_untrustworthy(names, history.loss[-1], chance, clipped_share, config.max_grad_norm)
    if teacher_was_training:
        teacher.train()
    return model, history


JITTER_SEED_OFFSET = 1_000_003  # a seed's shifts come from their own generator, apart from its batch order
MIXUP_SEED_OFFSET = 2_000_003  # and its mixing weights from a third, so they change neither order nor shifts


@torch.no_grad()
def _consistent_batches(x, idx, teacher, max_shift, generators, view_logits=None):
    """Each seed's batch shifted by its own random offsets, and the teacher's logits on exactly those views:
    looked up in ``view_logits`` (teacher_view_logits) when given, else computed now."""
    side = 2 * max_shift + 1
    views, looked_up = [], []
    for rows, generator in zip(idx, generators, strict=True):
        dy, dx = random_shifts(len(rows), max_shift, generator).to(x.device)
        views.append(shift_images(x[rows], dy, dx, max_shift))
        if view_logits is not None:
            looked_up.append(view_logits[rows, dy * side + dx])
    views = torch.stack(views)
    if view_logits is not None:
        return views, torch.stack(looked_up)
    return views, teacher(views.flatten(0, 1)).view(*views.shape[:2], N_CLASSES)


def mixup_weights(n, concentration, rng):
    """n mixing weights lambda ~ Beta(a, a) (a = ``concentration``), float32, drawn from the numpy Generator rng."""
    return torch.from_numpy(rng.beta(concentration, concentration, n).astype(np.float32))


def mix_views(views, weights):
    """Mixup within a batch (N, 784): view i becomes weights[i] v_i + (1 - weights[i]) v_(i-1), the first view
    mixing with the last (big_vision's pairing: the batch rolled by one; the batch order is already random)."""
    w = weights.to(views.device).view(-1, 1)
    return w * views + (1 - w) * views.roll(1, dims=0)


def _mixed_view_logits(teacher, x, max_shift, concentration, n=10000):
    """The teacher's logits of one draw of mixed views of (up to n of) the transfer images, from generators of its
    own (seed 0), so the students' draws are left as they are: what the chance loss of function matching is
    measured on."""
    sample = x[:n]
    shifted = jitter(sample, max_shift, torch.Generator().manual_seed(0))
    return logits_of(teacher, mix_views(shifted, mixup_weights(len(sample), concentration, np.random.default_rng(0))))


@torch.no_grad()
def _matching_batches(x, idx, teacher, max_shift, shift_generators, mix_generators, concentration):
    """Function matching: each seed's batch shifted as in consistent teaching (the same draws from the same
    generator), then mixed (mix_views, Beta(a, a) weights from that seed's own numpy Generator), and the teacher's
    logits of exactly those mixed views."""
    views = torch.stack(
        [
            mix_views(jitter(x[rows], max_shift, shifts), mixup_weights(len(rows), concentration, mixing))
            for rows, shifts, mixing in zip(idx, shift_generators, mix_generators, strict=True)
        ]
    )
    return views, teacher(views.flatten(0, 1)).view(*views.shape[:2], N_CLASSES)
