"""The trained paper teacher that ships inside the package: its record, its score on the canonical test set,
that a fresh install carries it, and that it loads without training."""

import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from kdviz.mnist import teacher_store
from kdviz.mnist.data import load_mnist
from kdviz.mnist.teacher_store import SHIPPED_DIR, file_sha256, find_shipped, load_shipped, rebuild_command
from kdviz.mnist.train import count_errors, load_or_train_teacher, logits_of, to_inputs, to_labels
from kdviz.mnist.workspace import get_preset, teacher_status

ROOT = Path(__file__).resolve().parent.parent
PAPER = get_preset("paper").teacher
RECORD_KEYS = {
    "config",
    "data",
    "weights_file",
    "weights_sha256",
    "dtype",
    "test_errors",
    "torch",
    "device",
    "seconds",
    "command",
    "preset",
    "record_sha256",
}


@pytest.fixture(autouse=True)
def use_the_shipped_teacher(monkeypatch):
    monkeypatch.delenv("KDVIZ_NO_SHIPPED_TEACHER", raising=False)


@pytest.fixture
def record():
    found = find_shipped(PAPER)
    assert found is not None, f"no shipped teacher for the paper preset in {SHIPPED_DIR}; run `{rebuild_command()}`"
    return found[1]


def test_the_paper_teacher_ships_as_float16_weights_with_a_full_record(record):
    weights = SHIPPED_DIR / record["weights_file"]
    assert RECORD_KEYS <= record.keys()
    assert record["config"] == asdict(PAPER) and record["preset"] == "paper"
    assert record["command"].startswith(rebuild_command("paper"))
    assert record["weights_sha256"] == file_sha256(weights)
    assert record["record_sha256"] == teacher_store.record_sha256(record)  # the recorded test errors are covered
    assert weights.stat().st_size <= 6 * 2**20
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert {tensor.dtype for tensor in state.values()} == {torch.float16}


def test_it_is_the_only_binary_file_in_the_package():
    binaries = [path.name for path in SHIPPED_DIR.iterdir() if path.suffix not in (".json",)]
    assert binaries == ["paper_teacher.pt"]


def test_its_test_errors_on_canonical_mnist_equal_its_record_and_are_at_most_80(record, mnist_dir):
    model, _ = load_shipped(PAPER)
    data = load_mnist(mnist_dir)
    x_test, y_test = to_inputs(data.test_images, "cpu"), to_labels(data.test_labels, "cpu")
    errors = int(count_errors(logits_of(model, x_test), y_test))
    assert errors == record["test_errors"]
    assert errors <= 80


def test_the_paper_teacher_loads_from_the_package_without_training(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path / "empty-cache"))

    def no_training(*args, **kwargs):
        raise AssertionError("the shipped teacher should have been used")

    monkeypatch.setattr("kdviz.mnist.train.train_teacher", no_training)
    assert "ships with kdviz" in teacher_status(get_preset("paper"))
    model, info = load_or_train_teacher(load_mnist(mnist_dir), PAPER, device="cpu", progress=False)
    assert info["source"] == "shipped" and info["path"].endswith("paper_teacher.pt")
    assert not (tmp_path / "empty-cache").exists()  # nothing was trained, so nothing was cached


def test_no_shipped_teacher_flag_leaves_it_out(monkeypatch, tmp_path):
    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", "1")
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(tmp_path))
    assert find_shipped(PAPER) is None and load_shipped(PAPER) is None
    assert teacher_status(get_preset("paper")).startswith("no cached teacher: training it takes about")


def test_a_regular_install_carries_the_teacher(tmp_path, record):
    """`pip install .` (not editable) from a copy of the tracked files: the weights arrive byte for byte."""
    if shutil.which("git") is None:
        pytest.skip("git is needed to list the tracked files")
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True)
    source = tmp_path / "source"
    for name in listed.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    assert (source / "kdviz/teachers" / record["weights_file"]).is_file(), "the teacher is not committed"
    target = tmp_path / "site"
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(target),
        str(source),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    installed = target / "kdviz" / "teachers"
    assert file_sha256(installed / record["weights_file"]) == record["weights_sha256"]
    installed_record = json.loads((installed / record["weights_file"].replace(".pt", ".json")).read_text())
    assert installed_record == record
    assert teacher_store.SHIPPED_DIR != installed  # the check above read the installed copy, not the checkout
