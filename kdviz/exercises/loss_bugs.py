"""The distillation bugs that users of public distillation code report again and again.

Each classic bug of a distillation loss is written here as code (``LOSS_BUGS``) and recognised by its numbers:
``name_the_bug(loss)`` runs a loss on random batches (``kd_cases``) and returns the bug whose values it reproduces.
``judge_kd_loss`` compares a student's loss with ``kdviz.mnist.losses.kd_loss``, value and gradient, at the tolerance
of the dtype the loss computed in, and names the bug, arguments taken in another order, a number of classes written
into the code, or gradient flowing into the teacher's logits. ``BUGGY_LOSSES`` are five short losses A to E with one
bug each, for students to spot, and ``FIXED_LOSSES`` the same five with that bug fixed. (A bug no loss can show, the
teacher left in train mode, is measured by ``kdviz.mnist_distillation.soft_target_change``.)
"""

import functools
import inspect
import itertools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


def _soft_log_probs(z, v, T):
    return F.log_softmax(z / T, dim=1), F.log_softmax(v / T, dim=1)


def _kl(z, v, T):
    log_q, log_p = _soft_log_probs(z, v, T)
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")  # KL(p_T || q_T), mean over rows


def _blend(soft, hard, alpha):
    return alpha * soft + (1 - alpha) * hard


@dataclass
class LossBug:
    word: str  # the spot-the-bug option it belongs to; None for the mistakes that are not among the five
    loss: object  # (student_logits, teacher_logits, labels, T, alpha) -> the loss with this bug
    hint: str


def _ce(z, y):
    return F.cross_entropy(z, y)


LOSS_BUGS = [
    LossBug(
        "mean",
        lambda z, v, y, T, a: _blend(T**2 * _kl(z, v, T) / z.shape[1], _ce(z, y), a),
        "The KL is averaged over the classes as well as the batch: reduction='mean', which is also what "
        "nn.KLDivLoss() does by default. That divides the soft term by the number of classes; use "
        "reduction='batchmean'.",
    ),
    LossBug(
        "probabilities",
        lambda z, v, y, T, a: _blend(
            T**2 * F.kl_div(F.softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean"), _ce(z, y), a
        ),
        "F.kl_div's first argument got probabilities where it wants *log*-probabilities: pass "
        "F.log_softmax(student_logits / T, dim=1). With probabilities the number is not a KL (it can be negative).",
    ),
    LossBug(
        "probabilities",
        lambda z, v, y, T, a: _blend(T**2 * F.kl_div(*_soft_log_probs(z, v, T), reduction="batchmean"), _ce(z, y), a),
        "Your loss is nan: F.kl_div's target got log-probabilities (negative numbers) where it wants probabilities, "
        "and their log is nan. Either the teacher's log-probabilities went in without log_target=True, or the two "
        "arguments are swapped: the student's log-probabilities come first, the teacher's probabilities second.",
    ),
    LossBug(
        "T2",
        lambda z, v, y, T, a: _blend(_kl(z, v, T), _ce(z, y), a),
        "The soft term lacks its factor T^2. Without it the soft gradient shrinks like 1/T^2 (section 2), so a "
        "high T silently switches the teacher off.",
    ),
    LossBug(
        "T2",
        lambda z, v, y, T, a: _blend(T * _kl(z, v, T), _ce(z, y), a),
        "The soft term is multiplied by T, not T^2: its gradient still shrinks like 1/T as T grows.",
    ),
    LossBug(
        "swapped",
        lambda z, v, y, T, a: _blend(T**2 * _kl(v, z, T), _ce(z, y), a),
        "Teacher and student are swapped: this is KL(q_T || p_T), with the student's distribution as the target, "
        "so the gradient flows through the target instead. F.kl_div(input, target) computes KL(target || input): "
        "the student's log-probabilities are the input, the teacher's distribution the target.",
    ),
    LossBug(
        "alpha",
        lambda z, v, y, T, a: _blend(_ce(z, y), T**2 * _kl(z, v, T), a),
        "alpha is on the wrong term: in kdviz alpha weighs the soft term, alpha * T^2 * KL + (1 - alpha) * CE "
        "(Keras and torchdistill put alpha on the hard term; read each code base's convention).",
    ),
    LossBug(
        None,
        lambda z, v, y, T, a: _blend(T**2 * _kl(z, v, T) * z.shape[0], _ce(z, y), a),
        "The KL is summed over the batch (reduction='sum'), so the soft term grows with the batch size; use "
        "reduction='batchmean' to average it over the batch, as the cross-entropy is.",
    ),
    LossBug(
        None,
        lambda z, v, y, T, a: z.shape[0] * _blend(T**2 * _kl(z, v, T), _ce(z, y), a),
        "Both terms are summed over the batch (reduction='sum'): the loss, and the step size with it, grows with "
        "the batch size. Average each over the batch: reduction='batchmean' for the KL, the default for "
        "F.cross_entropy.",
    ),
    LossBug(
        None,
        lambda z, v, y, T, a: _blend(
            -(T**2) * (F.softmax(v / T, dim=1) * F.log_softmax(z / T, dim=1)).sum(1).mean(), _ce(z, y), a
        ),
        "That is the soft *cross-entropy* -sum p log q, not the KL. Its gradient is the same (the two differ by "
        "the teacher's entropy, a constant for the student), but its value is larger, and not 0 when the "
        "student matches the teacher. kd_loss reports the KL: subtract the entropy, or use F.kl_div.",
    ),
    LossBug(
        None,
        lambda z, v, y, T, a: _blend(T**2 * _kl(z, v, T), _ce(z / T, y), a),
        "The hard term uses the student's ordinary softmax (T = 1): F.cross_entropy(student_logits, labels), "
        "without dividing by T.",
    ),
]

BUG_OPTIONS = [
    ("mean", "the KL is averaged over the classes too (reduction='mean')"),
    ("probabilities", "probabilities where log-probabilities belong (or the reverse)"),
    ("T2", "the T^2 factor is missing"),
    ("swapped", "teacher and student are swapped"),
    ("alpha", "alpha is on the wrong term"),
]


@dataclass
class KDCase:
    student_logits: torch.Tensor
    teacher_logits: torch.Tensor
    labels: torch.Tensor
    T: float
    alpha: float

    @property
    def n_classes(self):
        return self.student_logits.shape[1]


# (T, alpha, classes, batch size) of each case: alpha = 0 and 1 among them, 10 classes (MNIST's) and others, so
# that no number of classes written into a loss fits every batch
CASE_SIZES = ((2.0, 0.3, 10, 8), (4.0, 0.8, 7, 8), (10.0, 0.6, 10, 6), (3.0, 0.0, 10, 8), (5.0, 1.0, 4, 8))


def kd_cases(seed=12):
    """Random batches on which a loss is compared with kd_loss (``CASE_SIZES``). The T and alpha values, alpha = 0
    and 1 among them, make each bug in LOSS_BUGS give different numbers from kd_loss and from every other bug; the
    numbers of classes (10, 7 and 4) and batch sizes (8 and 6) differ, so a loss that writes either into its code
    fails somewhere."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for T, alpha, n_classes, n in CASE_SIZES:
        z = 2 * torch.randn(n, n_classes, generator=g, dtype=torch.float64)
        v = 3 * torch.randn(n, n_classes, generator=g, dtype=torch.float64)
        cases.append(KDCase(z, v, torch.randint(0, n_classes, (n,), generator=g), T, alpha))
    return cases


class NotALoss(Exception):
    """A function's return value that cannot be trained with: the message says why."""


# (rtol, atol) of the comparison with kd_loss (computed in float64), by the least precise dtype a loss computed in.
# float32 rounding moves the soft term T^2 KL by up to ~1e-5 (relative) and the gradient by ~1e-7 on kd_cases()
# (tests/test_exercises.py measures it), while every bug changes them by a factor or more.
TOLERANCES = {torch.float64: (1e-6, 1e-9), torch.float32: (1e-4, 1e-6)}


@dataclass
class Run:
    """One loss on one case: its value, its gradient with respect to the student's logits and to the teacher's
    (None where none flows), and the least precise floating dtype it was computed in."""

    value: float
    grad: torch.Tensor
    teacher_grad: torch.Tensor
    dtype: torch.dtype


def _least_precise(dtypes):
    return max(dtypes, key=lambda dtype: torch.finfo(dtype).eps)


def _run(loss, case):
    """``loss`` on ``case``, on fresh copies of its tensors (the teacher's logits requiring grad, as they do when a
    teacher's forward pass is left in the graph), as a Run."""
    z = case.student_logits.clone().requires_grad_(True)
    v = case.teacher_logits.clone().requires_grad_(True)
    dtypes = {torch.float64}

    def saved(tensor):  # every tensor autograd keeps for the backward pass: the dtypes the loss computed in
        if tensor.is_floating_point():
            dtypes.add(tensor.dtype)
        return tensor

    with warnings.catch_warnings(), torch.autograd.graph.saved_tensors_hooks(saved, lambda tensor: tensor):
        warnings.simplefilter("ignore", UserWarning)  # torch warns about reduction='mean', one of the bugs tried here
        value = loss(z, v, case.labels.clone(), case.T, case.alpha)
    if value is None:
        raise NotALoss("your function returns None. Compute the loss and end with `return loss`.")
    if not torch.is_tensor(value):
        raise NotALoss(
            f"your function returns a {type(value).__name__}, not a torch tensor. A loss must carry a gradient so "
            "that loss.backward() can train the student: return the tensor itself (no .item(), float() or "
            "numpy)."
        )
    if value.numel() != 1:
        raise NotALoss(f"return one number, the loss averaged over the batch (yours has shape {tuple(value.shape)}).")
    if not value.requires_grad:
        raise NotALoss(
            "your loss carries no gradient, so loss.backward() could not train the student: something in it is "
            "detached (.detach(), torch.no_grad(), numpy, or a new tensor made from a number)."
        )
    grad, teacher_grad = torch.autograd.grad(value.reshape(()), (z, v), allow_unused=True)
    if grad is None:
        raise NotALoss("no gradient reaches student_logits: the loss must be computed from them, not a detached copy.")
    if value.is_floating_point():
        dtypes.add(value.dtype)
    return Run(float(value.detach()), grad, teacher_grad, _least_precise(dtypes))


def _same(a, b, dtype=torch.float64):
    rtol, atol = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    return np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


def _fingerprint(loss, cases):
    return [_run(loss, case) for case in cases]


def _values(loss, cases):
    """The loss on each case, without gradients (for losses known to return a tensor), on copies of the case's
    tensors (a loss that divides its arguments in place leaves the cases as they were)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch warns about reduction='mean', one of the bugs
        return np.array(
            [
                float(loss(c.student_logits.clone(), c.teacher_logits.clone(), c.labels.clone(), c.T, c.alpha))
                for c in cases
            ]
        )


@functools.cache
def _known_numbers():
    """kd_cases(), kd_loss's runs on them, and each bug's values: computed once."""
    from ..mnist.losses import kd_loss

    cases = kd_cases()
    return cases, _fingerprint(kd_loss, cases), [_values(bug.loss, cases) for bug in LOSS_BUGS]


def _bug_giving(values, dtype=torch.float64):
    _, _, bug_values = _known_numbers()
    return next((bug for bug, known in zip(LOSS_BUGS, bug_values, strict=True) if _same(values, known, dtype)), None)


def name_the_bug(loss):
    """The entry of LOSS_BUGS whose numbers ``loss`` reproduces on ``kd_cases()``, or None (kd_loss itself, or an
    unknown mistake)."""
    cases, _, _ = _known_numbers()
    return _bug_giving(_values(loss, cases))


def _differing_digits(a, b):
    """Both numbers to the fewest significant digits (at least 6) at which they print differently."""
    digits = next((d for d in range(6, 18) if f"{a:.{d}g}" != f"{b:.{d}g}"), 17)
    return f"{a:.{digits}g}", f"{b:.{digits}g}"


ARGUMENTS = ("student_logits", "teacher_logits", "labels", "T", "alpha")


def _agreement(runs, expected):
    """For each case: (value agrees, gradient agrees) with kd_loss's, at the tolerance of the dtype computed in."""
    return [
        (_same(run.value, known.value, run.dtype), _same(run.grad.numpy(), known.grad.numpy(), run.dtype))
        for run, known in zip(runs, expected, strict=True)
    ]


def _mixed_up_arguments(loss):
    """(i, j) when ``loss`` gives kd_loss's values and gradients once its arguments i and j are swapped: the order
    of its parameters differs from (student_logits, teacher_logits, labels, T, alpha). None otherwise."""
    cases, expected, _ = _known_numbers()
    for i, j in itertools.combinations(range(len(ARGUMENTS)), 2):

        def swapped(*args, i=i, j=j):
            args = list(args)
            args[i], args[j] = args[j], args[i]
            return loss(*args)

        try:  # the values first, without gradients (cheap); then values and gradients of a swap that fits
            if not _same(_values(swapped, cases), [known.value for known in expected], torch.float32):
                continue
            runs = _fingerprint(swapped, cases)
        except Exception:  # a swap can make a student's code fail in any way: then it is not this swap
            continue
        if all(value and grad for value, grad in _agreement(runs, expected)):
            return i, j
    return None


def _mix_up_message(loss, swap):
    first, second = (ARGUMENTS[k] for k in swap)
    try:
        parameters = f" ({', '.join(inspect.signature(loss).parameters)})"
    except (TypeError, ValueError):
        parameters = ""
    return (
        f"Not yet: your function takes its parameters{parameters} in another order. It computes the right loss once "
        f"{first} and {second} are swapped: the checker, like kd_loss and the training loop, calls it as "
        f"my_kd_loss({', '.join(ARGUMENTS)}). Put the parameters in that order."
    )


def _fixed_size_message(cases, agreement):
    """A sentence when the loss is right on every batch of some numbers of classes (or batch sizes) and wrong on
    every batch of the others: a size written into the code. None otherwise."""
    right = [case for case, (value, grad) in zip(cases, agreement, strict=True) if value and grad]
    wrong = [case for case, (value, grad) in zip(cases, agreement, strict=True) if not (value and grad)]
    if not right or not wrong:
        return None
    for size, what, fix in (
        (lambda case: case.n_classes, "classes", "student_logits.shape[1]"),
        (lambda case: len(case.labels), "images", "student_logits.shape[0]"),
    ):
        good, bad = sorted({size(c) for c in right}), sorted({size(c) for c in wrong})
        if not set(good) & set(bad):
            return (
                f"Not yet: your loss is right on the batches of {' and '.join(map(str, good))} {what} but not on "
                f"those of {' and '.join(map(str, bad))}: is a number of {what} written into your code? Take it from "
                f"the logits ({fix}), or let reduction='batchmean' average over the batch alone."
            )
    return None


def judge_kd_loss(my_kd_loss):
    """Compare a student's loss function with kdviz.mnist.losses.kd_loss on ``kd_cases()``, value and gradient, at
    the tolerance of the dtype the loss computed in: (right?, message). A bug from LOSS_BUGS is named, as are
    arguments taken in another order, a number of classes written into the code, and gradient flowing into the
    teacher's logits."""
    if not callable(my_kd_loss):
        return False, "Pass the function itself: check(name, my_kd_loss), no brackets after its name."
    cases, expected, _ = _known_numbers()
    try:
        runs = _fingerprint(my_kd_loss, cases)
    except Exception as err:  # a student's code can fail in any way; say how, or which arguments it mixed up
        if swap := _mixed_up_arguments(my_kd_loss):
            return False, _mix_up_message(my_kd_loss, swap)
        if isinstance(err, NotALoss):
            return False, f"Not yet: {err}"
        return False, f"Not yet: your function raised {type(err).__name__}: {err}"
    dtype = _least_precise(run.dtype for run in runs)
    if dtype not in TOLERANCES:
        return False, (
            f"Not yet: your loss is computed in {str(dtype).replace('torch.', '')}, whose few significant digits "
            "cannot hold the soft term T^2 KL (a small difference of nearly equal numbers at high T): compute it in "
            "float32 or float64 (kd_loss computes in float64)."
        )
    agreement = _agreement(runs, expected)
    if all(value and grad for value, grad in agreement):
        if any(run.teacher_grad is not None and bool(run.teacher_grad.any()) for run in runs):
            return False, (
                "Not yet: your loss and its gradient are right, but gradient also flows from it into teacher_logits. "
                "In a training loop that computes teacher(images) without torch.no_grad(), loss.backward() would "
                "then compute gradients for the teacher too, and an optimizer holding its parameters would train "
                "it. The teacher is a fixed target: use teacher_logits.detach()."
            )
        return True, (
            f"Correct: your loss and its gradient equal kd_loss's on {len(cases)} random batches "
            f"(T = 2 to 10, alpha = 0 to 1, {' and '.join(str(n) for n in sorted({c.n_classes for c in cases}))} "
            "classes)."
        )
    values = np.array([run.value for run in runs])
    if (bug := _bug_giving(values, dtype)) is not None:
        return False, f"Not yet. Hint: {bug.hint}"
    if swap := _mixed_up_arguments(my_kd_loss):
        return False, _mix_up_message(my_kd_loss, swap)
    if message := _fixed_size_message(cases, agreement):
        return False, message
    grads_agree = all(grad for _, grad in agreement)
    if all(value for value, _ in agreement):
        return False, "Not yet: your loss has kd_loss's value but not its gradient: part of it is detached."
    if np.isnan(values).any():
        case = cases[int(np.argmax(np.isnan(values)))]
        return False, (
            f"Not yet: your loss is nan at T = {case.T:g}, alpha = {case.alpha:g}: a log of a negative number "
            "or of 0? F.kl_div's target must be probabilities, or log-probabilities with log_target=True."
        )
    expected_values = np.array([known.value for known in expected])
    k = int(np.argmax(np.abs(values - expected_values) / np.maximum(np.abs(expected_values), 1e-12)))
    yours, theirs = _differing_digits(values[k], expected_values[k])
    offset = " (the gradient agrees: the two differ by a constant)" if grads_agree else ""
    return False, (
        f"Not yet: at T = {cases[k].T:g}, alpha = {cases[k].alpha:g} your loss is {yours}, kd_loss gives "
        f"{theirs}{offset}. Check each piece: log_softmax at T for both, the KL averaged over the batch "
        "('batchmean'), T^2, alpha on the soft term, and the cross-entropy at T = 1."
    )


def worked_kd_loss(student_logits, teacher_logits, labels, T, alpha):
    log_q = F.log_softmax(student_logits / T, dim=1)  # the student's log-probabilities at temperature T
    log_p = F.log_softmax(teacher_logits.detach() / T, dim=1)  # the teacher's, at the same T: a fixed target
    soft = F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")  # KL(p_T || q_T), mean over the batch
    hard = F.cross_entropy(student_logits, labels)  # CE(y, q_1): the ordinary softmax, T = 1
    return alpha * T**2 * soft + (1 - alpha) * hard


# ---- spot the bug: five losses as they appear in public distillation code, one bug each ----


def loss_A(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(
        F.log_softmax(teacher_logits.detach() / T, dim=1), F.softmax(student_logits / T, dim=1), reduction="batchmean"
    )
    hard = F.cross_entropy(student_logits, labels)
    return alpha * T * T * soft + (1 - alpha) * hard


def loss_B(student_logits, teacher_logits, labels, T, alpha):
    kl = nn.KLDivLoss()
    soft = kl(F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits.detach() / T, dim=1))
    hard = nn.CrossEntropyLoss()(student_logits, labels)
    return alpha * T**2 * soft + (1 - alpha) * hard


def loss_C(student_logits, teacher_logits, labels, T, alpha):
    p_teacher = F.softmax(teacher_logits.detach() / T, dim=-1)
    log_q_student = F.log_softmax(student_logits / T, dim=-1)
    soft = F.kl_div(log_q_student, p_teacher, reduction="batchmean") * T**2
    return alpha * F.cross_entropy(student_logits, labels) + (1 - alpha) * soft


def loss_D(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(
        F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits.detach() / T, dim=1), reduction="batchmean"
    )
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def loss_E(student_logits, teacher_logits, labels, T, alpha):
    q_student = F.softmax(student_logits / T, dim=1)
    p_teacher = F.softmax(teacher_logits.detach() / T, dim=1)
    soft = F.kl_div(q_student, p_teacher, reduction="batchmean")
    return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


BUGGY_LOSSES = {"A": loss_A, "B": loss_B, "C": loss_C, "D": loss_D, "E": loss_E}
BUG_OF = {  # the bug each buggy loss has, as its BUG_OPTIONS word
    "A": "swapped",
    "B": "mean",
    "C": "alpha",
    "D": "T2",
    "E": "probabilities",
}


# ---- each loss with its bug fixed, and nothing else changed: the worked fixes the solutions show ----


def fixed_A(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(
        F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits.detach() / T, dim=1), reduction="batchmean"
    )
    hard = F.cross_entropy(student_logits, labels)
    return alpha * T * T * soft + (1 - alpha) * hard


def fixed_B(student_logits, teacher_logits, labels, T, alpha):
    kl = nn.KLDivLoss(reduction="batchmean")
    soft = kl(F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits.detach() / T, dim=1))
    hard = nn.CrossEntropyLoss()(student_logits, labels)
    return alpha * T**2 * soft + (1 - alpha) * hard


def fixed_C(student_logits, teacher_logits, labels, T, alpha):
    p_teacher = F.softmax(teacher_logits.detach() / T, dim=-1)
    log_q_student = F.log_softmax(student_logits / T, dim=-1)
    soft = F.kl_div(log_q_student, p_teacher, reduction="batchmean") * T**2
    return alpha * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def fixed_D(student_logits, teacher_logits, labels, T, alpha):
    soft = F.kl_div(
        F.log_softmax(student_logits / T, dim=1), F.softmax(teacher_logits.detach() / T, dim=1), reduction="batchmean"
    )
    return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


def fixed_E(student_logits, teacher_logits, labels, T, alpha):
    log_q_student = F.log_softmax(student_logits / T, dim=1)
    p_teacher = F.softmax(teacher_logits.detach() / T, dim=1)
    soft = F.kl_div(log_q_student, p_teacher, reduction="batchmean")
    return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(student_logits, labels)


FIXED_LOSSES = {"A": fixed_A, "B": fixed_B, "C": fixed_C, "D": fixed_D, "E": fixed_E}


def source_as(function, name):
    """The source of ``function`` as a markdown code block, its name replaced by ``name``: a fix to paste in."""
    return "```python\n" + inspect.getsource(function).replace(function.__name__, name, 1) + "```\n"


def show_buggy_losses():
    """Display the source of the five buggy losses A to E."""
    from IPython.display import Markdown, display

    blocks = [f"```python\n{inspect.getsource(loss)}```" for loss in BUGGY_LOSSES.values()]
    display(Markdown("\n".join(blocks)))
