"""Exercise answer checkers with specific hints, and worked solutions kept out of the way.

In a notebook: ``check("02_turning_temperature", 2.4)`` prints whether the answer is right and,
if not, a hint aimed at the likely mistake; ``show_solution("02_turning_temperature")`` shows the
worked solution. Every expected value is computed here with the kdviz functions, never typed in.

``check`` takes answers as students type them: a number, a numpy scalar or one-element array, a
one-element torch tensor or list, a string such as "0.25" or "1/3"; a set, list, array or "0, 1, 2"
of class indices; a phrase such as "the validation set"; and, for ``03_distillation_loss``, a function.
A number rounded too far is told how many significant digits to give.
"""

import inspect
import math
import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import brentq

from ._checks import real_array
from .gradients import logit_matching_grad, soft_ce_grad
from .temperature import dq_dT, softmax, turning_temperature


@dataclass
class Exercise:
    question: str
    answer: object  # the expected answer: a number, a set of class indices, a word, or a reference function
    solution: str  # worked solution, markdown
    hints: list = field(default_factory=list)  # (looks_like(answer as read) -> bool, hint)
    tolerance: float = 1e-3  # relative, for numbers
    words: dict = field(default_factory=dict)  # word answers: each choice -> word stems a student may type for it
    judge: object = None  # function answers: judge(answer) -> (right, message)


# ---- reading what a student typed ----


def as_number(answer, allow_nan=False):
    """One float from a number, numpy scalar or one-element array, one-element tensor or list, or a string
    such as "0.25" or "1/3"; None when the answer is not a single number (or is nan, unless allowed)."""
    if answer is None or isinstance(answer, (bool, set, dict)):
        return None
    if isinstance(answer, str):
        try:
            number = float(Fraction(answer.strip().replace(" ", "")))
        except (ValueError, ZeroDivisionError, OverflowError):
            return None
        return None if np.isnan(number) and not allow_nan else number
    try:
        array = real_array(answer, "answer")
    except (TypeError, OverflowError):
        return None
    if array.size != 1 or (np.isnan(array).any() and not allow_nan):
        return None
    return float(array.reshape(-1)[0])


def as_index_set(answer):
    """A set of class indices from a set, list, tuple, array, tensor, a single index, or a string "0, 1, 2"."""
    if isinstance(answer, str):  # "classes 0, 1, 2 (not 3)": the classes named after "not" are left out
        kept = re.sub(r"\b(?:not|except)\s+(?:class(?:es)?\s+)?-?\d+(?:\s*(?:,|and|or)\s*-?\d+)*", "", answer)
        return {int(x) for x in re.findall(r"-?\d+", kept)} or None
    try:
        values = real_array(sorted(answer) if isinstance(answer, set) else answer, "answer").reshape(-1)
    except (TypeError, ValueError, OverflowError):
        return None
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        return None
    return {int(x) for x in values}


def significant_digits(x):
    """Significant digits of x as written in its shortest form: 0.33 -> 2, 2.40 -> 2, 1000 -> 1."""
    digits = np.format_float_positional(abs(x), unique=True, trim="-").replace(".", "").strip("0")
    return max(len(digits), 1)


def _to_digits(value, digits, how=round):
    scale = 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    return how(value / scale) * scale


def _close(a, b, rel):
    a, b = as_number(a), as_number(b)
    return a is not None and b is not None and bool(np.isclose(a, b, rtol=rel, atol=1e-12))


def digits_needed(expected, rel):
    """The fewest significant digits at which the rounded expected value passes the tolerance ``rel``."""
    return next(d for d in range(1, 17) if _close(_to_digits(expected, d), expected, rel))


def rounding_note(x, expected, rel):
    """'right to 2 significant digits; give 3 ...' when x is the expected value rounded (or cut) too early."""
    if expected == 0 or x == 0 or not np.isfinite(x):
        return None
    typed, needed = significant_digits(x), digits_needed(expected, rel)
    if typed >= needed:
        return None
    if any(np.isclose(x, _to_digits(expected, typed, how), rtol=1e-9) for how in (round, math.trunc)):
        plural = "s" if typed > 1 else ""
        return f"Close: {x:g} is right to {typed} significant digit{plural}; give {needed} significant digits."
    return None


def _near(value, rel=0.02):
    return lambda answer: _close(answer, value, rel)


def _is(word):
    return lambda answer: answer == word


def _has(index):
    return lambda answer: index in answer


_Z01 = np.array([3.0, 1.0, 0.0])
_Z02 = np.array([0.0, 1.0, 2.0, 5.0])
_Z6 = np.array([0, 0, 0, 0, 10, 10.5])
_Z03, _V03 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 3.0])
_GRAD_Z, _GRAD_V = np.array([2.0, -1.0, 0.5, 0.0]), np.array([0.0, 1.0, 3.0, -2.0])
_T_STAR6 = turning_temperature(_Z6, 4)
_T_CROSS6 = brentq(lambda T: softmax(_Z6, T)[4] - 1 / 6, 0.05, _T_STAR6)  # where q_4 passes 1/n = 1/6
_RATIO = np.linalg.norm(soft_ce_grad(_GRAD_Z, _GRAD_V, 10.0)) / np.linalg.norm(soft_ce_grad(_GRAD_Z, _GRAD_V, 100.0))

EXERCISES = {
    "01_softmax_value": Exercise(
        "softmax([3, 1, 0]) at T = 1: the probability of class 0 (the logit 3)?",
        softmax(_Z01)[0],
        "q_0 = e^3 / (e^3 + e^1 + e^0) = 20.086 / 23.804 = **0.8438**.",
        [
            (
                _near(3 / 4, 0.005),
                "You divided the logits by their sum; softmax divides their *exponentials* by their sum.",
            ),
            (_near(softmax(_Z01)[2]), "That is the probability of the logit 0: softmax keeps the input order."),
        ],
    ),
    "01_high_temperature_limit": Exercise(
        "softmax([1, 3, 2], T) as T -> infinity: the probability of class 1?",
        1 / 3,
        "All z_i / T -> 0, so every exp(z_i / T) -> 1 and q_i -> 1/n = **0.3333**.",
        [
            (_near(1.0), "1 is the T -> 0 limit (the argmax one-hot); a large T flattens the distribution."),
            (_near(0.0), "No class vanishes at high temperature: every exponent tends to 0, so exp tends to 1."),
        ],
    ),
    "01_ratio_at_T": Exercise(
        "A teacher gives P(3)/P(7) = 1000 at T = 1. What is the ratio at T = 10?",
        1000 ** (1 / 10),
        "Log-odds divide by T: log(P3/P7) = log(1000)/10 = 0.691, so the ratio is 1000^(1/10) = **1.995**.",
        [
            (
                _near(100.0),
                "You divided the ratio by T; it is the *log* of the ratio (the log-odds) that is divided by T.",
            ),
            (_near(1000.0), "The ratio does change with T: softmax(z/T) divides the logit difference by T."),
        ],
    ),
    "02_always_rising": Exercise(
        "For z = [0, 1, 2, 5], which classes (indices, as a set) have a probability that rises for every T?",
        {int(i) for i in range(4) if _Z02[i] <= _Z02.mean()},
        "mean(z) = 2. A class rises for all T exactly when z_i <= mean(z) (E_q[z] falls from max to mean and never "
        "goes below the mean): classes **{0, 1, 2}**. Class 3 is the largest and always falls.",
        [
            (_is({0, 1}), "A logit *equal* to the mean also always rises: E_q[z] > mean(z) at every finite T."),
            (_has(3), "The largest logit always *falls*: E_q[z] < max(z) for every T > 0."),
        ],
    ),
    "02_turning_temperature": Exercise(
        "For z = [0, 0, 0, 0, 10, 10.5], at what T does q_4 stop rising (2 decimals)?",
        _T_STAR6,
        f"Solve E_q(T)[z] = z_4 = 10: `turning_temperature(z, 4)` (brentq on log T) gives **T* = {_T_STAR6:.2f}**. "
        f"q_4 passes 1/6 much earlier, at T = {_T_CROSS6:.2f}, and keeps rising.",
        [
            (
                _near(_T_CROSS6, 0.1),
                "That is roughly where q_4 passes 1/n. It is still rising there: the threshold is E_q[z], not 1/n.",
            )
        ],
        tolerance=5e-3,
    ),
    "02_derivative_value": Exercise(
        "dq_2/dT at T = 1 for z = [1, 3, 2] (4 significant digits)?",
        dq_dT([1.0, 3.0, 2.0], 1.0)[2],
        "q = [0.0900, 0.6652, 0.2447], E_q[z] = 2.5752, so dq_2/dT = 0.2447 x (2.5752 - 2) / 1 = **0.1408**.",
        [(_near(-dq_dT([1.0, 3.0, 2.0], 1.0)[2]), "Sign: dq_i/dT = q_i (E_q[z] - z_i) / T^2, not (z_i - E_q[z]).")],
    ),
    "03_gradient_ratio": Exercise(
        "For z = [2, -1, 0.5, 0] and v = [0, 1, 3, -2], by what factor does |dC/dz| shrink from T = 10 to T = 100?",
        _RATIO,
        "q - p shrinks like 1/T and the gradient carries another 1/T: about 10^2 = 100 (here exactly "
        f"**{_RATIO:.1f}**, since T = 10 is not yet the limit). Hence the T^2 factor on the soft loss.",
        [(_near(10.0, 0.2), "q - p shrinks like 1/T, and dC/dz = (q - p)/T has one more factor 1/T.")],
        tolerance=0.01,
    ),
    "03_logit_matching_limit": Exercise(
        "z = [1, 2, 3], v = [0, 0, 3]: the limit of T^2 dC/dz_0 as T -> infinity?",
        float(1e8 * logit_matching_grad(_Z03, _V03, 1e4)[0]),
        "((z_0 - mean z) - (v_0 - mean v)) / N = ((1 - 2) - (0 - 1)) / 3 = **0**. The raw (z_0 - v_0)/N = 1/3 is wrong "
        "because the two means differ (mean z = 2, mean v = 1); it would be right if they were equal, whatever "
        "their value.",
        [
            (
                _near(1 / 3),
                "(z - v)/N holds only when the two sets of logits have equal means; here mean z = 2 and mean v = 1, "
                "so centre each set first.",
            )
        ],
    ),
    "03_kl_reduction": Exercise(
        "F.kl_div(log_q, p, reduction='mean') gives 0.02 on a batch with 10 classes. What is the batch-mean KL?",
        0.02 * 10,
        "'mean' divides by rows x classes, 'batchmean' only by rows: multiply by the number of classes, **0.2**.",
        [(_near(0.002), "The other way round: 'mean' is the *smaller* one, divided by the number of classes too.")],
    ),
    "04_top_class_at_high_T": Exercise(
        "A confident teacher gives its top class 0.999 at T = 1. At T = 20, does that probability go 'up' or 'down'?",
        "down",
        "The largest logit always falls with T (notebook 02): its probability goes **down**, towards 1/10.",
        [(_is("up"), "The largest logit always falls: E_q[z] < max z, so dq/dT < 0 for the top class.")],
        words={
            "up": ("up", "rise", "rising", "increase", "higher", "grow", "larger", "bigger"),
            "down": ("down", "fall", "falling", "decrease", "lower", "drop", "shrink", "smaller"),
        },
    ),
    "04_alpha_for_labels_only": Exercise(
        "In kdviz's convention, which alpha trains the student on the labels alone?",
        0.0,
        "kdviz weights the soft term by alpha: **alpha = 0** leaves (1 - alpha) CE(y, q_1) alone.",
        [
            (
                _near(1.0),
                "In kdviz alpha weights the *soft* term (Keras and torchdistill weight the hard term by alpha).",
            )
        ],
    ),
    "05_bias_sign": Exercise(
        "The student never saw a 3. Should the bias added to its 3 logit be 'positive' or 'negative'?",
        "positive",
        "It never saw a 3 win, so its 3 logit is too low: the bias is **positive** (the paper used 3.5, chosen on "
        "the test set; choose it on validation data instead).",
        [
            (
                _is("negative"),
                "The student under-predicts the class it never saw as a winner; lower logits would make it worse.",
            )
        ],
        words={"positive": ("positive", "pos", "plus", "raise", "increase"), "negative": ("negative", "neg", "minus")},
    ),
    "05_where_to_choose_the_bias": Exercise(
        "On which data is the bias chosen: 'train', 'validation' or 'test'?",
        "validation",
        "On a **validation** split carved from the training data: choosing it on the test set would report an "
        "optimistic test score.",
        [
            (_is("test"), "Tuning on the test set leaks it into the model; the reported accuracy would be optimistic."),
            (_is("train"), "The transfer set has no 3s at all, so it cannot tell how large the bias should be."),
        ],
        words={
            "train": ("train",),
            "validation": ("valid", "val", "held", "holdout", "dev"),
            "test": ("test",),
        },
    ),
    "06_calibration_T_side": Exercise(
        "A classifier is right on 99% of its test digits, but its mean confidence (largest probability) is 97%. "
        "Is the temperature that calibrates it 'above' or 'below' 1?",
        "below",
        "Its confidence is *lower* than its accuracy: it is underconfident, so its probabilities must be sharpened. "
        "Dividing the logits by T < 1 sharpens them: the calibration T is **below** 1.",
        [(_is("above"), "Dividing the logits by T > 1 flattens the probabilities: the model would be even less sure.")],
        words={
            "below": ("below", "lower", "less", "smaller", "under", "sharpen"),
            "above": ("above", "higher", "greater", "larger", "more", "over", "soften"),
        },
    ),
    "06_smoothed_wrong_class": Exercise(
        "Label smoothing with eps = 0.1 over 10 classes: what probability does the target give each wrong class?",
        0.1 / 10,
        "eps is spread over all C classes, the right one included: eps / C = 0.1 / 10 = **0.01** for each wrong "
        "class, and 1 - eps + eps / C = 0.91 for the right one.",
        [
            (_near(0.1), "eps is the mass spread over *all* the classes, not what each one gets."),
            (_near(0.1 / 9), "The usual form spreads eps over all C = 10 classes, the right one included: eps / C."),
            (_near(0.91), "0.91 is the right class's share; the question asks for one wrong class."),
        ],
    ),
    "06_non_target_weight": Exercise(
        "In KL(p || q) = KL(b_p || b_q) + (1 - p_t) KL(p_hat || q_hat), a teacher gives its target class p_t = "
        "0.999 at T = 1. What weight does the non-target term get?",
        1 - 0.999,
        "The weight is 1 - p_t = 1 - 0.999 = **0.001**: at T = 1 a confident teacher's wrong-class structure (p_hat) "
        "barely reaches the loss. Raising T lowers p_t and raises this weight.",
        [(_near(0.999), "0.999 is p_t itself; the non-target term is weighted by the mass *outside* the target.")],
    ),
    "03_distillation_loss": Exercise(
        "Write the distillation loss my_kd_loss(student_logits, teacher_logits, labels, T, alpha) = "
        "alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1), each averaged over the batch.",
        None,  # set below: the worked solution's own function
        "",
        judge=lambda answer: judge_kd_loss(answer),
    ),
}


# ---- 03_distillation_loss: the student writes the loss, check compares it with kdviz.losses.kd_loss ----


def _worked_kd_loss(student_logits, teacher_logits, labels, T, alpha):
    log_q = F.log_softmax(student_logits / T, dim=1)  # the student's log-probabilities at temperature T
    log_p = F.log_softmax(teacher_logits / T, dim=1)  # the teacher's, at the same T
    soft = F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")  # KL(p_T || q_T), mean over the batch
    hard = F.cross_entropy(student_logits, labels)  # CE(y, q_1): the ordinary softmax, T = 1
    return alpha * T**2 * soft + (1 - alpha) * hard


def _kl(log_q, log_p):
    return F.kl_div(log_q, log_p, log_target=True, reduction="batchmean")


def _soft(z, v, T):
    return F.log_softmax(z / T, dim=1), F.log_softmax(v / T, dim=1)


# Classic mistakes, each as code that makes it, and the hint it earns.
KD_MISTAKES = [
    (
        lambda z, v, y, T, a: a * _kl(*_soft(z, v, T)) + (1 - a) * F.cross_entropy(z, y),
        "The soft term lacks its factor T^2. Without it the soft gradient shrinks like 1/T^2 (section 2), so a high "
        "T silently switches the teacher off.",
    ),
    (
        lambda z, v, y, T, a: (
            a * T**2 * F.kl_div(*_soft(z, v, T), log_target=True, reduction="mean") + (1 - a) * F.cross_entropy(z, y)
        ),
        "reduction='mean' divides by the number of classes as well as the batch size; use reduction='batchmean'.",
    ),
    (
        lambda z, v, y, T, a: (
            a * T**2 * F.kl_div(F.softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
            + (1 - a) * F.cross_entropy(z, y)
        ),
        "F.kl_div wants *log*-probabilities as its first argument: pass F.log_softmax(student_logits / T, dim=1), "
        "not softmax.",
    ),
    (
        lambda z, v, y, T, a: (1 - a) * T**2 * _kl(*_soft(z, v, T)) + a * F.cross_entropy(z, y),
        "alpha is on the wrong term: in kdviz alpha weighs the soft term, alpha * T^2 * KL + (1 - alpha) * CE.",
    ),
    (
        lambda z, v, y, T, a: a * T**2 * _kl(*_soft(z, v, T)) + (1 - a) * F.cross_entropy(z / T, y),
        "The hard term uses the student's ordinary softmax (T = 1): F.cross_entropy(student_logits, labels), "
        "without dividing by T.",
    ),
    (
        lambda z, v, y, T, a: (
            a * T**2 * F.kl_div(*_soft(z, v, T), reduction="batchmean") + (1 - a) * F.cross_entropy(z, y)
        ),
        "The teacher's log-probabilities went in as the target without log_target=True, so F.kl_div read them "
        "as probabilities. Pass log_target=True, or the probabilities F.softmax(teacher_logits / T, dim=1).",
    ),
]


def kd_cases(seed=12):
    """Random batches (student logits, teacher logits, labels, T, alpha) on which the two losses are compared;
    T and alpha are chosen so that each classic mistake gives a different number."""
    g = torch.Generator().manual_seed(seed)
    cases = []
    for T, alpha in ((2.0, 0.3), (4.0, 0.8), (10.0, 0.6)):
        z = 2 * torch.randn(8, 5, generator=g, dtype=torch.float64)
        v = 3 * torch.randn(8, 5, generator=g, dtype=torch.float64)
        y = torch.randint(0, 5, (8,), generator=g)
        cases.append((z, v, y, T, alpha))
    return cases


def _values(fn, cases):
    with warnings.catch_warnings():  # torch warns about reduction='mean', one of the mistakes tried here
        warnings.simplefilter("ignore", UserWarning)
        return [fn(*(x.clone() if torch.is_tensor(x) else x for x in case)) for case in cases]


def judge_kd_loss(my_kd_loss):
    """Compare a student's loss function with kdviz.losses.kd_loss on random batches: (right?, message)."""
    from .losses import kd_loss

    if not callable(my_kd_loss):
        return False, "Pass the function itself: check('03_distillation_loss', my_kd_loss), no brackets after its name."
    cases = kd_cases()
    try:
        returned = _values(my_kd_loss, cases)
    except Exception as err:  # a student's code can fail in any way; say how
        return False, f"Not yet: your function raised {type(err).__name__}: {err}"
    if any(value is None for value in returned):
        return False, "Not yet: your function returns None. Compute the loss and end with `return loss`."
    yours = [as_number(value, allow_nan=True) for value in returned]
    if any(value is None for value in yours):
        shape = tuple(np.shape(returned[0].detach() if torch.is_tensor(returned[0]) else returned[0]))
        return False, f"Not yet: return one number, the loss averaged over the batch (yours has shape {shape})."
    expected = [float(kd_loss(*case)) for case in cases]
    if np.allclose(yours, expected, rtol=1e-5, atol=1e-8):
        return True, f"Correct: your loss equals kd_loss on {len(cases)} random batches (T = 2, 4, 10)."
    for mistake, hint in KD_MISTAKES:
        if np.allclose(yours, [float(m) for m in _values(mistake, cases)], rtol=1e-5, atol=1e-8, equal_nan=True):
            return False, f"Not yet. Hint: {hint}"
    _, _, _, T, alpha = cases[0]
    return False, (
        f"Not yet: at T = {T:g}, alpha = {alpha:g} your loss is {yours[0]:.6g}, kd_loss gives {expected[0]:.6g}. "
        "Check each piece: log_softmax at T for both, KL averaged over the batch ('batchmean'), T^2, and CE at T = 1."
    )


_KD = EXERCISES["03_distillation_loss"]
_KD.answer = _worked_kd_loss
_KD.solution = (
    "```python\n"
    + inspect.getsource(_worked_kd_loss).replace("_worked_kd_loss", "my_kd_loss")
    + "```\n**alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1)**: log-probabilities as the first argument "
    "of F.kl_div, reduction='batchmean' for the KL averaged over the batch, T^2 to keep the soft gradient from "
    "shrinking like 1/T^2, and the hard term at T = 1."
)


# ---- checking ----


def _read(exercise, answer):
    """The answer in the form the exercise expects (a number, a set, a choice, the function), or None."""
    expected = exercise.answer
    if exercise.judge is not None:
        return answer
    if isinstance(expected, set):
        return as_index_set(answer)
    if isinstance(expected, str):
        return _read_choice(exercise, answer)
    return as_number(answer)


def _read_choice(exercise, answer):
    """The one choice a phrase names ("the validation set" -> "validation"); None if it names none, several,
    or says "not"."""
    number = as_number(answer)
    if number is not None and set(exercise.words) == {"positive", "negative"} and number != 0:
        return "positive" if number > 0 else "negative"
    tokens = re.findall(r"[a-z]+", str(answer).lower())
    if {"not", "no"} & set(tokens):
        return None
    found = {choice for choice, stems in exercise.words.items() for t in tokens if t.startswith(stems)}
    return found.pop() if len(found) == 1 else None


def _cannot_read(exercise, answer):
    expected = exercise.answer
    if isinstance(expected, str):
        choices = ", ".join(repr(c) for c in exercise.words)
        return f"Answer with exactly one of {choices} (a word or a short phrase, without 'not'); {answer!r} is unclear."
    kind = "a set of class indices, e.g. {0, 2}" if isinstance(expected, set) else "one number"
    return f"Give {kind}; {answer!r} could not be read as that."


def feedback(name, answer):
    """(is the answer right?, the message a student sees): a hint aimed at the likely mistake if not."""
    exercise = exercise_named(name)
    if answer is None:
        return False, f"{exercise.question}\n  -> replace None with your answer and run the cell again."
    if exercise.judge is not None:
        return exercise.judge(answer)
    read, expected = _read(exercise, answer), exercise.answer
    if read is None:
        return False, _cannot_read(exercise, answer)
    exact = isinstance(expected, (set, str))
    if read == expected if exact else _close(read, expected, exercise.tolerance):
        return True, f"Correct: {answer!r}."
    if not exact and (note := rounding_note(read, expected, exercise.tolerance)):
        return False, note
    for looks_like, hint in exercise.hints:
        if looks_like(read):
            return False, f"Not yet. Hint: {hint}"
    return False, f"Not yet: {answer!r} is not it. Re-read the section above, or call show_solution({name!r})."


def exercise_named(name):
    """The exercise called ``name``; a ValueError listing the names for anything else."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise named {name!r}; choose one of {sorted(EXERCISES)}")
    return EXERCISES[name]


def check(name, answer):
    """Print whether ``answer`` is right and, if not, a hint aimed at the likely mistake."""
    print(feedback(name, answer)[1])


def solution(name):
    """The worked solution of one exercise, as markdown."""
    return exercise_named(name).solution


def show_solution(name):
    """Display the worked solution of one exercise."""
    from IPython.display import Markdown, display

    display(Markdown(f"**{name}.** {solution(name)}"))
