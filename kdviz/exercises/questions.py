"""The exercises of the lessons, by name: question, expected answer, worked solution and targeted hints.

Every expected value is computed here with the kdviz functions, never typed in. A name starts with the number
of the lesson that asks it (``02_turning_temperature``).
"""

import math

import numpy as np
import torch
from scipy.optimize import brentq

from ..beyond_the_paper import disagreements, smoothed_label_logits, top_k_logits
from ..gradients import logit_matching_grad, soft_ce_grad
from ..language_models import two_mode_fits
from ..noise import gap_and_range, spread, verdict
from ..temperature import dq_dT, entropy, kl_divergence, sampling_distribution, softmax, turning_temperature
from .answers import Choice, Code, Hint, IndexSet, Number
from .loss_bugs import BUG_OF, BUG_OPTIONS, BUGGY_LOSSES, FIXED_LOSSES, judge_kd_loss, source_as, worked_kd_loss

_WHERE_TO_LOOK = {
    "A": "Read the two arguments of F.kl_div: whose logits are the input, and whose the target?",
    "B": "What reduction does nn.KLDivLoss() use when none is given?",
    "C": "Which term does each weight multiply, and which term should alpha weigh in kdviz?",
    "D": "Compare the soft term with the formula alpha * T^2 * KL + (1 - alpha) * CE factor by factor.",
    "E": "What does F.kl_div expect as its first argument?",
}
_FIXES = {  # in words; the fixed code is FIXED_LOSSES, shown in full
    "A": "swap the two arguments of F.kl_div back: the student's log-probabilities first, the teacher's "
    "probabilities second",
    "B": "give nn.KLDivLoss reduction='batchmean': its default, 'mean', divides by the number of classes too",
    "C": "put alpha on the soft term and 1 - alpha on the cross-entropy",
    "D": "multiply the soft term by T**2",
    "E": "pass F.log_softmax of the student's logits as the first argument, not F.softmax",
}

_WORKED_CODE = source_as(worked_kd_loss, "my_kd_loss")


def _bug_exercise(letter):
    word = BUG_OF[letter]
    fix = (
        f"**{word}**: {dict(BUG_OPTIONS)[word]}. Fix: {_FIXES[letter]}:\n\n{source_as(FIXED_LOSSES[letter], 'my_fix')}"
    )
    return Choice(
        f"loss_{letter} (shown by show_buggy_losses()): which bug does it have?",
        word,
        fix,
        [Hint(other, _WHERE_TO_LOOK[letter]) for other, _ in BUG_OPTIONS if other != word],
        options=BUG_OPTIONS,
    )


_Z01 = np.array([3.0, 1.0, 0.0])
_FAR01 = np.array([1000.0, 999.0, 0.0])
_LOG_Q01 = -kl_divergence(np.where(np.arange(3) == 2, 0.0, -np.inf), _FAR01)  # KL(one-hot of 2 || q) = -log q_2
_LOG_Q01_CLASS1 = -kl_divergence(np.where(np.arange(3) == 1, 0.0, -np.inf), _FAR01)
_LOG_SUM01 = _FAR01[2] - _FAR01.max() - _LOG_Q01  # log sum_j exp(z_j - max z)
_Z02 = np.array([1.0, 6.0, 3.0, 2.0])  # values and indices differ: {0, 2, 3} rise, the logits there are {1, 3, 2}
_RISING02 = {int(i) for i in np.flatnonzero(_Z02 <= _Z02.mean())}
_TOP02 = int(_Z02.argmax())
_Z6 = np.array([0, 0, 0, 0, 10, 10.5])
_Z03, _V03 = np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.0, 3.0])
_GRAD_Z, _GRAD_V = np.array([2.0, -1.0, 0.5, 0.0]), np.array([0.0, 1.0, 3.0, -2.0])
_T_STAR6 = turning_temperature(_Z6, 4)
_T_CROSS6 = brentq(lambda T: softmax(_Z6, T)[4] - 1 / 6, 0.05, _T_STAR6)  # where q_4 passes 1/n = 1/6
_RATIO = np.linalg.norm(soft_ce_grad(_GRAD_Z, _GRAD_V, 10.0)) / np.linalg.norm(soft_ce_grad(_GRAD_Z, _GRAD_V, 100.0))
_DQ = dq_dT([1.0, 3.0, 2.0], 1.0)
_Q123 = softmax(np.array([1.0, 3.0, 2.0]))
_LIMIT03 = 1e4**2 * logit_matching_grad(_Z03, _V03, 1e4)  # T^2 times the large-T gradient: T-free
_GAP04 = np.log(0.999 / (0.001 / 9))  # top logit minus each of nine equal others, for 0.999 at T = 1
_P04 = softmax(np.array([_GAP04] + [0.0] * 9), 20.0)[0]
_SEEDS04 = {"T = 4": [151, 139, 160], "T = 20": [144, 146, 147]}  # test errors of three seeds each
_VERDICT04 = verdict(_SEEDS04["T = 4"], _SEEDS04["T = 20"])  # T = 4 against T = 20: better, worse, within noise
_SPREAD04 = {name: spread(errors) for name, errors in _SEEDS04.items()}
_BIAS05 = 3.5
_V06 = torch.tensor([[6.0, 4.0, 1.0, 0.0]])  # a teacher's logits for one image, for top-k
_T06 = 2.0
_TOP2_06 = softmax(top_k_logits(_V06, 2).numpy() / _T06)[0]
_P06 = softmax(smoothed_label_logits(torch.tensor([0]), 0.1, 10, torch.float64).numpy())[0]  # 0.91, 0.01 x 9
_Z06 = np.array([3.0, 1.0, 0.5, 0, 0, 0, 0, 0, -0.5, -1.0])  # a student's logits for the same image
_CE06 = round(float(-(_P06 * np.log(softmax(_Z06))).sum()), 4)  # its label-smoothed cross-entropy, as printed
_H06 = float(entropy(_P06))
_KL06 = float(kl_divergence(np.log(_P06), _Z06))
_N_TEST06, _TEACHER_ERRORS06, _STUDENT_ERRORS06 = 10000, 78, 150
_LABELS06 = np.arange(_N_TEST06) % 10
_TOP1_06 = {  # the arrangement with the fewest disagreements: every teacher error is a student error, the same class
    who: np.eye(10)[np.where(np.arange(_N_TEST06) < n, (_LABELS06 + 1) % 10, _LABELS06)]
    for who, n in (("teacher", _TEACHER_ERRORS06), ("student", _STUDENT_ERRORS06))
}
_FEWEST06 = disagreements(_TOP1_06["teacher"], _TOP1_06["student"][None])[0]
_P07 = np.array([0.5, 0.2, 0.15, 0.1, 0.05])
_KEPT07 = {int(i) for i in np.flatnonzero(sampling_distribution(np.log(_P07), 1.0, top_p=0.8) > 0)}
_TIE07 = np.array([2.0, 1.0, 1.0, 0.0])
_FITS07 = two_mode_fits(separation=7.0, left_weight=0.5, sd=0.7)
_SAME07 = np.array([2.0, 1.0, 0.0])

EXERCISES = {
    "01_softmax_value": Number(
        "softmax([3, 1, 0]) at T = 1: the probability of class 0 (the logit 3)?",
        softmax(_Z01)[0],
        f"q_0 = e^3 / (e^3 + e^1 + e^0) = 20.086 / 23.804 = **{softmax(_Z01)[0]:.3f}**.",
        [
            Hint(3 / 4, "You divided the logits by their sum; softmax divides their *exponentials* by their sum."),
            Hint(softmax(_Z01)[2], "That is the probability of the logit 0: softmax keeps the input order."),
            Hint(
                softmax(_Z01)[1],
                "That is the probability of class 1 (the logit 1). Python counts from 0: class 0 is the first entry.",
            ),
            Hint(np.exp(3.0), "That is e^3 alone; divide it by the sum e^3 + e^1 + e^0."),
        ],
        digits=3,
        share=True,
    ),
    "01_high_temperature_limit": Number(
        "softmax([1, 3, 2], T) as T grows without bound: the probability of class 1?",
        1 / 3,
        "All z_i / T -> 0, so every exp(z_i / T) -> 1 and q_i -> 1/n = **1/3 = 0.333**.",
        [
            Hint(1.0, "1 is the T -> 0 limit (the argmax one-hot); a large T flattens the distribution."),
            Hint(0.0, "No class vanishes at high temperature: every exponent tends to 0, so exp tends to 1."),
            Hint(_Q123[1], "That is q_1 at T = 1; as T grows it keeps falling, towards 1/n."),
        ],
        digits=3,
        share=True,
    ),
    "01_ratio_at_T": Number(
        "A teacher gives P(3)/P(7) = 1000 at T = 1. What is the ratio at T = 10?",
        1000 ** (1 / 10),
        f"Log-odds divide by T: log(P3/P7) = log(1000)/10 = 0.691, so the ratio is 1000^(1/10) = "
        f"**{1000 ** (1 / 10):.4g}**.",
        [
            Hint(
                100.0, "You divided the ratio by T; it is the *log* of the ratio (the log-odds) that is divided by T."
            ),
            Hint(1000.0, "The ratio does change with T: softmax(z/T) divides the logit difference by T."),
            Hint(1000 ** (-1 / 10), "That is P(7)/P(3), the reciprocal; the question asks for P(3)/P(7)."),
            Hint(1 / 100, "That is 1/(1000/10); it is the log of the ratio that is divided by T."),
            Hint(1000 ** (1 / 20), "That is the ratio at T = 20; the question asks for T = 10."),
        ],
        digits=4,
    ),
    "01_log_softmax_far_class": Number(
        "log_softmax([1000, 999, 0]): the log-probability of class 2 (the logit 0)?",
        float(_LOG_Q01),
        f"log q_i = (z_i - max z) - log sum_j exp(z_j - max z): every exponent is <= 0, so nothing overflows, and "
        f"q_2 is never formed, so nothing underflows. Here (0 - 1000) - log(1 + e^-1 + e^-1000) = -1000 - "
        f"{_LOG_SUM01:.4f} = **{_LOG_Q01:.2f}**. np.log(softmax(z)) gives -inf (q_2 = e^{_LOG_Q01:.2f} is 0 in "
        "float64), and the naive exp(z) / sum gives nan.",
        [
            Hint(
                -math.inf,
                "That is log(softmax(z)): q_2 = e^-1000.3 underflows to 0 in float64, and log 0 = -inf. "
                "log_softmax never forms q_2: log q_i = (z_i - max z) - log sum_j exp(z_j - max z).",
            ),
            Hint(math.nan, "That is the naive formula: exp(1000) overflows to inf, and inf / inf is nan."),
            Hint(
                _FAR01[2] - _FAR01.max(),
                "That is z_2 - max z alone; log_softmax also subtracts log sum_j exp(z_j - max z).",
                within=1e-5,
            ),
            Hint(
                _FAR01[2] - _FAR01.max() + _LOG_SUM01,
                "The term log sum_j exp(z_j - max z) is subtracted, not added.",
                within=1e-5,
            ),
            Hint(
                _LOG_Q01_CLASS1, "That is the log-probability of class 1 (the logit 999); class 2 is the third entry."
            ),
            Hint(-_LOG_Q01, "That is -log q_2, the loss for class 2; a log-probability is negative.", within=1e-5),
        ],
        decimals=2,
    ),
    "02_always_rising": IndexSet(
        f"For z = {[int(x) for x in _Z02]}, which classes (0-based indices, as a set) have a probability that rises "
        "for every T?",
        _RISING02,
        f"mean(z) = {_Z02.mean():g}. A class rises for all T exactly when z_i <= mean(z) (E_q[z] falls from max to "
        f"mean and never goes below the mean): the logits {sorted(int(_Z02[i]) for i in _RISING02)}, classes "
        f"**{{{', '.join(map(str, sorted(_RISING02)))}}}**. Class {_TOP02} (the logit {_Z02.max():g}) is the "
        "largest and always falls.",
        [
            Hint(
                {int(i) for i in np.flatnonzero(_Z02 < _Z02.mean())},
                "A logit *equal* to the mean also always rises: E_q[z] > mean(z) at every finite T.",
            ),
            Hint(
                {int(_Z02[i]) for i in _RISING02},
                "Those are the logits themselves; the question asks for the classes' indices (positions in z).",
            ),
            Hint(lambda read: _TOP02 in read, "The largest logit always *falls*: E_q[z] < max(z) for every T > 0."),
        ],
        n_classes=len(_Z02),
    ),
    "02_turning_temperature": Number(
        "For z = [0, 0, 0, 0, 10, 10.5], at what T does q_4 stop rising?",
        _T_STAR6,
        f"Solve E_q(T)[z] = z_4 = 10: `turning_temperature(z, 4)` (brentq on log T) gives **T* = {_T_STAR6:.2f}**. "
        f"q_4 passes 1/6 much earlier, at T = {_T_CROSS6:.2f}, and keeps rising.",
        [
            Hint(
                _T_CROSS6,
                "That is roughly where q_4 passes 1/n. It is still rising there: the threshold is E_q[z], not 1/n.",
                within=0.1,
            ),
            Hint(softmax(_Z6, _T_STAR6)[4], "That is q_4 at the turning temperature; the question asks for T."),
        ],
        decimals=2,
        symbols=("T", "T*"),
    ),
    "02_derivative_value": Number(
        "dq_2/dT at T = 1 for z = [1, 3, 2] (q_2 is the third entry: Python counts from 0)?",
        _DQ[2],
        f"q = {np.round(_Q123, 4).tolist()}, E_q[z] = {_Q123 @ [1, 3, 2]:.4f}, so dq_2/dT = q_2 (E_q[z] - z_2) / T^2 "
        f"= **{_DQ[2]:.4f}**.",
        [
            Hint(-_DQ[2], "Sign: dq_i/dT = q_i (E_q[z] - z_i) / T^2, not (z_i - E_q[z]).", within=1e-3),
            Hint(_DQ[1], "That is dq_1/dT, of the second entry (the logit 3): Python counts from 0.", within=1e-3),
            Hint(_DQ[0], "That is dq_0/dT, of the first entry (the logit 1); q_2 is the third.", within=1e-3),
        ],
        digits=4,
    ),
    "03_gradient_ratio": Number(
        "For z = [2, -1, 0.5, 0] and v = [0, 1, 3, -2], by what factor does |dC/dz| shrink from T = 10 to T = 100?",
        _RATIO,
        "q - p shrinks like 1/T and the gradient carries another 1/T: about 10^2 = 100 in the limit, but here exactly "
        f"**{_RATIO:.1f}**, since T = 10 is not yet the limit. Hence the T^2 factor on the soft loss.",
        [
            Hint(10.0, "q - p shrinks like 1/T, and dC/dz = (q - p)/T has one more factor 1/T.", within=0.05),
            Hint(
                100.0,
                "100 is the large-T limit, 10^2. At T = 10 the gradient is not yet in that limit: compute the two "
                "norms with soft_ce_grad and divide.",
                within=1e-3,
            ),
            Hint(
                1 / _RATIO,
                "That is |dC/dz| at T = 100 divided by that at T = 10: the factor it shrinks *by* is the reciprocal.",
                within=0.05,
            ),
            Hint(0.1, "That is a reciprocal, and only one factor of 1/T: the gradient shrinks by more than 1."),
        ],
        decimals=1,
    ),
    "03_logit_matching_limit": Number(
        "z = [1, 2, 3], v = [0, 0, 3]: the limit of T^2 dC/dz_0 as T grows without bound?",
        float(_LIMIT03[0]),
        "((z_0 - mean z) - (v_0 - mean v)) / N = ((1 - 2) - (0 - 1)) / 3 = **0**. The raw (z_0 - v_0)/N = 1/3 is wrong "
        "because the two means differ (mean z = 2, mean v = 1); it would be right if they were equal, whatever "
        "their value.",
        [
            Hint(
                1 / 3,
                "(z - v)/N holds only when the two sets of logits have equal means; here mean z = 2 and mean v = 1, "
                "so centre each set first.",
            ),
            Hint(
                -1 / 3,
                "That is the sign flipped (student minus teacher, not the reverse) or another entry's limit; the "
                "limit for z_0 is ((z_0 - mean z) - (v_0 - mean v)) / N.",
            ),
            Hint(1.0, "z_0 - v_0 = 1, but the limit divides by N and centres each set of logits first."),
        ],
    ),
    "03_kl_reduction": Number(
        "F.kl_div(log_q, p, reduction='mean') gives 0.02 on a batch with 10 classes. What is the batch-mean KL?",
        0.02 * 10,
        "'mean' divides by rows x classes, 'batchmean' only by rows: multiply by the number of classes, **0.2**.",
        [
            Hint(0.002, "The other way round: 'mean' is the *smaller* one, divided by the number of classes too."),
            Hint(0.02, "'mean' and 'batchmean' differ: 'mean' also divides by the number of classes."),
        ],
    ),
    "03_distillation_loss": Code(
        "Write the distillation loss my_kd_loss(student_logits, teacher_logits, labels, T, alpha) = "
        "alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1), each averaged over the batch, returned as a "
        "tensor that carries the gradient to the student's logits and none to the teacher's (a fixed target).",
        worked_kd_loss,
        _WORKED_CODE + "**alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1)**: log-probabilities as the first "
        "argument of F.kl_div, reduction='batchmean' for the KL averaged over the batch, T^2 to keep the soft "
        "gradient from shrinking like 1/T^2, the hard term at T = 1, and the teacher's logits detached: a fixed "
        "target, through which no gradient flows.",
        judge=judge_kd_loss,
    ),
    **{f"03_bug_{letter}": _bug_exercise(letter) for letter in BUGGY_LOSSES},
    "03_fix_the_bug": Code(
        "Copy one of the losses A to E into my_fix, fix its bug, and check it: the checker names any of the five "
        "bugs still in it.",
        worked_kd_loss,
        "\n".join(f"- loss_{letter} ({BUG_OF[letter]}): {fix}." for letter, fix in _FIXES.items())
        + "\n\nEach loss fixed, and nothing else changed:\n\n"
        + "\n".join(source_as(FIXED_LOSSES[letter], "my_fix") for letter in FIXED_LOSSES)
        + "\nAll five compute the same loss as this one, written from scratch:\n\n"
        + _WORKED_CODE
        + "**alpha * T^2 * KL(p_T || q_T) + (1 - alpha) * CE(y, q_1)**.",
        judge=judge_kd_loss,
    ),
    "04_top_class_at_high_T": Choice(
        "A confident teacher gives its top class 0.999 at T = 1. At T = 20, what does that probability do?",
        "down",
        "The largest logit always falls with T (notebook 02): its probability goes **down**, towards 1/10.",
        [
            Hint("up", "The largest logit always falls: E_q[z] < max z, so dq/dT < 0 for the top class."),
            Hint(
                "same",
                "softmax(z / T) changes with T for any logits that are not all equal; section 3's bars "
                "show the top class at T = 1 and T = 20.",
            ),
        ],
        options=[("up", "it rises"), ("down", "it falls"), ("same", "it stays at 0.999")],
    ),
    "04_top_class_at_T20": Number(
        "A teacher gives its top class 0.999 at T = 1 and shares the other 0.001 equally among the nine other "
        "classes. What probability does the top class get at T = 20?",
        _P04,
        f"The logits are log-probabilities up to a constant: the top logit exceeds each other one by "
        f"log(0.999 / (0.001/9)) = {_GAP04:.3f}. At T = 20 that gap is {_GAP04 / 20:.4f}, so the top class gets "
        f"e^{_GAP04 / 20:.4f} / (e^{_GAP04 / 20:.4f} + 9) = **{_P04:.3f}**: still the largest, but the nine "
        "others now share most of the probability.",
        [
            Hint(0.999, "The probabilities do change with T: softmax(z / T) divides the logit gaps by T.", within=1e-4),
            Hint(0.1, "1/10 is the T -> infinity limit; at T = 20 the top class is still above it."),
            Hint(
                0.999 / 20,
                "Temperature divides the logits, not the probabilities: q_i(T) is proportional to "
                "p_i^(1/T), then renormalised.",
            ),
            Hint(
                0.999 ** (1 / 20),
                "That is p^(1/T) for the top class alone; renormalise over all ten classes.",
                within=1e-5,
            ),
        ],
        digits=3,
        share=True,
    ),
    "04_alpha_for_labels_only": Number(
        "In kdviz's convention, which alpha trains the student on the labels alone?",
        0.0,
        "kdviz weights the soft term by alpha: **alpha = 0** leaves (1 - alpha) CE(y, q_1) alone.",
        [
            Hint(1.0, "In kdviz alpha weights the *soft* term (Keras and torchdistill weight the hard term by alpha)."),
            Hint(0.5, "At 0.5 both terms count equally; which alpha removes the soft term entirely?"),
        ],
        symbols=("alpha", "α"),
    ),
    "04_teacher_in_train_mode": Choice(
        "A training loop makes the soft targets with teacher(images), but the teacher was left in train mode "
        "(teacher.eval() never called). What goes wrong?",
        "noisy",
        "Dropout is on in train mode, so each call drops different units: the soft targets for the same image "
        "change from call to call (the cell above measured by how much), and the student chases **noisy** targets "
        "from a weaker, thinned teacher. Call teacher.eval() before making soft targets, as kdviz's logits_of does.",
        [
            Hint(
                "same",
                "nn.Dropout reads the module's training flag, not whether an optimizer steps: in train mode it drops "
                "units at every call. The cell above measured the two calls.",
            ),
            Hint(
                "weights",
                "Weights change only when an optimizer steps them, and the student's optimizer holds the student's "
                "parameters alone. What changes is the dropout mask at every call.",
            ),
        ],
        options=[
            ("same", "the soft targets stay the same: dropout only acts while the teacher itself is trained"),
            ("noisy", "the soft targets for the same image change from call to call"),
            ("weights", "the teacher's weights change as the student trains"),
        ],
    ),
    "04_seed_noise": Choice(
        "Three seeds of each setting give these test errors: "
        + "; ".join(f"{name}: {errors}" for name, errors in _SEEDS04.items())
        + ". What does the run show, by the seed rule of kdviz.noise?",
        {"better": "first", "worse": "second", "within noise": "noise"}[_VERDICT04],
        "The rule counts a gap between two settings' means only when it is larger than the seed range of *both*. "
        + "; ".join(f"{name}: {s.text()}" for name, s in _SPREAD04.items())
        + f": {gap_and_range(*_SEEDS04.values())}, so the verdict is **{_VERDICT04}**. T = 20's seeds agree "
        "closely, but T = 4's spread over a range wider than the gap: another three seeds could reverse the order.",
        [
            Hint(
                "second",
                f"T = 20's mean is lower by {_SPREAD04['T = 4'].mean - _SPREAD04['T = 20'].mean:.1f} errors, more than "
                f"T = 20's own seed range ({_SPREAD04['T = 20'].range:g}) but not more than T = 4's "
                f"({_SPREAD04['T = 4'].range:g}): the rule needs a gap larger than the seed range of both settings.",
            ),
            Hint(
                "first",
                f"T = 4 has the higher mean ({_SPREAD04['T = 4'].mean:.1f} errors against "
                f"{_SPREAD04['T = 20'].mean:.1f}), and fewer errors is better. Then compare the gap with both seed "
                "ranges.",
            ),
        ],
        options=[
            ("first", "T = 4 makes fewer errors, beyond the noise"),
            ("second", "T = 20 makes fewer errors, beyond the noise"),
            ("noise", "the gap is within noise: no finding either way"),
        ],
    ),
    "05_bias_sign": Choice(
        "The student never saw a 3. Should the bias added to its 3 logit be positive or negative?",
        "positive",
        "It never saw a 3 win, so its 3 logit is too low: the bias is **positive** (the paper used 3.5, chosen on "
        "the test set; choose it on validation data instead).",
        [Hint("negative", "The student under-predicts the class it never saw win; lower logits would make it worse.")],
        options=[("positive", "raise the 3 logit"), ("negative", "lower the 3 logit")],
    ),
    "05_bias_odds_factor": Number(
        f"Adding a bias b = {_BIAS05} to the student's 3 logit multiplies P(3)/P(k), for every other class k, by "
        "what factor?",
        float(np.exp(_BIAS05)),
        f"P(3)/P(k) = e^(z_3 - z_k), so adding b to z_3 multiplies it by e^b = e^{_BIAS05} = "
        f"**{np.exp(_BIAS05):.1f}**; the other classes' ratios to each other do not change.",
        [
            Hint(
                _BIAS05,
                "The bias is added to the *logit*; the odds are e^(logit difference), so they are multiplied by e^b.",
            ),
            Hint(np.exp(-_BIAS05), "That is the factor for P(k)/P(3), the reciprocal."),
            Hint(10**_BIAS05, "softmax uses the natural exponential: e^b, not 10^b."),
            Hint(2**_BIAS05, "softmax uses the natural exponential: e^b, not 2^b."),
            Hint(1 + _BIAS05, "e^b, not 1 + b: that is only its first-order approximation, poor at b = 3.5."),
        ],
        digits=3,
    ),
    "05_where_to_choose_the_bias": Choice(
        "On which data should the bias be chosen?",
        "validation",
        "On a **validation** split carved from the training data: choosing it on the test set would report an "
        "optimistic test score.",
        [
            Hint("test", "Tuning on the test set leaks it into the model; the reported accuracy would be optimistic."),
            Hint("train", "The transfer set has no 3s at all, so it cannot tell how large the bias should be."),
        ],
        options=[
            ("train", "the transfer set the student trained on"),
            ("validation", "a validation split carved from the training data, kept out of the transfer set"),
            ("test", "the test set"),
        ],
    ),
    "05_consistent_teaching": Choice(
        "Consistent teaching (section 5) shows the student a fresh randomly shifted view of an image each time it "
        "sees the image. Which soft target does the student learn from for that view?",
        "view",
        "The teacher's soft target for **that very view**: the target describes exactly what the student is looking "
        "at, so every view is one more question the teacher answers. kdviz computes the teacher's logits for every "
        "view of every transfer image once (kdviz.mnist.train.teacher_view_logits) and looks them up: the same "
        "numbers as a teacher pass at every step.",
        [
            Hint(
                "original",
                "That is fixed targets with augmented inputs: the target describes the unshifted image while the "
                "student sees a shifted one. Consistent means the teacher labels the very view the student sees.",
            ),
            Hint(
                "average",
                "An average over the views gives every view of an image the same target, which cannot describe the "
                "shift the student sees: consistent means the teacher labels that very view.",
            ),
        ],
        options=[
            ("original", "the teacher's soft target for the unshifted image, computed once before training"),
            ("view", "the teacher's soft target for that very shifted view"),
            ("average", "the teacher's soft targets averaged over all the views of the image"),
        ],
    ),
    "06_calibration_T_side": Choice(
        "A classifier is right on 99% of its test digits, but its mean confidence (its largest probability) is 97%. "
        "On which side of 1 is the temperature that calibrates it?",
        "below",
        "Its confidence is *lower* than its accuracy: it is underconfident, so its probabilities must be sharpened. "
        "Dividing the logits by T < 1 sharpens them: the calibration T is **below** 1.",
        [Hint("above", "Dividing the logits by T > 1 flattens the probabilities: the model would be even less sure.")],
        options=[("below", "T < 1"), ("above", "T > 1")],
    ),
    "06_smoothed_wrong_class": Number(
        "Label smoothing with eps = 0.1 over 10 classes: what probability does the target give each wrong class?",
        0.1 / 10,
        "eps is spread over all C classes, the right one included: eps / C = 0.1 / 10 = **0.01** for each wrong "
        "class, and 1 - eps + eps / C = 0.91 for the right one.",
        [
            Hint(0.1, "eps is the mass spread over *all* the classes, not what each one gets."),
            Hint(0.1 / 9, "The usual form spreads eps over all C = 10 classes, the right one included: eps / C."),
            Hint(0.91, "0.91 is the right class's share; the question asks for one wrong class."),
            Hint(0.9, "1 - eps = 0.9 is what the right class keeps before eps / C is added back to every class."),
        ],
        share=True,
    ),
    "06_calibration_vs_distillation_T": Choice(
        "Temperature scaling fitted a calibration temperature T_cal to the shipped teacher on validation data "
        "(section 1). Distilling a student from that teacher, which temperature should the soft targets use?",
        "separate",
        "A **separate** distillation T, chosen for the student by its validation errors. T_cal makes the teacher's "
        "own probabilities honest (it minimises the teacher's NLL); the distillation T is a transfer knob, raised "
        "until the soft targets give the wrong classes enough weight for a student to learn from (section 1 prints "
        "the two, and the wrong-class mass at each).",
        [
            Hint(
                "calibration",
                "T_cal is fitted to the teacher's own NLL on held-out data: it makes the teacher honest, not its soft "
                "targets informative. At T_cal the wrong classes still get little mass (section 1 prints how much).",
            ),
            Hint(
                "one",
                "At T = 1 a confident teacher gives its wrong classes almost nothing: section 3's weight 1 - p_t. The "
                "distillation T is raised for the student's sake, and chosen by the student's errors.",
            ),
        ],
        options=[
            ("calibration", "T_cal: the temperature that makes the teacher's probabilities honest"),
            ("separate", "a distillation T of its own, chosen by the student's validation errors"),
            ("one", "T = 1: the teacher's own probabilities, unscaled"),
        ],
    ),
    "06_ce_is_kl_plus_entropy": Number(
        "Label smoothing with eps = 0.1 over 10 classes gives the target p = (0.91, 0.01, ..., 0.01). A student's "
        f"label-smoothed cross-entropy CE(p, q) on one image is {_CE06:.4f} nats. What is KL(p || q), its KL to "
        "that know-nothing teacher, in nats?",
        _KL06,
        f"CE(p, q) = KL(p || q) + H(p), and the target's entropy is H(p) = -0.91 ln 0.91 - 9 x 0.01 ln 0.01 = "
        f"{_H06:.4f} nats, so KL(p || q) = {_CE06:.4f} - {_H06:.4f} = **{_CE06 - _H06:.3g}** (kl_divergence of the "
        f"two gives {_KL06:.5f}). H(p) does not depend on the student: minimising the smoothed cross-entropy is "
        "minimising the KL to the know-nothing teacher.",
        [
            Hint(_CE06, "That is the cross-entropy itself; the KL is what remains after the target's entropy.", 1e-4),
            Hint(_CE06 + _H06, "Sign: CE = KL + H(p), so KL = CE - H(p).", within=1e-3),
            Hint(_H06, "That is the target's entropy H(p); the KL is CE - H(p).", within=1e-3),
            Hint(_CE06 - _H06 / np.log(2), "Use natural logs: the cross-entropy is in nats, so H(p) must be too."),
            Hint(_CE06 - _H06 / np.log(10), "Use natural logs: the cross-entropy is in nats, so H(p) must be too."),
        ],
        digits=3,
    ),
    "06_top_k_target": Number(
        f"A teacher's logits for an image are {[int(x) for x in _V06[0]]}. Distilling at T = {_T06:g} from its "
        "top-2 soft targets (the other classes dropped, the kept ones renormalised), what target probability does "
        "class 1 get?",
        float(_TOP2_06[1]),
        f"Dropping the other classes and renormalising is the softmax of the kept logits: e^(4/{_T06:g}) / "
        f"(e^(6/{_T06:g}) + e^(4/{_T06:g})) = 1 / (1 + e^((6 - 4)/{_T06:g})) = **{_TOP2_06[1]:.3f}** "
        "(kdviz.beyond_the_paper.top_k_logits sets the dropped logits to -inf). The two dropped classes get exactly 0.",
        [
            Hint(
                softmax(_V06[0].numpy() / _T06)[1],
                "That is class 1's share before the other two classes are dropped: renormalise the kept two.",
            ),
            Hint(_TOP2_06[0], "That is class 0's target (the logit 6); class 1 is the second entry."),
            Hint(softmax(top_k_logits(_V06, 2).numpy())[0, 1], f"That is at T = 1: divide the logits by T = {_T06:g}."),
            Hint(0.5, "Renormalising keeps the ratio of the kept probabilities, e^((6 - 4)/T), not equal shares."),
            Hint(0.0, "Class 1 has the second largest logit, so the top 2 keep it."),
        ],
        digits=3,
        share=True,
    ),
    "06_fewest_disagreements": Number(
        f"The teacher errs on {_TEACHER_ERRORS06} of the {_N_TEST06:,} test images and a student on "
        f"{_STUDENT_ERRORS06}. On at least how many test images must the student's top-1 class differ from the "
        "teacher's?",
        float(_FEWEST06),
        f"Wherever the teacher is right and the student wrong, the two disagree. At most {_TEACHER_ERRORS06} of the "
        f"student's errors lie where the teacher errs too (and agree only if both pick the same wrong class), so at "
        f"least {_STUDENT_ERRORS06} - {_TEACHER_ERRORS06} = **{_FEWEST06}** images disagree, and at most "
        f"{_STUDENT_ERRORS06} + {_TEACHER_ERRORS06} = {_STUDENT_ERRORS06 + _TEACHER_ERRORS06}. With a teacher this "
        "accurate, a student's disagreements are tied to its own errors, so on these test images accuracy and "
        "agreement can hardly come apart: fidelity shows more where the teacher errs, or in the KL (section 4).",
        [
            Hint(
                _STUDENT_ERRORS06,
                "On an image where both err, the two can agree (the same wrong class): not every error of the "
                "student is a disagreement.",
            ),
            Hint(
                _STUDENT_ERRORS06 + _TEACHER_ERRORS06,
                "That is the most, when the two never err on the same image; the question asks for the fewest.",
            ),
            Hint(_TEACHER_ERRORS06, "Where the teacher is right and the student wrong they must disagree."),
            Hint(0, "Where the teacher is right and the student wrong they must disagree."),
        ],
    ),
    "06_non_target_weight": Number(
        "In KL(p || q) = KL(b_p || b_q) + (1 - p_t) KL(p_hat || q_hat), a teacher gives its target class p_t = "
        "0.999 at T = 1. What weight does the non-target term get?",
        1 - 0.999,
        "The weight is 1 - p_t = 1 - 0.999 = **0.001**: at T = 1 a confident teacher's wrong-class structure (p_hat) "
        "barely reaches the loss. Raising T lowers p_t and raises this weight.",
        [Hint(0.999, "0.999 is p_t itself; the non-target term is weighted by the mass *outside* the target.")],
        share=True,
    ),
    "07_top_p_kept": IndexSet(
        "A model's next-character probabilities are [0.5, 0.2, 0.15, 0.1, 0.05] (its logits are their logs). Sampled "
        "at T = 1 with top_p = 0.8, which characters (0-based indices, as a set) can still be drawn?",
        _KEPT07,
        "Top-p keeps the most probable characters until their probabilities reach p: 0.5 (< 0.8), + 0.2 = 0.7 (< 0.8), "
        "+ 0.15 = 0.85 (>= 0.8), so **{0, 1, 2}**; `sampling_distribution(np.log(p), 1.0, top_p=0.8)` renormalises "
        "them to 0.5/0.85, 0.2/0.85 and 0.15/0.85.",
        [
            Hint({0, 1}, "0.5 + 0.2 = 0.7 is still below 0.8: top-p keeps adding characters until the sum reaches p."),
            Hint(
                {0, 1, 2, 3},
                "0.5 + 0.2 + 0.15 = 0.85 already reaches 0.8: top-p keeps the *smallest* such set and stops there.",
            ),
            Hint(lambda read: 4 in read, "Character 4 (0.05) is the least probable: top-p drops from the bottom."),
            Hint({0}, "0.5 alone is below 0.8: one character is kept only when it alone reaches p."),
        ],
        n_classes=5,
    ),
    "07_top_k_tie": Number(
        "Logits [2, 1, 1, 0] sampled at T = 1 with top_k = 2: what probability does character 0 get?",
        float(sampling_distribution(_TIE07, 1.0, top_k=2)[0]),
        f"The second-largest probability is shared by characters 1 and 2; top-k keeps every character at least as "
        f"probable as the k-th, so both stay: e^2 / (e^2 + 2 e) = "
        f"**{sampling_distribution(_TIE07, 1.0, top_k=2)[0]:.3f}** (transformers' TopKLogitsWarper does the same).",
        [
            Hint(
                softmax(np.array([2.0, 1.0]))[0],
                "That keeps only two characters; the two with logit 1 tie for second place, and ties at the "
                "boundary are kept.",
            ),
            Hint(
                softmax(_TIE07)[0],
                "That is the probability before the cut; top-k drops character 3, then renormalises.",
            ),
            Hint(1.0, "top_k = 2 keeps at least two characters, never the top one alone."),
        ],
        digits=3,
        share=True,
    ),
    "07_reverse_fit": Choice(
        "One Gaussian q is fitted by reverse KL(q || p) to p, two far-apart modes of equal weight. Where does q sit?",
        "one",
        "Reverse KL charges q for every place where q has mass and p has little, the gap between the modes above all, "
        "and charges nothing for a mode q leaves out: q sits on **one** mode, about as narrow as it (the forward fit "
        "spreads over both).",
        [
            Hint(
                "middle",
                "That is the forward fit, KL(p || q): q must have mass wherever p has. Reverse KL punishes q for mass "
                "where p has little, such as the gap between the modes.",
            ),
            Hint("both", "q is one Gaussian: it has one peak, whatever it is fitted to."),
        ],
        options=[
            ("middle", "between the modes, wide enough to cover both"),
            ("one", "on one mode, about as narrow as that mode"),
            ("both", "on both modes at once, with two peaks"),
        ],
    ),
    "07_reverse_kl_one_mode": Number(
        "p is two modes of equal weight, 7 apart, each of sd 0.7. The reverse fit q sits on one of them. What is "
        "KL(q || p), in nats?",
        _FITS07["reverse"]["KL(q || p)"],
        "Where q has its mass, p is half of q (the other half of p is at the other mode): log(q / p) = log 2 there, so "
        f"KL(q || p) = log 2 = **{_FITS07['reverse']['KL(q || p)']:.3f}** nats (`two_mode_fits` integrates it).",
        [
            Hint(0.5, "0.5 is the weight of the mode q sits on; the KL is the log of q / p = 1 / 0.5."),
            Hint(-np.log(2), "A KL is never negative."),
            Hint(1.0, "That is log 2 in bits (log base 2); kdviz, like torch, measures in nats (the natural log)."),
            Hint(
                _FITS07["forward"]["KL(p || q)"],
                "That is the forward fit's KL(p || q); the question asks for the reverse fit's KL(q || p).",
            ),
            Hint(_FITS07["reverse"]["KL(p || q)"], "That is KL(p || q) of the reverse fit: the other direction."),
        ],
        digits=3,
    ),
    "07_sequence_level_targets": Choice(
        "Sequence-level distillation (Kim & Rush 2016) trains the student on what?",
        "strings",
        "On the **strings** the teacher writes, one character per position as a hard target (cross-entropy), as if "
        "they were data; token-level distillation uses the teacher's whole distribution at each position, on-policy "
        "distillation the student's own strings.",
        [
            Hint("soft", "That is token-level (word-level) distillation: the paper's soft targets at every position."),
            Hint(
                "own",
                "That is on-policy distillation (GKD): the student writes the strings, the teacher gives the targets.",
            ),
        ],
        options=[
            ("soft", "the teacher's whole next-character distribution at every position of the teacher's strings"),
            ("strings", "the teacher's own strings, one character per position as a hard target"),
            ("own", "the student's own strings, scored by the teacher's next-character distributions"),
        ],
    ),
    "07_same_vector": Number(
        "A teacher's next-character logits are [2, 1, 0]. A chatbot samples from it at T = 2, and a distillation loss "
        "reads its soft target at T = 2. What probability do both give character 0?",
        float(sampling_distribution(_SAME07, 2.0)[0]),
        f"Both are softmax(z / T): e^1 / (e^1 + e^0.5 + e^0) = **{softmax(_SAME07, 2.0)[0]:.3f}**. One vector, two "
        "jobs: the sampler draws a character from it, the loss asks the student to match it.",
        [
            Hint(softmax(_SAME07)[0], "That is T = 1; both divide the logits by T = 2 first."),
            Hint(1 / 3, "1/3 is the T -> infinity limit; at T = 2 character 0 is still the most probable."),
            Hint(softmax(_SAME07, 0.5)[0], "That multiplies the logits by 2; softmax(z / T) divides them by T."),
        ],
        digits=3,
        share=True,
    ),
}


for _name, _exercise in EXERCISES.items():
    _exercise.name = _name
