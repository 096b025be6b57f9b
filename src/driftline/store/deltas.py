"""Delta-compressed, lossless tensor history (the ZipNN idea), chosen per tensor.

A tensor's *logical* blob key stays the SHA-256 of its raw little-endian bytes, so manifests,
Merkle ids and identity are unchanged. What is written to the blob store may instead be an
*encoded* object, recorded in the ``blob_encodings`` table (added to existing stores as a new
table; no migration of old rows is needed: a key without a row is stored raw):

* ``planes-zstd``: the raw bytes regrouped into byte planes (all first bytes of every element,
  then all second bytes, …), zstd-compressed. Exponent bytes of floats are highly repetitive
  and compress well once grouped.
* ``sub-planes-zstd``: the difference of the raw bit patterns read as unsigned integers
  (modulo 2^bits, so exactly invertible). A small change that carries across mantissa bits
  leaves a short difference where XOR would flip a run of bits.
* ``xor-planes-zstd``: the bitwise XOR of the tensor with its parent's tensor of the same name,
  dtype and shape, byte-planed and compressed. A fine-tune that moves every weight by 1e-3
  leaves sign, exponent and high mantissa bits unchanged, so most planes are nearly all zero.

At register time, each tensor takes the smallest of raw, ``planes-zstd`` and (when the first
parent has a matching tensor) ``xor-planes-zstd``. A delta's ``depth`` is its base's depth + 1
(a raw or ``planes-zstd`` blob has depth 1), and a delta is only taken while
``depth ≤ DeltaSettings.every``, so a chain is cut by a full copy every *k* versions and a load
reads at most *k* blobs. With ``chain=Chain.KEYFRAME`` each delta is taken against the chain's
full copy (its *keyframe*) instead of the parent: ``depth`` still counts versions since the
keyframe (cut every *k*), but a load reads at most 2 stored objects, at the cost of deltas that
grow with the drift from the keyframe. Every read verifies: each stored object against its own key, and the
reconstructed bytes against the logical key; a damaged base makes the load fail with a
:class:`~driftline.errors.CorruptBlobError` naming the base.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np
import sqlalchemy as sa
import zstandard

from driftline.errors import CorruptBlobError, InvalidInputError
from driftline.params.identity import dtype_name, le_view
from driftline.params.io import numpy_dtype
from driftline.store.schema import blob_encodings, get_setting, set_setting

if TYPE_CHECKING:
    from driftline.store.blobs import BlobStore

_MAGIC = b"DLZ1"
_HEAD = struct.Struct("<4sBBQ")  # magic, codec number, element size, raw size


class Codec(StrEnum):
    """How a stored object encodes its logical blob."""

    PLANES = "planes-zstd"
    XOR = "xor-planes-zstd"
    SUB = "sub-planes-zstd"
    ZSUB = "zsub-planes-zstd"
    CAST = "cast-xor-planes-zstd"


_CODE = {Codec.PLANES: 1, Codec.XOR: 2, Codec.SUB: 3, Codec.ZSUB: 4, Codec.CAST: 5}
_CODEC = {v: k for k, v in _CODE.items()}
_WORD = {2: np.uint16, 4: np.uint32, 8: np.uint64}


class Chain(StrEnum):
    """What a child's delta is taken against: the parent's tensor, or the chain's keyframe."""

    PARENT = "parent"
    KEYFRAME = "keyframe"


@dataclass(frozen=True)
class DeltaSettings:
    """``every``: longest chain (versions per full copy, ≥ 1; 1 = no deltas, only compression);
    ``level``: zstd level; ``min_bytes``: smaller tensors are stored raw; ``chain``: delta
    against the parent (smallest) or the keyframe (loads read ≤ 2 objects)."""

    every: int = 16
    level: int = 3
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


def _planes(raw: np.ndarray, itemsize: int) -> np.ndarray:
    if itemsize <= 1 or raw.size % itemsize:
        return raw
    return np.ascontiguousarray(raw.reshape(-1, itemsize).T)


def _unplanes(planes: np.ndarray, itemsize: int) -> np.ndarray:
    if itemsize <= 1 or planes.size % itemsize:
        return planes
    rows = planes.reshape(itemsize, -1)
    out = np.empty((rows.shape[1], itemsize), np.uint8)
    for j in range(itemsize):  # plane by plane: 3× faster than a transposed copy here
        out[:, j] = rows[j]
    return out.reshape(-1)


def _xor(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bytewise XOR of two equal-length uint8 arrays (computed in 8-byte words when aligned)."""
    if a.size % 8 == 0:
        return np.bitwise_xor(a.view(np.uint64), b.view(np.uint64)).view(np.uint8)
    return np.bitwise_xor(a, b)


def _sub(a: np.ndarray, b: np.ndarray, itemsize: int, sign: int) -> np.ndarray:
    """a − b (sign −1) or a + b (sign +1) element-wise on the bit patterns, modulo 2^bits."""
    word = _WORD[itemsize]
    op = np.subtract if sign < 0 else np.add
    return op(a.view(word), b.view(word)).view(np.uint8)


def _zigzag(a: np.ndarray, b: np.ndarray, itemsize: int) -> np.ndarray:
    """zigzag(a − b) on the bit patterns: d = a − b mod 2^bits read as signed, then
    z = (d << 1) ^ (d >> (bits − 1)), so ±k become 2k / 2k − 1 and the high byte planes of a
    small change are all zero whatever its sign."""
    word = _WORD[itemsize]
    signed = np.dtype(f"i{itemsize}")
    d = np.subtract(a.view(word), b.view(word)).view(signed)
    z = np.left_shift(d, 1) ^ np.right_shift(d, itemsize * 8 - 1)
    return z.view(np.uint8)


def _unzigzag(z: np.ndarray, b: np.ndarray, itemsize: int) -> np.ndarray:
    """Inverse of :func:`_zigzag`: a = b + ((z >> 1) ^ −(z & 1)) mod 2^bits."""
    word = _WORD[itemsize]
    zz = z.view(word)
    d = np.right_shift(zz, 1) ^ (np.zeros_like(zz) - (zz & word(1)))
    return np.add(b.view(word), d).view(np.uint8)


def _cast_prediction(base: np.ndarray, dtypes: tuple[str, str]) -> np.ndarray:
    """The parent's tensor (flat uint8 of dtype ``dtypes[0]``) cast to ``dtypes[1]``, as flat
    uint8: what a quantised or up-cast child would be if made by a plain ``astype``."""
    src, dst = (numpy_dtype(d) for d in dtypes)
    return np.frombuffer(base.view(src).astype(dst).tobytes(), np.uint8)


def _cast_header(dtypes: tuple[str, str]) -> bytes:
    names = [d.encode("ascii") for d in dtypes]
    return b"".join(bytes([len(n)]) + n for n in names)


def encode(
    raw: np.ndarray,
    itemsize: int,
    base: np.ndarray | None,
    level: int,
    codec: Codec = Codec.XOR,
    dtypes: tuple[str, str] | None = None,
) -> bytes:
    """``raw`` (flat uint8) as ``planes-zstd``, or as a ``codec`` delta against ``base``
    (``cast-xor``: XOR with ``base`` cast from ``dtypes[0]`` to ``dtypes[1]``)."""
    extra = b""
    if codec is Codec.CAST and base is not None:
        if dtypes is None:
            raise InvalidInputError("a cast delta needs the base and child dtypes")
        extra, base = _cast_header(dtypes), _cast_prediction(base, dtypes)
        if base.size != raw.size:
            raise InvalidInputError("a cast delta needs tensors with the same element count")
    if base is None:
        codec, body = Codec.PLANES, raw
    elif codec is Codec.SUB:
        body = _sub(raw, base, itemsize, -1)
    elif codec is Codec.ZSUB:
        body = _zigzag(raw, base, itemsize)
    else:
        body = _xor(raw, base)
    packed = zstandard.ZstdCompressor(level=level).compress(_planes(body, itemsize).data)
    return _HEAD.pack(_MAGIC, _CODE[codec], itemsize, raw.size) + extra + packed


def decode(data: bytes | np.ndarray, base: np.ndarray | None) -> np.ndarray:
    """Inverse of :func:`encode` (flat uint8; ``base`` is required for a delta)."""
    view = (data.data if isinstance(data, np.ndarray) else memoryview(data)).cast("B")
    magic, code, itemsize, size = _HEAD.unpack(view[: _HEAD.size])
    if magic != _MAGIC or code not in _CODEC:
        raise CorruptBlobError("an encoded blob has an unknown header; restore it from backup")
    start = _HEAD.size
    if _CODEC[code] is Codec.CAST:
        names = []
        for _ in range(2):
            n = view[start]
            names.append(bytes(view[start + 1 : start + 1 + n]).decode("ascii"))
            start += 1 + n
        if base is None:
            raise CorruptBlobError("a cast delta blob has no base")
        base = _cast_prediction(base, (names[0], names[1]))
    body = np.frombuffer(
        zstandard.ZstdDecompressor().decompress(view[start:], max_output_size=size),
        dtype=np.uint8,
    )
    out = _unplanes(body, itemsize)
    if _CODEC[code] is not Codec.PLANES:
        if base is None or base.size != size:
            raise CorruptBlobError("a delta blob's base has the wrong size")
        codec = _CODEC[code]
        if codec in (Codec.XOR, Codec.CAST):
            out = _xor(out, base)
        elif codec is Codec.ZSUB:
            out = _unzigzag(out, base, itemsize)
        else:
            out = _sub(out, base, itemsize, 1)
    return out


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
    """A logical blob's verified bytes (flat uint8): raw from the store, or decoded from its
    encoding (and its base, recursively), then checked against ``key``.

    Each stored object is checked against its own key as it is read; the rebuilt bytes of the
    requested blob are checked against ``key``. Intermediate bases are not re-hashed (a wrong
    base cannot rebuild a right result); on a mismatch the chain is walked again with every
    base verified, so the error names the damaged base."""
    out = _rebuild(blobs, key, encoded, context, mmap, verify=False)
    if key in encoded and _sha256(out) != key:
        _rebuild(blobs, key, encoded, context, mmap, verify=True)  # names a damaged base
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
    mmap: bool,
    *,
    verify: bool,
) -> np.ndarray:
    enc = encoded.get(key)
    if enc is None:
        return blobs.get_buffer(key, context=context, mmap=mmap)
    base = None
    if enc.base is not None:
        try:
            base = _rebuild(blobs, enc.base, encoded, context, True, verify=verify)
            if verify and enc.base in encoded and _sha256(base) != enc.base:
                raise CorruptBlobError(f"blob {enc.base[:12]} does not rebuild to its key")
        except CorruptBlobError as exc:
            raise CorruptBlobError(
                f"the delta base {enc.base[:12]} of blob {key[:12]} ({context}) cannot be read: "
                f"{exc}"
            ) from exc
    data = blobs.get_buffer(enc.stored, context=f"encoded form of {key[:12]}, {context}")
    return decode(data, base)


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


def put_encoded(
    blobs: BlobStore, array: np.ndarray, key: str, base: _Base | None, settings: DeltaSettings
) -> Encoding | None:
    """Store one tensor in its smallest form; return its encoding row, or None when raw."""
    raw = np.frombuffer(le_view(array), dtype=np.uint8)
    if raw.size < settings.min_bytes:
        blobs.put(le_view(array), key)
        return None
    itemsize = np.asarray(array).dtype.itemsize
    best, codec, use_base = encode(raw, itemsize, None, settings.level), Codec.PLANES, None
    for kind, dtypes in _delta_kinds(array, raw, base, settings):
        assert base is not None
        delta = encode(raw, itemsize, base.bytes, settings.level, kind, dtypes)
        if len(delta) < len(best):
            best, codec, use_base = delta, kind, base
    if len(best) >= raw.size:
        blobs.put(le_view(array), key)
        return None
    stored = blobs.put(best)
    depth = 1 if use_base is None else use_base.depth + 1
    return Encoding(key, stored, codec, use_base.key if use_base else None, depth, raw.size)


def _delta_kinds(
    array: np.ndarray, raw: np.ndarray, base: _Base | None, settings: DeltaSettings
) -> list[tuple[Codec, tuple[str, str] | None]]:
    """The delta codecs worth trying against ``base``: XOR and zigzag difference for a tensor
    of the same dtype; a cast prediction for a float tensor whose dtype changed (quantised or
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
    is the parent's position in its chain."""
    if info_key is None:
        return None
    enc = encoded.get(info_key)
    depth, key = (enc.depth if enc else 1), info_key
    while chain is Chain.KEYFRAME and enc is not None and enc.base is not None:
        key = enc.base
        enc = encoded.get(key)
    return _Base(key, read_blob(blobs, key, encoded, context=context), depth, dtype)
