"""Delta-compressed lossless history: round trips, bounded chains, corruption, gc/fsck."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import sqlalchemy as sa

from driftline.errors import CorruptBlobError
from driftline.params.identity import le_bytes, model_id
from driftline.store import Store
from driftline.store.deltas import Chain, Codec, DeltaSettings, decode, encode, encodings
from driftline.store.maintenance import fsck, gc
from driftline.store.schema import blob_encodings


def _chain(steps: int, seed: int = 0, step: float = 1e-3):
    rng = np.random.default_rng(seed)
    p = {f"l{i}.weight": rng.standard_normal((64, 128)).astype(np.float32) for i in range(4)}
    p["l0.bias"] = rng.standard_normal(64).astype(np.float32)
    p["steps"] = np.array(0, np.int64)
    out = [p]
    for s in range(1, steps):
        p = {
            k: (v + rng.standard_normal(v.shape).astype(np.float32) * np.float32(step))
            if v.dtype == np.float32
            else np.array(s, np.int64)
            for k, v in p.items()
        }
        out.append(p)
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float16, ml_dtypes.bfloat16, np.float64, np.int8])
def test_codec_round_trip_bit_exact(dtype) -> None:
    rng = np.random.default_rng(1)
    a = (rng.standard_normal(1001) * 50).astype(dtype)
    b = (a.astype(np.float64) + rng.standard_normal(1001) * 0.01).astype(dtype)
    raw_a = np.frombuffer(le_bytes(a), np.uint8)
    raw_b = np.frombuffer(le_bytes(b), np.uint8)
    itemsize = np.dtype(dtype).itemsize
    assert bytes(decode(encode(raw_b, itemsize, None, 3), None)) == bytes(raw_b)
    for codec in [Codec.XOR, Codec.SUB] if itemsize > 1 else [Codec.XOR]:
        assert bytes(decode(encode(raw_b, itemsize, raw_a, 3, codec), raw_a)) == bytes(raw_b)


def test_delta_chain_longer_than_k_round_trips_and_reads_at_most_k(tmp_path) -> None:
    k = 3
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=k, min_bytes=256))
    versions = _chain(8)
    refs, parent = [], None
    for p in versions:
        m = store.register(p, name="ft", parents=[parent] if parent else [])
        assert m.id == model_id(p)  # the id is over the tensors, not their encoding
        refs.append(m.id)
        parent = m.id
    for mid, p in zip(refs, versions, strict=True):
        got = store.load(mid)
        assert sorted(got) == sorted(p)
        assert all(le_bytes(got[n]) == le_bytes(p[n]) and got[n].dtype == p[n].dtype for n in p)
    with store.read() as conn:
        rows = conn.execute(sa.select(blob_encodings)).all()
    depths = [r.depth for r in rows]
    assert max(depths) == k  # chains are cut by a full copy every k versions
    assert sum(r.base is not None for r in rows) >= 8 and any(
        r.codec == Codec.PLANES for r in rows if r.base is None
    )
    deltas_only = [r for r in rows if r.base is not None]
    by_key = {r.blob: r for r in rows}
    for r in deltas_only:  # the depth is exactly the number of blobs read
        n, cur = 1, r
        while cur.base is not None:
            n += 1
            cur = by_key.get(cur.base)
            if cur is None:
                break
        assert n == r.depth
    report = fsck(store)
    assert report.ok and not report.orphan_blobs
    assert not gc(store, grace_seconds=0).removed_blobs  # encoded objects and bases are kept
    assert le_bytes(store.load(refs[-1])["l1.weight"]) == le_bytes(versions[-1]["l1.weight"])


def test_keyframe_chains_read_at_most_two_objects(tmp_path) -> None:
    k = 4
    settings = DeltaSettings(every=k, min_bytes=256, chain=Chain.KEYFRAME)
    store = Store(tmp_path / "s", deltas=settings)
    versions, parent, refs = _chain(7), None, []
    for p in versions:
        parent = store.register(p, name="ft", parents=[parent] if parent else []).id
        refs.append(parent)
    for mid, p in zip(refs, versions, strict=True):
        assert all(le_bytes(store.load(mid)[n]) == le_bytes(p[n]) for n in p)
    with store.read() as conn:
        rows = {r.blob: r for r in conn.execute(sa.select(blob_encodings)).all()}
    assert max(r.depth for r in rows.values()) == k
    for r in rows.values():  # every base is a full copy: one delta on top of it at most
        assert r.base is None or rows.get(r.base) is None or rows[r.base].base is None
    assert fsck(store).ok


def test_corrupted_delta_base_is_a_clear_error(tmp_path) -> None:
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=4, min_bytes=256))
    a, b = _chain(2)
    ma = store.register(a, name="m")
    mb = store.register(b, name="m", parents=[ma.id])
    with store.read() as conn:
        enc = encodings(conn, [i.blob for i in store.manifest(mb.id)])
    delta = next(e for e in enc.values() if e.base is not None)
    base_enc = enc.get(delta.base)
    victim = store.blobs.path(base_enc.stored if base_enc else delta.base)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(CorruptBlobError, match=f"delta base {delta.base[:12]}.*corrupt"):
        store.load(mb.id)
    assert not fsck(store).ok


def test_storage_is_smaller_than_raw_and_dedupe(tmp_path) -> None:
    versions = _chain(6, step=1e-6)  # updates of 1e-6 on unit-scale weights: low mantissa bits
    plain = Store(tmp_path / "plain")
    packed = Store(tmp_path / "packed", deltas=DeltaSettings(every=8, min_bytes=256))
    parents: dict[str, str | None] = {"plain": None, "packed": None}
    for p in versions:
        for label, st in (("plain", plain), ("packed", packed)):
            m = st.register(p, name="m", parents=[parents[label]] if parents[label] else [])
            parents[label] = m.id

    def size(st: Store) -> int:
        return sum(st.blobs.path(k).stat().st_size for k in st.blobs.keys())

    raw = sum(v.nbytes for p in versions for v in p.values())
    assert size(plain) == raw  # every float tensor changed: dedupe saves only the step counter
    assert size(packed) < 0.4 * raw


def test_unchanged_tensor_of_a_child_is_not_stored_again_raw(tmp_path) -> None:
    """A child that keeps some of its parent's tensors (a partial fine-tune) reuses their
    encoded form: no raw copy of an encoded blob lands in the store."""
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=8, min_bytes=256))
    a, b = _chain(2)
    partial = {**b, "l1.weight": a["l1.weight"], "l2.weight": a["l2.weight"]}
    ma = store.register(a, name="m")
    mb = store.register(b, name="m", parents=[ma.id])
    mc = store.register(partial, name="m", parents=[mb.id])
    with store.read() as conn:
        encoded = {r.blob for r in conn.execute(sa.select(blob_encodings.c.blob))}
    stored = set(store.blobs.keys())
    assert not encoded & stored  # every encoded tensor lives only in its encoded form
    assert all(le_bytes(store.load(mc.id)[n]) == le_bytes(partial[n]) for n in partial)
    assert fsck(store).ok


def test_corrupted_middle_of_a_grouped_chain_names_that_base(tmp_path) -> None:
    """Damage to the encoded object of a level in the middle of a chain of grouped deltas is
    reported as that delta base, for every blob above it, and fsck reports it too."""
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=8, min_bytes=256))
    refs, parent = [], None
    for p in _chain(5):
        parent = store.register(p, name="m", parents=[parent] if parent else []).id
        refs.append(parent)
    with store.read() as conn:
        enc = encodings(conn, [i.blob for i in store.manifest(refs[-1])])
    middle_key = next(i.blob for i in store.manifest(refs[2]) if i.name == "l1.weight")
    assert enc[middle_key].codec == Codec.GSUB and enc[middle_key].depth == 3
    victim = store.blobs.path(enc[middle_key].stored)
    data = bytearray(victim.read_bytes())
    data[-3] ^= 0x55
    victim.write_bytes(bytes(data))
    with pytest.raises(CorruptBlobError, match=f"delta base {middle_key[:12]}"):
        store.load(refs[-1])
    assert le_bytes(store.load(refs[1])["l1.weight"]) == le_bytes(_chain(5)[1]["l1.weight"])
    assert not fsck(store).ok


def _damage(path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "header":  # the codec number: an unknown header
        data[4] ^= 0x7F
    elif how == "frame":  # after the header: a zstd magic, or a grouped delta's frame lengths
        data[14:18] = b"\xff\xff\xff\xff"
    elif how == "truncated":
        data = data[: len(data) // 3]
    else:  # one byte in the body
        data[-3] ^= 0x55
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["header", "frame", "truncated", "body"])
@pytest.mark.parametrize("chain", [Chain.PARENT, Chain.KEYFRAME])
def test_damaged_encoded_form_of_the_loaded_blob_is_named(tmp_path, how, chain) -> None:
    """A load decodes the stored objects of a chain before it verifies the rebuilt tensor;
    however the requested blob's own encoded object is damaged (a header that no longer parses,
    frames that do not decode, a truncated object, a flipped body byte), the load fails
    with a CorruptBlobError naming that object, and the versions below it still load."""
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=8, min_bytes=256, chain=chain))
    versions, refs, parent = _chain(4), [], None
    for p in versions:
        parent = store.register(p, name="m", parents=[parent] if parent else []).id
        refs.append(parent)
    key = next(i.blob for i in store.manifest(refs[-1]) if i.name == "l1.weight")
    with store.read() as conn:
        enc = encodings(conn, [key])[key]
    assert enc.base is not None
    _damage(store.blobs.path(enc.stored), how)
    with pytest.raises(CorruptBlobError, match=f"{enc.stored[:12]} is corrupt.*{key[:12]}"):
        store.load(refs[-1])
    for mid, p in zip(refs[:-1], versions[:-1], strict=True):
        assert all(le_bytes(store.load(mid)[n]) == le_bytes(p[n]) for n in p)
    assert not fsck(store).ok


def test_missing_encoded_object_of_a_base_is_named(tmp_path) -> None:
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=8, min_bytes=256))
    refs, parent = [], None
    for p in _chain(4):
        parent = store.register(p, name="m", parents=[parent] if parent else []).id
        refs.append(parent)
    base_key = next(i.blob for i in store.manifest(refs[1]) if i.name == "l2.weight")
    with store.read() as conn:
        enc = encodings(conn, [base_key])[base_key]
    store.blobs.path(enc.stored).unlink()
    with pytest.raises(CorruptBlobError, match=f"delta base {base_key[:12]}.*missing"):
        store.load(refs[-1])


def test_registering_onto_a_damaged_chain_names_the_base_and_writes_nothing(tmp_path) -> None:
    """A child's delta base is read (in one walk with the chain's full copy) and verified
    before anything is encoded against it: a damaged object below it fails the registration
    with the base named, and no model is added."""
    store = Store(tmp_path / "s", deltas=DeltaSettings(every=8, min_bytes=256))
    versions, parent = _chain(5), None
    for p in versions[:4]:
        parent = store.register(p, name="m", parents=[parent] if parent else []).id
    middle = next(i.blob for i in store.manifest(parent) if i.name == "l2.weight")
    with store.read() as conn:
        below = encodings(conn, [middle])[middle].base
        enc = encodings(conn, [below])[below]
    _damage(store.blobs.path(enc.stored), "body")
    with pytest.raises(CorruptBlobError, match=f"delta base {below[:12]}"):
        store.register(versions[4], name="m", parents=[parent])
    assert not store.children(parent)


@pytest.mark.parametrize("chain", [Chain.PARENT, Chain.KEYFRAME])
def test_sampled_shortlist_writes_what_trying_every_codec_in_full_writes(
    tmp_path, monkeypatch, chain
) -> None:
    """Tensors large enough to be sampled (fine-tune steps, a retrained tensor unrelated to its
    parent, a bfloat16 quantisation) take the same encodings, byte for byte, as when every
    candidate is encoded in full, and round-trip."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((400, 400)).astype(np.float32)  # 160,000 elements: sampled
    v0 = {"w": w, "b": rng.standard_normal(64).astype(np.float32)}
    v1 = {"w": w + rng.standard_normal(w.shape).astype(np.float32) * np.float32(1e-3), "b": v0["b"]}
    v2 = {"w": rng.standard_normal(w.shape).astype(np.float32), "b": v0["b"]}
    v3 = {"w": v2["w"].astype(ml_dtypes.bfloat16), "b": v0["b"]}
    versions = [v0, v1, v2, v3]

    def written(folder: str) -> list[tuple[str, int, bytes]]:
        store = Store(tmp_path / folder, deltas=DeltaSettings(every=8, chain=chain))
        parent = None
        for p in versions:
            parent = store.register(p, name="m", parents=[parent] if parent else []).id
            assert all(le_bytes(store.load(parent)[n]) == le_bytes(p[n]) for n in p)
        with store.read() as conn:
            rows = conn.execute(sa.select(blob_encodings).order_by(blob_encodings.c.depth)).all()
        return [(r.codec, r.depth, store.blobs.path(r.stored).read_bytes()) for r in rows]

    sampled = written("sampled")
    monkeypatch.setattr("driftline.store.deltas.shortlist", lambda *args: args[-1])
    assert sampled == written("full")
    assert {codec for codec, _, _ in sampled} >= {Codec.PLANES, Codec.CAST}
