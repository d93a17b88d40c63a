"""Files kdviz reads and keeps: regular files only, read with a size cap; damaged files moved aside, never
over another file; documents written atomically (``write_atomically``).

A FIFO, a device (a link to /dev/zero) or a socket where a data or teacher file should be would make a plain
read hang or run until memory is gone; ``open_regular`` refuses them before reading a byte (opening never
blocks), and ``read_regular`` stops at a cap taken from the size the file is known to have.
"""

import os
import stat
import tempfile
from contextlib import contextmanager, suppress


class NotRegularFile(OSError):
    """The path is a FIFO, a device, a socket or a folder, not a regular file; ``kind`` says which."""

    def __init__(self, path, kind):
        super().__init__(f"{path} is {kind}, not a regular file")
        self.kind = kind


class FileTooLarge(OSError):
    """The file is larger than the file it should be could ever be."""


def kind(mode):
    """What a file of this ``st_mode`` is, in words ('a folder', 'a FIFO (named pipe)', ...)."""
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))
    kinds += ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")


@contextmanager
def open_regular(path):
    """``path`` opened for binary reading if it is a regular file (links followed); else NotRegularFile.

    Other failures are the OSError open() raises (FileNotFoundError, PermissionError, ...)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(path, kind(mode))
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def read_regular(path, limit):
    """The bytes of the regular file ``path``, at most ``limit`` of them; a longer file is FileTooLarge."""
    with open_regular(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise FileTooLarge(f"{path} is larger than {limit:,} bytes, the most it can hold")
    return data


def move_aside(path):
    """Rename a damaged file to NAME.corrupt (or .corrupt-2, -3, ...), never over an existing file or link;
    return the new path."""
    k = 1
    while True:
        aside = path.with_name(path.name + (".corrupt" if k == 1 else f".corrupt-{k}"))
        try:
            os.link(path, aside, follow_symlinks=False)  # unlike rename, fails when `aside` exists
        except FileExistsError:
            k += 1
            continue
        except (OSError, NotImplementedError):  # no hard links here: check, then rename
            if aside.exists() or aside.is_symlink():
                k += 1
                continue
            path.rename(aside)
            return aside
        path.unlink()
        return aside


def write_atomically(path, data):
    """Replace ``path`` by ``data`` (str is written as UTF-8) in one step: a temporary file beside it, then
    os.replace. On any failure (a full disk, Ctrl-C) the old file stays whole and the temporary file is removed."""
    path = os.fspath(path)
    data = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    folder, name = os.path.split(path)
    handle, tmp = tempfile.mkstemp(dir=folder or ".", prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            _write_all(out, data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, _usual_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def _write_all(out, data):
    out.write(data)


def _usual_mode(path):
    """The permissions of the file at ``path``, else those a new file gets (mkstemp makes its file private)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
