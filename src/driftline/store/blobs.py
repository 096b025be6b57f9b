"""Content-addressed tensor blobs on the file system.

A blob's key is the SHA-256 of the tensor's little-endian bytes; it lives at
``root/ab/cdef…``. Writes go to a unique temporary file (``.tmp-*``, created with O_EXCL in the
blob's folder) that is fsynced then renamed, and the folder is fsynced, so a reader sees a
whole blob or none; every read re-hashes and refuses bytes that do not match.

Interface shared with the object-store backend: ``put``, ``get``, ``exists``, ``keys``,
``delete``, ``verify``, ``temporaries`` and ``remove_temporary``. ``put`` of a key whose stored
copy is corrupt replaces it; ``put`` of a key already stored refreshes its modification time,
which :func:`driftline.store.maintenance.gc` reads as "in use" during its grace period.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from driftline.errors import CorruptBlobError
from driftline.safefile import fsync_dir

TMP_PREFIX = ".tmp-"
_KEY_RE = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Files keyed by the SHA-256 of their content."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        if not _KEY_RE.fullmatch(key):
            raise CorruptBlobError(f"{key[:70]!r} is not a blob key (64 lowercase hex characters)")
        return self.root / key[:2] / key[2:]

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    has = exists

    def put(self, data: bytes, key: str | None = None) -> str:
        """Store ``data`` once and return its key (SHA-256 of ``data``). A stored copy that is
        intact is kept (its mtime refreshed); a corrupt or missing one is (re)written."""
        key = key or hashlib.sha256(data).hexdigest()
        target = self.path(key)
        if self._touch_if_intact(target, key):
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{os.getpid()}-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_dir(target.parent)
        return key

    def _touch_if_intact(self, target: Path, key: str) -> bool:
        try:
            if _sha256_file(target) != key:
                return False
            os.utime(target)
        except FileNotFoundError:  # absent, or removed by gc meanwhile: write it
            return False
        return True

    def get(self, key: str, *, context: str = "") -> bytes:
        """Read a blob and verify its hash; a mismatch raises :class:`CorruptBlobError`."""
        where = f" ({context})" if context else ""
        try:
            data = self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise CorruptBlobError(
                f"blob {key[:12]} is missing{where}; restore the store's blobs/ folder from backup"
            ) from exc
        if hashlib.sha256(data).hexdigest() != key:
            raise CorruptBlobError(
                f"blob {key[:12]} is corrupt{where}: its bytes no longer hash to its key; "
                "restore it from backup or re-register the model"
            )
        return data

    def verify(self, key: str) -> bool:
        """True when the blob exists and its bytes hash to ``key``."""
        try:
            return _sha256_file(self.path(key)) == key
        except (FileNotFoundError, IsADirectoryError):
            return False

    def keys(self) -> Iterator[str]:
        """Every stored key (files named like blobs; temporaries are not keys)."""
        for sub in sorted(self.root.iterdir()):
            if len(sub.name) != 2 or not sub.is_dir():
                continue
            for f in sorted(sub.iterdir()):
                key = sub.name + f.name
                if _KEY_RE.fullmatch(key) and f.is_file():
                    yield key

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def age(self, key: str) -> float:
        """Seconds since the blob was last written or re-put (inf when absent)."""
        try:
            return time.time() - self.path(key).stat().st_mtime
        except FileNotFoundError:
            return float("inf")

    def temporaries(self, older_than_seconds: float) -> list[str]:
        """Names (relative to the root) of leftover temporary files: older than the limit and
        not from a process still running here (``.tmp-PID-*``; a live writer's file is kept)."""
        now, out = time.time(), []
        for f in self.root.glob(f"*/{TMP_PREFIX}*"):
            try:
                if now - f.stat().st_mtime > older_than_seconds and not _writer_alive(f.name):
                    out.append(f.relative_to(self.root).as_posix())
            except FileNotFoundError:  # renamed into place meanwhile
                continue
        return sorted(out)

    def remove_temporary(self, name: str) -> None:
        path = self.root / name
        if not path.name.startswith(TMP_PREFIX) or path.parent.parent != self.root:
            raise ValueError(f"{name!r} is not a temporary blob file")
        path.unlink(missing_ok=True)


def _writer_alive(name: str) -> bool:
    """Whether the process named in a temporary file's name (``.tmp-PID-…``) still runs."""
    pid = name[len(TMP_PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, OverflowError):  # gone, or no valid pid
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
