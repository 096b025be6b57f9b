"""Reading and writing parameter dicts: ``.npz`` and ``.safetensors``. Nothing is unpickled.

Safetensors files are read with the ``safetensors`` library. They are written here (the format
is an 8-byte little-endian header length, a JSON header, then the raw little-endian tensor
bytes) because ``safetensors.numpy`` cannot represent bfloat16; bfloat16 arrays come from
``ml_dtypes``.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import ml_dtypes
import numpy as np
import safetensors

from driftline.errors import InvalidInputError
from driftline.params.identity import Params, dtype_name, le_bytes, validate_params
from driftline.safefile import write_atomic

_ST_TO_NP: dict[str, np.dtype] = {
    "F64": np.dtype("float64"),
    "F32": np.dtype("float32"),
    "F16": np.dtype("float16"),
    "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("int64"),
    "I32": np.dtype("int32"),
    "I16": np.dtype("int16"),
    "I8": np.dtype("int8"),
    "U64": np.dtype("uint64"),
    "U32": np.dtype("uint32"),
    "U16": np.dtype("uint16"),
    "U8": np.dtype("uint8"),
    "BOOL": np.dtype("bool"),
}
_NP_TO_ST = {dtype_name(v): k for k, v in _ST_TO_NP.items()}


def numpy_dtype(name: str) -> np.dtype:
    """numpy dtype from a canonical name, including 'bfloat16'."""
    if name == "bfloat16":
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def safetensors_bytes(
    params: Mapping[str, np.ndarray], metadata: dict[str, str] | None = None
) -> bytes:
    """Serialise ``params`` in the safetensors format (tensors sorted by name)."""
    validate_params(params)
    header: dict[str, object] = {}
    chunks: list[bytes] = []
    offset = 0
    for name in sorted(params):
        arr = params[name]
        st = _NP_TO_ST.get(dtype_name(arr.dtype))
        if st is None:
            raise InvalidInputError(f"tensor {name!r}: dtype {arr.dtype} has no safetensors code")
        data = le_bytes(arr)
        header[name] = {
            "dtype": st,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + b"".join(chunks)


def params_from_safetensors_bytes(data: bytes) -> Params:
    """Parse safetensors bytes into a params dict (copies, writeable)."""
    try:
        items = safetensors.deserialize(data)
    except Exception as exc:  # the library raises its own error types
        raise InvalidInputError(f"not a valid safetensors file: {exc}") from exc
    out: Params = {}
    for name, info in items:
        dtype = _ST_TO_NP.get(info["dtype"])
        if dtype is None:
            raise InvalidInputError(
                f"tensor {name!r}: unsupported safetensors dtype {info['dtype']}"
            )
        arr = np.frombuffer(bytes(info["data"]), dtype=dtype)
        if sys.byteorder == "big":
            arr = arr.byteswap()
        out[name] = arr.copy().reshape(info["shape"])
    return out


def save_safetensors(
    params: Mapping[str, np.ndarray],
    path: str | os.PathLike,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write ``params`` to a ``.safetensors`` file atomically: validated and serialised
    first, then written through :func:`driftline.safefile.write_atomic` (unique O_EXCL
    temporary, fsync, rename; directories, devices and symlinks are refused)."""
    data = safetensors_bytes(params, metadata)
    return write_atomic(path, data)


def load_safetensors(path: str | os.PathLike) -> Params:
    """Read a ``.safetensors`` file."""
    return params_from_safetensors_bytes(_read(path))


def save_npz(params: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write ``params`` to an uncompressed ``.npz`` (bfloat16 is not representable: use safetensors)."""
    validate_params(params)
    if any(dtype_name(a.dtype) == "bfloat16" for a in params.values()):
        raise InvalidInputError("bfloat16 tensors cannot be stored in .npz; export to .safetensors")
    np.savez(path, **params)
    return Path(path)


def load_npz(path: str | os.PathLike) -> Params:
    """Read a ``.npz`` file with ``allow_pickle=False``."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: np.array(f[k]) for k in f.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InvalidInputError(f"cannot read {path} as .npz without pickle: {exc}") from exc


def load_params_file(path: str | os.PathLike) -> Params:
    """Load ``.npz``, ``.npy``-free ``.safetensors``, or a PyTorch ``.pt``/``.pth`` state dict."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(
            f"no such file: {p}; give the path to a .safetensors, .npz or .pt file"
        )
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        return load_safetensors(p)
    if suffix == ".npz":
        return load_npz(p)
    if suffix in {".pt", ".pth", ".bin", ".ckpt"}:
        from driftline.params.torch_adapter import load_checkpoint

        return load_checkpoint(p)
    raise InvalidInputError(
        f"unsupported parameter file {p.name!r}: use .safetensors, .npz, or a PyTorch .pt state dict"
    )


def _read(path: str | os.PathLike) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"no such file: {p}")
    return p.read_bytes()
