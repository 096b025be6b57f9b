"""The zigzag-difference, grouped and cast-prediction delta codecs: exact inverses, chosen when
smaller; in-place chains; stores written with older codecs."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.params.identity import le_bytes
from driftline.params.io import numpy_dtype
from driftline.store import Store, delta_codecs, deltas
from driftline.store.delta_codecs import Rebuild
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


_FLOATS = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32}
_FLOATS["float64"] = np.float64


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_FLOATS)), st.integers(1, 700), st.integers(0, 2**32 - 1))
def test_grouped_digits_is_exact_for_any_bit_patterns(name: str, n: int, seed: int) -> None:
    """Any child, base and anchor bit patterns (NaNs, infinities, wrap-around) round-trip."""
    itemsize = np.dtype(_FLOATS[name]).itemsize
    rng = np.random.default_rng(seed)
    raw, base, anchor = (rng.integers(0, 256, n * itemsize, dtype=np.uint8) for _ in range(3))
    blob = encode(raw, itemsize, base, 3, Codec.GSUB, (name, name), anchor)
    assert np.array_equal(decode(blob, base, anchor), raw)


def _digits_by_division(d: np.ndarray, itemsize: int) -> np.ndarray:
    """The balanced digits as the first ``gsub`` writer computed them, digit by digit."""
    out = np.empty((itemsize, d.size), np.uint8)
    r = d.copy()
    for j in range(itemsize - 1):
        digit = ((r + 128) & 0xFF) - 128
        out[j] = digit.astype(np.uint8)
        r -= digit
        r >>= 8
    out[itemsize - 1] = r.astype(np.uint8)
    return out


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([2, 4, 8]), st.integers(1, 700), st.integers(0, 2**32 - 1))
def test_digits_are_the_bytes_the_first_writer_stored(itemsize: int, n: int, seed: int) -> None:
    """The bytewise digits are exactly the digit-by-digit ones (stored objects unchanged),
    for any differences, the extremes and the carries at ±128 included."""
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 256, n * itemsize, dtype=np.uint8).view(f"i{itemsize}")
    info = np.iinfo(f"i{itemsize}")
    edges = np.array([0, 1, -1, 127, 128, -128, -129, 255, 256, info.min, info.max], d.dtype)
    for values in (d, edges):
        expected = _digits_by_division(values, itemsize)
        assert np.array_equal(delta_codecs._digits(values, itemsize), expected)


@pytest.mark.parametrize("name", sorted(_FLOATS))
@pytest.mark.parametrize("n", [1, 7, 4099])
def test_grouped_digits_round_trips_small_steps(name: str, n: int) -> None:
    """A fine-tune step of every float width and odd sizes round-trips bit for bit, and the
    grouped form is not larger than the plain zigzag one at a realistic size."""
    rng = np.random.default_rng(n)
    w = rng.standard_normal(n)
    a, b = w.astype(_FLOATS[name]), (w + rng.standard_normal(n) * 1e-3).astype(_FLOATS[name])
    raw, base = np.frombuffer(le_bytes(b), np.uint8), np.frombuffer(le_bytes(a), np.uint8)
    itemsize = a.dtype.itemsize
    grouped = encode(raw, itemsize, base, 3, Codec.GSUB, (name, name))
    assert np.array_equal(decode(grouped, base), raw)
    if n > 4000:
        assert len(grouped) <= len(encode(raw, itemsize, base, 3, Codec.ZSUB)) * 1.02


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from([Codec.XOR, Codec.SUB, Codec.ZSUB, Codec.GSUB]), max_size=6),
    st.sampled_from([1, 3, 250]),
)
def test_chain_applied_in_place_equals_level_by_level_decoding(
    codecs: list[Codec], pending: int
) -> None:
    """A chain of mixed codecs applied to one buffer (grouped levels summed and ungrouped
    once, or every ``pending`` levels) gives every level exactly."""
    rng = np.random.default_rng(len(codecs))
    w = rng.standard_normal(1001).astype(np.float32)
    anchor = np.frombuffer(le_bytes(w), np.uint8)
    rebuild = Rebuild(anchor.copy(), anchor)
    prev = anchor
    for codec in codecs:
        w = w + rng.standard_normal(w.size).astype(np.float32) * np.float32(1e-4)
        raw = np.frombuffer(le_bytes(w), np.uint8)
        dtypes = ("float32", "float32")
        delta_codecs._MAX_PENDING = pending
        try:
            rebuild.apply(encode(raw, 4, prev, 3, codec, dtypes, anchor))
        finally:
            delta_codecs._MAX_PENDING = 250
        prev = raw
    assert np.array_equal(rebuild.result(), prev)


@pytest.mark.parametrize("codec", [Codec.XOR, Codec.SUB, Codec.ZSUB])
def test_store_written_with_an_older_codec_still_reads(tmp_path, monkeypatch, codec) -> None:
    """Encoding rows of the codecs earlier versions wrote (numbers 2–4) load bit for bit, also
    through a chain longer than one level."""
    rng = np.random.default_rng(5)
    versions = [{"w": rng.standard_normal((64, 64)).astype(np.float32)}]
    for _ in range(3):
        versions.append({"w": versions[-1]["w"] + np.float32(1e-3)})
    with monkeypatch.context() as m:
        m.setattr(deltas, "_delta_kinds", lambda a, r, base, s: [(codec, None)] if base else [])
        store = Store(tmp_path / "s", deltas=DeltaSettings(min_bytes=256))
        ids, parent = [], None
        for v in versions:
            parent = store.register(v, name="m", parents=[parent] if parent else []).id
            ids.append(parent)
    assert {r.codec for r in _rows(store)} == {Codec.PLANES.value, codec.value}
    reopened = Store(tmp_path / "s", deltas=DeltaSettings(min_bytes=256))
    for mid, v in zip(ids, versions, strict=True):
        assert le_bytes(reopened.load(mid)["w"]) == le_bytes(v["w"])


@pytest.mark.parametrize("chain", [deltas.Chain.PARENT, deltas.Chain.KEYFRAME])
def test_mixed_dtype_chain_of_odd_sizes_round_trips(tmp_path, chain) -> None:
    """float16, bfloat16, float64 and int32 tensors of odd sizes, over a chain longer than k,
    load back bit for bit at every version; float tensors of a parent chain are grouped."""
    rng = np.random.default_rng(11)
    first = {
        "h": rng.standard_normal(1001).astype(np.float16),
        "b": rng.standard_normal((33, 31)).astype(ml_dtypes.bfloat16),
        "d": rng.standard_normal(517),
        "i": rng.integers(-(2**31), 2**31 - 1, 777, dtype=np.int32),
    }
    versions = [first]
    for _ in range(6):
        p = versions[-1]
        versions.append(
            {
                k: (v + rng.integers(-3, 4, v.shape).astype(v.dtype))
                if k == "i"
                else (v.astype(np.float64) + rng.standard_normal(v.shape) * 1e-3).astype(v.dtype)
                for k, v in p.items()
            }
        )
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=3, min_bytes=256, chain=chain))
    ids, parent = [], None
    for v in versions:
        parent = store.register(v, name="m", parents=[parent] if parent else []).id
        ids.append(parent)
    for mid, v in zip(ids, versions, strict=True):
        got = store.load(mid)
        assert all(le_bytes(got[k]) == le_bytes(v[k]) and got[k].dtype == v[k].dtype for k in v)
    codecs = {r.codec for r in _rows(store)}
    assert (Codec.GSUB.value in codecs) == (chain is deltas.Chain.PARENT)


@pytest.mark.parametrize("name", ["float32", "bfloat16", "float64"])
def test_grouped_delta_with_the_order_a_load_made_is_the_same_bytes(name: str) -> None:
    """Registering a child reuses the grouping order that rebuilding its parent made of the
    chain's full copy: the encoded object is byte for byte the one made without it, and an
    order that does not fit (another field or size) is not used."""
    rng = np.random.default_rng(7)
    dtype = numpy_dtype(name)
    w0 = rng.standard_normal(3001).astype(dtype)
    w1 = (w0.astype(np.float64) + rng.standard_normal(w0.size) * 1e-3).astype(dtype)
    w2 = (w1.astype(np.float64) + rng.standard_normal(w0.size) * 1e-3).astype(dtype)
    anchor, b1, b2 = (np.frombuffer(le_bytes(w), np.uint8) for w in (w0, w1, w2))
    itemsize, dtypes = dtype.itemsize, (name, name)
    rebuild = Rebuild(anchor.copy(), anchor)
    rebuild.apply(encode(b1, itemsize, anchor, 3, Codec.GSUB, dtypes, anchor))
    assert np.array_equal(rebuild.result(), b1) and rebuild.order is not None
    plain = encode(b2, itemsize, b1, 3, Codec.GSUB, dtypes, anchor)
    assert encode(b2, itemsize, b1, 3, Codec.GSUB, dtypes, anchor, rebuild.order) == plain
    wrong = ((0, 1), rebuild.order[1][::-1].copy())
    assert encode(b2, itemsize, b1, 3, Codec.GSUB, dtypes, anchor, wrong) == plain
    assert np.array_equal(decode(plain, b1, anchor), b2)
