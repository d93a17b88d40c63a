"""The distillation loss (torch).

    loss = alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1)

p_T = softmax(teacher_logits / T), q_T = softmax(student_logits / T). The T^2 keeps the soft
term's gradient, (q_T - p_T) / T per logit, from shrinking like 1/T^2 as T grows.

``kd_loss`` checks its inputs and then calls ``distillation_loss``, the unchecked computation
that the training loop calls once per step after checking everything once.
"""

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import real_array

# Above these temperatures T^2 KL is lost in rounding: the KL is O(1/T^2) while log-softmax carries
# an absolute error of about eps * log(n); T^2 times that error must stay well below the loss.
MAX_TEMPERATURE = {torch.float32: 1e3, torch.float64: 1e7}


def compute_dtype(logits):
    """float32 for half, bfloat16 and float32 inputs; float64 stays float64."""
    return torch.float64 if logits.dtype == torch.float64 else torch.float32


def distillation_loss(student_logits, teacher_logits, labels, T, alpha):
    """alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(labels, q_1), each averaged over the batch; no checks.

    student_logits (N, C) or (K, N, C); teacher_logits and labels broadcast against them ((N, C) or
    (K, N, C), and (N,) or (K, N)); T and alpha are scalars or (K,) tensors. labels=None: soft term alone.
    Computed in float32 at least; a -inf teacher logit is a class of probability 0 and adds nothing.
    """
    dtype = compute_dtype(student_logits)
    z, v = student_logits.to(dtype), teacher_logits.to(dtype)
    T_view = T.view(-1, 1, 1) if T.dim() else T
    log_q = F.log_softmax(z / T_view, dim=-1)
    log_p = F.log_softmax(v / T_view, dim=-1)
    p = log_p.exp()
    zero = torch.zeros((), dtype=dtype, device=z.device)
    kl = torch.where(p > 0, p * (log_p - log_q), zero).sum(-1).mean(-1)  # KL(p || q) with 0 log 0 = 0
    soft = T**2 * kl
    if labels is None:
        return soft
    n_classes = z.shape[-1]
    labels = labels.expand(z.shape[:-1])
    hard = F.cross_entropy(z.reshape(-1, n_classes), labels.reshape(-1), reduction="none")
    hard = hard.view(z.shape[:-1]).mean(-1)
    zero_weight = torch.zeros_like(soft)
    # a weight of 0 drops its term, even one that overflowed (0 * inf would be nan)
    return torch.where(alpha > 0, alpha * soft, zero_weight) + torch.where(alpha < 1, (1 - alpha) * hard, zero_weight)


def as_numbers(value, name):
    """``value`` (a number, a list of numbers, an array or a tensor) as a float64 numpy array.

    Strings, bools, None and anything else that is not a real number are a TypeError naming ``name``.
    """
    return real_array(value, name, "a number (or one number per student)")


def _per_student(value, name, n_students, device):
    """A number, or one number per stacked student, as a float64 tensor (0-d or (K,))."""
    tensor = torch.as_tensor(as_numbers(value, name))
    if tensor.dim() == 1 and tensor.numel() == 1 and n_students is None:
        tensor = tensor[0]
    if tensor.dim() > 1 or (tensor.dim() == 1 and tensor.numel() != n_students):
        students = "a single student" if n_students is None else f"{n_students} stacked students"
        raise ValueError(
            f"{name} must be one number, or one per student, for {students}; got shape {tuple(tensor.shape)}"
        )
    return tensor.to(device)


def min_temperature(dtype=torch.float32):
    """The smallest T kd_loss accepts in ``dtype``: below it T^2 underflows and the soft term is lost."""
    return float(torch.finfo(dtype).tiny) ** 0.5


def check_temperature(T, dtype=torch.float32):
    """Refuse T that is not finite and > 0, so small that T^2 underflows, or so large that T^2 KL drowns
    in rounding in ``dtype``."""
    limit = MAX_TEMPERATURE[dtype]
    name = str(dtype).removeprefix("torch.")
    if torch.isnan(T).any() or (T <= 0).any() or torch.isinf(T).any():
        raise ValueError(f"temperature T must be a finite number > 0, got {T.tolist()}")
    if (T < min_temperature(dtype)).any():
        raise ValueError(
            f"temperature T = {T.min().item():g} is too small for {name}: below T = {min_temperature(dtype):.2g} "
            "T^2 underflows to 0 and logits / T overflow, so the soft term would be lost or nan. Use a larger T "
            "(at T = 0.01 the soft targets are already one-hot, to within e^-20 per class, where the teacher's top "
            "logit leads the others by 0.2 or more; tied top logits share it equally)."
        )
    if (T > limit).any():
        raise ValueError(
            f"temperature T = {T.max().item():g} is too large for kd_loss in {name}: "
            f"above T = {limit:g} the soft term T^2 KL is lost in rounding. Use a smaller T (float64 logits allow "
            f"up to {MAX_TEMPERATURE[torch.float64]:g}); at such temperatures distillation is logit matching "
            "(notebook 03)."
        )


def check_scaled_logits(logits, T, dtype=torch.float32, name="teacher logits", read_at_T1=False):
    """Refuse logits whose size, or spread within a row (max - min, which log_softmax subtracts), divided by
    the smallest T overflows ``dtype``: the soft targets or the loss would be inf or nan. ``read_at_T1``:
    the hard term also reads these logits at T = 1, so no temperature can help."""
    logits = logits.detach().double()
    finite = torch.isfinite(logits)
    if not finite.any():
        return
    largest = logits[finite].abs().max().item()
    rows = finite.any(-1)
    high = torch.where(finite, logits, -torch.inf).amax(-1)[rows]
    low = torch.where(finite, logits, torch.inf).amin(-1)[rows]
    widest = (high - low).max().item()
    size, smallest_T = max(largest, widest), T.min().item()
    limit, kind = torch.finfo(dtype).max, str(dtype).removeprefix("torch.")
    if size / smallest_T > limit:
        what = f"up to {largest:g}" if largest >= widest else f"spread over {widest:g} in one row"
        raise ValueError(
            f"{name} {what} divided by T = {smallest_T:g} exceed the largest {kind} "
            f"number ({limit:.3g}), so the soft targets and the loss would be inf or nan. "
            + (
                "The hard term reads them at T = 1: use float64 logits"
                if read_at_T1 and size > limit
                else f"Use T >= {size / limit * 10:.2g}"
            )
            + ", or logits of a sensible size."
        )


def checked_T_alpha(T, alpha, n_students=None, dtype=torch.float32, device="cpu"):
    """T and alpha as float64 tensors (0-d, or (K,) for K students), checked by the rules of kd_loss.

    kd_loss, train_students and the experiment presets all check T and alpha here.
    """
    T_ = _per_student(T, "T", n_students, device)
    alpha_ = _per_student(alpha, "alpha", n_students, device)
    check_temperature(T_, dtype)
    check_alpha(alpha_)
    return T_, alpha_


def check_alpha(alpha):
    if torch.isnan(alpha).any() or (alpha < 0).any() or (alpha > 1).any():
        raise ValueError(f"alpha weights the soft term and must lie in [0, 1], got {alpha.tolist()}")


def _as_logits(value, name):
    if not torch.is_tensor(value):
        raise TypeError(f"{name} must be a torch tensor, got {type(value).__name__} (use torch.as_tensor)")
    if not value.is_floating_point():
        raise TypeError(f"{name} must hold floating-point logits, got {value.dtype}")
    if value.dim() not in (2, 3):
        raise ValueError(
            f"{name} must be (batch, classes) or (students, batch, classes), got shape {tuple(value.shape)}; "
            "for a single example use logits[None, :]"
        )
    if value.shape[-2] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(value.shape)})")
    if value.shape[-1] < 2:
        raise ValueError(f"{name} must have at least two classes (last axis), got shape {tuple(value.shape)}")
    return value


def as_labels(labels, n_classes, shapes, device, name="labels"):
    """Integer class labels as int64 on ``device``, of one of ``shapes``, each in 0..n_classes-1."""
    if not torch.is_tensor(labels):
        try:
            array = np.asarray(labels)
        except ValueError:  # a ragged list
            raise TypeError(f"{name} must be a flat list of integer class indices, one per example") from None
        if array.dtype.kind not in "iu":
            raise TypeError(f"{name} must be integer class indices, got {array.dtype} values")
        _check_classes(array.min() if array.size else 0, array.max() if array.size else 0, n_classes, name)
        labels = torch.as_tensor(array.astype(np.int64))
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.is_complex():
        raise TypeError(f"{name} must be integer class indices, got {labels.dtype}")
    labels = labels.to(dtype=torch.int64)
    if tuple(labels.shape) not in [tuple(shape) for shape in shapes]:
        wanted = " or ".join(str(tuple(shape)) for shape in shapes)
        raise ValueError(f"{name} {tuple(labels.shape)} must hold one class per row of the batch: shape {wanted}")
    if labels.numel():
        _check_classes(labels.min().item(), labels.max().item(), n_classes, name)
    return labels.to(device=device)


def _check_classes(low, high, n_classes, name):
    if low < 0 or high >= n_classes:
        raise ValueError(f"{name} must lie in 0..{n_classes - 1} (one per class), got {low}..{high}")


def check_teacher_logits(teacher_logits):
    """Refuse nan and +inf teacher logits, and rows with no finite logit (-inf alone is a class of probability 0)."""
    if torch.isnan(teacher_logits).any() or torch.isposinf(teacher_logits).any():
        raise ValueError("teacher logits contain nan or +inf: check the teacher (a diverged teacher gives nan)")
    if torch.isneginf(teacher_logits).all(-1).any():
        raise ValueError("a row of teacher logits is all -inf: its soft targets are undefined")


def check_student_logits(student_logits):
    """Refuse nan and +inf student logits (a diverged student) and rows that are all -inf."""
    if torch.isnan(student_logits).any() or torch.isposinf(student_logits).any():
        raise ValueError(
            "student logits contain nan or +inf: the student has diverged "
            "(lower its learning rate, or clip its gradient)"
        )
    if torch.isneginf(student_logits).all(-1).any():
        raise ValueError("a row of student logits is all -inf: its probabilities are undefined")


def kd_loss(student_logits, teacher_logits, labels, T, alpha):
    """alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(labels, q_1), both averaged over the batch.

    ``student_logits`` is (N, C), or (K, N, C) for K stacked students, in which case ``T`` and
    ``alpha`` may hold one value per student and one loss per student is returned.
    ``teacher_logits`` is (N, C), or (K, N, C) when each student sees its own batch; ``labels`` is
    (N,) or (K, N). ``labels=None`` means an unlabeled transfer set: the soft term alone, so alpha
    must be 1. The loss is computed in float64 and returned in float32 (half and float32 inputs) or float64.
    """
    z = _as_logits(student_logits, "student_logits")
    v = _as_logits(teacher_logits, "teacher_logits")
    if v.shape[-1] != z.shape[-1] or v.shape[-2] != z.shape[-2] or (v.dim() == 3 and v.shape != z.shape):
        raise ValueError(
            f"student logits {tuple(z.shape)} and teacher logits {tuple(v.shape)} must end in the same "
            "(batch, classes) shape"
        )
    check_teacher_logits(v)
    check_student_logits(z)
    n_students = z.shape[0] if z.dim() == 3 else None
    dtype = compute_dtype(z)
    T_, alpha_ = checked_T_alpha(T, alpha, n_students, dtype, z.device)
    check_scaled_logits(v, T_, dtype)
    # the hard term reads the student's logits at T = 1
    student_T = T_ if labels is None else torch.clamp(T_, max=1.0)
    check_scaled_logits(z, student_T, dtype, "student logits", read_at_T1=labels is not None)
    if labels is None:
        if (alpha_ != 1).any():
            raise ValueError(
                f"labels=None (an unlabeled transfer set) leaves only the soft term, so alpha must be 1; got "
                f"{alpha_.tolist()}. Pass the labels to blend in the hard term."
            )
    else:
        labels = as_labels(labels, z.shape[-1], {z.shape[:-1], z.shape[-2:-1]}, z.device)
    # computed in float64: at high T the soft term T^2 KL is a small difference of nearly equal log-probabilities
    # that float32 rounding would swamp; returned in the inputs' precision, gradients flowing back through the cast
    loss = distillation_loss(z.double(), v.double(), labels, T_.double(), alpha_.double()).to(dtype)
    if torch.isinf(loss).any():
        if torch.isneginf(z).any():
            raise ValueError(
                "the loss is infinite: a student logit is -inf (probability 0) where the teacher's soft targets or "
                "the label give probability; a student should never rule a class out completely"
            )
        raise ValueError(
            f"the loss exceeds the largest {str(dtype).removeprefix('torch.')} number: student logits as large as "
            f"{z.detach().abs().max().item():g} are far beyond what a network produces; pass float64 logits to "
            "compute it, or check the student"
        )
    return loss
