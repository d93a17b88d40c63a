import re

import pytest

from kdviz.exercises import EXERCISES, check, feedback, solution

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
    if isinstance(answer, set):
        assert any(set(map(int, re.findall(r"\d+", b))) == answer for b in bold)
    elif isinstance(answer, str):
        assert any(answer in b for b in bold)
    else:
        numbers = [float(x) for b in bold for x in re.findall(r"-?\d+\.?\d*", b)]
        assert any(abs(x - answer) <= max(5e-3 * abs(answer), 5e-4) for x in numbers), (numbers, answer)


@pytest.mark.parametrize("name", NAMES)
def test_every_hint_fires_on_a_wrong_answer_and_not_on_the_right_one(name):
    exercise = EXERCISES[name]
    for looks_like, _hint in exercise.hints:
        assert not looks_like(exercise.answer)


def test_common_mistakes_get_specific_hints(capsys):
    for name, wrong, words in [
        ("01_softmax_value", 3 / 4, "exponentials"),
        ("02_turning_temperature", 0.31, "not 1/n"),
        ("02_always_rising", {0, 1}, "equal"),
        ("05_where_to_choose_the_bias", "test", "leaks"),
    ]:
        right, message = feedback(name, wrong)
        assert not right and words in message
        check(name, wrong)
        assert words in capsys.readouterr().out


def test_unanswered_and_unknown(capsys):
    assert not feedback("03_kl_reduction", None)[0]
    check("03_kl_reduction", None)
    assert "replace None" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no exercise named"):
        feedback("99_nothing", 1)
