"""`python -m kdviz ...` on the real MNIST files (conftest's mnist_dir: skipped with one reason when they are
missing and cannot be downloaded)."""

import json
from dataclasses import asdict

import numpy as np
import pytest

from kdviz.__main__ import main
from kdviz.mnist.data import load_mnist
from kdviz.mnist.teacher_store import cache_path, file_sha256, load_weights_file
from kdviz.mnist.train import TeacherConfig, count_errors, logits_of, to_inputs, to_labels
from kdviz.mnist.workspace import TEACHER_PRESETS

# One-epoch students are for speed, not trust: the warning that clipping steered them is expected here.
UNTRUSTWORTHY = "ignore:the student with T=.* is not trustworthy:kdviz.mnist.train.TrainingWarning"
tiny_students = pytest.mark.filterwarnings(UNTRUSTWORTHY)


@pytest.fixture
def data_dir(mnist_dir):
    return str(mnist_dir)


def test_fetch_verifies_a_local_folder(data_dir, capsys):
    assert main(["fetch", "--dir", data_dir]) == 0
    out = capsys.readouterr().out
    assert out.count("verified") == 4 and "MNIST is ready" in out


@tiny_students
@pytest.mark.parametrize("seeds", [1, 2])
def test_distill_reports_one_result_per_seed_and_a_verdict(data_dir, seeds, capsys):
    args = ["distill", "--preset", "quick", "--hidden", "30", "--epochs", "1", "--seeds", str(seeds)]
    assert main([*args, "--data-dir", data_dir, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    for key in ("student", "distilled"):
        errors = result[f"{key}_errors"]
        assert len(errors) == seeds and all(0 <= e <= 10000 for e in errors)
        assert result[f"{key}_errors_mean"] == pytest.approx(np.mean(errors))
        assert result[f"{key}_errors_sd"] == pytest.approx(np.std(errors, ddof=1) if seeds > 1 else 0.0, abs=0.01)
    assert result["seeds"] == list(range(seeds)) and result["teacher_source"] in {"shipped", "cache", "trained"}
    assert ("single seed" in result["verdict"]) == (seeds == 1)


@tiny_students
def test_record_lab_writes_every_setting_of_its_grid_with_the_date_and_machine(data_dir, tmp_path, capsys):
    from kdviz.course.lab_record import read_lab_record, result_of

    out = tmp_path / "lab_run.json"
    args = ["record-lab", "--T", "20", "2", "--alpha", "0", "0.5", "--hidden", "30", "--out", str(out)]
    assert main([*args, "--data-dir", data_dir]) == 0
    record = read_lab_record(out)
    assert record["grid"] == {"T": [2.0, 20.0], "alpha": [0.0, 0.5], "hidden": [30]}
    assert record["mode"] == "quick" and record["epochs"] == 1 and record["command"].startswith("python -m kdviz")
    errors = [result_of(record, T, 0.5, 30) for T in (2.0, 20.0)]
    assert all(len(e) == 3 and all(0 <= n <= 10000 for n in e) for e in errors)
    assert "3 settings x 3 seeds" in capsys.readouterr().out


@tiny_students
def test_consistency_saves_both_arms_and_prints_the_choice(data_dir, tmp_path, capsys):
    save = tmp_path / "run.json"
    args = ["consistency", "--preset", "quick", "--hidden", "20", "--epochs", "2", "--seeds", "2"]
    assert main([*args, "--validation", "8000", "--data-dir", data_dir, "--save", str(save)]) == 0
    out = capsys.readouterr().out
    result = json.loads(save.read_text())
    assert result["complete"] and result["n_train"] == 2000 and result["n_validation"] == 8000
    for arm in ("fixed targets", "consistent teaching"):
        assert np.shape(result["arms"][arm]["val_errors"]) == (2, 2) and np.shape(
            result["arms"][arm]["test_errors"]
        ) == (2, 2)
    assert result["command"].startswith("python -m kdviz consistency --preset quick")
    assert f"Chosen: {result['chosen']}" in out and result["verdict"] in out
    assert [path.name for path in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind


@tiny_students
def test_consistency_trains_function_matching_against_consistent_teaching(data_dir, tmp_path, capsys):
    save = tmp_path / "run.json"
    args = ["consistency", "--preset", "quick", "--hidden", "20", "--epochs", "1", "--seeds", "2", "--images", "2000"]
    args += ["--arms", "matching", "consistent", "--transfer-mixup", "0.5", "--validation", "500", "--alpha", "1"]
    assert main([*args, "--data-dir", data_dir, "--save", str(save)]) == 0
    out = capsys.readouterr().out
    result = json.loads(save.read_text())
    assert list(result["arms"]) == ["consistent teaching", "function matching"] and "fixed targets" not in out
    assert (result["n_train"], result["n_validation"], result["transfer_mixup"]) == (1500, 500, 0.5)
    assert result["complete"] and np.shape(result["arms"]["function matching"]["val_errors"]) == (1, 2)
    assert result["verdict"] in out and f"Chosen: {result['chosen']}" in out


@tiny_students
def test_consistency_trains_one_chosen_arm_on_every_image_and_labels_its_test_errors(data_dir, tmp_path, capsys):
    args = ["consistency", "--preset", "quick", "--alpha", "1", "--hidden", "20", "--epochs", "1", "--images", "2000"]
    assert main([*args, "--arms", "matching", "--validation", "0", "--data-dir", data_dir, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["n_train"], result["n_validation"], result["chosen"]) == (2000, 0, "function matching")
    assert result["arms"]["function matching"]["val_errors"] == [] and len(result["chosen_test_errors"]) == 1
    assert "chose nothing" in result["verdict"]


@tiny_students
def test_a_stopped_consistency_run_keeps_every_finished_epoch_in_a_whole_file(data_dir, tmp_path, monkeypatch, capsys):
    """Ctrl-C while the third epoch's errors are being written: the file keeps the first two, whole, marked
    incomplete; no temporary file is left; the command says where the curve is and exits 130."""
    from kdviz import _files

    real_replace, calls = _files.os.replace, []

    def replace_then_stop(source, target):
        calls.append(target)
        if len(calls) == 3:
            raise KeyboardInterrupt
        real_replace(source, target)

    monkeypatch.setattr(_files.os, "replace", replace_then_stop)
    save = tmp_path / "run.json"
    args = ["consistency", "--preset", "quick", "--alpha", "1", "--hidden", "20", "--epochs", "3", "--images", "1000"]
    assert (
        main([*args, "--arms", "matching", "--validation", "500", "--data-dir", data_dir, "--save", str(save)]) == 130
    )
    assert f"interrupted: every epoch finished so far is in {save}" in capsys.readouterr().err
    result = json.loads(save.read_text())
    assert not result["complete"] and len(result["arms"]["function matching"]["val_errors"]) == 2
    assert result["command"].startswith("python -m kdviz consistency") and result["torch"]
    assert [path.name for path in tmp_path.iterdir()] == ["run.json"]


TINY_TEACHER = TeacherConfig(hidden=100, epochs=4, n_train=500, batch_size=25)  # a few seconds on a CPU


def test_teacher_trains_and_exports_float16_weights_and_a_record_that_matches_them(
    data_dir, tmp_path, monkeypatch, capsys
):
    """The whole `teacher` command on real MNIST, with the small preset shrunk to a tiny teacher."""
    monkeypatch.setitem(TEACHER_PRESETS, "small", TINY_TEACHER)
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path / "cache"))  # the command also caches what it trained
    out = tmp_path / "out"
    assert main(["teacher", "--preset", "small", "--data-dir", data_dir, "--out", str(out)]) == 0
    record = json.loads((out / "small_teacher.json").read_text())
    assert record["command"] == f"python -m kdviz teacher --preset small --data-dir {data_dir} --out {out}"
    assert record["config"] == asdict(TINY_TEACHER)
    assert record["weights_sha256"] == file_sha256(out / "small_teacher.pt")
    assert cache_path(TINY_TEACHER).exists()
    model = load_weights_file(TINY_TEACHER, out / "small_teacher.pt")
    mnist = load_mnist(data_dir, download=False)
    errors = int(
        count_errors(logits_of(model, to_inputs(mnist.test_images, "cpu")), to_labels(mnist.test_labels, "cpu"))
    )
    assert record["test_errors"] == errors and f"{errors} test errors" in capsys.readouterr().out
    assert errors < 6000  # it learned something (chance: about 9,000 errors)


@tiny_students
def test_sweep_prints_one_error_per_cell(data_dir, capsys):
    args = ["sweep", "--preset", "quick", "--hidden", "30", "--epochs", "1", "--T", "1", "20", "--alpha", "0", "1"]
    assert main([*args, "--data-dir", data_dir, "--json"]) == 0
    grid = json.loads(capsys.readouterr().out)["errors"]
    assert np.shape(grid) == (2, 2, 1)  # T x alpha x seeds
    assert all(0 <= e <= 10000 for e in np.ravel(grid))


def test_bad_arguments_give_a_clear_error(data_dir, capsys):
    assert main(["distill", "--preset", "quick", "--alpha", "1.5", "--data-dir", data_dir, "--epochs", "1"]) == 2
    assert "alpha" in capsys.readouterr().err
