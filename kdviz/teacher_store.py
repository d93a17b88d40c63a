"""Where a trained teacher is kept: shipped inside the package, or in the disk cache.

The paper teacher ships with kdviz as float16 weights plus a JSON record of how it was made and
what it scores (``python -m kdviz teacher --preset paper`` rebuilds both); its sha256 is checked
before every load. Every other teacher configuration is cached on disk under ``$KDVIZ_CACHE_DIR``
or the per-user cache, keyed by its configuration, the data and the torch version.
``KDVIZ_NO_SHIPPED_TEACHER=1`` ignores the shipped teacher, so a user can train their own.
"""

import hashlib
import io
import json
import os
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from .data import data_fingerprint
from .models import teacher_mlp

SHIPPED_DIR = Path(__file__).resolve().parent / "teachers"


class TeacherFileError(ValueError):
    """A teacher file is missing, damaged, or not the file its record describes."""


def rebuild_command(preset="paper"):
    return f"python -m kdviz teacher --preset {preset}"


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def _model_from_state(config, state):
    model = teacher_mlp(config.hidden, config.dropout_input, config.dropout_hidden)
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    return model.eval()


# ---- the shipped teacher ----------------------------------------------------------------------


def shipped_records(folder=None):
    """(record path, record) for every shipped teacher: one JSON file beside each weights file."""
    folder = SHIPPED_DIR if folder is None else Path(folder)
    for path in sorted(folder.glob("*.json")):
        yield path, json.loads(path.read_text())


def find_shipped(config, folder=None):
    """The shipped record made with exactly ``config`` on the canonical data, else None.

    None also when ``KDVIZ_NO_SHIPPED_TEACHER`` is set.
    """
    if _env_flag("KDVIZ_NO_SHIPPED_TEACHER"):
        return None
    for path, record in shipped_records(folder):
        if record.get("config") == asdict(config) and record.get("data") == data_fingerprint():
            return path, record
    return None


def load_shipped(config, folder=None):
    """(model, record) of the shipped teacher for ``config``, its sha256 checked first; None if none ships.

    A missing or damaged weights file raises TeacherFileError naming the file and the command that rebuilds it.
    """
    found = find_shipped(config, folder)
    if found is None:
        return None
    record_path, record = found
    weights = record_path.with_name(record["weights_file"])
    remedy = (
        f"Reinstall kdviz, rebuild it with `{rebuild_command(record.get('preset', 'paper'))}`, "
        "or set KDVIZ_NO_SHIPPED_TEACHER=1 to train a teacher of your own."
    )
    if not weights.is_file():
        raise TeacherFileError(f"the shipped teacher {weights} is missing (its record is {record_path}). {remedy}")
    actual = file_sha256(weights)
    if actual != record["weights_sha256"]:
        raise TeacherFileError(
            f"the shipped teacher {weights} is damaged: its sha256 is {actual}, but {record_path.name} records "
            f"{record['weights_sha256']}. {remedy}"
        )
    return _model_from_state(config, _load_state(weights)), record


def write_shipped(model, config, folder, name):
    """Save ``model``'s weights as float16 to folder/name.pt (never half-written); return (path, sha256)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {key: value.detach().to("cpu", torch.float16) for key, value in model.state_dict().items()}
    path = folder / f"{name}.pt"
    _save_atomically(state, path)
    return path, file_sha256(path)


def load_weights_file(config, path):
    """A teacher from a weights file written by ``write_shipped`` (float16 read back as float32)."""
    return _model_from_state(config, _load_state(path))


def write_record(record, path):
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# ---- the disk cache ---------------------------------------------------------------------------


def cache_dir():
    """Where trained teachers are kept: ``$KDVIZ_CACHE_DIR`` or the per-user cache."""
    if os.environ.get("KDVIZ_CACHE_DIR"):
        return Path(os.environ["KDVIZ_CACHE_DIR"]).expanduser()
    import pooch

    return Path(pooch.os_cache("kdviz")) / "teachers"


def cache_path(config):
    """The cache file of one teacher configuration (configuration, data and torch version in the key)."""
    key = json.dumps({**asdict(config), "data": data_fingerprint(), "torch": torch.__version__}, sort_keys=True)
    return cache_dir() / f"teacher-{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def _write_bytes(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


def _save_atomically(state, path):
    """Write ``state`` to a temporary file unique to this call, then rename: readers never see half a file,
    and two processes saving the same teacher never share a temporary file.

    torch.save goes to memory first, so every failure to write (a full disk too) is an OSError."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    os.close(handle)
    try:
        _write_bytes(tmp, buffer.getbuffer())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual permissions
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _aside_name(path):
    """path + '.corrupt', or '.corrupt-2', '-3', ...: a name that does not exist yet."""
    candidate, k = path.with_name(path.name + ".corrupt"), 1
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.name}.corrupt-{k}")
    return candidate


def _why_unreadable(path, err):
    """What is wrong with a weights file, in plain words (torch's own messages suggest unsafe remedies).

    Only a file that open() itself refuses "cannot be read": torch reports a truncated file as an OSError too."""
    try:
        with open(path, "rb") as handle:
            empty = handle.read(1) == b""
    except OSError as open_err:
        return f"it cannot be read: {open_err.strerror or open_err}"
    if empty:
        return "it is empty"
    if "state_dict" in str(err) or isinstance(err, KeyError):
        return "it holds weights of another network shape"
    return "it is truncated or is not a file of PyTorch weights"


def _load_state(path):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # torch's note on random bytes
        return torch.load(path, map_location="cpu", weights_only=True)


def load_cached(config):
    """The cached teacher for ``config``, or None. A cache file that cannot be read is moved aside
    (never overwriting anything) with a warning naming both paths, and None is returned so it is retrained.
    A folder at the cache path is left alone, with a warning."""
    path = cache_path(config)
    if path.is_dir():
        warnings.warn(_folder_in_the_way(path) + " A new teacher will be trained now.", stacklevel=2)
        return None
    if not path.exists():
        return None
    try:
        return _model_from_state(config, _load_state(path))
    except Exception as err:  # truncated, empty, random bytes or wrong shapes: each torch error differs
        reason = _why_unreadable(path, err)
        try:
            aside = _aside_name(path)
            path.rename(aside)
            where = f"moved it to {aside}"
        except OSError as move_err:
            where = f"could not move it aside ({move_err}); delete it by hand"
        warnings.warn(
            f"the cached teacher {path} could not be read ({reason}); {where}, and a new one will be trained",
            stacklevel=2,
        )
        return None


def _folder_in_the_way(path):
    return (
        f"the teacher cache file {path} is a folder, which kdviz leaves alone: move or delete it "
        "(or set KDVIZ_CACHE_DIR to another folder) to cache this teacher."
    )


def save_cached(model, config):
    """Cache ``model`` for ``config``; return the path, or None with a warning if it cannot be written there.

    The trained model is never lost: on failure it stays in memory and only the cache copy is missing.
    """
    path = cache_path(config)
    kept = "the trained teacher is kept for this session only."
    if path.is_dir():
        warnings.warn(f"{_folder_in_the_way(path)} Until then {kept}", stacklevel=2)
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _save_atomically({key: value.detach().cpu() for key, value in model.state_dict().items()}, path)
        return path
    except OSError as err:
        warnings.warn(
            f"could not cache the teacher in {path.parent} ({err.strerror or err}); {kept} "
            "Set KDVIZ_CACHE_DIR to a writable folder with free space to keep it.",
            stacklevel=2,
        )
        return None
