"""Writing an output file so that it cannot hurt other files.

:func:`write_atomic` validates the target, writes the bytes to a unique temporary file in the
target's folder (created with ``O_CREAT | O_EXCL``, mode 0600 then the usual 0644 minus umask,
so a symlink or file planted at a guessable name is never followed or reused), fsyncs it,
renames it over the target and fsyncs the folder. The target must be absent or a regular file:
a directory, device, FIFO, socket or symlink is refused. On any failure the temporary file is
removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from driftline.errors import InvalidInputError


def check_target(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it may be (over)written: absent, or an existing regular file
    (not a symlink); its folder must exist."""
    p = Path(path)
    try:
        st = os.lstat(p)
    except FileNotFoundError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = (
            "a directory"
            if stat.S_ISDIR(st.st_mode)
            else ("a symlink" if stat.S_ISLNK(st.st_mode) else "not a regular file")
        )
        raise InvalidInputError(
            f"refusing to write {p}: it is {kind}; give the path of a new or regular file"
        )
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InvalidInputError(f"cannot write {p}: folder {parent} does not exist")
    return p


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Context manager yielding a file object; on success its content replaces ``path``
    atomically (see the module docstring), on error nothing changes."""
    target = check_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:100]}.", suffix=".tmp", dir=target.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        check_target(target)  # still safe to replace (nothing planted meanwhile)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


def write_atomic(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (text as UTF-8) to ``path`` atomically; return the path."""
    with atomic_writer(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        fd = os.open(folder if str(folder) else ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
