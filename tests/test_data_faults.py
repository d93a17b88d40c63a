"""Issue #14 for the MNIST files: every fault is named plainly, nothing the user has is overwritten or
renamed unless it is damaged content, a good raw copy beats a damaged .gz, and a folder the user names
is never made behind their back."""

import gzip
import hashlib
import os
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdviz import _files
from kdviz.mnist import data
from kdviz.mnist.data import MnistCorrupted, MnistUnavailable, MnistUnreadable, ensure_file, load_mnist, read_idx

NAME = "t10k-labels-idx1-ubyte"


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    header = data.IDX_MAGIC[array.ndim].to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder with four tiny valid MNIST files (MNIST_FILES pointed at their hashes); no downloads allowed."""
    rng = np.random.default_rng(0)
    shapes = {
        "train-images-idx3-ubyte": (4, 28, 28),
        "train-labels-idx1-ubyte": (4,),
        "t10k-images-idx3-ubyte": (2, 28, 28),
        NAME: (2,),
    }
    hashes = {}
    for name, shape in shapes.items():
        raw = idx_bytes(rng.integers(0, 10, shape))
        hashes[name] = hashlib.sha256(raw).hexdigest()
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(data, "MNIST_FILES", hashes)
    monkeypatch.delenv("KDVIZ_DATA_DIR", raising=False)
    forbid_downloads(monkeypatch)
    return tmp_path


def forbid_downloads(monkeypatch):
    import pooch

    def no_download(*args, **kwargs):
        raise AssertionError("nothing should be downloaded here")

    monkeypatch.setattr(pooch, "retrieve", no_download)


def serve(monkeypatch, payload):
    """pooch.retrieve writes ``payload`` where it is asked to; returns the list of URLs asked for."""
    import pooch

    calls = []

    def mirror(url, known_hash, fname, path, progressbar):
        calls.append(url)
        Path(path, fname).write_bytes(payload)
        return str(Path(path, fname))

    monkeypatch.setattr(pooch, "retrieve", mirror)
    return calls


def snapshot(folder):
    return {p.name: (p.read_bytes() if p.is_file() else "folder") for p in folder.iterdir()}


# --- damaged files are moved aside under a fresh name, never over one --------------------------


@pytest.mark.parametrize("kept", [0, 1, 3])
def test_a_damaged_file_never_replaces_a_kept_corrupt_copy(folder, monkeypatch, kept):
    gz = folder / f"{NAME}.gz"
    good = gz.read_bytes()
    names = [f"{NAME}.gz.corrupt"] + [f"{NAME}.gz.corrupt-{k}" for k in range(2, kept + 1)]
    for k, kept_name in enumerate(names[:kept]):
        (folder / kept_name).write_bytes(f"the user's copy {k}".encode())
    before = snapshot(folder)
    gz.write_bytes(good[:20])  # truncated
    calls = serve(monkeypatch, good)
    with pytest.warns(UserWarning, match="truncated or damaged.*Moved it to"):
        ensure_file(NAME, folder, download=True)
    assert len(calls) == 1
    fresh = f"{NAME}.gz.corrupt" if kept == 0 else f"{NAME}.gz.corrupt-{kept + 1}"
    assert (folder / fresh).read_bytes() == good[:20]
    for kept_name in names[:kept]:
        assert (folder / kept_name).read_bytes() == before[kept_name]
    assert gz.read_bytes() == good


def test_the_fallback_without_hard_links_does_not_overwrite_either(folder, monkeypatch):
    gz = folder / f"{NAME}.gz"
    (folder / f"{NAME}.gz.corrupt").write_bytes(b"kept")
    gz.write_bytes(b"damaged")

    def no_links(src, dst, **kwargs):
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    assert _files.move_aside(gz) == folder / f"{NAME}.gz.corrupt-2"
    assert (folder / f"{NAME}.gz.corrupt").read_bytes() == b"kept"
    assert (folder / f"{NAME}.gz.corrupt-2").read_bytes() == b"damaged" and not gz.exists()


# --- paths that cannot be read are named and left alone ----------------------------------------


@pytest.mark.parametrize("download", [True, False])
def test_a_folder_where_a_file_should_be_is_named_and_left_alone(folder, download):
    gz = folder / f"{NAME}.gz"
    gz.unlink()
    gz.mkdir()
    (gz / "notes.txt").write_text("mine")
    with pytest.raises(MnistUnreadable, match=rf"{NAME}.gz is a folder, not an MNIST file") as caught:
        load_mnist(folder, download=download)
    assert "truncated" not in str(caught.value) and "damaged" not in str(caught.value)
    assert gz.is_dir() and (gz / "notes.txt").read_text() == "mine"
    assert not list(folder.glob("*.corrupt*"))


@pytest.mark.parametrize("download", [True, False])
def test_a_file_without_read_permission_is_named_and_left_alone(folder, monkeypatch, download):
    gz = folder / f"{NAME}.gz"
    content = gz.read_bytes()
    os_open = os.open

    def denied(path, *args, **kwargs):
        if Path(path) == gz:
            raise PermissionError(13, "Permission denied", str(path))
        return os_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(MnistUnreadable, match=rf"{NAME}.gz cannot be read: permission denied"):
        load_mnist(folder, download=download)
    monkeypatch.setattr(os, "open", os_open)
    assert gz.read_bytes() == content and not list(folder.glob("*.corrupt*"))


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files without permission")
def test_a_real_unreadable_file_is_named_and_left_alone(folder):
    gz = folder / f"{NAME}.gz"
    gz.chmod(0)
    try:
        with pytest.raises(MnistUnreadable, match="permission denied"):
            load_mnist(folder, download=True)
        assert gz.exists() and not list(folder.glob("*.corrupt*"))
    finally:
        gz.chmod(0o644)


def test_a_link_to_nothing_is_named_and_left_alone(folder):
    gz = folder / f"{NAME}.gz"
    gz.unlink()
    gz.symlink_to(folder / "gone.gz")
    with pytest.raises(MnistUnreadable, match="is a link to .*gone.gz, which does not exist"):
        load_mnist(folder, download=True)
    assert gz.is_symlink()


# --- a good raw copy is used before giving up or downloading -----------------------------------


@pytest.mark.parametrize("fault", ["truncated", "wrong content", "folder"])
def test_a_good_raw_copy_is_used_when_the_gz_is_bad(folder, fault):
    gz = folder / f"{NAME}.gz"
    raw = gzip.decompress(gz.read_bytes())
    (folder / NAME).write_bytes(raw)
    if fault == "truncated":
        gz.write_bytes(gz.read_bytes()[:15])
    elif fault == "wrong content":
        gz.write_bytes(gzip.compress(idx_bytes([9, 9])))
    else:
        gz.unlink()
        gz.mkdir()
    before = snapshot(folder)
    with pytest.warns(UserWarning, match=rf"{NAME}.gz.*Using the verified .*{NAME} instead") as record:
        for download in (False, True):  # downloads are forbidden by the fixture
            assert ensure_file(NAME, folder, download=download) == folder / NAME
    assert not any("fetch" in str(w.message) for w in record)  # a good copy is in use: nothing to fetch
    with pytest.warns(UserWarning):
        mnist = load_mnist(folder, download=False)
    np.testing.assert_array_equal(mnist.test_labels, np.frombuffer(raw, np.uint8, offset=8))
    assert snapshot(folder) == before  # nothing renamed


def test_both_copies_damaged_offline_names_both(folder):
    (folder / f"{NAME}.gz").write_bytes(b"\x1f\x8b broken")
    (folder / NAME).write_bytes(idx_bytes([1, 2, 3]))
    with pytest.raises(MnistCorrupted, match=rf"{NAME}.gz: cannot decompress.*{NAME}: sha256.*kdviz fetch"):
        ensure_file(NAME, folder, download=False)


# --- IDX headers: every malformed header is a clear MnistCorrupted ------------------------------


def test_a_zero_dimension_is_corrupt(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(np.zeros((0, 28, 28))))
    with pytest.raises(MnistCorrupted, match=r"shape \(0, 28, 28\), with a dimension of size 0"):
        read_idx(path)


def test_huge_header_dimensions_give_the_true_byte_count(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(data.IDX_MAGIC[3].to_bytes(4, "big") + (2**32 - 1).to_bytes(4, "big") * 3 + b"\0" * 10)
    need = 16 + (2**32 - 1) ** 3
    with pytest.raises(MnistCorrupted, match=rf"expected {need} bytes for shape .* got 26"):
        read_idx(path)


def test_a_header_cut_short_is_corrupt(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(data.IDX_MAGIC[3].to_bytes(4, "big") + b"\0\0\0\1")
    with pytest.raises(MnistCorrupted, match="too short for an IDX header of 3 dimensions"):
        read_idx(path)


@given(
    ndim=st.sampled_from([1, 3]),
    dims=st.lists(st.one_of(st.integers(0, 4), st.integers(2**31, 2**32 - 1)), min_size=3, max_size=3),
    extra=st.integers(-5, 5),
    compress=st.booleans(),
)
def test_any_header_parses_exactly_or_is_reported_as_corrupt(tmp_path_factory, ndim, dims, extra, compress):
    shape = tuple(dims[:ndim])
    header = data.IDX_MAGIC[ndim].to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in shape)
    size = max(0, min(np.prod(shape, dtype=object), 64) + extra)  # the right payload size, give or take
    blob = header + bytes(size)
    path = tmp_path_factory.mktemp("idx") / "file"
    path.write_bytes(gzip.compress(blob) if compress else blob)
    try:
        array = read_idx(path)
    except MnistCorrupted as err:
        assert str(path) in str(err)
        assert 0 in shape or size != np.prod(shape, dtype=object)
        assert "expected -" not in str(err)  # byte counts are never negative
        return
    assert array.shape == shape and array.dtype == np.uint8 and 0 not in shape and size == array.size


def test_a_missing_file_is_reported_as_missing(tmp_path):
    with pytest.raises(MnistUnavailable, match="does not exist") as caught:
        read_idx(tmp_path / f"{NAME}.gz")
    assert "decompress" not in str(caught.value)


# --- a folder the user names must exist; only fetch and the per-user cache make one ------------


@pytest.mark.parametrize("download", [True, False])
def test_a_root_that_does_not_exist_is_named_and_not_made(tmp_path, monkeypatch, download):
    forbid_downloads(monkeypatch)
    missing = tmp_path / "no" / "such"
    with pytest.raises(MnistUnavailable, match=rf"MNIST folder {missing} \(from root=\) does not exist"):
        load_mnist(missing, download=download)
    assert not (tmp_path / "no").exists()


def test_a_data_dir_variable_naming_nothing_is_named_and_not_made(tmp_path, monkeypatch):
    forbid_downloads(monkeypatch)
    missing = tmp_path / "typo"
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(missing))
    with pytest.raises(MnistUnavailable, match=r"typo \(from \$KDVIZ_DATA_DIR\) does not exist"):
        load_mnist()
    assert not missing.exists()
    assert "does not exist" in data.mnist_status()


def test_a_root_that_is_a_file_is_named(tmp_path, monkeypatch):
    forbid_downloads(monkeypatch)
    (tmp_path / "file").write_text("x")
    with pytest.raises(MnistUnavailable, match="is a file, not a folder"):
        load_mnist(tmp_path / "file")


def test_ensure_file_makes_its_folder_only_when_asked(folder, monkeypatch, tmp_path_factory):
    good = (folder / f"{NAME}.gz").read_bytes()
    target = tmp_path_factory.mktemp("fetch") / "new" / "dir"
    with pytest.raises(MnistUnavailable, match="does not exist"):
        ensure_file(NAME, target, download=True)
    assert not target.parent.exists()
    serve(monkeypatch, good)
    assert ensure_file(NAME, target, download=True, create=True) == target / f"{NAME}.gz"
    assert (target / f"{NAME}.gz").read_bytes() == good


def test_the_per_user_cache_is_made_on_first_use(folder, monkeypatch, tmp_path_factory):
    cache = tmp_path_factory.mktemp("home") / "cache" / "mnist"
    monkeypatch.setattr(data, "user_cache_dir", lambda: cache)
    payloads = {name: (folder / f"{name}.gz").read_bytes() for name in data.MNIST_FILES}
    import pooch

    def mirror(url, known_hash, fname, path, progressbar):
        Path(path, fname).write_bytes(payloads[fname[: -len(".gz")]])
        return str(Path(path, fname))

    monkeypatch.setattr(pooch, "retrieve", mirror)
    assert load_mnist().test_labels.shape == (2,)
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in data.MNIST_FILES)


# --- issue #24: files that are not regular files, and files larger than MNIST, are never read -----------


def fifo_at(path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this system")
    path.unlink(missing_ok=True)
    os.mkfifo(path)


@contextmanager
def deadline(seconds):
    """Fail with TimeoutError instead of hanging, where signals allow it (POSIX, main thread)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s: it hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("download", [True, False])
def test_a_fifo_in_place_of_a_file_is_named_and_left_alone(folder, download):
    gz = folder / f"{NAME}.gz"
    fifo_at(gz)  # reading it would wait forever for a writer
    with deadline(30), pytest.raises(MnistUnreadable, match=rf"{NAME}.gz is a FIFO \(named pipe\), not a regular file"):
        load_mnist(folder, download=download)
    assert gz.is_fifo() and not list(folder.glob("*.corrupt*"))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_an_endless_device_is_refused_unread(folder):
    gz = folder / f"{NAME}.gz"
    gz.unlink()
    gz.symlink_to("/dev/zero")  # read until memory runs out, before
    with pytest.raises(MnistUnreadable, match="is a character device, not a regular file"):
        load_mnist(folder, download=False)
    assert gz.is_symlink()


def test_a_gzip_bomb_is_refused_after_the_size_of_the_file_it_claims_to_be(folder, monkeypatch):
    import zlib

    def bomb(megabytes):
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        return packer.compress(bytes(megabytes * 2**20)) + packer.flush()  # about 1 kB per MB of zeros

    gz = folder / f"{NAME}.gz"
    gz.write_bytes(bomb(8))  # 8 kB, no larger than the file it claims to be
    decompressed = []
    real = zlib.decompressobj

    def watched(*args, **kwargs):
        inner = real(*args, **kwargs)

        class Watch:
            def decompress(self, data, max_length=0):
                out = inner.decompress(data, max_length)
                decompressed.append(len(out))
                return out

            def __getattr__(self, name):
                return getattr(inner, name)

        return Watch()

    monkeypatch.setattr(zlib, "decompressobj", watched)
    with pytest.raises(MnistCorrupted, match=r"decompresses to more than the 10,008 bytes it should hold"):
        read_idx(gz, data.MNIST_FILES[NAME], data.MNIST_SIZES[NAME])
    assert sum(decompressed) <= data.MNIST_SIZES[NAME] + 1  # never unpacked beyond the cap
    gz.write_bytes(bomb(64))
    with pytest.raises(MnistCorrupted, match="more than the 47,040,016 bytes"):
        read_idx(gz)  # without a name: capped at the largest MNIST file


def test_a_file_larger_than_any_mnist_file_is_not_read(tmp_path):
    path = tmp_path / "images"
    with open(path, "wb") as handle:
        handle.truncate(data.MAX_IDX_BYTES * 2)  # sparse: no disk used
    with pytest.raises(MnistCorrupted, match="larger than"):
        read_idx(path)


def test_a_damaged_file_that_cannot_be_moved_says_it_failed_its_check(folder, monkeypatch):
    gz = folder / f"{NAME}.gz"
    gz.write_bytes(gz.read_bytes()[:20])  # truncated

    def read_only_folder(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(data._files, "move_aside", read_only_folder)
    serve(monkeypatch, b"unused")
    with pytest.raises(MnistCorrupted, match=r"truncated or damaged.*could not be moved aside .*\(Permission denied\)"):
        ensure_file(NAME, folder, download=True)
    assert gz.exists()


@pytest.mark.parametrize("root", ["", "  "])
def test_an_empty_folder_name_is_not_the_current_folder(root, monkeypatch):
    forbid_downloads(monkeypatch)
    with pytest.raises(MnistUnavailable, match="empty name"):
        load_mnist(root)


def test_a_relative_data_dir_is_fixed_when_first_used(tmp_path, monkeypatch):
    (tmp_path / "a" / "mnist").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    monkeypatch.setenv("KDVIZ_DATA_DIR", "mnist-relative-test")
    first = data.default_dir()
    monkeypatch.chdir(tmp_path / "b")
    assert data.default_dir() == first == tmp_path / "a" / "mnist-relative-test"
