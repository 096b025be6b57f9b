"""Content-addressed tensor blobs on local disk or any fsspec file system (S3, GCS, ...).

A blob's key is the SHA-256 of its bytes; it lives at ``ROOT/ab/cdef…``. The store is named by a
location: a folder (``/data/blobs``, ``file:///data/blobs``) or an fsspec URL
(``s3://bucket/prefix``, ``gs://…``, ``memory://…``).

Contract (the same on every backend, relied on by ``fsck`` / ``gc``):

* ``put(data) -> key`` is idempotent and atomic. Local disk: a unique temporary name
  ``ab/.tmp-…`` is created exclusively, written, fsynced and renamed over the target (POSIX
  rename is atomic). Object stores (S3, GCS, Azure, memory): one single PUT, which is atomic
  (readers see the whole object or none). Other fsspec file systems: temporary name then move.
  If a copy already exists but no longer hashes to its key, it is replaced.
* ``get(key)`` re-hashes and raises :class:`CorruptBlobError` on a mismatch or a missing blob.
* ``exists``, ``keys`` (every stored key), ``delete``, ``verify`` (bool, never raises on
  corruption), ``temporaries(older_than_seconds)`` (leftovers of interrupted puts) and
  ``remove_temporary(name)``.

Credentials are never part of the location: S3 keys come from the usual AWS environment or
configuration files (``AWS_ACCESS_KEY_ID``, ``AWS_PROFILE``, ``AWS_ENDPOINT_URL``, ...) or from
fsspec's own configuration (``FSSPEC_S3_*``), as the underlying library reads them.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from driftline.errors import BlobStoreError, CorruptBlobError, InvalidInputError
from driftline.store.blob_reads import COPY_ON_WRITE_BYTES, mapped, read_hashing

TMP_PREFIX = ".tmp-"
_KEY_RE = re.compile(r"^[0-9a-f]{64}$")
# fsspec protocols whose single PUT is atomic (an object appears whole or not at all)
_OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory"})


def is_remote(location: str | os.PathLike) -> bool:
    """True for an fsspec URL other than ``file://``."""
    loc = str(location)
    return "://" in loc and not loc.startswith("file://")


def normalise_location(location: str | os.PathLike) -> str:
    """The canonical form recorded in a store's database: an absolute local path or a URL
    without credentials (credentials in a URL are refused: they would end up in the database)."""
    loc = str(location)
    if not is_remote(loc):
        return str(Path(loc.removeprefix("file://")).expanduser().resolve())
    parts = urlsplit(loc)
    if parts.password is not None or (parts.username and parts.scheme in _OBJECT_STORES):
        raise InvalidInputError(
            f"the blob URL {parts.scheme}://…@{parts.hostname}{parts.path} carries credentials; "
            "remove them and use the library's usual environment or config instead "
            "(for S3: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE)"
        )
    return loc.rstrip("/")


def _check_key(key: str) -> str:
    if not _KEY_RE.match(key):
        raise InvalidInputError(f"{key!r} is not a blob key (64 lowercase hex digits)")
    return key


def _sha(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore:
    """Blobs keyed by the SHA-256 of their content, on local disk or an fsspec file system.

    Local folders use ``os`` directly (no fsspec overhead); anything else goes through
    ``fsspec.core.url_to_fs``. ``check=True`` probes a remote location once at open time so that
    a missing bucket, missing credentials or an unreachable endpoint fail early with one line.
    """

    def __init__(self, location: str | os.PathLike, *, check: bool = True) -> None:
        self.location = normalise_location(location)
        self.fs: Any = None
        if not is_remote(self.location):
            self.root: Any = Path(self.location)
            self.root.mkdir(parents=True, exist_ok=True)
            self.atomic_put = True
            return
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - fsspec ships with dask/s3fs
            raise BlobStoreError(
                "blobs in an object store need fsspec: pip install 'driftline[s3]'"
            ) from exc
        protocol = urlsplit(self.location).scheme
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.location, **_defaults(protocol))
        except (ImportError, ValueError) as exc:
            raise BlobStoreError(
                f"cannot open blob store {self.location}: {_first_line(exc)}; for s3:// URLs "
                "pip install 'driftline[s3]'"
            ) from exc
        self.atomic_put = protocol in _OBJECT_STORES
        if check:
            self.check()

    def __repr__(self) -> str:
        return f"BlobStore({self.location!r})"

    # ------------------------------------------------------------------ paths
    def path(self, key: str) -> Any:
        """Where a key is stored: a :class:`Path` on local disk, an fsspec path otherwise."""
        if self.fs is None:
            return self.root / key[:2] / key[2:]
        return f"{self.root}/{key[:2]}/{key[2:]}"

    def _rel(self, full: str) -> str:
        return full[len(str(self.root)) :].lstrip("/")

    # ------------------------------------------------------------------ health
    def check(self) -> None:
        """Probe the location (list it); a failure raises :class:`BlobStoreError`, one line."""
        if self.fs is None:
            if not os.access(self.root, os.W_OK):
                raise BlobStoreError(f"blob folder {self.root} is not writable")
            return
        bucket = str(self.root).split("/", 1)[0]
        try:
            self.fs.invalidate_cache()
            self.fs.ls(bucket, detail=False)
        except Exception as exc:  # noqa: BLE001 - any backend error becomes one clear line
            raise self._error("reach", exc) from exc

    def _error(self, what: str, exc: BaseException) -> BlobStoreError:
        creds = "check the credentials in the environment (AWS_ACCESS_KEY_ID / AWS_PROFILE)"
        if isinstance(exc, FileNotFoundError):
            hint = "the bucket or prefix does not exist; create it first"
        elif isinstance(exc, PermissionError) or "Credentials" in type(exc).__name__:
            hint = f"access denied: {creds}"
        else:
            hint = "check the URL and that the endpoint is reachable"
        return BlobStoreError(
            f"cannot {what} blob store {self.location}: {type(exc).__name__}: "
            f"{_first_line(exc)} ({hint})"
        )

    # ------------------------------------------------------------------ the interface
    def exists(self, key: str) -> bool:
        if self.fs is None:
            return self.path(key).is_file()
        return bool(self.fs.exists(self.path(key)))

    has = exists  # older name

    def put(self, data: bytes | memoryview, key: str | None = None) -> str:
        """Store ``data`` once (idempotent, atomic) and return its key; a corrupt existing copy
        is replaced. ``key``, when given, must be the SHA-256 of ``data`` (the caller already
        hashed it); ``data`` may be any buffer, e.g. :func:`~driftline.params.identity.le_view`."""
        key = _sha(data) if key is None else _check_key(key)
        if self.fs is None:
            if self._touch_if_intact(self.path(key), key):
                return key
        elif self.exists(key) and self.verify(key):
            return key
        try:
            if self.fs is None:
                self._put_local(key, data)
            elif self.atomic_put:
                self.fs.pipe_file(self.path(key), bytes(data))
            else:
                self._put_via_temporary(key, data)
        except OSError as exc:
            if self.fs is None:
                raise
            raise self._error("write to", exc) from exc
        return key

    def _put_local(self, key: str, data: bytes | memoryview) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # O_EXCL, unique; the pid in the name keeps gc off a live writer's file
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
        _fsync_dir(target.parent)

    def _touch_if_intact(self, target: Path, key: str) -> bool:
        """An intact local copy is kept and its mtime refreshed (so ``gc``'s grace period counts
        from the last registration that needed it); absent or corrupt: False (rewrite it)."""
        try:
            if _sha256_file(target) != key:
                return False
            os.utime(target)
        except FileNotFoundError:  # absent, or removed by gc meanwhile: write it
            return False
        return True

    def _put_via_temporary(self, key: str, data: bytes | memoryview) -> None:
        target = self.path(key)
        tmp = f"{self.root}/{key[:2]}/{TMP_PREFIX}{uuid.uuid4().hex}"
        self.fs.makedirs(f"{self.root}/{key[:2]}", exist_ok=True)
        try:
            with self.fs.open(tmp, "xb") as fh:
                fh.write(data)
            self.fs.mv(tmp, target)
        except BaseException:
            if self.fs.exists(tmp):
                self.fs.rm(tmp)
            raise

    def _read(self, key: str) -> bytes:
        if self.fs is None:
            return self.path(key).read_bytes()
        try:
            return bytes(self.fs.cat_file(self.path(key)))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._error("read from", exc) from exc

    def get(self, key: str, *, context: str = "") -> bytes:
        """Read a blob and verify its hash; a mismatch raises :class:`CorruptBlobError`."""
        where = f" ({context})" if context else ""
        try:
            data = self._read(key)
        except FileNotFoundError as exc:
            raise CorruptBlobError(
                f"blob {key[:12]} is missing{where}; restore it from backup into {self.location}"
            ) from exc
        if _sha(data) != key:
            raise CorruptBlobError(
                f"blob {key[:12]} is corrupt{where}: its bytes no longer hash to its key; "
                "restore it from backup or re-register the model"
            )
        return data

    def get_buffer(
        self, key: str, *, context: str = "", mmap: bool = False, verify: bool = True
    ) -> Any:
        """A blob's verified bytes as a flat ``uint8`` numpy array, read without extra copies.

        Local disk: ``mmap=True`` maps the file read-only (pages come from the page cache on
        demand, see :func:`~driftline.store.blob_reads.mapped`). Otherwise a blob of at least
        ``COPY_ON_WRITE_BYTES`` is mapped *private* (copy-on-write): a writeable buffer that
        shares the page cache until a page is written, so a load copies nothing and zeroes no
        fresh memory (blobs are only ever replaced by rename, never rewritten in place, so the
        mapping keeps the verified bytes); a smaller one is read with ``readinto`` into a fresh
        buffer. Object stores: the downloaded bytes. The SHA-256 is checked every time
        (:class:`CorruptBlobError` on a mismatch or a missing blob), unless ``verify=False``:
        then the bytes are read into a fresh writeable buffer unchecked, for a caller that
        verifies what it computes from them (a delta chain's rebuilt tensor)."""
        import numpy as np

        if self.fs is not None:
            if not verify:
                return np.frombuffer(self._read(key), dtype=np.uint8).copy()
            return np.frombuffer(self.get(key, context=context), dtype=np.uint8)
        where = f" ({context})" if context else ""
        path = self.path(_check_key(key))
        try:
            size = path.stat().st_size
            buf: np.ndarray
            if not verify:
                buf = np.empty(size, dtype=np.uint8)
                read_hashing(path, memoryview(buf.data), hashing=False)
                return buf
            if size and (mmap or size >= COPY_ON_WRITE_BYTES):
                buf, digest = mapped(path, size, private=not mmap)
            else:
                buf = np.empty(size, dtype=np.uint8)
                digest = read_hashing(path, memoryview(buf.data))
        except FileNotFoundError as exc:
            raise CorruptBlobError(
                f"blob {key[:12]} is missing{where}; restore it from backup into {self.location}"
            ) from exc
        if digest != key:
            raise CorruptBlobError(
                f"blob {key[:12]} is corrupt{where}: its bytes no longer hash to its key; "
                "restore it from backup or re-register the model"
            )
        return buf

    def verify(self, key: str) -> bool:
        """True if the blob exists and hashes to its key."""
        try:
            return _sha(self._read(key)) == key
        except FileNotFoundError:
            return False

    def delete(self, key: str) -> None:
        """Remove a blob (no error if it is already gone)."""
        _check_key(key)
        if self.fs is None:
            self.path(key).unlink(missing_ok=True)
        elif self.fs.exists(self.path(key)):
            self.fs.rm_file(self.path(key))

    def keys(self) -> Iterator[str]:
        """Every stored key (temporaries and foreign files are skipped)."""
        for rel in self._walk():
            head, _, tail = rel.partition("/")
            key = head + tail
            if len(head) == 2 and "/" not in tail and _KEY_RE.match(key):
                yield key

    def _walk(self) -> Iterator[str]:
        """Relative names of every file under the root."""
        if self.fs is None:
            for sub in sorted(self.root.iterdir()):
                if sub.is_dir():
                    for f in sorted(sub.iterdir()):
                        yield f"{sub.name}/{f.name}"
            return
        self.fs.invalidate_cache()
        try:
            found = self.fs.find(str(self.root))
        except FileNotFoundError:
            return
        for full in sorted(found):
            yield self._rel(full)

    def temporaries(self, older_than_seconds: float = 0.0) -> list[str]:
        """Names (relative to the root) of leftover temporaries older than the given age."""
        cutoff = time.time() - older_than_seconds
        out = []
        for rel in self._walk():
            name = rel.rpartition("/")[2]
            if (
                name.startswith(TMP_PREFIX)
                and self._mtime(rel) <= cutoff
                and not (self.fs is None and _writer_alive(name))
            ):
                out.append(rel)
        return out

    def age(self, key: str) -> float:
        """Seconds since the blob was last written or re-put (inf when absent)."""
        rel = f"{key[:2]}/{key[2:]}"
        if not self.exists(_check_key(key)):
            return float("inf")
        return max(0.0, time.time() - self._mtime(rel))

    def _mtime(self, rel: str) -> float:
        if self.fs is None:
            try:
                return (self.root / rel).stat().st_mtime
            except FileNotFoundError:
                return time.time()
        try:
            m = self.fs.modified(f"{self.root}/{rel}")
            return float(m.timestamp())
        except (NotImplementedError, FileNotFoundError, AttributeError):
            return 0.0

    def remove_temporary(self, name: str) -> None:
        """Delete one temporary returned by :meth:`temporaries` (no error if gone)."""
        if not name.rpartition("/")[2].startswith(TMP_PREFIX) or ".." in name.split("/"):
            raise InvalidInputError(f"{name!r} is not a blob-store temporary")
        if self.fs is None:
            (self.root / name).unlink(missing_ok=True)
        elif self.fs.exists(f"{self.root}/{name}"):
            self.fs.rm_file(f"{self.root}/{name}")


def _writer_alive(name: str) -> bool:
    """Whether the process named in a local temporary's name (``.tmp-PID-…``) still runs."""
    pid = name[len(TMP_PREFIX) :].split("-", 1)[0]
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


def _defaults(protocol: str) -> dict[str, Any]:
    """Storage options that make S3 fail fast instead of retrying for minutes; any
    ``FSSPEC_S3*`` configuration of the user wins."""
    if protocol not in ("s3", "s3a") or any(k.startswith("FSSPEC_S3") for k in os.environ):
        return {}
    return {
        "config_kwargs": {
            "connect_timeout": 5,
            "read_timeout": 30,
            "retries": {"max_attempts": 2, "mode": "standard"},
        }
    }


def _fsync_dir(folder: Path) -> None:
    """fsync a directory so the rename is durable (where the file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems refuse fsync on directories
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.EACCES):
            raise
    finally:
        os.close(fd)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
