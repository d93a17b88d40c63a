"""Exercise feedback is never wrong: known-wrong answers are never accepted, right ones are in the usual formats,
and anything that cannot be read unambiguously gets "Unclear", never a verdict."""

import json
import math
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdviz.exercises import EXERCISES, check, feedback, quiz, show_solution, solution
from kdviz.exercises import loss_bugs as kd_bugs
from kdviz.exercises.answers import Choice, Code, IndexSet, Number, _rounded, read_index_set, read_number
from kdviz.exercises.loss_bugs import (
    BUG_OF,
    BUGGY_LOSSES,
    FIXED_LOSSES,
    LOSS_BUGS,
    TOLERANCES,
    judge_kd_loss,
    kd_cases,
    name_the_bug,
)
from kdviz.mnist.losses import kd_loss
from kdviz.mnist.models import teacher_mlp
from kdviz.mnist_distillation import soft_target_change
from kdviz.widgets import WIDGET_VIEW

ROOT = Path(__file__).resolve().parent.parent
NAMES = sorted(EXERCISES)
NUMBERS = [name for name in NAMES if isinstance(EXERCISES[name], Number)]
CHOICES = [name for name in NAMES if isinstance(EXERCISES[name], Choice)]
CODE = [name for name in NAMES if isinstance(EXERCISES[name], Code)]


# ---- right answers, each in three formats a student would type ----


def right_with_probabilities_as_target(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v.detach() / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)


def right_by_hand(z, v, y, T, alpha):
    with torch.no_grad():
        p = F.softmax(v / T, dim=-1)
    log_q = F.log_softmax(z / T, dim=-1)
    kl = (p * (p.log() - log_q)).sum(dim=-1).mean()
    ce = -F.log_softmax(z, dim=-1)[torch.arange(len(y)), y].mean()
    return alpha * T * T * kl + (1 - alpha) * ce


def right_with_modules(z, v, y, T, alpha):
    kl = torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1).detach())
    return alpha * T**2 * kl + (1 - alpha) * torch.nn.CrossEntropyLoss()(z, y)


def right_in_float32(z, v, y, T, alpha):  # the student's .float(): right, to float32's precision
    return right_with_probabilities_as_target(z.float(), v.float(), y, T, alpha)


RIGHT = {
    "01_softmax_value": [0.8438, "84.38%", np.float32(0.844), torch.tensor([0.8438]), "0.844"],
    "01_high_temperature_limit": ["1/3", 0.333, np.array([1 / 3]), "33.3%"],
    "01_ratio_at_T": [1.995, "1.9953", torch.tensor(1.995), 1000**0.1, "P3/P7 = 1.995", "ratio = 1.995"],
    "01_log_softmax_far_class": [-1000.31, "-1000.313", "log q_2 = -1000.31", np.float64(-1000.3133)],
    "02_always_rising": [{0, 2, 3}, [3, 2, 0], "0, 2, 3", "{0, 2, 3}", np.array([0, 2, 3]), torch.tensor([0, 2, 3])],
    "02_turning_temperature": [2.40, "T = 2.40", 2.396, np.float64(2.3962), "T* = 2.4", "T ≈ 2.40"],
    "02_derivative_value": [0.1408, "0.14077", np.float32(0.1408), "dq_2/dT = 0.1408"],
    "03_gradient_ratio": [100.8, "100.83", torch.tensor(100.826), "|g(10)| / |g(100)| = 100.8"],
    "03_logit_matching_limit": [0, "0", 0.0, torch.tensor(0.0)],
    "03_kl_reduction": [0.2, "0.20", "1/5", "KL = 0.2", "0.02 * 10 = 0.2"],
    "03_distillation_loss": [right_with_probabilities_as_target, right_by_hand, right_with_modules, right_in_float32],
    "03_fix_the_bug": [right_with_probabilities_as_target, right_by_hand, right_with_modules, *FIXED_LOSSES.values()],
    "04_top_class_at_high_T": ["b", "down", "(b) down", "B.", "it falls"],
    "04_top_class_at_T20": [0.149, "14.9%", 0.14906, "q_top = 0.149"],
    "04_alpha_for_labels_only": [0, "alpha = 0", 0.0, "α = 0"],
    "04_teacher_in_train_mode": ["b", "noisy", "(b) noisy"],
    "04_seed_noise": ["c", "noise", "(c) noise", "the gap is within noise: no finding either way"],
    "05_bias_sign": ["a", "positive", "A)", "Positive", "raise the 3 logit"],
    "05_bias_odds_factor": [33.1, "33.12", np.exp(3.5), "e^3.5 = 33.115", 33.149],
    "05_where_to_choose_the_bias": ["b", "validation", "Validation."],
    "05_consistent_teaching": ["b", "view", "(b) view", "the teacher's soft target for that very shifted view"],
    "06_calibration_T_side": ["a", "below", "(a) below", "T < 1", "below 1", "T<1", "less than 1", "a) T < 1"],
    "06_calibration_vs_distillation_T": ["b", "separate", "(b) separate"],
    "06_smoothed_wrong_class": [0.01, "1%", "1/100", "eps/C = 0.01", "ε / C = 0.01"],
    "06_ce_is_kl_plus_entropy": [0.185, "0.1850", "KL = 0.185", "KL(p || q) ≈ 0.18504"],
    "06_top_k_target": [0.269, "26.9%", "q_1 = 0.2689", 1 / (1 + np.e)],
    "06_fewest_disagreements": [72, "72", "150 - 78 = 72", 72.0],
    "06_non_target_weight": [0.001, "0.1%", "1/1000", "1 - p_t = 0.001"],
    "07_top_p_kept": [{0, 1, 2}, [2, 1, 0], "0, 1, 2", np.array([0, 1, 2])],
    "07_top_k_tie": [0.576, "57.6%", 0.57612, np.float32(0.5761)],
    "07_reverse_fit": ["b", "one", "(b) one"],
    "07_reverse_kl_one_mode": [0.693, "0.6931", np.log(2), torch.tensor(0.693)],
    "07_sequence_level_targets": ["b", "strings", "(b) strings"],
    "07_same_vector": [0.506, "50.6%", 0.50648],
}
RIGHT |= {
    f"03_bug_{letter}": [
        "abcde"[[w for w, _ in kd_bugs.BUG_OPTIONS].index(BUG_OF[letter])],
        BUG_OF[letter],
        f"({'abcde'[[w for w, _ in kd_bugs.BUG_OPTIONS].index(BUG_OF[letter])]}) {BUG_OF[letter]}",
    ]
    for letter in BUGGY_LOSSES
}


# ---- known-wrong answers: each hint's trigger, the sign flip, the naive limit, 1-based indices, the reciprocal,
# too few digits, and the other choices phrased with a contraction or a negation ----


def returns_item(z, v, y, T, alpha):
    return right_by_hand(z, v, y, T, alpha).item()


def returns_string(z, v, y, T, alpha):
    return str(right_by_hand(z, v, y, T, alpha).item())


def returns_list(z, v, y, T, alpha):
    return [right_by_hand(z, v, y, T, alpha).item()]


def returns_detached(z, v, y, T, alpha):
    return right_by_hand(z, v, y, T, alpha).detach()


def alpha_clamped(z, v, y, T, alpha):  # right for alpha in [0.1, 0.9] only: wrong at alpha = 0 and alpha = 1
    return right_by_hand(z, v, y, T, min(max(alpha, 0.1), 0.9))


def teacher_attached(z, v, y, T, alpha):  # right in value and gradient, but gradient flows into the teacher
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)


def T_and_alpha_swapped(z, v, y, alpha, T):  # noqa: N803 (the parameters in the wrong order)
    return right_by_hand(z, v, y, T, alpha)


def teacher_first(v, z, y, T, alpha):  # the logits' parameters in the wrong order
    return right_by_hand(z, v, y, T, alpha)


def B_fixed_by_times(factor):
    def fixed(z, v, y, T, alpha):  # loss_B with its 'mean' undone by a number of classes written into the code
        soft = torch.nn.KLDivLoss()(F.log_softmax(z / T, dim=1), F.softmax(v.detach() / T, dim=1)) * factor
        return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(z, y)

    return fixed


def right_in_half(z, v, y, T, alpha):
    return right_with_probabilities_as_target(z.half(), v.half(), y, T, alpha)


WRONG_LOSSES = [
    *(bug.loss for bug in LOSS_BUGS),
    *BUGGY_LOSSES.values(),
    returns_item,
    returns_string,
    returns_list,
    returns_detached,
    alpha_clamped,
    teacher_attached,
    T_and_alpha_swapped,
    teacher_first,
    B_fixed_by_times(5),
    B_fixed_by_times(10),
    right_in_half,
]
WRONG = {
    "01_softmax_value": [0.75, 0.042, 0.1142, 20.09, 0.84, 0.843, 0.156, 1, 3, "0,8438", "about 0.84"],
    "01_high_temperature_limit": [1, 0, 0.6652, 0.33, 0.3, 0.5, "1/2", "one third"],
    "01_ratio_at_T": [100, 1000, 0.5012, 0.01, 1.413, 2, "2.00", 1.99, 10, "1,995", "199.5%", "P7/P3 = 0.5012"],
    "01_log_softmax_far_class": [-1000, "-inf", float("-inf"), "nan", -999.69, -1.3133, 1000.31, -1000.3, "-100031%"],
    "02_always_rising": [
        {0, 1, 2},  # the answer for the logits [0, 1, 2, 5] that the question once had: values equal to indices
        {1, 2, 3},  # the logits themselves, not their indices
        {0, 3},
        {1, 3, 4},
        {0, 1, 2, 3},
        {1},
        {0, 2, 3, 4},
        "z_i < 3: 0, 3",
        "0-3",
        set(),
    ],
    "02_turning_temperature": [0.31, 0.436, 2.39, 2.3, 2.5, 10, 1 / 6, "2,40", "1/T = 0.417", "240%", "T != 2.40"],
    "02_derivative_value": [-0.1408, -0.2826, 0.1418, 0.14, 0.141, "-0.1408", "14.08%"],
    "03_gradient_ratio": [100, 10, 0.01, 0.0099, 0.1, 101, "1/100", 1e4, "10080%"],
    "03_logit_matching_limit": [1 / 3, "1/3", -1 / 3, 1, 0.01],
    "03_kl_reduction": [0.002, 0.02, 2, "0,2", "20%", "KL = 20%"],
    "03_distillation_loss": WRONG_LOSSES,
    "03_fix_the_bug": WRONG_LOSSES,
    "04_top_class_at_high_T": [
        "a",
        "up",
        "c",
        "same",
        "it won't go down",
        "doesn't fall",
        "never goes down",
        "it doesn't go up",
        "not up",
        "down or up",
        "b) up",
    ],
    "04_top_class_at_T20": [0.999, 0.1, 0.04995, 0.99995, 0.15, 0.5, 1 / 20, "0.150", 0.1495],
    "04_alpha_for_labels_only": [1, 0.5, "alpha = 1", "1 - alpha", "1 - alpha = 0", "1 - α = 0"],
    "04_teacher_in_train_mode": ["a", "same", "c", "weights", "isn't noisy", "not the weights"],
    "04_seed_noise": ["a", "first", "b", "second", "T = 20 makes fewer errors, beyond the noise", "not noise"],
    "05_bias_sign": ["b", "negative", "isn't positive", "not negative", "shouldn't be negative", 3.5, -3.5],
    "05_bias_odds_factor": [3.5, 0.0302, 3162, 11.31, 4.5, 33, 34, 1 / 33.1, 33.16, "33.16", "33.15", 33.2, "3312%"],
    "05_where_to_choose_the_bias": [
        "a",
        "train",
        "c",
        "test",
        "devil",
        "dev",
        "not the test set",
        "validation or test",
        "a validation split carved from the training data",
    ],
    "05_consistent_teaching": ["a", "original", "c", "average", "the unshifted image", "not the view"],
    "06_calibration_T_side": [
        "b",
        "above",
        "not below",
        "isn't above",
        "below or above",
        0.6,
        "T > 1",
        "above 1",
        "not below 1",
        "T < 1 or T > 1",
        "b) T < 1",
        "below 2",
    ],
    "06_calibration_vs_distillation_T": ["a", "calibration", "c", "one", "T = 1", "not separate"],
    "06_smoothed_wrong_class": [0.1, 0.0111, 1 / 90, 0.91, 0.9, 0.09, "0,01", "eps/C = 0.1"],
    "06_ce_is_kl_plus_entropy": [0.6853, 1.1856, 0.5003, -0.0364, 0.468, 0.184, 0.186, "18.5%", "0,185"],
    "06_top_k_target": [0.2453, 0.731, 0.1192, 0.5, 0, 0.27, 0.268, "0.2453"],
    "06_fewest_disagreements": [150, 228, 78, 0, 71, 73, "7200%", "72/10000"],
    "06_non_target_weight": [0.999, 0.01, 0.0001, 1, "0,001", "1", "1 - p_t = 0.999"],
    "07_top_p_kept": [{0, 1}, {0, 1, 2, 3}, {0}, {1, 2, 3}, {0, 1, 2, 4}, "0-2", set()],
    "07_top_k_tie": [0.731, 0.534, 1, 0.58, 0.575, 0.5, "0,576"],
    "07_reverse_fit": ["a", "middle", "c", "both", "not one", "one or middle"],
    "07_reverse_kl_one_mode": [0.5, -0.693, 1, 0.69, 0.694, 0.936, 24.3, 3.71, "0,693"],
    "07_sequence_level_targets": ["a", "soft", "c", "own", "not strings"],
    "07_same_vector": [0.665, 1 / 3, 0.867, 0.51, 0.507, 0.5, "0,506"],
}
for _letter in BUGGY_LOSSES:
    _right = RIGHT[f"03_bug_{_letter}"][1]
    WRONG[f"03_bug_{_letter}"] = [w for w, _ in kd_bugs.BUG_OPTIONS if w != _right] + [
        letter for letter in "abcde" if letter != RIGHT[f"03_bug_{_letter}"][0]
    ]


def test_every_exercise_has_right_and_known_wrong_answers_listed():
    assert sorted(RIGHT) == NAMES and sorted(WRONG) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_the_right_answer_is_accepted_in_three_formats(name, capsys):
    assert len(RIGHT[name]) >= 3
    for typed in RIGHT[name]:
        right, message = feedback(name, typed)
        assert right and message.startswith("Correct"), (typed, message)
    check(name, RIGHT[name][0])
    assert "Correct" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:reduction. 'mean':UserWarning")
@pytest.mark.parametrize("name", NAMES)
def test_a_known_wrong_answer_is_never_accepted(name):
    for typed in WRONG[name]:
        right, message = feedback(name, typed)
        assert not right and not message.startswith("Correct"), (typed, message)


@pytest.mark.parametrize("name", NUMBERS)
def test_the_tolerance_excludes_every_wrong_number_a_hint_exists_for(name):
    exercise = EXERCISES[name]
    for hint in exercise.hints:
        assert not exercise.accepts(hint.wrong), hint.wrong
        right, message = feedback(name, hint.wrong)
        assert not right and hint.text in message, (hint.wrong, message)


@pytest.mark.parametrize("name", NUMBERS)
def test_the_answer_to_the_asked_precision_passes_and_fires_no_hint(name):
    exercise = EXERCISES[name]
    rounded = exercise.answer
    if exercise.digits:
        rounded = float(_rounded(exercise.answer, digits=exercise.digits))
    elif exercise.decimals is not None:
        rounded = float(_rounded(exercise.answer, decimals=exercise.decimals))
    assert feedback(name, rounded)[0] and feedback(name, str(rounded))[0]
    assert not any(exercise.matches(value, hint) for hint in exercise.hints for value in (rounded, exercise.answer))


@pytest.mark.parametrize("name", CHOICES)
def test_every_wrong_option_by_letter_and_word_gets_a_hint_or_not_it(name):
    exercise = EXERCISES[name]
    for letter, word in zip("abcde", exercise.words(), strict=False):
        right, message = feedback(name, letter)
        assert right == (word == exercise.answer) and feedback(name, word)[0] == right
        if not right:
            assert message.startswith("Not yet"), message


@pytest.mark.parametrize("name", CHOICES)
def test_a_choice_in_prose_is_unclear_never_a_verdict(name):
    exercise = EXERCISES[name]
    for word in exercise.words():
        for phrase in (f"it won't be {word}", f"not {word}", f"isn't {word}", f"{word}ish", f"the {word} one", "dev"):
            right, message = feedback(name, phrase)
            assert not right and message.startswith("Unclear: answer with one option"), (phrase, message)
            assert all(f"'{w}'" in message for w in exercise.words())


@pytest.mark.parametrize(
    "name, typed",
    [
        ("01_softmax_value", "0,8438"),
        ("01_softmax_value", "about 0.84"),
        ("01_softmax_value", [0.1, 0.2]),
        ("01_softmax_value", True),
        ("01_softmax_value", "1e400"),
        ("01_softmax_value", 10**400),
        ("01_softmax_value", float("nan")),
        ("01_softmax_value", "nan"),
        ("01_softmax_value", [float("nan")]),
        ("01_softmax_value", float("inf")),
        ("01_softmax_value", "1/0"),
        ("02_always_rising", "z_i < 2: 0, 1"),
        ("02_always_rising", "0-2"),
        ("02_always_rising", "the small ones"),
        ("02_always_rising", [0.5, 1]),
        ("02_always_rising", [True, False]),
        ("02_always_rising", ""),
        ("05_bias_sign", 3.5),
        ("05_bias_sign", float("nan")),
        ("05_where_to_choose_the_bias", "test or validation"),
        ("04_alpha_for_labels_only", "1 - alpha"),
    ],
)
def test_an_answer_that_cannot_be_read_is_unclear_and_says_what_to_give(name, typed):
    right, message = feedback(name, typed)
    assert not right and message.startswith("Unclear:"), message
    assert "give" in message or "answer with" in message


def test_numbers_are_read_from_numbers_and_from_strings_holding_only_a_number():
    assert read_number("84.38%") == pytest.approx(0.8438)
    assert read_number(" T = 2.40 ") == 2.4 and read_number("alpha=0") == 0 and read_number("\u22120.5") == -0.5
    assert read_number("1/3") == pytest.approx(1 / 3) and read_number("2.5e-1") == 0.25
    assert read_number(torch.tensor(0.5, requires_grad=True)) == 0.5 and read_number(np.array([[0.5]])) == 0.5
    for unreadable in ("0,8438", "1,000", "z = 1, 2", "e^3", "0.5 or 0.6", [1, 2], {0.5}, None, True, np.bool_(1)):
        assert read_number(unreadable) is None, unreadable


def test_index_sets_are_read_from_ints_only():
    assert read_index_set("{0, 1, 2}") == read_index_set([2, 1, 0]) == read_index_set(range(3)) == {0, 1, 2}
    assert read_index_set("0 1 2") == {0, 1, 2} and read_index_set(3) == {3} and read_index_set("{}") == set()
    for unreadable in ("0-2", "0 to 2", "z_i < 2: 0, 1", "classes 0, 1", [0.5], [True], "", None):
        assert read_index_set(unreadable) is None, unreadable


@pytest.mark.parametrize(
    "name, typed, words",
    [
        ("01_ratio_at_T", "2.00", "2.00 is the answer rounded to 3 significant digits; give 4 significant digits"),
        ("01_ratio_at_T", 2.0, "2.0 is the answer rounded to 2 significant digits"),
        ("01_ratio_at_T", "2", "2 is the answer rounded to 1 significant digit; give 4"),
        ("01_ratio_at_T", 1.99, "1.99 is the answer cut off after 3 significant digits, not rounded"),
        ("01_high_temperature_limit", 0.33, "0.33 is the answer rounded to 2 significant digits; give 3"),
        ("01_high_temperature_limit", np.array([0.3]), "0.3 is the answer rounded to 1 significant digit; give 3"),
        ("01_softmax_value", 0.84, "0.84 is the answer rounded to 2 significant digits; give 3"),
        ("02_derivative_value", 0.14, "0.14 is the answer rounded to 2 significant digits"),
        ("02_turning_temperature", 2.39, "cut off after 2 decimals, not rounded; round it, to 2 decimals"),
        ("02_turning_temperature", 2, "2 is the answer rounded to 0 decimals; give 2 decimals"),
        ("03_gradient_ratio", 101, "rounded to 0 decimals; give 1 decimal"),
        ("05_bias_odds_factor", 33, "33 is the answer rounded to 2 significant digits; give 3"),
    ],
)
def test_a_rounding_is_told_in_the_units_the_question_asks_for(name, typed, words):
    right, message = feedback(name, typed)
    assert not right and message.startswith("Close") and words in message, message


def test_decimals_questions_never_speak_of_significant_digits():
    for name in NUMBERS:
        exercise = EXERCISES[name]
        if exercise.decimals is not None:
            for typed in (exercise.answer + 1, round(exercise.answer), math.floor(exercise.answer * 10) / 10):
                assert "significant" not in feedback(name, typed)[1]


@pytest.mark.parametrize(
    "name, typed, words",
    [
        ("01_softmax_value", 3 / 4, "exponentials"),
        ("01_softmax_value", 0.1142, "Python counts from 0"),
        ("01_ratio_at_T", 0.501, "reciprocal"),
        ("01_ratio_at_T", 100, "log-odds"),
        ("02_always_rising", {0, 3}, "equal"),
        ("02_always_rising", [1, 3, 4], "Python counts classes from 0"),
        ("02_always_rising", {1, 2, 3}, "logits themselves"),
        ("02_always_rising", {0, 1, 2, 3}, "largest logit always *falls*"),
        ("02_always_rising", {0, 2, 4}, "indices 0 to 3"),
        ("02_turning_temperature", 0.31, "not 1/n"),
        ("02_derivative_value", -0.1408, "Sign"),
        ("02_derivative_value", -0.2826, "Python counts from 0"),
        ("03_gradient_ratio", 100, "large-T limit"),
        ("03_gradient_ratio", 0.0099, "reciprocal"),
        ("03_logit_matching_limit", 1 / 3, "equal means"),
        ("04_top_class_at_T20", 0.1, "limit"),
        ("04_alpha_for_labels_only", 1, "Keras"),
        ("05_bias_odds_factor", 0.0302, "reciprocal"),
        ("05_where_to_choose_the_bias", "test", "leaks"),
        ("04_teacher_in_train_mode", "a", "training flag"),
        ("01_log_softmax_far_class", "-inf", "log 0 = -inf"),
        ("01_log_softmax_far_class", float("nan"), "overflows"),
        ("01_log_softmax_far_class", -1000, "z_2 - max z alone"),
        ("01_log_softmax_far_class", -999.69, "not added"),
        ("04_seed_noise", "second", "larger than the seed range of both"),
        ("05_consistent_teaching", "original", "very view"),
        ("06_calibration_vs_distillation_T", "calibration", "honest"),
        ("06_ce_is_kl_plus_entropy", 0.6853, "cross-entropy itself"),
        ("06_ce_is_kl_plus_entropy", 1.1856, "Sign"),
        ("06_ce_is_kl_plus_entropy", -0.0365, "natural logs"),
        ("06_top_k_target", 0.2453, "renormalise"),
        ("06_top_k_target", 0.1192, "T = 1"),
        ("06_fewest_disagreements", 228, "the most"),
        ("06_fewest_disagreements", 150, "can agree"),
        ("07_top_p_kept", {0, 1}, "still below 0.8"),
        ("07_top_p_kept", [1, 2, 3], "Python counts classes from 0"),
        ("07_top_k_tie", 0.731, "ties at the boundary are kept"),
        ("07_reverse_fit", "middle", "forward fit"),
        ("07_reverse_kl_one_mode", 1.0, "bits"),
        ("07_sequence_level_targets", "own", "on-policy"),
        ("07_same_vector", 0.665, "T = 1"),
    ],
)
def test_common_mistakes_get_specific_hints(name, typed, words, capsys):
    right, message = feedback(name, typed)
    assert not right and words in message, message
    check(name, typed)
    assert words in capsys.readouterr().out


def test_a_wrong_number_is_not_mistaken_for_a_rounding():
    right, message = feedback("01_high_temperature_limit", 0.5)
    assert not right and "is not it" in message and "show_solution('01_high_temperature_limit')" in message


@pytest.mark.parametrize("name", NAMES)
def test_none_prints_the_question_with_its_precision_or_options(name, capsys):
    check(name, None)
    out = capsys.readouterr().out
    exercise = EXERCISES[name]
    assert "replace None" in out and exercise.question in out
    if isinstance(exercise, Number) and exercise.precision():
        assert exercise.precision() in out
    if isinstance(exercise, Choice):
        assert all(f"({letter}) {word}" in out for letter, word in zip("abcde", exercise.words(), strict=False))


def test_unknown_names_are_refused():
    for call in (lambda: feedback("99_nothing", 1), lambda: solution("nope"), lambda: show_solution("nope")):
        with pytest.raises(ValueError, match="unknown exercise"):
            call()


@pytest.mark.parametrize("name", NAMES)
def test_the_worked_solution_states_the_answer(name):
    answer, text = EXERCISES[name].answer, solution(name)
    bold = re.findall(r"\*\*(.+?)\*\*", text)
    assert bold, "a solution shows its answer in bold"
    if callable(answer):  # every function in the solution, run as written, passes the checker
        assert code_blocks_pass_the_judge(text) >= 1
    elif isinstance(answer, set):
        assert any(read_index_set(b) == answer for b in bold)
    elif isinstance(answer, str):
        assert any(answer in b for b in bold)
    else:
        numbers = [read_number(x) for b in bold for x in re.findall(r"-?\d+\.?\d*", b)]
        assert any(EXERCISES[name].accepts(x) for x in numbers), (numbers, answer)


def code_blocks_pass_the_judge(text):
    """Exec each ```python block of ``text`` on its own, pass every function it defines to the loss judge, and
    return how many functions passed (an assertion fails for any that does not)."""
    passed = 0
    for code in re.findall(r"```python\n(.*?)```", text, re.S):
        namespace = {"F": F, "nn": torch.nn, "torch": torch}
        exec(code, namespace)
        functions = [value for key, value in namespace.items() if callable(value) and key not in ("F", "nn", "torch")]
        assert len(functions) == 1, code
        right, message = judge_kd_loss(functions[0])
        assert right, (code, message)
        passed += 1
    return passed


@pytest.mark.parametrize("name", NAMES)
def test_every_worked_fix_shown_passes_the_judge_when_pasted_in(name):
    """The fix shown for loss A once had neither `reduction` nor `dim` and, pasted in, was told it had bug B."""
    text = solution(name)
    if "```python" in text:
        assert code_blocks_pass_the_judge(text) >= 1
    if name.startswith("03_bug_") or name == "03_fix_the_bug":
        letters = [name[-1]] if name.startswith("03_bug_") else list(BUGGY_LOSSES)
        assert code_blocks_pass_the_judge(text) == len(letters) + (name == "03_fix_the_bug")


# ---- the loss judge and the distillation bugs ----


def test_the_loss_cases_cover_alpha_0_and_1():
    assert {0.0, 1.0} <= {case.alpha for case in kd_cases()}


@pytest.mark.filterwarnings("ignore:reduction. 'mean':UserWarning")
def test_every_loss_bug_differs_from_kd_loss_and_from_every_other_bug():
    cases = kd_cases()
    values = [np.array([float(kd_loss(c.student_logits, c.teacher_logits, c.labels, c.T, c.alpha)) for c in cases])]
    values += [kd_bugs._values(bug.loss, cases) for bug in LOSS_BUGS]
    for i in range(len(values)):
        for j in range(i):
            assert not kd_bugs._same(values[i], values[j]), (i, j)


@pytest.mark.filterwarnings("ignore:reduction. 'mean':UserWarning")
@pytest.mark.parametrize("bug", LOSS_BUGS, ids=lambda bug: bug.hint[:40])
def test_the_judge_names_each_loss_bug(bug):
    assert name_the_bug(bug.loss) is bug
    right, message = feedback("03_distillation_loss", bug.loss)
    assert not right and message == f"Not yet. Hint: {bug.hint}"


@pytest.mark.filterwarnings("ignore:reduction. 'mean':UserWarning")
@pytest.mark.parametrize("letter", sorted(BUGGY_LOSSES))
def test_each_buggy_loss_is_recognised_by_its_numbers_as_the_bug_its_exercise_expects(letter):
    bug = name_the_bug(BUGGY_LOSSES[letter])
    assert bug is not None and bug.word == BUG_OF[letter] == EXERCISES[f"03_bug_{letter}"].answer
    right, message = feedback("03_fix_the_bug", BUGGY_LOSSES[letter])
    assert not right and bug.hint in message


def test_the_five_buggy_losses_cover_the_five_bugs():
    assert sorted(BUG_OF.values()) == sorted(word for word, _ in kd_bugs.BUG_OPTIONS)


def test_a_student_writing_these_mistakes_gets_the_hint():
    def soft_cross_entropy(z, v, y, T, alpha):
        soft = -(F.softmax(v / T, dim=1) * F.log_softmax(z / T, dim=1)).sum(1).mean()
        return alpha * T**2 * soft + (1 - alpha) * F.cross_entropy(z, y)

    def reduction_sum(z, v, y, T, alpha):
        kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="sum")
        return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)

    def T_not_squared(z, v, y, T, alpha):
        kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
        return alpha * T * kl + (1 - alpha) * F.cross_entropy(z, y)

    def arguments_swapped(z, v, y, T, alpha):
        kl = F.kl_div(F.softmax(v / T, dim=1), F.log_softmax(z / T, dim=1), reduction="batchmean")
        return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)

    for loss, words in [
        (soft_cross_entropy, "soft *cross-entropy*"),
        (reduction_sum, "reduction='sum'"),
        (T_not_squared, "multiplied by T, not T^2"),
        (arguments_swapped, "arguments are swapped"),
    ]:
        right, message = feedback("03_distillation_loss", loss)
        assert not right and words in message, message


@pytest.mark.parametrize(
    "loss, words",
    [
        (returns_item, "returns a float, not a torch tensor"),
        (returns_string, "returns a str"),
        (returns_list, "returns a list"),
        (returns_detached, "carries no gradient"),
        (lambda z, v, y, T, alpha: None, "returns None"),
        (lambda z, v, y, T, alpha: F.cross_entropy(z, y, reduction="none"), "shape (8,)"),
        (lambda z, v, y, T, alpha: F.kl_div(z, v, reduction="batchmeen"), "raised ValueError"),
        (lambda z, v, y, T, alpha: F.cross_entropy(v.requires_grad_(), y), "no gradient reaches student_logits"),
        (alpha_clamped, "kd_loss gives"),
        (0.5, "Pass the function itself"),
    ],
)
def test_the_loss_judge_wants_a_tensor_that_carries_the_gradient(loss, words):
    right, message = feedback("03_distillation_loss", loss)
    assert not right and words in message, message


def test_a_near_miss_prints_two_different_numbers():
    def slightly_off(z, v, y, T, alpha):
        return right_by_hand(z, v, y, T, alpha) * (1 + 3e-6)

    right, message = feedback("03_distillation_loss", slightly_off)
    yours, theirs = re.search(r"your loss is (\S+), kd_loss gives (\S+?)[ .]", message).groups()
    assert not right and yours != theirs


def test_a_constant_offset_is_told_that_the_gradient_agrees():
    right, message = feedback("03_distillation_loss", lambda z, v, y, T, a: right_by_hand(z, v, y, T, a) + 0.1)
    assert not right and "the gradient agrees" in message


def test_the_teacher_left_in_train_mode_changes_its_soft_targets_from_call_to_call():
    torch.manual_seed(0)
    teacher, images = teacher_mlp(hidden=32).double().eval(), torch.rand(50, 784, dtype=torch.float64)
    state = torch.get_rng_state()
    change = soft_target_change(teacher, images, T=20.0)
    assert change["eval"] == {"mean total variation": 0.0, "largest change": 0.0, "top class changed": 0}
    assert change["train"]["mean total variation"] > 0 and change["train"]["largest change"] > 0
    assert not teacher.training and torch.equal(torch.get_rng_state(), state)
    teacher.train()
    assert soft_target_change(teacher, images) == change and teacher.training  # seeded, mode restored


def test_soft_target_change_refuses_what_it_cannot_measure():
    teacher = teacher_mlp(hidden=8)
    with pytest.raises(TypeError, match="teacher must be a torch module"):
        soft_target_change(lambda x: x, torch.rand(2, 784))
    for images in (torch.ones(2, 784, dtype=torch.int64), [[0.0] * 784]):  # the wrong kind
        with pytest.raises(TypeError, match="images must be"):
            soft_target_change(teacher, images)
    for images in (torch.rand(0, 784), torch.rand(784)):  # the right kind, no batch of images
        with pytest.raises(ValueError, match="images must"):
            soft_target_change(teacher, images)
    for T, error in (
        (0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        ("20", TypeError),
        (True, TypeError),
    ):
        with pytest.raises(error, match="temperature T"):
            soft_target_change(teacher, torch.rand(2, 784), T=T)


# ---- the quiz widget ----


def test_a_quiz_answers_by_button_and_shows_its_question_without_a_kernel():
    panel = quiz("04_top_class_at_high_T")
    panel.buttons.value = "up"
    assert "Not yet" in panel.message.value
    panel.buttons.value = "down"
    assert "Correct" in panel.message.value
    bundle = panel._repr_mimebundle_()
    assert WIDGET_VIEW in bundle
    for label in EXERCISES["04_top_class_at_high_T"].labels():
        assert label in bundle["text/html"] and label in bundle["text/plain"]


def test_a_quiz_is_only_for_choice_questions():
    with pytest.raises(ValueError, match="not a choice question"):
        quiz("01_softmax_value")


# ---- the notebooks ask what the checker checks ----


def notebook_cells():
    cells = {}
    for path in sorted((ROOT / "notebooks").glob("0[1-7]_*.ipynb")):
        cells[path.name] = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return cells


def test_every_exercise_is_asked_in_a_notebook_with_the_precision_it_is_checked_to():
    for name in NAMES:
        notebook = next(n for n in notebook_cells() if n.startswith(name[:2]))
        cells = notebook_cells()[notebook]
        code = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert re.search(rf"""(check|quiz)\(["']{name}["']""", code), name
        exercise = EXERCISES[name]
        if isinstance(exercise, Number) and exercise.precision():
            assert f"({exercise.precision()})" in text, (name, exercise.precision())


def test_index_set_exercises_say_indices_count_from_zero():
    for name in NAMES:
        if isinstance(EXERCISES[name], IndexSet):
            assert "0-based" in EXERCISES[name].question


# ---- issue 32: wrong answers once accepted, right ones once unread, feedback about what was not said ----


def test_a_kl_is_not_a_percentage():
    right, message = feedback("03_kl_reduction", "20%")
    assert not right and message.startswith("Unclear") and "not a share or a probability" in message, message


@pytest.mark.parametrize("name", NUMBERS)
def test_percent_is_read_for_shares_only(name):
    exercise = EXERCISES[name]
    typed = f"{100 * exercise.answer:.10g}%"
    right, message = feedback(name, typed)
    if exercise.share:
        assert right, (typed, message)
    else:
        assert not right and "not a share or a probability" in message, (typed, message)


def test_the_always_rising_logits_differ_from_their_indices_and_the_notebook_asks_them():
    exercise = EXERCISES["02_always_rising"]
    logits = [int(x) for x in re.search(r"z = (\[[^\]]*\])", exercise.question).group(1)[1:-1].split(",")]
    values = {logits[i] for i in exercise.answer}
    assert values != exercise.answer and not feedback("02_always_rising", values)[0]
    assert "logits themselves" in feedback("02_always_rising", values)[1]
    assert not feedback("02_always_rising", {0, 1, 2})[0]  # the answer when the logits were [0, 1, 2, 5]
    cells = notebook_cells()["02_temperature_curves_and_sign.ipynb"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert f"z = {logits}" in prose and "[0, 1, 2, 5]" not in prose


def test_a_number_that_rounds_to_another_value_at_the_asked_precision_is_refused():
    assert not feedback("05_bias_odds_factor", 33.16)[0]  # e^3.5 = 33.115...: 33.16 rounds to 33.2
    assert not feedback("05_bias_odds_factor", "33.15")[0]  # rounds half up, to 33.2
    assert all(feedback("05_bias_odds_factor", typed)[0] for typed in (33.1, "33.149", 33.05, "33.12"))
    assert not feedback("05_bias_odds_factor", 33.04)[0]


@pytest.mark.parametrize("name", [name for name in NUMBERS if EXERCISES[name].precision()])
def test_exactly_the_numbers_that_round_to_the_rounded_answer_are_accepted(name):
    exercise = EXERCISES[name]
    asked = {"digits": exercise.digits} if exercise.digits else {"decimals": exercise.decimals}
    rounded = _rounded(exercise.answer, **asked)
    unit = Decimal(1).scaleb(rounded.as_tuple().exponent)
    half = unit / 2 if rounded > 0 else -unit / 2  # halves round away from 0, as a student rounds them
    for typed in (rounded, rounded + unit * Decimal("0.4"), rounded - unit * Decimal("0.4"), rounded - half):
        assert feedback(name, str(typed))[0], typed
    for typed in (rounded + unit, rounded - unit, rounded + half, rounded - half * Decimal("1.02")):
        assert not feedback(name, str(typed))[0], typed
    assert feedback(name, exercise.answer)[0]


@pytest.mark.parametrize("name", CHOICES)
def test_every_option_is_read_from_its_own_text(name):
    exercise = EXERCISES[name]
    for word, text in exercise.options:
        right, message = feedback(name, text)
        assert right == (word == exercise.answer) and not message.startswith("Unclear"), (text, message)
        assert feedback(name, f"({'abcdefgh'[exercise.words().index(word)]}) {text}")[0] == right


def test_the_calibration_side_is_read_from_the_options_text_and_its_paraphrases():
    for typed in ("T < 1", "below 1", "T<1", "less than 1", "T is below 1", "smaller than 1", "< 1", "T < 1.0"):
        assert feedback("06_calibration_T_side", typed)[0], typed
    for typed in ("T > 1", "above 1", "greater than 1"):
        right, message = feedback("06_calibration_T_side", typed)
        assert not right and message.startswith("Not yet"), (typed, message)
    for typed in ("not below 1", "below 1 or above 1", "T < 2", "T below one"):
        assert feedback("06_calibration_T_side", typed)[1].startswith("Unclear"), typed


@pytest.mark.parametrize(
    "name, typed",
    [
        ("01_ratio_at_T", "P3/P7 = 1.995"),
        ("01_ratio_at_T", "ratio = 1.995"),
        ("01_ratio_at_T", "P(3)/P(7) = 1000^(1/10) = 1.995"),
        ("06_smoothed_wrong_class", "eps/C = 0.01"),
        ("06_non_target_weight", "1 - p_t = 0.001"),
        ("06_non_target_weight", "1 - p_t ≈ 0.001"),
        ("03_kl_reduction", "KL_batchmean = 0.2"),
    ],
)
def test_name_equals_value_is_read_for_any_name_or_expression(name, typed):
    assert feedback(name, typed)[0], feedback(name, typed)


def test_a_label_that_compares_negates_or_is_an_expression_of_the_asked_variable_is_not_read_as_the_value():
    for typed in ("x != 0.5", "T <= 2.4", "not 0.5 = 0.5", "T >= 0", "0.5 or 0.6 = 0.5"):
        assert read_number(typed) is None, typed
    right, message = feedback("04_alpha_for_labels_only", "1 - alpha = 0")
    assert not right and message.startswith("Unclear") and "not of alpha" in message, message
    assert feedback("02_turning_temperature", "1/T = 0.417")[1].startswith("Unclear")


def test_a_hint_about_a_value_fires_only_for_an_answer_that_reads_as_it():
    for typed in (1, "1", 1.0, "1.0"):
        right, message = feedback("06_non_target_weight", typed)
        assert not right and "0.999" not in message, (typed, message)
    assert "p_t itself" in feedback("06_non_target_weight", "0.999")[1]
    assert (
        "0.999" not in feedback("04_top_class_at_T20", 1)[1]
        and "change with T" in feedback("04_top_class_at_T20", "0.9990")[1]
    )


def test_a_wrong_answer_with_the_digits_asked_is_not_told_to_give_them():
    right, message = feedback("04_top_class_at_T20", "0.150")
    assert not right and "give 3 significant digits" not in message and not message.startswith("Close:"), message
    right, message = feedback("04_top_class_at_T20", "0.15")  # two digits: the answer rounded to them
    assert not right and "0.15 is the answer rounded to 2 significant digits; give 3" in message, message


HUGE = [10**5000, -(10**5000), "1" * 5000, "0." + "1" * 5000, "1e99999", [10**5000], {10**5000}, (10**5000,)]


@pytest.mark.parametrize("name", NAMES)
def test_a_huge_answer_is_unclear_never_an_exception(name):
    for typed in HUGE:
        right, message = feedback(name, typed)
        assert not right and len(message) < 2000, (name, message[:200])
        if name not in CODE:
            assert message.startswith("Unclear"), (name, message[:200])
    assert "digits" in feedback("01_softmax_value", 10**5000)[1]


# ---- issue 32: the loss judge ----


def test_a_loss_computed_in_float32_is_judged_at_float32_precision():
    assert judge_kd_loss(right_in_float32) == judge_kd_loss(right_by_hand)  # both right
    bug_in_float32 = LOSS_BUGS[0].loss  # 'mean', the first bug, computed after .float()
    right, message = judge_kd_loss(lambda z, v, y, T, a: bug_in_float32(z.float(), v.float(), y, T, a))
    assert not right and LOSS_BUGS[0].hint in message
    right, message = judge_kd_loss(right_in_half)
    assert not right and "float16" in message and "float32 or float64" in message


def test_float32_rounding_stays_well_inside_the_float32_tolerance():
    """The tolerance is not a guess: float32's own error on kd_cases() is at least 10 times smaller."""
    rtol, atol = TOLERANCES[torch.float32]
    for case in kd_cases():
        z = case.student_logits.clone().requires_grad_(True)
        ours = right_in_float32(z, case.teacher_logits, case.labels, case.T, case.alpha)
        (grad,) = torch.autograd.grad(ours, z)
        z64 = case.student_logits.clone().requires_grad_(True)
        exact = kd_loss(z64, case.teacher_logits, case.labels, case.T, case.alpha)
        (exact_grad,) = torch.autograd.grad(exact, z64)
        ours, exact = float(ours.detach()), float(exact.detach())
        assert abs(ours - exact) < (atol + rtol * abs(exact)) / 10
        assert ((grad - exact_grad).abs() < (atol + rtol * exact_grad.abs()) / 10).all()


def test_the_judges_batches_have_10_classes_and_other_counts_so_no_written_in_factor_passes():
    counts = {case.n_classes for case in kd_cases()}
    assert 10 in counts and len(counts) > 1
    for factor in (5, 10):
        assert not judge_kd_loss(B_fixed_by_times(factor))[0]
    right, message = judge_kd_loss(B_fixed_by_times(10))
    assert "right on the batches of 10 classes" in message and "student_logits.shape[1]" in message, message


@pytest.mark.parametrize(
    "loss, swapped",
    [(T_and_alpha_swapped, "T and alpha"), (teacher_first, "student_logits and teacher_logits")],
)
def test_arguments_taken_in_another_order_are_named(loss, swapped):
    right, message = judge_kd_loss(loss)
    assert not right and "another order" in message and swapped in message, message
    assert "negative" not in message


def test_a_teacher_left_attached_to_the_graph_is_named():
    right, message = judge_kd_loss(teacher_attached)
    assert not right and "flows from it into teacher_logits" in message and "teacher_logits.detach()" in message
    assert judge_kd_loss(kd_loss)[0]  # kd_loss itself detaches the teacher


def test_the_instructor_notes_list_every_exercise():
    notes = (ROOT / "docs" / "instructor_notes.md").read_text(encoding="utf-8")
    rows = [line for line in notes.splitlines() if line.startswith("| 0")]
    for name in NAMES:
        shown = "03_bug_A to 03_bug_E" if name.startswith("03_bug_") else name
        assert any(shown in [cell.strip() for cell in row.split("|")[1].split(",")] for row in rows), name


def test_the_fewest_disagreements_are_counted_on_an_arrangement_with_the_questions_errors():
    from kdviz.beyond_the_paper import disagreements, errors_of
    from kdviz.exercises import questions

    top1, labels = questions._TOP1_06, questions._LABELS06
    assert errors_of(np.stack([top1["teacher"], top1["student"]]), labels) == [78, 150]
    assert disagreements(top1["teacher"], top1["student"][None]) == [EXERCISES["06_fewest_disagreements"].answer]
    rng = np.random.default_rng(0)  # any other arrangement of the same errors disagrees on at least as many images
    for _ in range(20):
        teacher = np.where(np.isin(np.arange(10000), rng.choice(10000, 78, replace=False)), (labels + 1) % 10, labels)
        student = np.where(np.isin(np.arange(10000), rng.choice(10000, 150, replace=False)), (labels + 2) % 10, labels)
        assert disagreements(np.eye(10)[teacher], np.eye(10)[student][None])[0] >= 72


def test_a_loss_that_changes_its_arguments_in_place_leaves_the_judges_batches_as_they_were():
    def divides_in_place(z, v, y, T, alpha):
        v /= T  # changes the tensor it was given
        return right_by_hand(z, v * T, y, T, alpha)

    judge_kd_loss(divides_in_place)
    name_the_bug(divides_in_place)
    assert judge_kd_loss(right_by_hand)[0]
