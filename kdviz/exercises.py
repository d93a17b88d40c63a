"""Exercise answer checkers with specific hints, and worked solutions kept out of the way.

In a notebook: ``check("02_turning_temperature", 2.4)`` prints whether the answer is right and,
if not, a hint aimed at the likely mistake; ``show_solution("02_turning_temperature")`` shows the
worked solution. Every expected value is computed here with the kdviz functions, never typed in.
"""

from dataclasses import dataclass, field

import numpy as np

from .gradients import logit_matching_grad, soft_ce_grad
from .temperature import dq_dT, softmax, turning_temperature


@dataclass
class Exercise:
    question: str
    answer: object  # the expected answer
    solution: str  # worked solution, markdown
    hints: list = field(default_factory=list)  # (looks_like(answer) -> bool, hint)
    tolerance: float = 1e-3  # relative, for numbers


def _close(a, b, rel):
    try:
        return bool(np.isclose(float(a), float(b), rtol=rel, atol=1e-12))
    except (TypeError, ValueError):
        return False


def _near(value, rel=0.02):
    return lambda answer: _close(answer, value, rel)


def _is(text):
    return lambda answer: str(answer).strip().lower() == text


_Z01 = np.array([3.0, 1.0, 0.0])
_Z02 = np.array([0.0, 1.0, 2.0, 5.0])
_Z6 = np.array([0, 0, 0, 0, 10, 10.5])
_Z03, _V03 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 3.0])
_GRAD_Z, _GRAD_V = np.array([2.0, -1.0, 0.5, 0.0]), np.array([0.0, 1.0, 3.0, -2.0])
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
            (
                lambda a: set(a) == {0, 1} if isinstance(a, (set, list, tuple)) else False,
                "A logit *equal* to the mean also always rises: E_q[z] > mean(z) at every finite T.",
            ),
            (
                lambda a: 3 in a if isinstance(a, (set, list, tuple)) else False,
                "The largest logit always *falls*: E_q[z] < max(z) for every T > 0.",
            ),
        ],
    ),
    "02_turning_temperature": Exercise(
        "For z = [0, 0, 0, 0, 10, 10.5], at what T does q_4 stop rising (2 decimals)?",
        turning_temperature(_Z6, 4),
        "Solve E_q(T)[z] = z_4 = 10: `turning_temperature(z, 4)` (brentq on log T) gives **T* = 2.40**. "
        "q_4 passes 1/6 much earlier, near T = 0.31, and keeps rising.",
        [
            (
                lambda a: _close(a, 0.31, 0.1),
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
        "because these logits do not have zero mean.",
        [(_near(1 / 3), "(z - v)/N holds only for zero-mean logits; centre each set of logits first.")],
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
        "It never saw a 3 win, so its 3 logit is too low: the bias is **positive** (the paper used 3.5).",
        [
            (
                _is("negative"),
                "The student under-predicts the class it never saw as a winner; lower logits would make it worse.",
            )
        ],
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
    ),
}


def _is_right(exercise, answer):
    expected = exercise.answer
    if isinstance(expected, set):
        return isinstance(answer, (set, list, tuple)) and set(answer) == expected
    if isinstance(expected, str):
        return str(answer).strip().lower() == expected
    return _close(answer, expected, exercise.tolerance)


def feedback(name, answer):
    """(is the answer right?, the message a student sees): a hint aimed at the likely mistake if not."""
    if name not in EXERCISES:
        raise ValueError(f"no exercise named {name!r}; choose one of {sorted(EXERCISES)}")
    exercise = EXERCISES[name]
    if answer is None:
        return False, f"{exercise.question}\n  -> replace None with your answer and run the cell again."
    if _is_right(exercise, answer):
        return True, f"Correct: {answer!r}."
    for looks_like, hint in exercise.hints:
        if looks_like(answer):
            return False, f"Not yet. Hint: {hint}"
    return False, f"Not yet: {answer!r} is not it. Re-read the section above, or call show_solution({name!r})."


def check(name, answer):
    """Print whether ``answer`` is right and, if not, a hint aimed at the likely mistake."""
    print(feedback(name, answer)[1])


def solution(name):
    """The worked solution of one exercise, as markdown."""
    return EXERCISES[name].solution


def show_solution(name):
    """Display the worked solution of one exercise."""
    from IPython.display import Markdown, display

    display(Markdown(f"**{name}.** {solution(name)}"))
