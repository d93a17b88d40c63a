"""MNIST: find, download, verify and parse the four canonical IDX files.

Where the files are looked for, in order: the ``root`` argument, ``$KDVIZ_DATA_DIR``, then a
per-user cache (``pooch.os_cache("kdviz")``). Each file may be gzip-compressed (``.gz``) or raw,
and is verified by the sha256 of its *decompressed* bytes, so a recompressed mirror and a local
copy pass the same check. Missing or corrupted files are downloaded with pooch, mirror after
mirror; nothing else is ever substituted for MNIST.
"""

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

# sha256 of the decompressed IDX bytes of the official release
MNIST_FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # labels (1-D), images (3-D), unsigned bytes


class MnistCorrupted(ValueError):
    """A data file is truncated, is not IDX, or is not the official content."""


class MnistUnavailable(RuntimeError):
    """The files are missing and could not be downloaded."""


class Mnist(NamedTuple):
    train_images: np.ndarray  # uint8 (60000, 28, 28)
    train_labels: np.ndarray  # int64 (60000,)
    test_images: np.ndarray  # uint8 (10000, 28, 28)
    test_labels: np.ndarray  # int64 (10000,)


def default_dir(root=None):
    """The folder MNIST is read from: ``root``, else ``$KDVIZ_DATA_DIR``, else the user cache."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("KDVIZ_DATA_DIR"):
        return Path(os.environ["KDVIZ_DATA_DIR"]).expanduser()
    import pooch

    return Path(pooch.os_cache("kdviz")) / "mnist"


def read_idx(path, expected_sha256=None):
    """Parse one IDX file (gzip or raw) into a numpy array, checking its hash, magic number and length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    except (EOFError, OSError, zlib.error) as err:
        raise MnistCorrupted(f"{path}: cannot decompress ({err}); the file is truncated or damaged") from err
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise MnistCorrupted(
                f"{path}: sha256 of the decompressed bytes is {actual}, expected {expected_sha256}. "
                "The file is corrupted or is not the official MNIST; delete it and fetch it again."
            )
    if len(data) < 4:
        raise MnistCorrupted(f"{path}: {len(data)} bytes is too short for an IDX header")
    ndim = data[3]
    magic = int.from_bytes(data[:4], "big")
    if IDX_MAGIC.get(ndim) != magic:
        raise MnistCorrupted(f"{path}: magic number {magic:#010x} is not an IDX file of unsigned bytes")
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    if len(data) != header + int(np.prod(shape)):
        raise MnistCorrupted(
            f"{path}: expected {header + int(np.prod(shape))} bytes for shape {shape}, got {len(data)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _local_copy(folder, name):
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.exists():
            return candidate
    return None


def _download(folder, name):
    import pooch

    errors = []
    for mirror in MIRRORS:
        try:
            fetched = pooch.retrieve(
                mirror + f"{name}.gz", known_hash=None, fname=f"{name}.gz", path=folder, progressbar=True
            )
            read_idx(fetched, MNIST_FILES[name])
            return Path(fetched)
        except MnistCorrupted as err:
            Path(folder, f"{name}.gz").unlink(missing_ok=True)
            errors.append(f"{mirror}: {err}")
        except Exception as err:  # network errors come in many types
            errors.append(f"{mirror}: {type(err).__name__}: {err}")
    raise MnistUnavailable(
        f"could not download {name}.gz into {folder}:\n  " + "\n  ".join(errors) + "\n"
        "To fix this: on a machine with internet access run `python -m kdviz fetch --dir DIR`, "
        "copy DIR here and set KDVIZ_DATA_DIR=DIR (or pass root=DIR). DIR must hold the four files "
        + ", ".join(f"{n}.gz" for n in MNIST_FILES)
        + " (gzip or raw)."
    )


def ensure_file(name, folder, download=True):
    """Path of a verified copy of one MNIST file in ``folder``, downloading it if allowed."""
    path = _local_copy(folder, name)
    if path is not None:
        try:
            read_idx(path, MNIST_FILES[name])
            return path
        except MnistCorrupted:
            if not download:
                raise
            path.rename(path.with_name(path.name + ".corrupt"))
    if not download:
        raise MnistUnavailable(
            f"{name}(.gz) is not in {folder} and download=False. Set KDVIZ_DATA_DIR (or root=) to a "
            "folder holding the four MNIST files, or allow downloading, or run `python -m kdviz fetch`."
        )
    folder.mkdir(parents=True, exist_ok=True)
    return _download(folder, name)


def load_mnist(root=None, download=True):
    """The official MNIST split as uint8 images and int64 labels (an ``Mnist`` named tuple)."""
    folder = default_dir(root)
    arrays = {name: read_idx(ensure_file(name, folder, download), MNIST_FILES[name]) for name in MNIST_FILES}
    return Mnist(
        train_images=arrays["train-images-idx3-ubyte"],
        train_labels=arrays["train-labels-idx1-ubyte"].astype(np.int64),
        test_images=arrays["t10k-images-idx3-ubyte"],
        test_labels=arrays["t10k-labels-idx1-ubyte"].astype(np.int64),
    )


def data_fingerprint():
    """A short key for the data a teacher was trained on: the verified content hashes."""
    return hashlib.sha256("".join(MNIST_FILES.values()).encode()).hexdigest()[:12]


def mnist_status(root=None):
    """One line saying where MNIST will be read from and whether it still has to be downloaded."""
    folder = default_dir(root)
    missing = [name for name in MNIST_FILES if _local_copy(folder, name) is None]
    if not missing:
        return f"MNIST found in {folder} (each file is verified when loaded)"
    return f"MNIST is not in {folder} yet: {len(missing)} file(s) will be downloaded and verified on first use (~11 MB)"
