"""Where a teacher is kept: the shipped file (checked by sha256) and the disk cache (never loses a model)."""

import errno
import json
import os
import re
import threading
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from kdviz.mnist import teacher_store
from kdviz.mnist.data import Mnist, data_fingerprint
from kdviz.mnist.teacher_store import (
    TeacherFileError,
    find_shipped,
    load_cached,
    load_shipped,
    save_cached,
    shipped_state,
    write_shipped,
)
from kdviz.mnist.train import TeacherConfig, load_or_train_teacher, logits_of, teacher_mlp

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
    record = {"preset": "tiny", "config": asdict(CONFIG), "data": data_fingerprint(), "test_errors": 0}
    write_shipped(shipped_state(tiny_teacher()), tmp_path, "tiny_teacher", record)
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
    from kdviz.mnist import data, train

    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", "1")
    monkeypatch.setattr(data, "load_mnist", lambda *a, **k: fake_mnist())
    monkeypatch.setattr(train, "train_teacher", lambda x, y, config, **k: (teacher_mlp(config.hidden).eval(), None))
    out = tmp_path / "out"
    return out, ["teacher", "--preset", "small", "--out", str(out), "--device", "cpu"]


def test_a_failed_export_keeps_the_trained_teacher_in_the_cache_and_says_where(teacher_command, monkeypatch, capsys):
    from kdviz.__main__ import main
    from kdviz.mnist.workspace import TEACHER_PRESETS

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
    assert order == ["export", "export", "cache"]  # the weights and their record, then the cache
    assert (out / "small_teacher.pt").is_file() and (out / "small_teacher.json").is_file()


# --- issue #24: shipped records are checked, written with their weights, and covered by a hash ---------


def test_the_shipped_record_carries_the_sha256_of_its_own_fields(shipped_folder):
    record = json.loads((shipped_folder / "tiny_teacher.json").read_text())
    assert record["record_sha256"] == teacher_store.record_sha256(record)
    assert find_shipped(CONFIG, shipped_folder)[1] == record


def edit_record(folder, change):
    path = folder / "tiny_teacher.json"
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda r: r.update(test_errors=1), "changed after it was written"),  # a score no hash covered
        (lambda r: r.update(weights_file="../elsewhere.pt"), "must name tiny_teacher.pt"),
        (lambda r: r.pop("weights_sha256"), "has no 'weights_sha256'"),
        (lambda r: r.update(test_errors="none"), "'test_errors' must be a JSON int"),
    ],
)
def test_a_damaged_record_of_the_wanted_teacher_is_refused_naming_the_fault(shipped_folder, change, words):
    edit_record(shipped_folder, change)
    with pytest.raises(TeacherFileError, match=rf"record is damaged: .*{words}.*kdviz teacher --preset tiny"):
        load_shipped(CONFIG, shipped_folder)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("notes.json", "{not json"),
        ("list.json", "[1, 2]"),
        ("other.json", json.dumps({"config": {"hidden": 3}, "preset": "other"})),
        ("binary.json", b"\xff\xfe\x00"),
    ],
)
def test_a_stray_json_among_the_shipped_teachers_is_skipped_with_a_warning(shipped_folder, name, content):
    path = shipped_folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.warns(UserWarning, match=rf"ignored a file among the shipped teachers: .*{name}"):
        model, record = load_shipped(CONFIG, shipped_folder)  # every other lookup still works
    assert record["preset"] == "tiny"


def test_weights_without_their_record_are_reported(shipped_folder):
    (shipped_folder / "orphan.pt").write_bytes(b"weights")
    with pytest.warns(UserWarning, match="orphan.pt have no record orphan.json: ignored"):
        assert find_shipped(CONFIG, shipped_folder) is not None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_as_shipped_weights_is_refused_unread(shipped_folder):
    weights = shipped_folder / "tiny_teacher.pt"
    weights.unlink()
    os.mkfifo(weights)
    with pytest.raises(TeacherFileError, match="is a FIFO"):
        load_shipped(CONFIG, shipped_folder)


def test_an_export_that_fails_midway_restores_the_previous_pair(shipped_folder, monkeypatch):
    before = {p.name: p.read_bytes() for p in shipped_folder.iterdir()}
    real_replace = os.replace

    def fail_on_the_record(src, dst):
        if str(src).endswith(".tmp") and str(dst).endswith("tiny_teacher.json"):  # the new record's rename
            raise OSError("interrupted")
        real_replace(src, dst)

    monkeypatch.setattr(teacher_store.os, "replace", fail_on_the_record)
    with pytest.raises(OSError, match="interrupted"):
        write_shipped(shipped_state(tiny_teacher(seed=1)), shipped_folder, "tiny_teacher", {"preset": "tiny"})
    monkeypatch.setattr(teacher_store.os, "replace", real_replace)
    assert {p.name: p.read_bytes() for p in shipped_folder.iterdir()} == before  # no temporary file either
    load_shipped(CONFIG, shipped_folder)


def test_an_export_killed_between_its_renames_never_leaves_a_mismatched_pair(tmp_path, monkeypatch):
    """Whatever rename a killed export did last, the record in place (if any) matches the weights in place."""
    real_replace = os.replace
    record = {"preset": "tiny", "config": asdict(CONFIG), "data": data_fingerprint(), "test_errors": 0}
    for steps in range(4):  # renames done: none; old record aside; old weights aside; new weights in
        folder = tmp_path / str(steps)
        write_shipped(shipped_state(tiny_teacher()), folder, "tiny_teacher", record)
        done = []

        def killed(src, dst, done=done, steps=steps):
            if len(done) == steps:
                raise KeyboardInterrupt  # with _restore switched off, this stands in for SIGKILL
            done.append(dst)
            real_replace(src, dst)

        monkeypatch.setattr(teacher_store.os, "replace", killed)
        monkeypatch.setattr(teacher_store, "_restore", lambda *args: None)
        with pytest.raises(KeyboardInterrupt):
            write_shipped(shipped_state(tiny_teacher(seed=1)), folder, "tiny_teacher", record)
        monkeypatch.undo()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if (folder / "tiny_teacher.json").exists():
                load_shipped(CONFIG, folder)  # the hash matches: never a mismatched pair
            else:
                assert find_shipped(CONFIG, folder) is None
        if steps in (1, 3):  # weights in place without their record: said, with the way back
            assert any(".tiny_teacher.json.previous" in str(w.message) for w in caught), [str(w) for w in caught]


# --- issue #24: the cache is checked by a hash, and what the user has is left alone -------------------


def test_one_flipped_bit_in_the_cached_weights_is_caught(cache):
    path = save_cached(tiny_teacher(), CONFIG)
    stored = torch.load(path, weights_only=True)
    weights = stored["weights"]
    name = sorted(weights)[0]
    flat = weights[name].view(-1).view(torch.int32)
    flat[0] ^= 1 << 20  # one bit of one weight
    torch.save(stored, path)  # a valid file whose content no longer matches its hash
    with pytest.warns(UserWarning, match=r"do not match the sha256 stored with them.*moved it to .*\.corrupt"):
        assert load_cached(CONFIG) is None


def test_a_cached_teacher_this_user_cannot_read_is_left_alone(cache, monkeypatch):
    path = save_cached(tiny_teacher(), CONFIG)
    content = path.read_bytes()
    real_open = os.open

    def denied(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.warns(UserWarning, match="cannot be read \\(Permission denied\\), and kdviz leaves it alone"):
        assert load_cached(CONFIG) is None
    monkeypatch.setattr(os, "open", real_open)
    assert path.read_bytes() == content and not list(cache.glob("*.corrupt*"))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_at_the_cache_path_is_left_alone_and_the_teacher_kept(cache):
    path = teacher_store.cache_path(CONFIG)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    with pytest.warns(UserWarning, match="is a FIFO \\(named pipe\\), which kdviz leaves alone"):
        model, info = load_or_train_teacher(fake_mnist(), CONFIG, device="cpu", progress=False)
    assert info["source"] == "trained" and info["path"] is None and path.is_fifo()


def test_a_later_save_removes_the_temporary_file_of_a_killed_one(cache):
    path = save_cached(tiny_teacher(), CONFIG)
    stale, fresh = (path.with_name(f".{path.name}.{tag}.tmp") for tag in ("killed", "saving"))
    for tmp in (stale, fresh):
        tmp.write_bytes(b"half a file")
    old = time.time() - 2 * teacher_store.STALE_SECONDS
    os.utime(stale, (old, old))
    save_cached(tiny_teacher(), CONFIG)
    assert not stale.exists() and fresh.exists()  # a save in progress elsewhere keeps its file


def test_a_relative_cache_dir_is_fixed_when_first_used(tmp_path, monkeypatch):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "a")
    monkeypatch.setenv("KDVIZ_CACHE_DIR", "relative-teacher-cache")
    first = teacher_store.cache_dir()
    monkeypatch.chdir(tmp_path / "b")
    assert teacher_store.cache_dir() == first == tmp_path / "a" / "relative-teacher-cache"


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_no_shipped_teacher_flag_set_to_no_keeps_the_shipped_teacher(shipped_folder, monkeypatch, value):
    monkeypatch.setenv("KDVIZ_NO_SHIPPED_TEACHER", value)
    assert find_shipped(CONFIG, shipped_folder) is not None
