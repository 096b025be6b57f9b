"""Content-addressed tensor blobs on the file system.

A blob's key is the SHA-256 of the tensor's little-endian bytes; it lives at
``root/ab/cdef…``. Writes go to a temporary file that is fsynced then renamed, so a reader
sees a whole blob or none; every read re-hashes and refuses bytes that do not match.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from driftline.errors import CorruptBlobError


class BlobStore:
    """Files keyed by the SHA-256 of their content."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / key[:2] / key[2:]

    def has(self, key: str) -> bool:
        return self.path(key).is_file()

    def put(self, data: bytes, key: str | None = None) -> str:
        """Store ``data`` once (idempotent) and return its key."""
        key = key or hashlib.sha256(data).hexdigest()
        target = self.path(key)
        if target.is_file():
            return key
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str, *, context: str = "") -> bytes:
        """Read a blob and verify its hash; a mismatch raises :class:`CorruptBlobError`."""
        where = f" ({context})" if context else ""
        try:
            data = self.path(key).read_bytes()
        except FileNotFoundError as exc:
            raise CorruptBlobError(
                f"blob {key[:12]} is missing{where}; restore the store's blobs/ folder from backup"
            ) from exc
        if hashlib.sha256(data).hexdigest() != key:
            raise CorruptBlobError(
                f"blob {key[:12]} is corrupt{where}: its bytes no longer hash to its key; "
                "restore it from backup or re-register the model"
            )
        return data
