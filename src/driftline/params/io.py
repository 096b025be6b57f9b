"""Reading and writing parameter dicts: ``.npz`` and ``.safetensors``. Nothing is unpickled.

Safetensors files are read with the ``safetensors`` library. They are written here (the format
is an 8-byte little-endian header length, a JSON header, then the raw little-endian tensor
bytes) because ``safetensors.numpy`` cannot represent bfloat16; bfloat16 arrays come from
``ml_dtypes``.
"""

from __future__ import annotations

import io
import json
import mmap as _mmap
import os
import struct
import sys
import zipfile
import zlib
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import IO, Any

import ml_dtypes
import numpy as np
import safetensors

from driftline.errors import InvalidInputError
from driftline.params.identity import Params, dtype_name, le_view, validate_params
from driftline.safefile import atomic_writer

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


def _safetensors_header(
    params: Mapping[str, np.ndarray], metadata: dict[str, str] | None
) -> tuple[bytes, list[str]]:
    """The 8-byte length + JSON header (padded to 8 bytes) and the tensor order (sorted)."""
    validate_params(params)
    header: dict[str, object] = {}
    offset = 0
    order = sorted(params)
    for name in order:
        arr = params[name]
        st = _NP_TO_ST.get(dtype_name(arr.dtype))
        if st is None:
            raise InvalidInputError(f"tensor {name!r}: dtype {arr.dtype} has no safetensors code")
        header[name] = {
            "dtype": st,
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + arr.nbytes],
        }
        offset += arr.nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw, order


def write_safetensors(
    params: Mapping[str, np.ndarray], fh: IO[bytes], metadata: dict[str, str] | None = None
) -> None:
    """Stream ``params`` in the safetensors format to an open binary file: the header, then
    each tensor's little-endian bytes straight from its memory (no whole-file buffer). For a
    file on disk (Linux), the writeback of each big tensor starts as soon as it is written
    (``sync_file_range``), so the caller's final ``fsync`` waits for less, and a read-only
    memory-mapped source tensor's pages are released once written (:func:`release_pages`)."""
    head, order = _safetensors_header(params, metadata)
    fh.write(head)
    offset = len(head)
    start_writeback = _writeback_starter(fh)
    for name in order:
        data = le_view(params[name])
        fh.write(data)
        if start_writeback is not None and data.nbytes >= 1 << 20:
            fh.flush()
            start_writeback(offset, data.nbytes)
            release_pages(params[name])
        offset += data.nbytes


def _writeback_starter(fh: IO[bytes]) -> Any:
    """``f(offset, length)`` starting the asynchronous writeback of that range of ``fh``'s
    file (Linux ``sync_file_range(SYNC_FILE_RANGE_WRITE)``), or None (other systems, or not
    a file on disk). Durability still comes from the caller's ``fsync``."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fd = fh.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return lambda offset, length: call(fd, offset, length, 2)  # 2 = SYNC_FILE_RANGE_WRITE


def safetensors_bytes(
    params: Mapping[str, np.ndarray], metadata: dict[str, str] | None = None
) -> bytes:
    """Serialise ``params`` in the safetensors format (tensors sorted by name)."""
    buf = io.BytesIO()
    write_safetensors(params, buf, metadata)
    return buf.getvalue()


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
    """Write ``params`` to a ``.safetensors`` file atomically: validated first (the header is
    built before the file is opened), then streamed through
    :func:`driftline.safefile.atomic_writer` (unique O_EXCL temporary, fsync, rename;
    directories, devices and symlinks are refused)."""
    _safetensors_header(params, metadata)
    with atomic_writer(path) as fh:
        write_safetensors(params, fh, metadata)
    return Path(path)


def load_safetensors(path: str | os.PathLike, *, mmap: bool = False) -> Params:
    """Read a ``.safetensors`` file: writeable copies, or with ``mmap=True`` read-only arrays
    mapped from the file (no copy; the header is checked by :func:`mmap_safetensors`)."""
    if mmap and sys.byteorder == "little":
        return mmap_safetensors(path)
    return params_from_safetensors_bytes(_read(path))


def mmap_safetensors(path: str | os.PathLike) -> Params:
    """The tensors of a ``.safetensors`` file as read-only ``np.memmap`` views (little-endian
    hosts). The header's dtypes, shapes and offsets must tile the data section exactly."""
    p = Path(path)
    size = p.stat().st_size if p.is_file() else -1
    if size < 8:
        raise InvalidInputError(f"{p}: not a valid safetensors file (too short or missing)")
    with open(p, "rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        if n > size - 8:
            raise InvalidInputError(f"{p}: not a valid safetensors file (header length {n})")
        try:
            header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInputError(f"{p}: not a valid safetensors file ({exc})") from exc
    header.pop("__metadata__", None)
    data = np.memmap(p, dtype=np.uint8, mode="r", offset=8 + n) if size > 8 + n else None
    out: Params = {}
    spans = []
    for name, info in header.items():
        dtype = _ST_TO_NP.get(info.get("dtype"))
        if dtype is None:
            raise InvalidInputError(
                f"{p}: tensor {name!r} has unsupported dtype {info.get('dtype')}"
            )
        start, end = (int(x) for x in info["data_offsets"])
        shape = tuple(int(s) for s in info["shape"])
        if end - start != int(np.prod(shape)) * dtype.itemsize or start < 0 or end > size - 8 - n:
            raise InvalidInputError(f"{p}: tensor {name!r} offsets do not match its shape")
        spans.append((start, end))
        view = data[start:end] if data is not None and end > start else np.empty(0, np.uint8)
        out[name] = view.view(dtype).reshape(shape)
    spans.sort()
    if spans and (
        spans[0][0] != 0
        or any(a[1] != b[0] for a, b in pairwise(spans))
        or spans[-1][1] != size - 8 - n
    ):
        raise InvalidInputError(f"{p}: not a valid safetensors file (tensors do not tile the data)")
    return out


def save_npz(params: Mapping[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Write ``params`` to an uncompressed ``.npz`` (bfloat16 is not representable: use safetensors)."""
    validate_params(params)
    if any(dtype_name(a.dtype) == "bfloat16" for a in params.values()):
        raise InvalidInputError("bfloat16 tensors cannot be stored in .npz; export to .safetensors")
    np.savez(path, **dict[str, Any](params))  # every key an array name (never allow_pickle)
    return Path(path)


def load_npz(path: str | os.PathLike) -> Params:
    """Read a ``.npz`` file with ``allow_pickle=False`` (object arrays are refused)."""
    if not zipfile.is_zipfile(path):  # np.load would take any other bytes for a pickle
        raise InvalidInputError(
            f"{path} is not a .npz archive (numpy.savez writes a zip of .npy arrays); "
            "save the tensors with numpy.savez or safetensors"
        )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: np.array(f[k]) for k in f.files}
    except ValueError as exc:
        raise InvalidInputError(
            f"{path} holds object arrays, which only pickle can read and driftline never "
            "unpickles; save numeric tensors (numpy.savez of number arrays, or safetensors)"
        ) from exc
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InvalidInputError(f"cannot read {path} as .npz: {exc}") from exc


def load_params_file(path: str | os.PathLike, *, mmap: bool = False) -> Params:
    """Load ``.npz``, ``.npy``-free ``.safetensors``, or a PyTorch ``.pt``/``.pth`` state dict
    (``mmap=True``: safetensors tensors are read-only memory maps, see :func:`mmap_safetensors`)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(
            f"no such file: {p}; give the path to a .safetensors, .npz or .pt file"
        )
    suffix = p.suffix.lower()
    if suffix == ".safetensors":
        return load_safetensors(p, mmap=mmap)
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


def release_pages(array: np.ndarray) -> bool:
    """Drop the pages of a read-only, file-mapped ``array`` (``mmap=True`` loads,
    :func:`mmap_safetensors`) from this process's page tables with ``madvise(MADV_DONTNEED)``:
    its resident set shrinks by what the array had touched, the page cache keeps the bytes and
    the next read maps them again. Returns False and does nothing for any other array
    (writeable or copy-on-write memory could lose writes, so it is never released)."""
    span = _mapped_span(array)
    if span is None or not hasattr(_mmap, "MADV_DONTNEED"):
        return False
    mapped, lo, length = span
    mapped.madvise(_mmap.MADV_DONTNEED, lo, length)
    return True


_MADV_POPULATE_READ = 22  # Linux ≥ 5.14; Python 3.11's mmap module does not name it


def prefetch_pages(array: np.ndarray) -> bool:
    """Map all pages of a read-only, file-mapped ``array`` in one call
    (``madvise(MADV_POPULATE_READ)``) instead of one page fault per few pages as it is read;
    False (nothing done) for other arrays or kernels without it."""
    span = _mapped_span(array)
    if span is None or sys.platform != "linux":
        return False
    mapped, lo, length = span
    try:
        mapped.madvise(_MADV_POPULATE_READ, lo, length)
    except OSError:  # EINVAL: kernel older than 5.14
        return False
    return True


def _mapped_span(array: np.ndarray) -> tuple[_mmap.mmap, int, int] | None:
    """``(mmap, page-aligned start, length)`` of a read-only file-mapped array, else None."""
    mapped = _read_only_map(array)
    if mapped is None or array.nbytes == 0:
        return None
    start = array.ctypes.data - np.frombuffer(mapped, np.uint8).ctypes.data
    if start < 0 or start + array.nbytes > len(mapped):
        return None
    lo = start - start % _mmap.PAGESIZE
    return mapped, lo, start + array.nbytes - lo


def _read_only_map(array: np.ndarray) -> _mmap.mmap | None:
    """The read-only ``mmap`` object under ``array`` (through its chain of views), or None."""
    if array.flags.writeable:
        return None
    base: Any = array
    while base is not None and not isinstance(base, _mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is None or base.closed:
        return None
    with memoryview(base) as view:
        return base if view.readonly else None
