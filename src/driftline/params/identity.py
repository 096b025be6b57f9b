"""Canonical model identity.

A model's id is a SHA-256 Merkle root over its tensors sorted by name::

    leaf(name, t) = SHA-256( name ␀ dtype ␀ shape ␀ SHA-256(little-endian bytes of t) )
    id            = SHA-256( leaf_1 ‖ leaf_2 ‖ … )      (leaves in sorted name order)

so identical parameters give the same id whatever the tensor order or source framework, and any
changed bit, shape or dtype changes it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

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


def tensor_hash(array: np.ndarray) -> str:
    """SHA-256 hex of a tensor's little-endian bytes (the blob key)."""
    return hashlib.sha256(le_bytes(array)).hexdigest()


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


def model_id(params: Mapping[str, np.ndarray]) -> str:
    """SHA-256 Merkle root (hex) over the tensors sorted by name."""
    validate_params(params)
    root = hashlib.sha256()
    for name in sorted(params):
        root.update(leaf_hash(name, np.asarray(params[name])))
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
