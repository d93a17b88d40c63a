"""MNIST: find, download, verify and parse the four canonical IDX files.

Where the files are looked for, in order: the ``root`` argument, ``$KDVIZ_DATA_DIR``, then a
per-user cache (``pooch.os_cache("kdviz")``). A folder the user names must exist; only the
per-user cache (and ``python -m kdviz fetch``) is made when missing. Each file may be
gzip-compressed (``.gz``) or raw, and is verified by the sha256 of its *decompressed* bytes, so a
recompressed mirror and a local copy pass the same check. Only regular files are read, and neither a
file nor its decompressed content may exceed the size of the official file (a FIFO, /dev/zero or a
gzip bomb is refused, not read). When neither copy verifies, the damaged files are moved aside (never
over another file) and the file is downloaded with pooch, mirror after mirror; nothing else is ever
substituted for MNIST. A path that cannot be read at all (a folder, no permission) is reported and left alone.
"""

import hashlib
import math
import re
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .. import _files
from ..runmode import env_folder

# sha256 of the decompressed IDX bytes of the official release
MNIST_FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# bytes of the decompressed IDX files: a header of 4 + 4 * ndim bytes, then one byte per pixel or label
MNIST_SIZES = {
    "train-images-idx3-ubyte": 16 + 60000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60000,
    "t10k-images-idx3-ubyte": 16 + 10000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10000,
}
MAX_IDX_BYTES = max(MNIST_SIZES.values())
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
IDX_MAGIC = {1: 0x00000801, 3: 0x00000803}  # labels (1-D), images (3-D), unsigned bytes


class MnistCorrupted(ValueError):
    """A data file is truncated, is not IDX, or is not the official content."""


class MnistUnavailable(RuntimeError):
    """The files are missing and could not be downloaded."""


class MnistDownloadFailed(MnistUnavailable):
    """No mirror delivered a verified file; ``reasons`` holds one short reason per mirror."""

    def __init__(self, message, reasons=()):
        super().__init__(message)
        self.reasons = list(reasons)


class MnistUnreadable(MnistUnavailable):
    """A data file's path exists but cannot be read: it is a folder, or permission is denied."""


class Mnist(NamedTuple):
    train_images: np.ndarray  # uint8 (60000, 28, 28)
    train_labels: np.ndarray  # int64 (60000,)
    test_images: np.ndarray  # uint8 (10000, 28, 28)
    test_labels: np.ndarray  # int64 (10000,)


def user_cache_dir():
    """The per-user cache folder, the one place kdviz makes a data folder without being asked."""
    import pooch

    return Path(pooch.os_cache("kdviz")) / "mnist"


def default_dir(root=None):
    """The folder MNIST is read from: ``root``, else ``$KDVIZ_DATA_DIR``, else the user cache."""
    if root is not None:
        if not str(root).strip():
            raise MnistUnavailable("the MNIST folder is an empty name: give a folder (or None for the default)")
        return Path(root).expanduser()
    return env_folder("KDVIZ_DATA_DIR") or user_cache_dir()


def _read_bytes(path, limit):
    """The bytes of ``path`` (at most ``limit``), or an error saying plainly why there are none."""
    if path.is_dir():
        raise MnistUnreadable(f"{path} is a folder, not an MNIST file; move it out of the way")
    try:
        return _files.read_regular(path, limit)
    except FileNotFoundError:
        if path.is_symlink():
            raise MnistUnreadable(f"{path} is a link to {path.readlink()}, which does not exist") from None
        raise MnistUnavailable(f"{path} does not exist") from None
    except PermissionError:
        raise MnistUnreadable(f"{path} cannot be read: permission denied; fix its permissions (chmod u+r)") from None
    except _files.NotRegularFile as err:
        raise MnistUnreadable(f"{err}; an MNIST file must be a regular file: move it out of the way") from None
    except _files.FileTooLarge as err:
        raise MnistCorrupted(f"{err}; it is not an MNIST file") from None
    except OSError as err:
        raise MnistUnreadable(f"{path} cannot be read: {err.strerror or err}") from None


def _gunzip(path, raw, limit):
    """The decompressed bytes of gzip data (one member or several), refused as soon as they pass ``limit``."""
    data, rest = bytearray(), raw
    try:
        while rest:
            member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
            data += member.decompress(rest, limit + 1 - len(data))
            if len(data) > limit:
                raise MnistCorrupted(f"{path}: decompresses to more than the {limit:,} bytes it should hold")
            if not member.eof:
                raise MnistCorrupted(f"{path}: cannot decompress (it ends early); the file is truncated or damaged")
            rest = member.unused_data.lstrip(b"\0")  # gzip allows zero padding after a member
    except zlib.error as err:
        raise MnistCorrupted(f"{path}: cannot decompress ({err}); the file is truncated or damaged") from err
    return bytes(data)


def read_idx(path, expected_sha256=None, max_bytes=MAX_IDX_BYTES):
    """Parse one IDX file (gzip or raw) into a numpy array, checking its hash, magic number and length.

    Neither the file nor its decompressed content may exceed ``max_bytes`` (the largest MNIST file by
    default). Raises MnistCorrupted for bad content, MnistUnreadable for a path that cannot be read and
    MnistUnavailable for a missing file.
    """
    path = Path(path)
    raw = _read_bytes(path, max_bytes + max_bytes // 100 + 1024)  # gzip can add a little to incompressible bytes
    data = _gunzip(path, raw, max_bytes) if raw[:2] == b"\x1f\x8b" else raw
    if len(data) > max_bytes:
        raise MnistCorrupted(f"{path}: {len(data):,} bytes is more than the {max_bytes:,} it should hold")
    if expected_sha256 is not None:
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha256:
            raise MnistCorrupted(
                f"{path}: sha256 of the decompressed bytes is {actual}, expected {expected_sha256}. "
                "The file is corrupted or is not the official MNIST."
            )
    if len(data) < 4:
        raise MnistCorrupted(f"{path}: {len(data)} bytes is too short for an IDX header")
    ndim = data[3]
    magic = int.from_bytes(data[:4], "big")
    if IDX_MAGIC.get(ndim) != magic:
        raise MnistCorrupted(f"{path}: magic number {magic:#010x} is not an IDX file of unsigned bytes")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MnistCorrupted(f"{path}: {len(data)} bytes is too short for an IDX header of {ndim} dimensions")
    shape = tuple(int.from_bytes(data[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    if 0 in shape:
        raise MnistCorrupted(f"{path}: the header gives shape {shape}, with a dimension of size 0")
    expected = header + math.prod(shape)  # Python integers: no overflow for huge header dimensions
    if len(data) != expected:
        raise MnistCorrupted(f"{path}: expected {expected} bytes for shape {shape} (from its header), got {len(data)}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _local_copies(folder, name):
    return [path for path in (folder / f"{name}.gz", folder / name) if path.exists() or path.is_symlink()]


def _root_cause(err):
    """The innermost exception's message, without an ``[Errno N]`` prefix: 'Name or service not known'
    rather than three nested connection errors that each repeat the URL."""
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__
    return re.sub(r"^\[Errno -?\d+\] ", "", str(err)) or type(err).__name__


def _download(folder, name):
    import pooch

    errors, reasons = [], []
    for mirror in MIRRORS:
        try:
            fetched = pooch.retrieve(
                mirror + f"{name}.gz", known_hash=None, fname=f"{name}.gz", path=folder, progressbar=True
            )
            read_idx(fetched, MNIST_FILES[name], MNIST_SIZES.get(name, MAX_IDX_BYTES))
            return Path(fetched)
        except MnistCorrupted as err:
            Path(folder, f"{name}.gz").unlink(missing_ok=True)
            reasons.append("a mirror served a damaged copy")
            errors.append(f"{mirror}: {err}")
        except Exception as err:  # network errors come in many types
            reasons.append(_root_cause(err))
            errors.append(f"{mirror}: {reasons[-1]}")
    raise MnistDownloadFailed(
        f"could not download {name}.gz into {folder}:\n  " + "\n  ".join(errors) + "\n"
        "To fix this: on a machine with internet access run `python -m kdviz fetch --dir DIR`, "
        "copy DIR here and set KDVIZ_DATA_DIR=DIR (or pass --data-dir DIR on the command line, "
        "root=DIR to load_mnist). DIR must hold the four files "
        + ", ".join(f"{n}.gz" for n in MNIST_FILES)
        + " (gzip or raw).",
        reasons,
    )


def _sentence(err):
    return str(err).rstrip(".") + "."


def _named_by(root):
    """Who named the data folder: 'root=', '$KDVIZ_DATA_DIR', or None for the per-user cache."""
    if root is not None:
        return "root="
    return "$KDVIZ_DATA_DIR" if env_folder("KDVIZ_DATA_DIR") else None


def _check_folder(folder, create, named_by=None):
    """An existing folder passes; a missing one is made only if ``create``, else it is an error naming it."""
    source = f" (from {named_by})" if named_by else ""
    if folder.is_dir():
        return
    if folder.exists():
        raise MnistUnavailable(f"the MNIST folder {folder}{source} is a file, not a folder")
    if not create:
        raise MnistUnavailable(
            f"the MNIST folder {folder}{source} does not exist. Check the name, or make it and fill it with "
            f"`python -m kdviz fetch --dir {folder}`."
        )
    folder.mkdir(parents=True, exist_ok=True)


def ensure_file(name, folder, download=True, create=False):
    """Path of a verified copy of one MNIST file in ``folder`` (NAME.gz, else raw NAME), downloading it if allowed.

    ``folder`` must exist, except that it is made when downloading with ``create=True`` (the fetch
    command) or when it is the per-user cache. Damaged copies are moved aside only to make room
    for a download; a path that cannot be read (a folder, no permission) is never touched.
    """
    folder = Path(folder)
    _check_folder(folder, create=download and (create or folder == user_cache_dir()))
    damaged, unreadable = [], []
    for path in _local_copies(folder, name):
        try:
            read_idx(path, MNIST_FILES[name], MNIST_SIZES.get(name, MAX_IDX_BYTES))
        except MnistCorrupted as err:
            damaged.append((path, err))
        except MnistUnavailable as err:  # unreadable, or a link to nothing
            unreadable.append(err)
        else:
            for err in [err for _, err in damaged] + unreadable:
                warnings.warn(f"{_sentence(err)} Using the verified {path} instead.", stacklevel=2)
            return path
    if unreadable:
        raise MnistUnreadable(" ".join(_sentence(err) for err in unreadable) + " Nothing was changed.")
    if damaged and not download:
        raise MnistCorrupted(
            " ".join(_sentence(err) for _, err in damaged)
            + " Move it away and fetch MNIST again (`python -m kdviz fetch`), or allow downloading."
        )
    if not download:
        raise MnistUnavailable(
            f"{name}(.gz) is not in {folder} and download=False. Set KDVIZ_DATA_DIR (or root=) to a "
            "folder holding the four MNIST files, or allow downloading, or run `python -m kdviz fetch`."
        )
    for path, err in damaged:
        try:
            aside = _files.move_aside(path)
        except OSError as move_err:
            raise MnistCorrupted(
                f"{_sentence(err)} It could not be moved aside to make room for a fresh copy "
                f"({move_err.strerror or move_err}): move or delete it yourself, or fetch MNIST into a folder "
                "you can write (`python -m kdviz fetch --dir DIR`)."
            ) from None
        warnings.warn(f"{_sentence(err)} Moved it to {aside}; downloading a fresh copy.", stacklevel=2)
    return _download(folder, name)


def load_mnist(root=None, download=True):
    """The official MNIST split as uint8 images and int64 labels (an ``Mnist`` named tuple).

    A folder named by ``root`` or ``$KDVIZ_DATA_DIR`` must exist; the per-user cache is made when needed.
    """
    folder, named_by = default_dir(root), _named_by(root)
    _check_folder(folder, create=download and named_by is None, named_by=named_by)
    arrays = {
        name: read_idx(ensure_file(name, folder, download), MNIST_FILES[name], MNIST_SIZES.get(name, MAX_IDX_BYTES))
        for name in MNIST_FILES
    }
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
    folder, named_by = default_dir(root), _named_by(root)
    if named_by and not folder.is_dir():
        return f"the MNIST folder {folder} (from {named_by}) does not exist: loading will fail until it does"
    missing = [name for name in MNIST_FILES if not _local_copies(folder, name)]
    if not missing:
        return f"MNIST found in {folder} (each file is verified when loaded)"
    return f"MNIST is not in {folder} yet: {len(missing)} file(s) will be downloaded and verified on first use (~11 MB)"
