"""Where a teacher is kept: the shipped file (checked by sha256) and the disk cache (never loses a model)."""

import errno
import os
import re
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


DAMAGE = {
    "empty": (lambda good: b"", "it is empty"),
    "ten zero bytes": (lambda good: b"\x00" * 10, "truncated or is not a file of PyTorch weights"),
    "random bytes": (lambda good: os.urandom(4096), "truncated or is not a file of PyTorch weights"),
    "random bytes after a pickle opcode": (lambda good: b"\x80" + os.urandom(4096), "truncated or is not"),
    "first 500 bytes": (lambda good: good[:500], "truncated or is not a file of PyTorch weights"),
    "first half": (lambda good: good[: len(good) // 2], "truncated or is not a file of PyTorch weights"),
    "zero-filled after 200 bytes": (lambda good: good[:200] + bytes(len(good) - 200), "truncated or is not"),
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_an_unreadable_cache_file_is_moved_aside_without_overwriting_and_retrained(cache, damage):
    path = save_cached(tiny_teacher(), CONFIG)
    make, reason = DAMAGE[damage]
    content = make(path.read_bytes())
    path.write_bytes(content)
    kept = path.with_name(path.name + ".corrupt")
    kept.write_bytes(b"a file the user kept")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert load_cached(CONFIG) is None
    assert len(record) == 1, [str(w.message) for w in record]  # ours alone: no note from torch's unpickler
    message = str(record[0].message)
    assert re.search(rf"{path.name}.*could not be read \(.*{reason}.*moved it to .*\.corrupt-2", message), message
    assert "cannot be read" not in message  # the file opens: it is damaged, not unreadable
    assert "weights_only" not in message  # never the unsafe advice torch's own error gives
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


def test_a_folder_at_the_cache_path_is_left_alone_and_the_teacher_kept(cache):
    path = teacher_store.cache_path(CONFIG)
    path.mkdir(parents=True)
    (path / "notes.txt").write_text("the user's")
    with pytest.warns(UserWarning, match=rf"{path.name} is a folder, which kdviz leaves alone: move or delete it"):
        model, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["source"] == "trained" and info["path"] is None and isinstance(model, torch.nn.Module)
    assert (path / "notes.txt").read_text() == "the user's"
    assert sorted(p.name for p in cache.iterdir()) == [path.name]  # nothing renamed, nothing left behind


def disk_full(path, data):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def test_a_full_disk_warns_naming_the_folder_and_keeps_the_trained_teacher(cache, monkeypatch):
    monkeypatch.setattr(teacher_store, "_write_bytes", disk_full)
    with pytest.warns(UserWarning, match=rf"could not cache the teacher in {re.escape(str(cache))} \(No space left"):
        model, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["source"] == "trained" and info["path"] is None and isinstance(model, torch.nn.Module)
    assert list(cache.iterdir()) == []  # no temporary file left behind


def test_torch_save_writes_nothing_to_disk_itself(cache, monkeypatch):
    """Every write goes through _write_bytes, so every failure to write is an OSError that save_cached catches."""
    written = []
    monkeypatch.setattr(teacher_store, "_write_bytes", lambda path, data: written.append(bytes(data)))
    monkeypatch.setattr(teacher_store.os, "replace", lambda src, dst: None)
    save_cached(tiny_teacher(), CONFIG)
    assert len(written) == 1 and written[0][:2] == b"PK"  # the whole zip archive, handed over in one piece


@pytest.fixture
def teacher_command(cache, monkeypatch, tmp_path):
    """`python -m kdviz teacher --preset small --out OUT` on fake data, with a training run that takes no time."""
    from kdviz import data, train

    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", "1")
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: fake_mnist())
    monkeypatch.setattr(train, "train_teacher", lambda x, y, config, **k: (teacher_mlp(config.hidden).eval(), None))
    out = tmp_path / "out"
    return out, ["teacher", "--preset", "small", "--out", str(out), "--device", "cpu"]


def test_a_failed_export_keeps_the_trained_teacher_in_the_cache_and_says_where(teacher_command, monkeypatch, capsys):
    from kdviz.__main__ import main
    from kdviz.experiments import TEACHER_PRESETS

    out, argv = teacher_command
    real_write = teacher_store._write_bytes
    monkeypatch.setattr(
        teacher_store,
        "_write_bytes",
        lambda path, data: (disk_full if str(out) in str(path) else real_write)(path, data),
    )
    assert main(argv) == 2
    error = capsys.readouterr().err
    cached = teacher_store.cache_path(TEACHER_PRESETS["small"])
    assert f"could not export the teacher to {out / 'small_teacher'}.pt" in error and "No space left" in error
    assert f"cached at {cached}" in error and cached.is_file()


def test_the_export_is_written_before_the_cache(teacher_command, monkeypatch, capsys):
    from kdviz.__main__ import main

    out, argv = teacher_command
    real_write, order = teacher_store._write_bytes, []

    def write(path, data):
        order.append("export" if str(out) in str(path) else "cache")
        real_write(path, data)

    monkeypatch.setattr(teacher_store, "_write_bytes", write)
    assert main(argv) == 0
    assert order == ["export", "cache"]
    assert (out / "small_teacher.pt").is_file() and (out / "small_teacher.json").is_file()
