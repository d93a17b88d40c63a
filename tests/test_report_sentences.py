"""Issue #32: sentences next to printed results hold in quick and in full mode. Verdicts printed in quick mode say
that the run is test-sized; the omitted digit's sentence says where its 3s come from; section 5's choice says when
the students' own training warned that it is not to be trusted."""

import pytest

from kdviz.dark_knowledge import CONSISTENT, FIXED, omitted_digit_report, teaching_report
from kdviz.noise import QUICK_MODE_NOTE, with_quick_mode_note


@pytest.fixture
def full_mode(monkeypatch):
    """What the sentences say at full size (pytest sets PYTEST_CURRENT_TEST again for each phase of a test, so the
    run mode is replaced where the sentences read it)."""
    monkeypatch.setattr("kdviz.noise.quick_mode", lambda: False)


def test_a_quick_mode_verdict_says_the_run_is_test_sized():
    assert with_quick_mode_note(["a verdict"]) == ["a verdict", QUICK_MODE_NOTE]  # pytest runs in quick mode


def test_a_full_size_verdict_stands_alone(full_mode):
    assert with_quick_mode_note(["a verdict"]) == ["a verdict"]


def omitted(before, after=97.5, bias=3.4):
    return {"test 3s correct before bias (%)": before, "test 3s correct after bias (%)": after, "bias": bias}


def test_the_omitted_digit_sentence_credits_the_soft_targets_only_when_most_3s_are_right_before_the_bias(full_mode):
    learned = " ".join(omitted_digit_report(omitted(85.84)))
    assert "gets 85.84% of the test 3s right from the soft targets of other digits alone" in learned
    assert "raising its 3 logit by 3.4 brings that to 97.5%" in learned
    found = " ".join(omitted_digit_report(omitted(1.29)))
    assert "only 1.29% of the test 3s right" in found and "found through the bias of 3.4" in found
    assert "from the soft targets of other digits alone" not in found
    assert "86.8% before, 98.6% after" in found  # the paper beside both


def teaching(untrusted):
    arm = {"val_errors": [[30, 31, 32]], "test_errors": [[40, 41, 42]]}
    return {
        "verdict": "fixed targets: ... within noise.",
        "chosen": FIXED,
        "chosen_test_errors": [40, 41, 42],
        "epochs": 3,
        "seeds": [0, 1, 2],
        "arms": {
            FIXED: {**arm, "untrusted_students": untrusted[0]},
            CONSISTENT: {**arm, "untrusted_students": untrusted[1]},
        },
    }


def test_the_choice_carries_a_caveat_when_students_warned(full_mode):
    clean = teaching_report(teaching(([], [])))
    assert len(clean) == 2 and not any("Caveat" in line for line in clean)
    warned = teaching_report(teaching((["clipped"] * 2, ["clipped"] * 3)))
    assert warned[-1].startswith("Caveat: 2 of the 3 fixed targets students and 3 of the 3 consistent teaching")
    assert "may reflect that rather than the recipe" in warned[-1]


def test_a_saved_run_without_warnings_recorded_reads_as_before(full_mode):
    run = teaching(([], []))
    for arm in run["arms"].values():
        del arm["untrusted_students"]  # runs saved before the warnings were kept (docs/patient_run.json)
    assert teaching_report(run)[1].startswith("Chosen: fixed targets")
