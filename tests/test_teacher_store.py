"""Where a teacher is kept: the shipped file (checked by sha256) and the disk cache (never loses a model)."""

import os
import threading
import warnings
from dataclasses import asdict

import numpy as np
import pytest
import torch

from kdviz import teacher_store
from kdviz.data import Mnist, data_fingerprint
from kdviz.teacher_store import TeacherFileError, find_shipped, load_cached, load_shipped, save_cached, write_shipped
from kdviz.train import TeacherConfig, load_or_train_teacher, logits_of, teacher_mlp

CONFIG = TeacherConfig(hidden=16, epochs=1, n_train=200)


def tiny_teacher(seed=0):
    torch.manual_seed(seed)
    return teacher_mlp(CONFIG.hidden).eval()


def fake_mnist():
    rng = np.random.default_rng(0)
    return Mnist(
        rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 200),
        rng.integers(0, 256, (50, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 50),
    )


@pytest.fixture
def shipped_folder(tmp_path):
    """A folder holding one shipped teacher for CONFIG: float16 weights and the record beside them."""
    weights, sha256 = write_shipped(tiny_teacher(), CONFIG, tmp_path, "tiny_teacher")
    record = {
        "preset": "tiny",
        "config": asdict(CONFIG),
        "data": data_fingerprint(),
        "weights_file": weights.name,
        "weights_sha256": sha256,
        "test_errors": 0,
    }
    teacher_store.write_record(record, weights.with_suffix(".json"))
    return tmp_path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("KDVIZ_CACHE_DIR", str(folder))
    return folder


def test_shipped_weights_are_float16_and_load_back_as_the_model(shipped_folder):
    model, record = load_shipped(CONFIG, shipped_folder)
    state = torch.load(shipped_folder / "tiny_teacher.pt", weights_only=True)
    assert all(t.dtype == torch.float16 for t in state.values())
    x = torch.randn(5, 784)
    torch.testing.assert_close(logits_of(model, x), logits_of(tiny_teacher(), x), rtol=1e-2, atol=1e-2)
    assert record["preset"] == "tiny"


def test_only_the_configuration_it_was_made_with_uses_the_shipped_teacher(shipped_folder, monkeypatch):
    assert find_shipped(CONFIG, shipped_folder) is not None
    assert find_shipped(TeacherConfig(hidden=16, epochs=2, n_train=200), shipped_folder) is None
    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", "1")
    assert load_shipped(CONFIG, shipped_folder) is None


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "delete"])
def test_a_damaged_shipped_file_is_refused_by_name_with_the_rebuild_command(shipped_folder, damage):
    weights = shipped_folder / "tiny_teacher.pt"
    if damage == "flip a byte":
        blob = bytearray(weights.read_bytes())
        blob[len(blob) // 2] ^= 0xFF
        weights.write_bytes(bytes(blob))
    elif damage == "truncate":
        weights.write_bytes(weights.read_bytes()[:1000])
    else:
        weights.unlink()
    with pytest.raises(TeacherFileError, match=r"tiny_teacher\.pt.*python -m kdviz teacher --preset tiny"):
        load_shipped(CONFIG, shipped_folder)


def test_teachers_are_cached_and_a_second_load_is_the_same_model(cache):
    first, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["source"] == "trained" and not info["cached"]
    second, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["source"] == "cache"
    x = torch.randn(5, 784)
    torch.testing.assert_close(logits_of(first, x), logits_of(second, x))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a non-root POSIX user to refuse writes")
def test_an_unwritable_cache_warns_and_keeps_the_trained_teacher(cache):
    cache.mkdir()
    cache.chmod(0o500)
    try:
        with pytest.warns(UserWarning, match="could not cache the teacher.*kept for this session"):
            model, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    finally:
        cache.chmod(0o700)
    assert info["source"] == "trained" and info["path"] is None and isinstance(model, torch.nn.Module)


def test_a_cache_that_is_a_file_warns_and_keeps_the_trained_teacher(cache):
    cache.write_text("not a folder")  # unusable as a cache (works for root too)
    with pytest.warns(UserWarning, match="could not cache the teacher"):
        model, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["path"] is None and cache.read_text() == "not a folder"


@pytest.mark.parametrize("content", [b"", b"\x00" * 10, os.urandom(4096), "truncated"])
def test_an_unreadable_cache_file_is_moved_aside_without_overwriting_and_retrained(cache, content):
    path = save_cached(tiny_teacher(), CONFIG)
    if content == "truncated":
        content = path.read_bytes()[:500]
    path.write_bytes(content)
    kept = path.with_name(path.name + ".corrupt")
    kept.write_bytes(b"a file the user kept")
    with pytest.warns(UserWarning, match=rf"{path.name}.*could not be read.*moved it to .*\.corrupt-2") as record:
        assert load_cached(CONFIG) is None
    assert "weights_only" not in str(record[0].message)  # never the unsafe advice torch's own error gives
    assert kept.read_bytes() == b"a file the user kept"
    assert path.with_name(path.name + ".corrupt-2").read_bytes() == content and not path.exists()
    _, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["source"] == "trained" and path.exists()


def test_concurrent_saves_of_the_same_teacher_never_collide(cache):
    errors = []

    def save(seed):
        try:
            save_cached(tiny_teacher(seed), CONFIG)
        except Exception as err:  # collect: a thread's exception is otherwise lost
            errors.append(err)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a save that fails would only warn
        threads = [threading.Thread(target=save, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors
    assert load_cached(CONFIG) is not None
    assert [p.name for p in cache.iterdir()] == [teacher_store.cache_path(CONFIG).name]  # no temporary file left
