"""The zigzag-difference and cast-prediction delta codecs: exact inverses, chosen when smaller."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.params.identity import le_bytes
from driftline.store import Store
from driftline.store.deltas import Codec, DeltaSettings, decode, encode
from driftline.store.schema import blob_encodings

_WIDTH = {2: np.uint16, 4: np.uint32, 8: np.uint64}


@settings(max_examples=80, deadline=None)
@given(st.sampled_from([2, 4, 8]), st.integers(2, 300), st.integers(0, 2**32 - 1))
def test_zigzag_is_exact_for_any_bit_patterns(itemsize: int, n: int, seed: int) -> None:
    """Any two bit patterns, including wrap-around at 0 and 2^bits − 1, round-trip."""
    rng = np.random.default_rng(seed)
    word = _WIDTH[itemsize]
    top = np.iinfo(word).max
    a = rng.integers(0, top, size=n, dtype=word, endpoint=True)
    b = rng.integers(0, top, size=n, dtype=word, endpoint=True)
    a[:2], b[:2] = [0, top], [top, 0]
    raw, base = a.view(np.uint8), b.view(np.uint8)
    assert np.array_equal(decode(encode(raw, itemsize, base, 3, Codec.ZSUB), base), raw)


def test_zigzag_high_planes_are_zero_for_small_changes_of_either_sign() -> None:
    """±k → 2k / 2k − 1: a change of a few ulps in either direction leaves 3 of 4 planes zero."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal(4096).astype(np.float32)
    steps = rng.integers(-100, 101, size=w.size).astype(np.int32)
    child = (w.view(np.int32) + steps).view(np.float32)
    raw, base = np.frombuffer(le_bytes(child), np.uint8), np.frombuffer(le_bytes(w), np.uint8)
    zsub = encode(raw, 4, base, 3, Codec.ZSUB)
    xor = encode(raw, 4, base, 3, Codec.XOR)
    assert len(zsub) < len(xor) and len(zsub) < 0.4 * raw.size
    assert np.array_equal(decode(zsub, base), raw)


def test_quantised_child_is_stored_as_a_cast_residual(tmp_path) -> None:
    """A bfloat16 child made by astype from its float32 parent costs almost nothing, loads
    bit-exact, and a child cast differently (float16) still round-trips."""
    rng = np.random.default_rng(3)
    parent = {"w": rng.standard_normal((256, 256)).astype(np.float32)}
    bf16 = {"w": parent["w"].astype(ml_dtypes.bfloat16)}
    f16 = {"w": (parent["w"] * 1.5).astype(np.float16)}
    store = Store(tmp_path / "s", deltas=DeltaSettings())
    p = store.register(parent, name="m")
    q = store.register(bf16, name="m", parents=[p], transform="quantize")
    h = store.register(f16, name="h", parents=[p], transform="quantize")
    with store.read() as conn:
        codecs = dict(conn.execute(sa.select(blob_encodings.c.blob, blob_encodings.c.codec)).all())
    bf16_key = store.manifest(q)[0].blob
    assert codecs[bf16_key] == Codec.CAST.value
    stored = (
        store.blobs.path(next(r.stored for r in _rows(store) if r.blob == bf16_key)).stat().st_size
    )
    assert stored < 0.01 * bf16["w"].nbytes
    assert le_bytes(store.load(q)["w"]) == le_bytes(bf16["w"])
    assert le_bytes(store.load(h)["w"]) == le_bytes(f16["w"])


def _rows(store: Store) -> list:
    with store.read() as conn:
        return list(conn.execute(sa.select(blob_encodings)).all())
