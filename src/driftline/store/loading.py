"""Reading a model's tensors back from their verified blobs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from driftline.errors import DamagedStoreError
from driftline.params import Params
from driftline.params.identity import hash_workers
from driftline.params.io import numpy_dtype
from driftline.store import deltas as delta_store
from driftline.store.blobs import BlobStore
from driftline.store.deltas import Encoding
from driftline.store.models import TensorInfo


def read_tensors(
    blobs: BlobStore,
    infos: Sequence[TensorInfo],
    encoded: Mapping[str, Encoding],
    ref: str,
    *,
    mmap: bool = False,
) -> Params:
    """The tensors of manifest rows ``infos`` of model ``ref``, read in parallel, each straight
    into its tensor's buffer and verified against its hash (``encoded``: the blobs stored as
    deltas or compressed; ``mmap``: read-only memory maps of local blobs, no copy)."""

    def one(info: TensorInfo) -> np.ndarray:
        where = f"model {ref}, tensor {info.name!r}"
        data = delta_store.read_blob(blobs, info.blob, encoded, context=where, mmap=mmap)
        return _tensor(data, info, ref, mapped=mmap)

    with ThreadPoolExecutor(max_workers=hash_workers()) as pool:
        arrays = list(pool.map(one, infos))
    return {info.name: arr for info, arr in zip(infos, arrays, strict=True)}


def _tensor(data: np.ndarray, info: TensorInfo, ref: str, *, mapped: bool) -> np.ndarray:
    """A tensor viewing its verified blob buffer (flat uint8) and shaped by its manifest row
    (a manifest that does not fit the bytes means the database was tampered with). A read-only
    buffer (a download, a read-only map) is copied so that callers get a writeable array
    unless they asked for a memory map (``mapped``)."""
    try:
        arr = data.view(numpy_dtype(info.dtype)).reshape(info.shape)
        if not arr.flags.writeable and not mapped:
            arr = arr.copy()
        return arr
    except (TypeError, ValueError) as exc:
        raise DamagedStoreError(
            f"model {ref}, tensor {info.name!r}: the manifest (dtype {info.dtype}, shape "
            f"{list(info.shape)}) does not fit its blob; run 'driftline fsck' and restore the "
            "database from backup"
        ) from exc
