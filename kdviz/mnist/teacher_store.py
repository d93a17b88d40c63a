"""Where a trained teacher is kept: shipped inside the package, or in the disk cache.

The paper teacher ships with kdviz as float16 weights NAME.pt plus a JSON record NAME.json of how it was
made and what it scores (``python -m kdviz teacher --preset paper`` rebuilds both). The record names its
weights and holds their sha256 and a sha256 of its own fields, so that neither the weights nor a recorded
score can change unnoticed; every field is checked before a record is used. Every other teacher
configuration is cached on disk under ``$KDVIZ_CACHE_DIR`` or the per-user cache, keyed by its
configuration, the data and the torch version; each cache file holds the sha256 of its weights.
``KDVIZ_NO_SHIPPED_TEACHER=1`` ignores the shipped teacher, so a user can train their own.
"""

import hashlib
import io
import json
import os
import re
import stat
import tempfile
import time
import warnings
from dataclasses import asdict
from pathlib import Path

import torch

from .. import _files
from ..runmode import env_flag, env_folder
from .data import data_fingerprint
from .models import mlp_weights, teacher_mlp

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "teachers"  # package data of kdviz
CACHE_FORMAT = 2  # a cache file holds {"weights": state dict, "sha256": weights_sha256 of it}
STALE_SECONDS = 3600  # a temporary file this old was left by a save that was killed
MAX_RECORD_BYTES = 1 << 16
RECORD_FIELDS = {
    "config": dict,
    "data": str,
    "preset": str,
    "weights_file": str,
    "weights_sha256": str,
    "test_errors": int,
    "record_sha256": str,
}


class TeacherFileError(ValueError):
    """A teacher file is missing, damaged, or not the file its record describes."""


def rebuild_command(preset="paper"):
    return f"python -m kdviz teacher --preset {preset}"


def file_sha256(path):
    """sha256 of the regular file ``path`` (a FIFO or device is refused, never read)."""
    digest = hashlib.sha256()
    with _files.open_regular(path) as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _size_limit(config, bytes_per_weight):
    """The most bytes a weights file of ``config``'s teacher can take: its weights plus room for the archive."""
    return mlp_weights(config.hidden) * bytes_per_weight + (1 << 20)


def model_from_state(config, state):
    """The teacher of ``config`` with the weights ``state`` (read as float32), in eval mode."""
    model = teacher_mlp(config.hidden, config.dropout_input, config.dropout_hidden)
    model.load_state_dict({name: tensor.float() for name, tensor in state.items()})
    return model.eval()


def _serialize(obj):
    """torch.save into memory, so that every failure to write the file itself (a full disk too) is an OSError."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getbuffer()


def _load_state(data):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")  # torch's note on random bytes
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


# ---- the shipped teacher ----------------------------------------------------------------------


def record_sha256(record):
    """sha256 of a record's fields other than ``record_sha256`` itself, as canonical JSON."""
    fields = {key: value for key, value in record.items() if key != "record_sha256"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _parse_json(path):
    try:
        return json.loads(_files.read_regular(path, MAX_RECORD_BYTES))
    except _files.FileTooLarge:
        raise TeacherFileError(f"{path} is larger than a teacher record can be ({MAX_RECORD_BYTES:,} bytes)") from None
    except OSError as err:
        raise TeacherFileError(f"{path} cannot be read: {err.strerror or err}") from None
    except ValueError as err:  # not UTF-8, or not JSON
        raise TeacherFileError(f"{path} is not valid JSON ({err})") from None


def read_record(path):
    """The teacher record in ``path``, checked field by field; a TeacherFileError says what is wrong with it.

    A record NAME.json must name the weights NAME.pt and carry the sha256 of its own fields."""
    path = Path(path)
    record = _parse_json(path)
    if not isinstance(record, dict):
        raise TeacherFileError(f"{path} holds a JSON {type(record).__name__}, not a teacher record")
    for key, kind in RECORD_FIELDS.items():
        if key not in record:
            raise TeacherFileError(f"{path} is not a complete teacher record: it has no {key!r}")
        if not isinstance(record[key], kind) or isinstance(record[key], bool):
            raise TeacherFileError(f"{path}: {key!r} must be a JSON {kind.__name__}, got {record[key]!r}"[:300])
    if record["weights_file"] != f"{path.stem}.pt":
        raise TeacherFileError(f"{path} names the weights {record['weights_file']!r}; it must name {path.stem}.pt")
    if not re.fullmatch("[0-9a-f]{64}", record["weights_sha256"]):
        raise TeacherFileError(f"{path}: 'weights_sha256' is not a sha256 (64 hex digits)")
    if not 0 <= record["test_errors"] <= 10000:
        raise TeacherFileError(f"{path}: 'test_errors' must count errors on 10,000 test images")
    if record["record_sha256"] != record_sha256(record):
        raise TeacherFileError(f"{path} was changed after it was written: its fields do not match its record_sha256")
    return record


def _remedy(preset):
    return (
        f"Reinstall kdviz, rebuild it with `{rebuild_command(preset)}`, "
        "or set KDVIZ_NO_SHIPPED_TEACHER=1 to train a teacher of your own."
    )


def _claimed_by(path, wanted):
    """The preset named by a record that fails its checks, if it was made for ``wanted`` (config and data)."""
    try:
        raw = json.loads(_files.read_regular(path, MAX_RECORD_BYTES))
    except (OSError, ValueError):
        return None
    if isinstance(raw, dict) and all(raw.get(key) == value for key, value in wanted.items()):
        return raw["preset"] if isinstance(raw.get("preset"), str) else "paper"
    return None


def _weights_without_record(folder):
    for weights in sorted(folder.glob("*.pt")):
        if not weights.with_suffix(".json").exists():
            previous = weights.with_name(f".{weights.stem}.json.previous")
            hint = (
                f" An export was interrupted: the previous record is {previous.name} (and .{weights.name}.previous "
                "its weights); rename both back, or export again."
                if previous.exists()
                else ""
            )
            warnings.warn(
                f"the teacher weights {weights} have no record {weights.stem}.json: ignored.{hint}", stacklevel=3
            )


def find_shipped(config, folder=None):
    """(record path, record) of the shipped teacher made with exactly ``config`` on the canonical data, else None.

    None also when ``KDVIZ_NO_SHIPPED_TEACHER`` says yes. A record that fails its checks is skipped with a
    warning, unless it is the record of this teacher: then a TeacherFileError says what is wrong.
    """
    if env_flag("KDVIZ_NO_SHIPPED_TEACHER"):
        return None
    folder = SHIPPED_DIR if folder is None else Path(folder)
    wanted = {"config": asdict(config), "data": data_fingerprint()}
    _weights_without_record(folder)
    for path in sorted(folder.glob("*.json")):
        try:
            record = read_record(path)
        except TeacherFileError as err:
            preset = _claimed_by(path, wanted)
            if preset is not None:
                raise TeacherFileError(f"the shipped teacher's record is damaged: {err}. {_remedy(preset)}") from None
            warnings.warn(f"ignored a file among the shipped teachers: {err}", stacklevel=2)
            continue
        if record["config"] == wanted["config"] and record["data"] == wanted["data"]:
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
    remedy = _remedy(record["preset"])
    try:
        data = _files.read_regular(weights, _size_limit(config, 2))
    except FileNotFoundError:
        raise TeacherFileError(
            f"the shipped teacher {weights} is missing (its record is {record_path}). {remedy}"
        ) from None
    except OSError as err:
        raise TeacherFileError(
            f"the shipped teacher {weights} cannot be used: {err.strerror or err}. {remedy}"
        ) from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != record["weights_sha256"]:
        raise TeacherFileError(
            f"the shipped teacher {weights} is damaged: its sha256 is {actual}, but {record_path.name} records "
            f"{record['weights_sha256']}. {remedy}"
        )
    return model_from_state(config, _load_state(data)), record


def shipped_state(model):
    """``model``'s weights as float16 on the CPU: what ships."""
    return {key: value.detach().to("cpu", torch.float16) for key, value in model.state_dict().items()}


def write_shipped(state, folder, name, record):
    """Write ``state`` as folder/NAME.pt and ``record``, completed with the weights' file name and sha256 and
    its own sha256, as folder/NAME.json; return the completed record.

    Both are written to temporary files first. Then a previous pair is moved aside (its record first), the
    weights are put in place and the record last, so a record never names weights it does not match; on a
    failure the previous pair is put back. (A process killed between those renames leaves weights without a
    record, which find_shipped reports, and the previous pair as .NAME.json.previous and .NAME.pt.previous.)
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    blob = _serialize(state)
    record = {**record, "weights_file": f"{name}.pt", "weights_sha256": hashlib.sha256(blob).hexdigest()}
    record["record_sha256"] = record_sha256(record)
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    pair = [(folder / f"{name}.pt", blob), (folder / f"{name}.json", text.encode())]
    staged, moved, placed = [], [], []
    try:
        for target, content in pair:
            staged.append((_write_temporary(target, content), target))
        for target, _ in reversed(pair):
            if target.exists() or target.is_symlink():
                previous = target.with_name(f".{target.name}.previous")
                os.replace(target, previous)
                moved.append((target, previous))
        for tmp, target in staged:
            os.replace(tmp, target)
            placed.append(target)
    except BaseException:
        _restore(placed, moved)
        raise
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    for _, previous in moved:
        previous.unlink(missing_ok=True)
    return record


def _restore(placed, moved):
    """Undo a failed export: remove the new files put in place, put the previous pair back."""
    for target in placed:
        target.unlink(missing_ok=True)
    for target, previous in moved:
        os.replace(previous, target)


def load_weights_file(config, path):
    """A teacher from a weights file written by ``write_shipped`` (float16 read back as float32)."""
    return model_from_state(config, _load_state(_files.read_regular(path, _size_limit(config, 2))))


# ---- the disk cache ---------------------------------------------------------------------------


def cache_dir():
    """Where trained teachers are kept: ``$KDVIZ_CACHE_DIR`` or the per-user cache."""
    folder = env_folder("KDVIZ_CACHE_DIR")
    if folder is not None:
        return folder
    import pooch

    return Path(pooch.os_cache("kdviz")) / "teachers"


def cache_path(config):
    """The cache file of one teacher configuration (configuration, data, torch version and file format in the key)."""
    key = {**asdict(config), "data": data_fingerprint(), "torch": torch.__version__, "format": CACHE_FORMAT}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_dir() / f"teacher-{digest[:16]}.pt"


def weights_sha256(state):
    """sha256 over a state dict's names, dtypes, shapes and bytes, in name order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}\n".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _write_bytes(path, data):
    with open(path, "wb") as handle:
        handle.write(data)


def _write_temporary(target, data):
    """``data`` in a new temporary file .NAME.<random>.tmp beside ``target``, with the usual permissions; its path.

    The name is unique to this call, so two processes saving the same file never share a temporary file."""
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        _write_bytes(tmp, data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; give it the usual permissions
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def _remove_stale_temporaries(target):
    """Delete temporary files of ``target`` older than STALE_SECONDS: left by saves that were killed."""
    for tmp in target.parent.glob(f".{target.name}.*.tmp"):
        try:
            if time.time() - tmp.lstat().st_mtime > STALE_SECONDS:
                tmp.unlink()
        except OSError:  # another process removed or replaced it first
            pass


def _save_atomically(obj, path):
    """Write ``obj`` to a temporary file, then rename it over ``path``: readers never see half a file."""
    tmp = _write_temporary(path, _serialize(obj))
    try:
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


class _Damaged(Exception):
    """A cache file that torch reads but that is not the teacher it should be."""


def _cached_model(config, data):
    stored = _load_state(data)
    if not (isinstance(stored, dict) and set(stored) == {"weights", "sha256"}):
        raise _Damaged("it is not a kdviz teacher cache file")
    if weights_sha256(stored["weights"]) != stored["sha256"]:
        raise _Damaged("its weights do not match the sha256 stored with them: the file is damaged")
    return model_from_state(config, stored["weights"])


def _why_damaged(data, err):
    """What is wrong with a cache file that could be read, in plain words (torch's own messages suggest unsafe
    remedies)."""
    if isinstance(err, _Damaged):
        return str(err)
    if not data:
        return "it is empty"
    if "state_dict" in str(err) or isinstance(err, KeyError):
        return "it holds weights of another network shape"
    return "it is truncated or is not a file of PyTorch weights"


def _in_the_way(path, kind):
    return (
        f"the teacher cache file {path} is {kind}, which kdviz leaves alone: move or delete it "
        "(or set KDVIZ_CACHE_DIR to another folder) to cache this teacher."
    )


def _unreadable(path, err):
    return (
        f"the cached teacher {path} cannot be read ({err.strerror or err}), and kdviz leaves it alone: fix its "
        "permissions to use it (or set KDVIZ_CACHE_DIR to another folder)."
    )


def load_cached(config):
    """The cached teacher for ``config``, or None. A file whose content is damaged (its hash included) is moved
    aside, never over anything, with a warning naming both paths, and None is returned so it is retrained.
    A path that is not a regular file (a folder, a FIFO), or that this user may not read, is left alone, with a
    warning."""
    path = cache_path(config)
    if path.is_dir():
        warnings.warn(_in_the_way(path, "a folder") + " A new teacher will be trained now.", stacklevel=2)
        return None
    try:
        data = _files.read_regular(path, _size_limit(config, 4))
    except (FileNotFoundError, NotADirectoryError):  # nothing cached (a link to nothing; the cache is a file)
        return None
    except _files.NotRegularFile as err:
        warnings.warn(_in_the_way(path, err.kind) + " A new teacher will be trained now.", stacklevel=2)
        return None
    except _files.FileTooLarge:
        data, reason = None, "it is larger than a teacher of this size can be"
    except OSError as err:
        warnings.warn(_unreadable(path, err) + " A new teacher will be trained now.", stacklevel=2)
        return None
    else:
        try:
            return _cached_model(config, data)
        except Exception as err:  # truncated, empty, random bytes or wrong shapes: each torch error differs
            reason = _why_damaged(data, err)
    try:
        where = f"moved it to {_files.move_aside(path)}"
    except OSError as move_err:
        where = f"could not move it aside ({move_err.strerror or move_err}); delete it by hand"
    warnings.warn(
        f"the cached teacher {path} could not be read ({reason}); {where}, and a new one will be trained",
        stacklevel=2,
    )
    return None


def _left_alone(path):
    """Why a path where the cache file belongs must not be replaced, or None when it may be."""
    try:
        mode = path.stat().st_mode
    except OSError:  # nothing there (or a link to nothing)
        return None
    if not stat.S_ISREG(mode):
        return _in_the_way(path, _files.kind(mode))
    if not os.access(path, os.R_OK):
        return _unreadable(path, PermissionError(13, "permission denied"))
    return None


def save_cached(model, config):
    """Cache ``model`` for ``config``; return the path, or None with a warning if it cannot be written there.

    The trained model is never lost: on failure it stays in memory and only the cache copy is missing.
    """
    path = cache_path(config)
    kept = "the trained teacher is kept for this session only."
    problem = _left_alone(path)
    if problem:
        warnings.warn(f"{problem} Until then {kept}", stacklevel=2)
        return None
    state = {key: value.detach().cpu() for key, value in model.state_dict().items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        _save_atomically({"weights": state, "sha256": weights_sha256(state)}, path)
        return path
    except OSError as err:
        warnings.warn(
            f"could not cache the teacher in {path.parent} ({err.strerror or err}); {kept} "
            "Set KDVIZ_CACHE_DIR to a writable folder with free space to keep it.",
            stacklevel=2,
        )
        return None
