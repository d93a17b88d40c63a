import gzip
from pathlib import Path

import numpy as np
import pytest

from kdviz.mnist import data
from kdviz.mnist.data import MnistCorrupted, MnistUnavailable, load_mnist, read_idx


def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = magic if magic is not None else data.IDX_MAGIC[array.ndim]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def sha(raw):
    import hashlib

    return hashlib.sha256(raw).hexdigest()


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A folder with four tiny valid IDX files, and MNIST_FILES pointed at their hashes."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, 5),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, 3),
    }
    hashes = {}
    for name, array in arrays.items():
        raw = idx_bytes(array)
        hashes[name] = sha(raw)
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
    monkeypatch.setattr(data, "MNIST_FILES", hashes)
    return tmp_path, arrays


def test_reads_gzip_and_raw_idx_alike(tmp_path):
    images = np.arange(2 * 3 * 4).reshape(2, 3, 4)
    raw = idx_bytes(images)
    (tmp_path / "a").write_bytes(raw)
    (tmp_path / "a.gz").write_bytes(gzip.compress(raw))
    for path in ("a", "a.gz"):
        out = read_idx(tmp_path / path, sha(raw))
        assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, images)


def test_truncated_gzip_names_the_file(tmp_path):
    blob = gzip.compress(idx_bytes(np.zeros((4, 28, 28))))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(MnistCorrupted, match="train-images-idx3-ubyte.gz.*truncated"):
        read_idx(path)


def test_truncated_payload_is_reported(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(10))[:-3])
    with pytest.raises(MnistCorrupted, match="expected 18 bytes"):
        read_idx(path)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(10), magic=0x00000D01))
    with pytest.raises(MnistCorrupted, match="magic number"):
        read_idx(path)


def test_wrong_hash_names_file_and_expected_hash(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros(10)))
    with pytest.raises(MnistCorrupted, match=r"t10k-labels-idx1-ubyte.*expected f{64}"):
        read_idx(path, "f" * 64)


def test_load_from_a_folder_returns_uint8_images_and_int64_labels(tiny_mnist):
    folder, arrays = tiny_mnist
    mnist = load_mnist(folder, download=False)
    assert mnist.train_images.dtype == np.uint8 and mnist.train_images.shape == (5, 28, 28)
    assert mnist.test_labels.dtype == np.int64
    np.testing.assert_array_equal(mnist.train_labels, arrays["train-labels-idx1-ubyte"])


def test_environment_variable_is_the_default_folder(tiny_mnist, monkeypatch):
    folder, _ = tiny_mnist
    monkeypatch.setenv("KDVIZ_DATA_DIR", str(folder))
    assert load_mnist(download=False).test_images.shape == (3, 28, 28)


def test_missing_files_offline_say_how_to_fix_it(tmp_path):
    with pytest.raises(MnistUnavailable, match="KDVIZ_DATA_DIR"):
        load_mnist(tmp_path, download=False)


def test_corrupted_file_offline_is_an_error_not_a_substitute(tiny_mnist):
    folder, _ = tiny_mnist
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.ones(3))))
    with pytest.raises(MnistCorrupted, match="t10k-labels-idx1-ubyte.gz.*expected"):
        load_mnist(folder, download=False)


def test_failed_downloads_try_every_mirror_then_explain(tmp_path, monkeypatch):
    import pooch

    tried = []

    def unreachable(url, **kwargs):
        tried.append(url)
        raise ConnectionError("no route to host")

    monkeypatch.setattr(pooch, "retrieve", unreachable)
    with pytest.raises(MnistUnavailable, match="python -m kdviz fetch --dir"):
        load_mnist(tmp_path, download=True)
    assert len(tried) == len(data.MIRRORS)


def test_corrupted_file_is_fetched_again_when_downloading_is_allowed(tiny_mnist, monkeypatch):
    import pooch

    folder, arrays = tiny_mnist
    name = "train-labels-idx1-ubyte"
    good = (folder / f"{name}.gz").read_bytes()
    (folder / f"{name}.gz").write_bytes(good[:10])
    calls = []

    def mirror(url, known_hash, fname, path, progressbar):
        calls.append(url)
        if len(calls) == 1:  # the first mirror serves a bad copy, the second a good one
            Path(path, fname).write_bytes(gzip.compress(b"not mnist"))
        else:
            Path(path, fname).write_bytes(good)
        return str(Path(path, fname))

    monkeypatch.setattr(pooch, "retrieve", mirror)
    with pytest.warns(UserWarning, match=rf"{name}.gz: cannot decompress.*Moved it to .*downloading a fresh copy"):
        mnist = load_mnist(folder, download=True)
    np.testing.assert_array_equal(mnist.train_labels, arrays[name])
    assert len(calls) == 2 and (folder / f"{name}.gz.corrupt").exists()


def test_real_mnist_matches_the_official_split(mnist_dir):
    mnist = load_mnist(mnist_dir, download=False)
    assert mnist.train_images.shape == (60000, 28, 28) and mnist.test_images.shape == (10000, 28, 28)
    counts = np.bincount(mnist.train_labels)
    np.testing.assert_array_equal(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949])
