import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from kdviz.exercises import EXERCISES, check, feedback, show_solution, solution

NAMES = sorted(EXERCISES)


@pytest.mark.parametrize("name", NAMES)
def test_the_expected_answer_passes_its_checker(name, capsys):
    assert feedback(name, EXERCISES[name].answer)[0]
    check(name, EXERCISES[name].answer)
    assert "Correct" in capsys.readouterr().out


@pytest.mark.parametrize("name", NAMES)
def test_the_worked_solution_states_the_answer(name):
    answer, text = EXERCISES[name].answer, solution(name)
    bold = re.findall(r"\*\*(.+?)\*\*", text)
    assert bold, "a solution shows its answer in bold"
    if callable(answer):  # the solution's code, run as written, passes the checker
        code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
        namespace = {"F": F}
        exec(code, namespace)
        assert feedback(name, namespace["my_kd_loss"])[0]
    elif isinstance(answer, set):
        assert any(set(map(int, re.findall(r"\d+", b))) == answer for b in bold)
    elif isinstance(answer, str):
        assert any(answer in b for b in bold)
    else:
        numbers = [float(x) for b in bold for x in re.findall(r"-?\d+\.?\d*", b)]
        assert any(abs(x - answer) <= max(5e-3 * abs(answer), 5e-4) for x in numbers), (numbers, answer)


@pytest.mark.parametrize("name", NAMES)
def test_no_hint_fires_on_the_right_answer(name):
    exercise = EXERCISES[name]
    for looks_like, _hint in exercise.hints:
        assert not looks_like(exercise.answer)


def test_common_mistakes_get_specific_hints(capsys):
    for name, wrong, words in [
        ("01_softmax_value", 3 / 4, "exponentials"),
        ("02_turning_temperature", 0.31, "not 1/n"),
        ("02_always_rising", {0, 1}, "equal"),
        ("03_logit_matching_limit", 1 / 3, "equal means"),
        ("05_where_to_choose_the_bias", "test", "leaks"),
    ]:
        right, message = feedback(name, wrong)
        assert not right and words in message
        check(name, wrong)
        assert words in capsys.readouterr().out


@pytest.mark.parametrize(
    "name, typed",
    [
        ("01_softmax_value", np.float64(0.8438)),
        ("01_softmax_value", np.array([0.8438])),  # numpy 2 refuses float() of a 1-element array
        ("01_softmax_value", np.array(0.8438, dtype=np.float32)),
        ("01_softmax_value", torch.tensor([0.8438])),
        ("01_softmax_value", torch.tensor(0.8438, requires_grad=True)),
        ("01_softmax_value", [0.8438]),
        ("01_softmax_value", "0.8438"),
        ("01_high_temperature_limit", "1/3"),
        ("01_high_temperature_limit", 0.333),
        ("02_always_rising", [0, 1, 2]),
        ("02_always_rising", (2, 1, 0)),
        ("02_always_rising", np.array([0, 1, 2])),
        ("02_always_rising", torch.tensor([0, 1, 2])),
        ("02_always_rising", "0, 1, 2"),
        ("02_always_rising", "{0, 1, 2}"),
        ("04_alpha_for_labels_only", 0),
        ("04_top_class_at_high_T", "Down"),
        ("04_top_class_at_high_T", "it goes down"),
        ("05_bias_sign", "positive"),
        ("05_bias_sign", 3.5),
        ("05_where_to_choose_the_bias", "validation set"),
        ("05_where_to_choose_the_bias", "On the validation split."),
        ("05_where_to_choose_the_bias", "held-out data"),
    ],
)
def test_check_reads_answers_as_students_type_them(name, typed):
    right, message = feedback(name, typed)
    assert right, message


@pytest.mark.parametrize(
    "name, typed, words",
    [
        ("01_high_temperature_limit", 0.33, "right to 2 significant digits; give 3 significant digits"),
        ("01_high_temperature_limit", np.array([0.3]), "right to 1 significant digit; give 3"),
        ("01_softmax_value", 0.84, "right to 2 significant digits; give 3"),
        ("01_ratio_at_T", 1.99, "right to 3 significant digits; give 4"),  # cut rather than rounded: still told
        ("01_ratio_at_T", 2, "right to 1 significant digit; give 4"),
    ],
)
def test_answers_rounded_too_early_are_told_how_many_digits_to_give(name, typed, words):
    right, message = feedback(name, typed)
    assert not right and words in message


@pytest.mark.parametrize(
    "name, typed, words",
    [
        ("01_softmax_value", np.array([0.1, 0.2]), "one number"),
        ("01_softmax_value", "about a half", "one number"),
        ("02_always_rising", "the small ones", "set of class indices"),
        ("05_where_to_choose_the_bias", "not the test set", "exactly one of"),
        ("05_where_to_choose_the_bias", "test or validation", "exactly one of"),
        ("05_where_to_choose_the_bias", "somewhere", "exactly one of"),
    ],
)
def test_unreadable_answers_say_what_to_give(name, typed, words):
    right, message = feedback(name, typed)
    assert not right and words in message


def test_a_wrong_number_is_not_mistaken_for_a_rounding():
    right, message = feedback("01_high_temperature_limit", 0.5)
    assert not right and "is not it" in message


def test_unanswered_and_unknown(capsys):
    assert not feedback("03_kl_reduction", None)[0]
    check("03_kl_reduction", None)
    assert "replace None" in capsys.readouterr().out
    for call in (lambda: feedback("99_nothing", 1), lambda: solution("nope"), lambda: show_solution("nope")):
        with pytest.raises(ValueError, match="no exercise named 'nope'|no exercise named '99_nothing'"):
            call()


# ---- 03_distillation_loss: students' own loss functions, right and wrong ----


def right_with_probabilities_as_target(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)


def right_by_hand(z, v, y, T, alpha):
    p, log_q = F.softmax(v / T, dim=-1), F.log_softmax(z / T, dim=-1)
    kl = (p * (p.log() - log_q)).sum(dim=-1).mean()
    ce = -F.log_softmax(z, dim=-1)[torch.arange(len(y)), y].mean()
    return alpha * T * T * kl + (1 - alpha) * ce


def right_with_modules(z, v, y, T, alpha):
    kl = torch.nn.KLDivLoss(reduction="batchmean")(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1))
    return (alpha * T**2 * kl + (1 - alpha) * torch.nn.CrossEntropyLoss()(z, y)).item()


@pytest.mark.parametrize("my_kd_loss", [right_with_probabilities_as_target, right_by_hand, right_with_modules])
def test_a_correct_distillation_loss_passes(my_kd_loss):
    right, message = feedback("03_distillation_loss", my_kd_loss)
    assert right, message


def no_T_squared(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
    return alpha * kl + (1 - alpha) * F.cross_entropy(z, y)


def reduction_mean(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="mean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)


def probabilities_as_input(z, v, y, T, alpha):
    kl = F.kl_div(F.softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)


def alpha_on_the_wrong_term(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
    return (1 - alpha) * T**2 * kl + alpha * F.cross_entropy(z, y)


def hard_term_at_T(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.softmax(v / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z / T, y)


def log_target_forgotten(z, v, y, T, alpha):
    kl = F.kl_div(F.log_softmax(z / T, dim=1), F.log_softmax(v / T, dim=1), reduction="batchmean")
    return alpha * T**2 * kl + (1 - alpha) * F.cross_entropy(z, y)


@pytest.mark.filterwarnings("ignore:reduction. 'mean':UserWarning")
@pytest.mark.parametrize(
    "my_kd_loss, words",
    [
        (no_T_squared, "lacks its factor T^2"),
        (reduction_mean, "reduction='batchmean'"),
        (probabilities_as_input, "*log*-probabilities as its first argument"),
        (alpha_on_the_wrong_term, "alpha is on the wrong term"),
        (hard_term_at_T, "ordinary softmax (T = 1)"),
        (log_target_forgotten, "log_target=True"),
    ],
)
def test_each_classic_distillation_mistake_gets_its_hint(my_kd_loss, words):
    right, message = feedback("03_distillation_loss", my_kd_loss)
    assert not right and "Hint" in message and words in message


def test_distillation_loss_checker_explains_broken_functions():
    def unfinished(z, v, y, T, alpha):
        return None

    def per_example(z, v, y, T, alpha):
        return F.cross_entropy(z, y, reduction="none")

    def typo(z, v, y, T, alpha):
        return F.kl_div(z, v, reduction="batchmeen")

    def something_else(z, v, y, T, alpha):
        return F.cross_entropy(z, y) + 1.0

    for fn, words in [
        (unfinished, "returns None"),
        (per_example, "shape (8,)"),
        (typo, "raised ValueError"),
        (something_else, "kd_loss gives"),
        (0.5, "Pass the function itself"),
    ]:
        right, message = feedback("03_distillation_loss", fn)
        assert not right and words in message, message


@pytest.mark.parametrize("typed", ["1e400", 10**400, float("nan"), "nan", [float("nan")]])
def test_numbers_too_large_for_float_or_nan_are_unreadable_not_a_crash_or_a_sign(typed):
    right, message = feedback("05_bias_sign", typed)  # nan was read as 'negative'
    assert not right and "is unclear" in message
    right, message = feedback("01_softmax_value", typed)  # 1e400 raised OverflowError
    assert not right and "could not be read" in message


@pytest.mark.parametrize(
    ("typed", "classes"),
    [("classes 0, 1, 2 (not 3)", {0, 1, 2}), ("0 1 2 but not 3 and 4", {0, 1, 2}), ("1 and 2 except 0", {1, 2})],
)
def test_classes_named_after_not_are_left_out_of_a_typed_set(typed, classes):
    from kdviz.exercises import as_index_set

    assert as_index_set(typed) == classes
