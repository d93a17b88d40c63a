"""The command line checks every argument before loading data or training: one line on stderr, exit 2."""

import subprocess
import sys

import pytest
import torch

from kdviz import data
from kdviz.__main__ import main

BAD = [
    (["distill", "--epochs", "0"], "--epochs"),
    (["distill", "--epochs", "-3"], "--epochs"),
    (["distill", "--hidden", "0"], "--hidden"),
    (["distill", "--hidden", "many"], "--hidden"),
    (["distill", "--T", "inf"], "--T"),
    (["distill", "--T", "0"], "--T"),
    (["distill", "--T", "nan"], "--T"),
    (["distill", "--alpha", "1.5"], "--alpha"),
    (["distill", "--seeds", "0"], "--seeds"),
    (["distill", "--seed", "-1"], "--seed"),
    (["distill", "--seed", "1180591620717411303424"], "--seed"),
    (["sweep", "--seed", "2147483647", "--seeds", "2"], "--seed"),
    (["sweep", "--T", "0"], "--T"),
    (["sweep", "--alpha", "1.5"], "--alpha"),
    (["sweep", "--T", "1", "x"], "--T"),
    (["distill", "--data-dir", "/no/such/folder"], "--data-dir"),
    (["distill", "--device", "tpu"], "--device"),
    (["teacher", "--preset", "huge"], "--preset"),
    (["distill", "--transfer-jitter", "14"], "--transfer-jitter"),
    (["sweep", "--transfer-jitter", "1.5"], "--transfer-jitter"),
    (["nonsense"], "command"),
]
if not torch.cuda.is_available():
    BAD.append((["distill", "--device", "cuda"], "--device"))


@pytest.fixture(autouse=True)
def no_data_may_be_loaded(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("data was loaded before the arguments were checked")

    monkeypatch.setattr(data, "load_mnist", refuse)


@pytest.mark.parametrize("argv, flag", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_a_bad_argument_is_one_line_naming_the_flag_with_exit_2(argv, flag, capsys):
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_a_missing_data_dir_is_not_created(tmp_path, capsys):
    missing = tmp_path / "mnist"
    assert main(["sweep", "--data-dir", str(missing)]) == 2
    assert not missing.exists()
    assert "python -m kdviz fetch --dir" in capsys.readouterr().err


def test_teacher_refuses_to_overwrite_files_in_an_out_folder(tmp_path, capsys):
    (tmp_path / "small_teacher.pt").write_bytes(b"the user's file")
    assert main(["teacher", "--preset", "small", "--out", str(tmp_path)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert (tmp_path / "small_teacher.pt").read_bytes() == b"the user's file"


def test_teacher_refuses_an_out_that_is_a_file_before_training(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("the user's notes")
    assert main(["teacher", "--preset", "small", "--out", str(target)]) == 2  # load_mnist refuses: nothing trained
    assert "is a file, not a folder" in capsys.readouterr().err
    assert target.read_text() == "the user's notes"


def test_the_cli_seed_limit_is_the_training_seed_limit():
    from kdviz import __main__, train

    assert __main__.MAX_SEED == train.MAX_SEED


@pytest.mark.parametrize("command", ["fetch", "teacher", "distill", "sweep"])
def test_help_shows_defaults_in_plain_text(command):
    run = subprocess.run([sys.executable, "-m", "kdviz", command, "--help"], capture_output=True, text=True)
    assert run.returncode == 0
    assert "``" not in run.stdout and "(default: None)" not in run.stdout
    assert "default" in run.stdout


def test_the_distill_help_names_the_seeds_option():
    run = subprocess.run([sys.executable, "-m", "kdviz", "distill", "--help"], capture_output=True, text=True)
    assert "--seeds" in run.stdout and "(default: 1)" in run.stdout


def test_site_refuses_a_folder_that_holds_files_before_any_notebook_runs(tmp_path, capsys):
    (tmp_path / "index.html").write_text("the user's page")
    assert main(["site", "--out", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "index.html").read_text() == "the user's page"
