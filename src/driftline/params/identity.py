"""Canonical model identity.

A model's id is a SHA-256 Merkle root over its tensors sorted by name::

    leaf(name, t) = SHA-256( name ␀ dtype ␀ shape ␀ SHA-256(little-endian bytes of t) )
    id            = SHA-256( leaf_1 ‖ leaf_2 ‖ … )      (leaves in sorted name order)

so identical parameters give the same id whatever the tensor order or source framework, and any
changed bit, shape or dtype changes it.

The per-tensor SHA-256s are computed in parallel (:func:`tensor_hashes`: a thread pool; hashlib
releases the GIL on large buffers) straight from the arrays' memory, without a bytes copy. The
ids are the same as hashing tensor by tensor.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from driftline.errors import InvalidInputError

Params = dict[str, np.ndarray]


def dtype_name(dtype: np.dtype) -> str:
    """Canonical dtype name ('float32', 'bfloat16', 'int64', ...), independent of byte order."""
    return np.dtype(dtype).name


def le_bytes(array: np.ndarray) -> bytes:
    """The array's elements as C-ordered little-endian bytes."""
    a = np.ascontiguousarray(array)
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    return a.tobytes()


def le_view(array: np.ndarray) -> memoryview:
    """The array's little-endian C-order bytes as a flat memoryview: no copy when the array is
    already contiguous and little-endian (a memory-mapped tensor stays mapped)."""
    a = np.asarray(array)
    if a.dtype.byteorder == ">":
        a = a.byteswap().view(a.dtype.newbyteorder("<"))
    a = np.ascontiguousarray(a)
    return memoryview(a.reshape(-1).view(np.uint8))  # type: ignore[arg-type]  # numpy stubs


def tensor_hash(array: np.ndarray) -> str:
    """SHA-256 hex of a tensor's little-endian bytes (the blob key)."""
    return hashlib.sha256(le_view(array)).hexdigest()


_PARALLEL_MIN_BYTES = 1 << 22  # below 4 MiB in total, threads cost more than they save


def hash_workers() -> int:
    """Threads used for hashing and blob I/O: ``DRIFTLINE_IO_THREADS`` or the CPU count (≤ 8)."""
    env = os.environ.get("DRIFTLINE_IO_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, os.cpu_count() or 1))


def io_workers() -> int:
    """Threads for blob writes, which mostly wait on ``fsync``: ``DRIFTLINE_IO_THREADS`` or
    twice the CPU count, between 4 and 8 (one fsync per file stays; they run side by side)."""
    env = os.environ.get("DRIFTLINE_IO_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(4, min(8, 2 * (os.cpu_count() or 1)))


def tensor_hashes(params: Mapping[str, np.ndarray]) -> dict[str, str]:
    """``name -> tensor_hash(t)`` for every tensor, hashed in parallel across tensors."""
    names = list(params)
    total = sum(np.asarray(params[n]).nbytes for n in names)
    if total < _PARALLEL_MIN_BYTES or len(names) < 2 or hash_workers() == 1:
        return {n: tensor_hash(params[n]) for n in names}
    with ThreadPoolExecutor(max_workers=hash_workers()) as pool:
        digests = pool.map(lambda n: tensor_hash(params[n]), names)
        return dict(zip(names, digests, strict=True))


def leaf_hash(name: str, array: np.ndarray, blob: str | None = None) -> bytes:
    """Merkle leaf for one named tensor."""
    blob = blob or tensor_hash(array)
    shape = ",".join(str(int(s)) for s in array.shape)
    text = f"{name}\x00{dtype_name(array.dtype)}\x00{shape}\x00{blob}"
    return hashlib.sha256(text.encode("utf-8")).digest()


def leaf_from_manifest(name: str, dtype: str, shape: tuple[int, ...], blob: str) -> bytes:
    """Merkle leaf from stored manifest fields (same value as :func:`leaf_hash`)."""
    text = f"{name}\x00{dtype}\x00{','.join(str(int(s)) for s in shape)}\x00{blob}"
    return hashlib.sha256(text.encode("utf-8")).digest()


def model_id(params: Mapping[str, np.ndarray], hashes: Mapping[str, str] | None = None) -> str:
    """SHA-256 Merkle root (hex) over the tensors sorted by name (``hashes``: precomputed
    :func:`tensor_hashes`, so a caller that also needs the blob keys hashes once)."""
    validate_params(params)
    hashes = tensor_hashes(params) if hashes is None else hashes
    root = hashlib.sha256()
    for name in sorted(params):
        root.update(leaf_hash(name, np.asarray(params[name]), hashes[name]))
    return root.hexdigest()


def validate_params(params: Mapping[str, np.ndarray]) -> None:
    """Raise InvalidInputError unless ``params`` is a non-empty mapping of str to arrays."""
    if not isinstance(params, Mapping) or not params:
        raise InvalidInputError(
            "parameters must be a non-empty dict of tensor name -> numpy array; "
            "pass a model, a state_dict or a .npz/.safetensors file"
        )
    for name, value in params.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"tensor names must be non-empty strings, got {name!r}")
        if not isinstance(value, np.ndarray):
            raise InvalidInputError(
                f"tensor {name!r} is a {type(value).__name__}, expected a numpy array"
            )
        if value.dtype.kind in "OUSV" and dtype_name(value.dtype) != "bfloat16":
            raise InvalidInputError(
                f"tensor {name!r} has dtype {value.dtype}; only numeric tensors can be stored"
            )
