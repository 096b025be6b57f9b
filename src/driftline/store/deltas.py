"""Delta-compressed, lossless tensor history (the ZipNN idea), chosen per tensor.

A tensor's *logical* blob key stays the SHA-256 of its raw little-endian bytes, so manifests,
Merkle ids and identity are unchanged. What is written to the blob store may instead be an
*encoded* object, recorded in the ``blob_encodings`` table (added to existing stores as a new
table; no migration of old rows is needed: a key without a row is stored raw):

* ``planes-zstd``: the raw bytes regrouped into byte planes (all first bytes of every element,
  then all second bytes, …), zstd-compressed. Exponent bytes of floats are highly repetitive
  and compress well once grouped.
* deltas against the parent's tensor of the same name: the XOR, the bit-pattern difference
  (plain, zigzag, or for floats in signed base-256 digits grouped by exponent), or for a
  child whose float dtype changed the XOR with the parent cast to it. The codecs and their
  numbers are in :mod:`driftline.store.delta_codecs`; rows written with older codecs read.

At register time, each tensor takes the smallest of raw, ``planes-zstd`` and (when the first
parent has a matching tensor) the deltas worth trying for its dtype. A delta's ``depth`` is its base's depth + 1
(a raw or ``planes-zstd`` blob has depth 1), and a delta is only taken while
``depth ≤ DeltaSettings.every``, so a chain is cut by a full copy every *k* versions and a load
reads at most *k* blobs. With ``chain=Chain.KEYFRAME`` each delta is taken against the chain's
full copy (its *keyframe*) instead of the parent: ``depth`` still counts versions since the
keyframe (cut every *k*), but a load reads at most 2 stored objects, at the cost of deltas that
grow with the drift from the keyframe. A load reads the chain's full copy once and applies each
delta above it to that one buffer in place. Every read verifies the reconstructed bytes
against the logical key (the stored objects are not hashed one by one on that path: a wrong
object cannot rebuild a right result); on a mismatch the chain is read again with every stored
object and level checked, and the load fails with a
:class:`~driftline.errors.CorruptBlobError` naming the damaged base or encoded object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa

from driftline.errors import CorruptBlobError, InvalidInputError
from driftline.params.identity import dtype_name, le_view
from driftline.params.io import numpy_dtype
from driftline.store.delta_choice import Candidate, shortlist
from driftline.store.delta_codecs import (
    _WORD,
    EXPONENT,
    Codec,
    Order,
    Rebuild,
    encode,
)
from driftline.store.delta_codecs import decode as decode  # re-exported
from driftline.store.schema import blob_encodings, get_setting, set_setting

if TYPE_CHECKING:
    from driftline.store.blobs import BlobStore


class Chain(StrEnum):
    """What a child's delta is taken against: the parent's tensor, or the chain's keyframe."""

    PARENT = "parent"
    KEYFRAME = "keyframe"


@dataclass(frozen=True)
class DeltaSettings:
    """``every``: longest chain (versions per full copy, ≥ 1; 1 = no deltas, only compression);
    ``level``: zstd level (1: on byte and digit planes of weights it compresses ~4× faster
    than 3, its frames decode faster, and it came out 0.1–1% smaller in the storage
    benchmark); ``min_bytes``: smaller tensors are stored raw; ``chain``: delta against the
    parent (smallest) or the keyframe (loads read ≤ 2 objects)."""

    every: int = 16
    level: int = 1
    min_bytes: int = 1 << 12
    chain: Chain = Chain.PARENT

    def __post_init__(self) -> None:
        if self.every < 1:
            raise InvalidInputError(f"delta chains need every >= 1, got {self.every}")


SETTING = "delta_settings"  # the ``driftline_meta`` key of a store's recorded settings


def stored_settings(conn: sa.Connection) -> DeltaSettings | None:
    """The delta settings recorded in the store (``driftline init --deltas``), or None when
    none are (stores from before, or ``--no-deltas``): tensors are then stored raw."""
    raw = get_setting(conn, SETTING)
    if raw is None:
        return None
    fields = json.loads(raw)
    if not fields.get("enabled", True):
        return None
    return DeltaSettings(
        every=int(fields["every"]),
        level=int(fields["level"]),
        min_bytes=int(fields["min_bytes"]),
        chain=Chain(fields["chain"]),
    )


def record_settings(conn: sa.Connection, settings: DeltaSettings | None) -> None:
    """Record the settings every later open of the store uses (None: store tensors raw)."""
    if settings is None:
        set_setting(conn, SETTING, json.dumps({"enabled": False}))
        return
    fields = {
        "enabled": True,
        "every": settings.every,
        "level": settings.level,
        "min_bytes": settings.min_bytes,
        "chain": str(settings.chain),
    }
    set_setting(conn, SETTING, json.dumps(fields))


@dataclass(frozen=True)
class Encoding:
    """One ``blob_encodings`` row: ``blob`` (logical key) is ``codec``-decoded from ``stored``
    (and ``base``'s bytes for a delta); ``depth`` = its position in its chain (the blobs read
    to rebuild it with :attr:`Chain.PARENT`)."""

    blob: str
    stored: str
    codec: Codec
    base: str | None
    depth: int
    raw_size: int


def encodings(conn: sa.Connection, keys: Iterable[str]) -> dict[str, Encoding]:
    """The ``blob_encodings`` rows of ``keys`` and, transitively, of their bases."""
    found: dict[str, Encoding] = {}
    todo = set(keys)
    while todo:
        rows = conn.execute(sa.select(blob_encodings).where(blob_encodings.c.blob.in_(todo))).all()
        todo = set()
        for r in rows:
            found[r.blob] = Encoding(r.blob, r.stored, Codec(r.codec), r.base, r.depth, r.raw_size)
            if r.base and r.base not in found:
                todo.add(r.base)
    return found


def read_blob(
    blobs: BlobStore,
    key: str,
    encoded: Mapping[str, Encoding],
    *,
    context: str = "",
    mmap: bool = False,
) -> np.ndarray:
    """A logical blob's verified bytes (flat uint8): raw from the store, or rebuilt from its
    encoding and the chain of bases below it, then checked against ``key``.

    What is verified is what is returned: the rebuilt bytes against ``key`` (a wrong stored
    object cannot rebuild a right result), so the stored objects of a chain are read without
    hashing each one. Only when the rebuild fails or mismatches is the chain walked again with
    every stored object and every level verified, so the error names the damaged object (a
    delta base, or the requested blob's own encoded form)."""
    if key not in encoded:
        return blobs.get_buffer(key, context=context, mmap=mmap)
    try:
        out = _rebuild(blobs, key, encoded, context, verify=False).result()
        if _sha256(out) == key:
            return out
    except Exception:  # unchecked objects may decode to anything: looked into just below
        pass
    out = _rebuild(blobs, key, encoded, context, verify=True).result()  # names a damaged object
    if _sha256(out) != key:
        raise CorruptBlobError(
            f"blob {key[:12]} ({context}) does not rebuild to its key from its "
            f"{encoded[key].codec.value} encoding; restore the store's blobs from backup"
        )
    return out


def _rebuild(
    blobs: BlobStore,
    key: str,
    encoded: Mapping[str, Encoding],
    context: str,
    *,
    verify: bool,
    keep_anchor: bool = False,
) -> Rebuild:
    """Read the chain's full copy once, then apply each delta above it in place (grouped
    deltas summed and ungrouped once, see :class:`Rebuild`). ``verify``: check every stored
    object against its key and every intermediate level against its blob key, so that a
    failure below the requested blob names the base it happened in. The returned rebuild holds
    the bytes, a copy of the full copy (for a grouped chain, or when ``keep_anchor``) and the
    grouping order it made of it, if any."""
    levels = [encoded[key]]  # from the requested blob down to its chain's full copy
    while levels[-1].base is not None:
        below = encoded.get(levels[-1].base)
        if below is None:
            break
        levels.append(below)
    grouped = keep_anchor or any(e.codec is Codec.GSUB for e in levels)
    rebuild = Rebuild()
    if levels[-1].base is not None:  # the chain's full copy is stored raw
        with _naming(levels[-1], context):
            raw = blobs.get_buffer(levels[-1].base, context=context, verify=verify)
        rebuild.out = raw if raw.flags.writeable else raw.copy()
        rebuild.anchor = rebuild.out.copy() if grouped else None
    for i in range(len(levels) - 1, -1, -1):
        enc, above = levels[i], (levels[i - 1] if i else None)
        with _naming(above, context):
            where = f"encoded form of {enc.blob[:12]}"
            rebuild.apply(blobs.get_buffer(enc.stored, context=where, verify=verify))
            if grouped and rebuild.anchor is None:
                rebuild.anchor = rebuild.result().copy()
            if verify and above is not None and _sha256(rebuild.result()) != enc.blob:
                raise CorruptBlobError(f"blob {enc.blob[:12]} does not rebuild to its key")
    rebuild.result()
    return rebuild


def chain_root(key: str, encoded: Mapping[str, Encoding]) -> str:
    """The logical key of the full copy that ``key``'s chain starts from (``key`` itself for a
    full copy or a raw blob)."""
    while key in encoded and encoded[key].base is not None:
        key = encoded[key].base  # type: ignore[assignment]
    return key


def read_with_anchor(
    blobs: BlobStore, key: str, encoded: Mapping[str, Encoding], *, context: str = ""
) -> tuple[np.ndarray, np.ndarray | None, Order | None]:
    """:func:`read_blob` of ``key``, the verified bytes of its chain's full copy (None when
    ``key`` is one) and the grouping order the walk made of them (None if it made none), all
    from one walk of the chain; the slow verified reads only on a failure (they name the
    damaged object)."""
    root = chain_root(key, encoded)
    if root == key:
        return read_blob(blobs, key, encoded, context=context), None, None
    try:
        rebuild = _rebuild(blobs, key, encoded, context, verify=False, keep_anchor=True)
        out, anchor = rebuild.result(), rebuild.anchor
        if anchor is not None and _sha256(out) == key and _sha256(anchor) == root:
            return out, anchor, rebuild.order
    except Exception:  # unchecked objects: the verified reads below name what is wrong
        pass
    out = read_blob(blobs, key, encoded, context=context)
    return out, read_blob(blobs, root, encoded, context=context), None


@contextmanager
def _naming(above: Encoding | None, context: str) -> Iterator[None]:
    """Name a failing level as the delta base of the level ``above`` it (if any)."""
    if above is None:
        yield
        return
    try:
        yield
    except CorruptBlobError as exc:
        raise CorruptBlobError(
            f"the delta base {above.base and above.base[:12]} of blob {above.blob[:12]} "
            f"({context}) cannot be read: {exc}"
        ) from exc


def _sha256(buf: np.ndarray) -> str:
    import hashlib

    return hashlib.sha256(buf.data).hexdigest()


@dataclass
class _Base:
    """The parent's tensor a child tensor may be a delta against."""

    key: str
    bytes: np.ndarray
    depth: int
    dtype: str | None = None  # the base tensor's dtype, when the caller knows it
    anchor: np.ndarray | None = None  # the full copy its chain starts from (None: ``bytes``)
    order: Order | None = None  # the anchor's grouping, when reading the base made it


def put_encoded(
    blobs: BlobStore, array: np.ndarray, key: str, base: _Base | None, settings: DeltaSettings
) -> Encoding | None:
    """Store one tensor in its smallest form; return its encoding row, or None when raw."""
    raw = np.frombuffer(le_view(array), dtype=np.uint8)
    if raw.size < settings.min_bytes:
        blobs.put(le_view(array), key)
        return None
    itemsize = np.asarray(array).dtype.itemsize
    tried: list[Candidate] = [(Codec.PLANES, None), *_delta_kinds(array, raw, base, settings)]
    if base is not None:
        tried = shortlist(raw, itemsize, base.bytes, base.anchor, settings.level, tried)
    best, codec, use_base = b"", Codec.PLANES, None
    for kind, dtypes in tried:
        if kind is Codec.PLANES:
            data, against = encode(raw, itemsize, None, settings.level), None
        else:
            assert base is not None
            against = base
            data = encode(
                raw, itemsize, base.bytes, settings.level, kind, dtypes, base.anchor, base.order
            )
        if not best or len(data) < len(best):
            best, codec, use_base = data, kind, against
    if len(best) >= raw.size:
        blobs.put(le_view(array), key)
        return None
    stored = blobs.put(best)
    depth = 1 if use_base is None else use_base.depth + 1
    return Encoding(key, stored, codec, use_base.key if use_base else None, depth, raw.size)


def _delta_kinds(
    array: np.ndarray, raw: np.ndarray, base: _Base | None, settings: DeltaSettings
) -> list[tuple[Codec, tuple[str, str] | None]]:
    """The delta codecs worth trying against ``base``: XOR and the zigzag difference for a
    tensor of the same dtype (for a float tensor in a parent chain, the grouped digits instead:
    4–10% smaller, and a load sorts once per tensor whatever the chain's depth; a keyframe
    chain, read for speed, applies one delta, where that sort would double the decoding); a cast prediction for a float tensor whose dtype changed (quantised or
    up-cast) with the same element count."""
    if base is None or base.depth >= settings.every:
        return []
    child = dtype_name(np.asarray(array).dtype)
    itemsize = np.asarray(array).dtype.itemsize
    if base.dtype is not None and base.dtype != child:
        floats = ("float16", "bfloat16", "float32", "float64")
        if base.dtype in floats and child in floats:
            count = base.bytes.size // numpy_dtype(base.dtype).itemsize
            if count * itemsize == raw.size:
                return [(Codec.CAST, (base.dtype, child))]
        return []
    if base.bytes.size != raw.size:
        return []
    anchor = base.bytes if base.anchor is None else base.anchor
    grouped = settings.chain is Chain.PARENT and child in EXPONENT and anchor.size == raw.size
    if grouped:  # ≤ plain zigzag in practice; its sort is paid once per chain, not per level
        return [(Codec.XOR, None), (Codec.GSUB, (child, child))]
    return [(Codec.XOR, None), (Codec.ZSUB, None)] if itemsize in _WORD else [(Codec.XOR, None)]


def record(conn: sa.Connection, rows: Iterable[Encoding]) -> None:
    """Insert encoding rows not yet recorded (a key keeps its first encoding)."""
    rows = list(rows)
    if not rows:
        return
    have = {
        r[0]
        for r in conn.execute(
            sa.select(blob_encodings.c.blob).where(
                blob_encodings.c.blob.in_([r.blob for r in rows])
            )
        )
    }
    fresh = {r.blob: r for r in rows if r.blob not in have}
    if fresh:
        conn.execute(
            sa.insert(blob_encodings),
            [
                {
                    "blob": r.blob,
                    "stored": r.stored,
                    "codec": r.codec.value,
                    "base": r.base,
                    "depth": r.depth,
                    "raw_size": r.raw_size,
                }
                for r in fresh.values()
            ],
        )


def base_for(
    blobs: BlobStore,
    info_key: str | None,
    encoded: Mapping[str, Encoding],
    context: str,
    chain: Chain = Chain.PARENT,
    dtype: str | None = None,
) -> _Base | None:
    """The delta base for a child of the parent tensor ``info_key`` (bytes verified): that
    tensor, or with :attr:`Chain.KEYFRAME` the full copy its own deltas start from; the depth
    is the parent's position in its chain; the anchor is the full copy that chain starts from
    (what a grouped delta groups by, as :func:`_rebuild` finds it)."""
    if info_key is None:
        return None
    enc = encoded.get(info_key)
    depth = enc.depth if enc else 1
    if chain is Chain.KEYFRAME:
        key = chain_root(info_key, encoded)
        return _Base(key, read_blob(blobs, key, encoded, context=context), depth, dtype)
    data, anchor, order = read_with_anchor(blobs, info_key, encoded, context=context)
    return _Base(info_key, data, depth, dtype, anchor, order)
