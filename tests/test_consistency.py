import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from kdviz import dark_knowledge as consistency
from kdviz import noise
from kdviz.dark_knowledge import CONSISTENT, FIXED, MATCHING, choice_sentence, choose_recipe, compare_teaching
from kdviz.mnist.train import StudentConfig, TeacherConfig, TrainingOptions, train_students
from kdviz.mnist.workspace import Preset, Workspace

pytestmark = pytest.mark.filterwarnings("ignore::kdviz.mnist.train.TrainingWarning")  # random toy data


def toy_workspace(n_train=240, n_test=60):
    generator = torch.Generator().manual_seed(0)
    teacher = torch.nn.Linear(784, 10)
    x_train = torch.randn(n_train, 784, generator=generator)
    with torch.no_grad():
        logits = teacher(x_train)
    return Workspace(
        x_train=x_train,
        y_train=logits.argmax(1),
        x_test=torch.randn(n_test, 784, generator=generator),
        y_test=torch.randint(0, 10, (n_test,), generator=generator),
        teacher=teacher,
        teacher_logits=logits,
        teacher_info={},
        device=torch.device("cpu"),
    )


PRESET = Preset(TeacherConfig(), StudentConfig(hidden=8, epochs=2, batch_size=64), T=4.0, alpha=0.7, transfer_jitter=1)


def test_both_arms_train_on_the_split_and_count_every_epoch():
    workspace, calls = toy_workspace(), []
    result = compare_teaching(workspace, PRESET, n_seeds=2, n_validation=40, progress=False, on_epoch=calls.append)
    assert (result["n_train"], result["n_validation"], result["seeds"]) == (200, 40, [0, 1])
    for arm in (FIXED, CONSISTENT):
        assert np.shape(result["arms"][arm]["val_errors"]) == (2, 2)  # epochs x seeds
        assert np.shape(result["arms"][arm]["test_errors"]) == (2, 2)
    assert len(calls) == 4  # after each epoch of each arm
    # each arm is exactly train_students on the training part of the split, with or without consistent teaching
    train_idx, val_idx = workspace.split_validation(40)
    x, y, logits = workspace.x_train[train_idx], workspace.y_train[train_idx], workspace.teacher_logits[train_idx]
    for arm, kwargs in ((FIXED, {}), (CONSISTENT, {"teacher": workspace.teacher, "transfer_jitter": 1})):
        options = TrainingOptions(
            validation=(workspace.x_train[val_idx], workspace.y_train[val_idx]), test=workspace.test_set, **kwargs
        )
        _, history = train_students(x, y, logits, 4.0, 0.7, PRESET.student, [0, 1], options, progress=False)
        assert result["arms"][arm]["val_errors"] == np.array(history.val_errors).tolist()
        assert result["arms"][arm]["test_errors"] == np.array(history.test_errors).tolist()
    assert result["chosen_test_errors"] == result["arms"][result["chosen"]]["test_errors"][-1]
    json.dumps(result)  # the CLI saves it as it is


def test_the_choice_needs_a_gap_beyond_the_seed_spread():
    def choose(fixed, consistent, matching=None):
        arms = {FIXED: fixed, CONSISTENT: consistent} | ({MATCHING: matching} if matching else {})
        return choose_recipe(arms)

    assert choose([100, 104, 102], [90, 92, 91]) == CONSISTENT
    assert choose([90, 92, 91], [100, 104, 102]) == FIXED
    assert choose([100, 110, 105], [98, 102, 100]) == FIXED  # gap 5 within the range 10: the cheaper one
    assert choose([100], [80]) == FIXED  # one seed measures no spread
    assert choose([100, 104, 102], [90, 92, 91], [80, 81, 82]) == MATCHING  # beyond the noise of both
    assert choose([100, 104, 102], [90, 92, 91], [89, 91, 90]) == CONSISTENT  # the best, but within noise: cheaper
    assert choose([100, 104, 102], [80, 81, 82], [90, 92, 91]) == CONSISTENT
    assert choose([90, 92, 91], [91, 93, 92], [89, 91, 90]) == FIXED  # all within noise: the cheapest


def test_the_choice_sentence_says_why():
    result = {
        "arms": {FIXED: {"val_errors": [[100, 104, 102]]}, CONSISTENT: {"val_errors": [[90, 92, 91]]}},
        "chosen": CONSISTENT,
        "chosen_test_errors": [80, 82, 84],
        "epochs": 7,
    }
    assert "consistent teaching (fewer validation errors, beyond the seed spread)" in choice_sentence(result)
    assert "after 7 epochs: 82.0 (range 80-84, 3 seeds)" in choice_sentence(result)
    result["arms"][CONSISTENT]["val_errors"] = [[99, 103, 101]]
    result["chosen"] = FIXED
    assert "within noise" in choice_sentence(result)


def test_bad_input_is_refused_before_training(monkeypatch):
    monkeypatch.setattr("kdviz.mnist.workspace.train_students", lambda *a, **k: pytest.fail("training started"))
    workspace = toy_workspace()
    with pytest.raises(ValueError, match=r"consistent teaching needs 1 or more.*in 1\.\.13"):
        compare_teaching(workspace, PRESET, transfer_jitter=0)
    with pytest.raises(ValueError, match="n_validation"):
        compare_teaching(workspace, PRESET, n_validation=240)
    with pytest.raises(TypeError, match="workspace"):
        compare_teaching(None, PRESET)
    with pytest.raises(ValueError, match="seeds"):
        compare_teaching(workspace, PRESET, n_seeds=0)


def test_epoch_marks_spread_over_the_run_and_end_at_its_last_epoch():
    assert consistency.epoch_marks(150) == [25, 50, 75, 100, 125, 150]
    assert consistency.epoch_marks(3) == [1, 2, 3]
    assert consistency.epoch_marks(1) == [1]


def test_errors_table_reads_each_arm_and_split_at_the_marked_epochs():
    curve = [[[10 * e + s for s in range(3)] for e in range(1, 5)] for _ in range(4)]
    result = {
        "arms": {
            FIXED: {"val_errors": curve[0], "test_errors": (np.array(curve[1]) + 1).tolist()},
            CONSISTENT: {
                "val_errors": (np.array(curve[2]) + 2).tolist(),
                "test_errors": (np.array(curve[3]) + 3).tolist(),
            },
        }
    }
    lines = consistency.errors_table(result, marks=[2, 4]).splitlines()
    assert len(lines) == 4 and lines[0].startswith("| epoch | fixed targets: validation")
    assert lines[2] == "| 2 | 21.0 (range 20-22) | 22.0 (range 21-23) | 23.0 (range 22-24) | 24.0 (range 23-25) |"
    assert lines[3].startswith("| 4 | 41.0 (range 40-42) |")


def test_the_readme_quotes_the_saved_long_run():
    """README's long-run sentences and table are what docs/patient_run.json gives, so they cannot drift from it."""
    root = Path(__file__).resolve().parent.parent
    run = json.loads((root / "docs" / "patient_run.json").read_text())
    readme = (root / "README.md").read_text()
    assert run["complete"] and run["epochs"] == len(run["arms"][CONSISTENT]["test_errors"])
    assert f"> {run['verdict']}\n" in readme and f"> {choice_sentence(run)}\n" in readme
    assert consistency.errors_table(run) in readme
    assert run["command"].replace("/work/longrun/patient_150.json", "run.json") in readme
    assert f"took {round(run['seconds_total'] / 60)} min" in readme
    seconds = [round(run["arms"][arm]["seconds"] / 60) for arm in (FIXED, CONSISTENT)]
    assert f"{seconds[0]} min for the fixed-target students, {seconds[1]} min for the consistent ones" in readme


def test_the_readme_quotes_the_saved_function_matching_runs():
    """README's function-matching sentences, tables, commands and times are what the saved runs in docs/ give."""
    root = Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text()
    for name in ("function_matching_class_size.json", "consistent_200_epochs.json"):
        run = json.loads((root / "docs" / name).read_text())
        assert run["complete"] and all(len(arm["test_errors"]) == run["epochs"] for arm in run["arms"].values())
        assert f"> {run['verdict']}\n" in readme and f"> {choice_sentence(run)}\n" in readme
        assert consistency.errors_table(run) in readme
        assert re.sub(r"--save \S*/", "--save ", run["command"]) in readme
        assert f"took {round(run['seconds_total'] / 60)} min" in readme
        for arm, values in run["arms"].items():
            assert f"{round(values['seconds'])} s for {arm}" in readme


def test_the_readme_compares_the_200_epoch_run_with_the_150_epoch_one_by_the_seed_rule():
    """The longer schedule against the 150-epoch run (same recipe, seeds and split): the README's sentences are
    noise.compare's on the two saved runs' last epochs."""
    root = Path(__file__).resolve().parent.parent
    readme = " ".join((root / "README.md").read_text().split())
    longer = json.loads((root / "docs" / "consistent_200_epochs.json").read_text())
    shorter = json.loads((root / "docs" / "patient_run.json").read_text())
    for key in ("seeds", "n_train", "n_validation", "T", "alpha", "transfer_jitter", "student_hidden"):
        assert longer[key] == shorter[key], key
    for split, what in (("val_errors", "validation errors"), ("test_errors", "test errors")):
        a, b = longer["arms"][CONSISTENT][split][-1], shorter["arms"][CONSISTENT][split][-1]
        assert noise.compare("200 epochs", a, "150 epochs", b, what=what) in readme


def test_each_arm_keeps_the_warnings_of_its_untrustworthy_students():
    """Random toy data: nothing to learn, so students warn; compare_teaching keeps their messages per arm."""
    result = compare_teaching(toy_workspace(), PRESET, n_seeds=2, n_validation=40, progress=False)
    for arm in (FIXED, CONSISTENT):
        untrusted = result["arms"][arm]["untrusted_students"]
        assert isinstance(untrusted, list) and all(isinstance(message, str) for message in untrusted)
    json.dumps(result)


SOFT = replace(PRESET, alpha=1.0)  # function matching trains the soft term alone


def test_function_matching_is_an_arm_trained_as_train_students_trains_it():
    workspace, calls = toy_workspace(), []
    arms = (MATCHING, CONSISTENT)  # trained cheapest first, whatever the order given
    result = compare_teaching(workspace, SOFT, 2, 40, progress=False, on_epoch=calls.append, arms=arms)
    assert list(result["arms"]) == [CONSISTENT, MATCHING] and len(calls) == 4
    assert result["transfer_mixup"] == consistency.FUNCTION_MATCHING_MIXUP == 1.0
    train_idx, val_idx = workspace.split_validation(40)
    x, y, logits = workspace.x_train[train_idx], workspace.y_train[train_idx], workspace.teacher_logits[train_idx]
    options = TrainingOptions(
        teacher=workspace.teacher,
        transfer_jitter=1,
        transfer_mixup=1.0,
        validation=(workspace.x_train[val_idx], workspace.y_train[val_idx]),
        test=workspace.test_set,
    )
    _, history = train_students(x, y, logits, 4.0, 1.0, PRESET.student, [0, 1], options, progress=False)
    assert result["arms"][MATCHING]["val_errors"] == np.array(history.val_errors).tolist()
    assert result["arms"][MATCHING]["test_errors"] == np.array(history.test_errors).tolist()
    assert result["verdict"].startswith("consistent teaching: ") and "; function matching: " in result["verdict"]
    assert result["chosen"] == choose_recipe({arm: result["arms"][arm]["val_errors"][-1] for arm in result["arms"]})
    other = compare_teaching(workspace, SOFT, 2, 40, progress=False, arms=[MATCHING], transfer_mixup=0.2)
    assert other["transfer_mixup"] == 0.2 and other["arms"][MATCHING] != result["arms"][MATCHING]


def test_without_a_validation_split_one_arm_trains_on_every_image_and_its_test_errors_choose_nothing():
    workspace = toy_workspace()
    result = compare_teaching(workspace, SOFT, n_seeds=2, n_validation=0, progress=False, arms=[MATCHING])
    assert (result["n_train"], result["n_validation"], result["chosen"]) == (240, 0, MATCHING)
    assert result["arms"][MATCHING]["val_errors"] == [] and np.shape(result["arms"][MATCHING]["test_errors"]) == (2, 2)
    options = TrainingOptions(teacher=workspace.teacher, transfer_jitter=1, transfer_mixup=1.0, test=workspace.test_set)
    _, history = workspace.train_students(4.0, 1.0, PRESET.student, [0, 1], options=options, progress=False)
    assert result["chosen_test_errors"] == np.array(history.test_errors[-1]).tolist()  # all 240 images
    sentence = choice_sentence(result)
    assert sentence.startswith("Trained: function matching on all 240 training images (no validation split;")
    assert "never on these test errors" in sentence and "no validation split" in result["verdict"]
    assert consistency.errors_table(result).splitlines()[0] == "| epoch | function matching: test |"
    json.dumps(result)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"arms": "function matching"}, TypeError, "arms must be a list of names"),
        ({"arms": [MATCHING, "mixup"]}, ValueError, "'mixup' unknown"),
        ({"arms": []}, ValueError, "arms must be one or more of"),
        ({"arms": [FIXED, FIXED]}, ValueError, "more than once"),
        ({"n_validation": 0}, ValueError, "n_validation=0 .* takes one arm"),
        ({"n_validation": -1, "arms": [MATCHING]}, ValueError, "n_validation"),
        ({"transfer_mixup": 1.0}, ValueError, "function matching arm, which arms leaves out"),
        ({"arms": [MATCHING], "transfer_mixup": 0.0}, ValueError, "transfer_mixup.*> 0"),
        ({"arms": [MATCHING], "transfer_mixup": True}, TypeError, "transfer_mixup"),
        ({"arms": [FIXED, MATCHING], "preset": PRESET}, ValueError, "every alpha must be 1; got 0.7"),
    ],
)
def test_bad_arms_and_mixup_are_refused_before_any_arm_trains(monkeypatch, kwargs, error, message):
    monkeypatch.setattr("kdviz.mnist.workspace.train_students", lambda *a, **k: pytest.fail("training started"))
    preset = kwargs.pop("preset", SOFT)
    with pytest.raises(error, match=message):
        compare_teaching(toy_workspace(), preset, progress=False, **{"n_validation": 40, **kwargs})


def test_the_choice_sentence_and_table_read_any_arms():
    arms = {
        FIXED: {"val_errors": [[100, 104, 102]], "test_errors": [[110, 111, 112]]},
        CONSISTENT: {"val_errors": [[90, 92, 91], [88, 90, 89]], "test_errors": [[99, 98, 97], [96, 95, 94]]},
        MATCHING: {"val_errors": [[89, 91, 90], [87, 88, 89]], "test_errors": [[93, 94, 95], [91, 92, 93]]},
    }
    result = {"arms": arms, "chosen": CONSISTENT, "chosen_test_errors": [96, 95, 94], "epochs": 2, "n_validation": 9}
    assert choice_sentence(result).startswith(
        "Chosen: consistent teaching (the cheapest of consistent teaching, function matching, within noise of each "
        "other on the validation images). Its test errors after 2 epochs: 95.0 (range 94-96, 3 seeds)"
    )
    lines = consistency.errors_table(result).splitlines()
    assert lines[0].count("|") == 8 and "function matching: validation" in lines[0]
    assert lines[-1].startswith("| 2 | - | - | 89.0 (range 88-90) |")  # the fixed arm stopped after epoch 1
    alone = {**result, "arms": {MATCHING: arms[MATCHING]}, "chosen": MATCHING}
    assert choice_sentence(alone).startswith("Trained: function matching alone (nothing to choose between")
