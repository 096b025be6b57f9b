"""Reading local blob files: verified while read, without extra copies.

:func:`mapped` maps a whole blob (read-only, or private copy-on-write) and hashes it;
:func:`read_hashing` reads a small blob in chunks, hashing each while it is in the CPU cache.
Both are used by :meth:`driftline.store.blobs.BlobStore.get_buffer`, which checks the digest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

COPY_ON_WRITE_BYTES = 1 << 20  # smaller blobs are read: a mapping per tiny tensor costs more


def mapped(path: Path, size: int, *, private: bool) -> tuple[Any, str]:
    """The whole file mapped as ``uint8`` (read-only, or ``private``: writeable copy-on-write)
    and the SHA-256 hex of its bytes. The pages the hash touched are then dropped from this
    process's page tables (``MADV_DONTNEED``; nothing has been written yet, so nothing is
    lost): the page cache keeps them and the caller maps them again as it reads. A file no
    longer ``size`` bytes long raises FileNotFoundError (changed under us)."""
    import mmap

    import numpy as np

    with open(path, "rb") as fh:
        try:
            region = mmap.mmap(
                fh.fileno(), 0, access=mmap.ACCESS_COPY if private else mmap.ACCESS_READ
            )
        except ValueError as exc:  # emptied under us
            raise FileNotFoundError(path) from exc
    if len(region) != size:
        region.close()
        raise FileNotFoundError(path)
    digest = hashlib.sha256(region).hexdigest()
    if hasattr(mmap, "MADV_DONTNEED"):
        region.madvise(mmap.MADV_DONTNEED)
    return np.frombuffer(region, dtype=np.uint8), digest


READ_CHUNK = 1 << 20  # hash each chunk right after reading it, while it is in the cache


def read_hashing(path: Path, into: memoryview, *, hashing: bool = True) -> str:
    """Read the file at ``path`` into ``into`` (its exact size) in :data:`READ_CHUNK` pieces,
    hashing each piece while it is still in the CPU cache (one pass over memory instead of
    two); returns the SHA-256 hex (``""`` with ``hashing=False``: read only). A file shorter
    than ``into`` raises FileNotFoundError (truncated under us: treated as missing)."""
    h = hashlib.sha256() if hashing else None
    done, size = 0, len(into)
    with open(path, "rb", buffering=0) as fh:
        while done < size:
            got = fh.readinto(into[done : done + READ_CHUNK])
            if not got:
                raise FileNotFoundError(path)
            if h is not None:
                h.update(into[done : done + got])
            done += got
    return h.hexdigest() if h is not None else ""
