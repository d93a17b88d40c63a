"""`python -m kdviz ...` on the real MNIST files (conftest's mnist_dir: skipped with one reason when they are
missing and cannot be downloaded)."""

import json

import pytest

from kdviz.__main__ import main


@pytest.fixture
def data_dir(mnist_dir):
    return str(mnist_dir)


def test_fetch_verifies_a_local_folder(data_dir, capsys):
    assert main(["fetch", "--dir", data_dir]) == 0
    out = capsys.readouterr().out
    assert out.count("verified") == 4 and "MNIST is ready" in out


def test_quick_distill_beats_the_student_alone(data_dir, capsys):
    assert main(["distill", "--preset", "quick", "--data-dir", data_dir, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"teacher_errors", "student_errors", "distilled_errors", "seconds", "device"} <= result.keys()
    assert result["distilled_errors"] < result["student_errors"]


def test_sweep_prints_one_error_per_cell(data_dir, capsys):
    args = ["sweep", "--preset", "quick", "--hidden", "30", "--epochs", "1", "--T", "1", "20", "--alpha", "0", "1"]
    assert main([*args, "--data-dir", data_dir, "--json"]) == 0
    grid = json.loads(capsys.readouterr().out)["errors"]
    assert len(grid) == 2 and all(len(row) == 2 for row in grid)
    assert all(0 <= e <= 10000 for row in grid for e in row)


def test_bad_arguments_give_a_clear_error(data_dir, capsys):
    assert main(["distill", "--preset", "quick", "--alpha", "1.5", "--data-dir", data_dir, "--epochs", "1"]) == 2
    assert "alpha" in capsys.readouterr().err
