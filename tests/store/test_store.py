"""The lineage store: registration, versions, verified content-addressed blobs, references,
cycles, schema versions and multi-process access."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from driftline.errors import (
    AmbiguousReferenceError,
    CorruptBlobError,
    CycleError,
    InvalidInputError,
    SchemaVersionError,
    UnknownReferenceError,
)
from driftline.params import load_safetensors, model_id
from driftline.params.identity import tensor_hash
from driftline.store import Store
from driftline.store.blobs import BlobStore
from driftline.store.schema import edges, meta, models, tensors


def P(seed: int, n: int = 4) -> dict[str, np.ndarray]:
    """Small distinct parameter dicts."""
    rng = np.random.default_rng(seed)
    return {
        "layer.weight": rng.normal(size=(n, 3)).astype(np.float32),
        "layer.bias": rng.normal(size=n).astype(np.float32),
        "head": np.array([seed], dtype=np.int64),
    }


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store") as s:
        yield s


def _counts(store: Store) -> tuple[int, int, int]:
    with store.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (models, edges, tensors)
        )


def _blob_files(store: Store) -> list[Path]:
    """Every file under the blob root but the owner markers (driftline.store.blob_owners)."""
    owners = store.blobs.root / ".owners"
    return [p for p in store.blobs.root.rglob("*") if p.is_file() and p.parent != owners]


# -- registration ----------------------------------------------------------------------------------


def test_register_is_idempotent(store) -> None:
    a = store.register(P(1), name="clf", metrics={"acc": 0.9}, tags={"team": "x"})
    assert a.id == model_id(P(1)) and a.version == 1 and a.ref == "clf@1"
    assert a.metrics == {"acc": 0.9} and a.tags == {"team": "x"} and a.framework == "numpy"
    before = _counts(store)
    files = len(_blob_files(store))
    again = store.register({k: v.copy() for k, v in reversed(P(1).items())}, name="clf")
    assert again == a
    other_name = store.register(P(1), name="something-else")
    assert other_name.id == a.id and other_name.ref == "clf@1"
    assert _counts(store) == before
    assert len(_blob_files(store)) == files
    assert [m.ref for m in store.list_models()] == ["clf@1"]


def test_versions_auto_increment_per_name(store) -> None:
    refs = [
        store.register(P(1), name="a").ref,
        store.register(P(2), name="b").ref,
        store.register(P(3), name="a").ref,
        store.register(P(4), name="a").ref,
        store.register(P(5), name="b").ref,
        store.register(P(3), name="a").ref,  # idempotent: no a@4
    ]
    assert refs == ["a@1", "b@1", "a@2", "a@3", "b@2", "a@2"]
    assert [m.version for m in store.list_models("a")] == [1, 2, 3]


def test_register_records_edges(store) -> None:
    base = store.register(P(1), name="m")
    other = store.register(P(2), name="teacher")
    child = store.register(
        P(3),
        name="m",
        parents=[base, other.ref],
        transform="distill",
        params={"T": 2.0},
        metrics={"acc": 0.8},
        data_stats={"rows": np.int64(10), "mean": np.float32(0.5)},
    )
    pe = sorted(store.parents(child), key=lambda e: e.parent)
    assert sorted(e.parent for e in pe) == sorted([base.id, other.id])
    for e in pe:
        assert e.child == child.id and e.kind == "distill"
        assert e.params == {"T": 2.0} and e.metrics == {"acc": 0.8}
        assert e.data_stats == {"rows": 10, "mean": 0.5}
    assert [e.child for e in store.children(base)] == [child.id]


def test_unknown_transform_refused(store) -> None:
    a = store.register(P(1), name="m")
    before = _counts(store)
    with pytest.raises(InvalidInputError, match="transform"):
        store.register(P(2), name="m", parents=[a], transform="teleport")
    b = store.register(P(3), name="m")
    with pytest.raises(InvalidInputError, match="kind"):
        store.add_edge(a, b, "teleport")
    assert _counts(store)[1] == before[1]
    assert store.parents(b) == []


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 201, "é"])
def test_bad_model_name_refused(store, name) -> None:
    with pytest.raises(InvalidInputError):
        store.register(P(1), name=name)


# -- blobs -----------------------------------------------------------------------------------------


def test_shared_tensor_stored_once(store) -> None:
    frozen = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
    for i in range(50):
        store.register({"frozen": frozen, "head": np.full(3, i, np.float32)}, name="ft")
    files = _blob_files(store)
    assert len(files) == 51
    assert sum(p.name == tensor_hash(frozen)[2:] for p in files) == 1
    assert not [p for p in files if p.name.startswith(".tmp")]
    with store.read() as conn:
        n = conn.execute(
            sa.select(sa.func.count()).where(tensors.c.blob == tensor_hash(frozen))
        ).scalar_one()
    assert n == 50


def test_load_only_reads_requested_tensors(store, monkeypatch) -> None:
    params = {f"t{i}": np.full((3,), i, np.float64) for i in range(6)}
    m = store.register(params, name="m")
    read: list[str] = []
    real_get = BlobStore.get_buffer

    def counting_get(self, key, *, context="", mmap=False):
        read.append(key)
        return real_get(self, key, context=context, mmap=mmap)

    monkeypatch.setattr(BlobStore, "get_buffer", counting_get)
    got = store.load(m.ref, names=["t4", "t1"])
    assert sorted(got) == ["t1", "t4"]
    assert np.array_equal(got["t1"], params["t1"]) and np.array_equal(got["t4"], params["t4"])
    assert sorted(read) == sorted([tensor_hash(params["t1"]), tensor_hash(params["t4"])])
    read.clear()
    assert sorted(store.load(m.id)) == sorted(params)
    assert len(read) == 6
    with pytest.raises(InvalidInputError, match="nope"):
        store.load(m.id, names=["t1", "nope"])


def test_load_round_trip_bit_exact(store) -> None:
    import ml_dtypes

    rng = np.random.default_rng(3)
    params = {
        "f64": rng.normal(size=(2, 3)),
        "f16": rng.normal(size=5).astype(np.float16),
        "bf16": rng.normal(size=(4, 1)).astype(ml_dtypes.bfloat16),
        "i8": rng.integers(-128, 127, size=7).astype(np.int8),
        "mask": rng.integers(0, 2, size=(2, 2)).astype(bool),
        "scalar": np.array(3.5, dtype=np.float32),
        "nan": np.array([np.nan, -0.0, np.inf], dtype=np.float32),
    }
    m = store.register(params, name="m")
    back = store.load(m.ref)
    for k, v in params.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        assert back[k].tobytes() == v.tobytes()
    assert model_id(back) == m.id


def test_export_round_trips_bit_exactly(store, tmp_path) -> None:
    import ml_dtypes

    params = {**P(9), "bf": np.arange(6, dtype=np.float32).astype(ml_dtypes.bfloat16)}
    m = store.register(params, name="exp")
    path = store.export("exp@1", tmp_path / "out.safetensors")
    back = load_safetensors(path)
    assert model_id(back) == m.id
    for k, v in params.items():
        assert back[k].dtype == v.dtype and back[k].tobytes() == v.tobytes()
    header_len = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8 : 8 + header_len])
    assert header["__metadata__"]["driftline.id"] == m.id
    # re-registering the exported file finds the same node
    assert store.register(path, name="exp").ref == "exp@1"


def test_tampered_blob_detected(store) -> None:
    m = store.register(P(1), name="victim")
    blob = tensor_hash(P(1)["layer.bias"])
    path = store.blobs.path(blob)
    data = bytearray(path.read_bytes())
    data[0] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptBlobError) as info:
        store.load(m.id)
    msg = str(info.value)
    assert "victim@1" in msg and "layer.bias" in msg and blob[:12] in msg
    # other tensors of the model are still readable
    assert np.array_equal(store.load(m.id, names=["head"])["head"], P(1)["head"])
    path.unlink()
    with pytest.raises(CorruptBlobError, match="missing"):
        store.load(m.id, names=["layer.bias"])


# -- cycles ----------------------------------------------------------------------------------------


def test_cycles_and_self_edges_refused(store) -> None:
    a = store.register(P(1), name="m")
    b = store.register(P(2), name="m", parents=[a])
    c = store.register(P(3), name="m", parents=[b])
    d = store.register(P(4), name="m", parents=[c, a], transform="merge")
    before = _counts(store)
    for parent, child in [(d, a), (c, b), (d, b), (b, a), (c, a)]:
        with pytest.raises(CycleError):
            store.add_edge(parent, child)
    with pytest.raises(CycleError):
        store.add_edge(b, b)
    # re-registering an existing model under one of its descendants is a cycle too
    with pytest.raises(CycleError):
        store.register(P(1), name="m", parents=[d])
    # ... and with a valid parent first, the whole registration is rolled back
    e = store.register(P(5), name="other")
    with pytest.raises(CycleError):
        store.register(P(2), name="m", parents=[e, c])
    # only the valid model e was added (3 tensors); no edge at all
    assert _counts(store) == (before[0] + 1, before[1], before[2] + 3)
    assert store.parents(b)[0].parent == a.id and len(store.parents(b)) == 1
    # an edge that is already there is not an error
    store.add_edge(a, b, "finetune")
    assert _counts(store)[1] == before[1]
    # a legal new edge works
    store.add_edge(a, c, "other")
    assert _counts(store)[1] == before[1] + 1


# -- references ------------------------------------------------------------------------------------


def _colliding_params(prefix_len: int = 4):
    seen: dict[str, int] = {}
    for i in range(100_000):
        mid = model_id({"w": np.array([i], dtype=np.int64)})
        key = mid[:prefix_len]
        if key in seen:
            return {"w": np.array([seen[key]], dtype=np.int64)}, {"w": np.array([i], np.int64)}
        seen[key] = i
    raise AssertionError("no collision found")


def test_reference_resolution(store) -> None:
    a1 = store.register(P(1), name="resnet")
    a2 = store.register(P(2), name="resnet")
    a3 = store.register(P(3), name="resnet")
    p, q = _colliding_params()
    x = store.register(p, name="x")
    y = store.register(q, name="y")
    shared = x.id[:4]
    assert y.id.startswith(shared)

    assert store.resolve(a2.id) == a2.id
    assert store.resolve(a2.id.upper().lower()) == a2.id
    assert store.resolve(a2) == a2.id
    # unique prefixes (shortest unique prefix at least 4 characters)
    for m in (a1, a2, a3):
        assert store.resolve(m.id[:12]) == m.id
    k = next(n for n in range(5, 65) if x.id[:n] != y.id[:n])
    assert store.resolve(x.id[:k]) == x.id and store.resolve(y.id[:k]) == y.id
    with pytest.raises(AmbiguousReferenceError, match="several"):
        store.resolve(shared)
    assert store.resolve("resnet@1") == a1.id
    assert store.resolve("resnet@3") == a3.id
    assert store.resolve("resnet@latest") == a3.id
    assert store.resolve("resnet") == a3.id
    assert store.get("resnet@2") == a2
    for bad in ["resnet@4", "resnet@0", "nosuch", "nosuch@1", "resnet@one", "", "   ", "ffff" * 3]:
        with pytest.raises(UnknownReferenceError):
            store.resolve(bad)
    with pytest.raises(UnknownReferenceError):
        store.load("nosuch")


# -- processes and schema ---------------------------------------------------------------------------


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_store_written_by_one_process_read_by_another(tmp_path) -> None:
    loc = tmp_path / "shared"
    out = _run(
        f"""
        import numpy as np
        from driftline.store import Store
        s = Store({str(loc)!r})
        a = s.register({{"w": np.arange(6, dtype=np.float32)}}, name="base", metrics={{"acc": 0.5}})
        b = s.register({{"w": np.arange(6, dtype=np.float32) + 1}}, name="base", parents=[a],
                       metrics={{"acc": 0.7}})
        print(a.id, b.id)
        """
    )
    aid, bid = out.split()
    with Store(loc, create=False) as s:
        assert s.get("base@1").id == aid and s.get("base@2").id == bid
        assert [r.id for r in s.ancestors(bid)] == [aid]
        assert np.array_equal(s.load(bid)["w"], np.arange(6, dtype=np.float32) + 1)
        c = s.register({"w": np.zeros(2)}, name="base", parents=[bid])
    out = _run(
        f"""
        from driftline.store import Store
        s = Store({str(loc)!r}, create=False)
        print(s.get("base@latest").id, len(s.ancestors("base@3")), s.load("base@3")["w"].sum())
        """
    )
    assert out.split() == [c.id, "2", "0.0"]


def test_missing_store_not_created_when_create_false(tmp_path) -> None:
    with pytest.raises(UnknownReferenceError):
        Store(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_newer_schema_version_refused(tmp_path) -> None:
    loc = tmp_path / "s"
    with Store(loc) as s:
        s.register(P(1), name="m")
        with s.write() as conn:
            conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="99"))
    with pytest.raises(SchemaVersionError, match="99"):
        Store(loc)


def test_foreign_database_refused(tmp_path) -> None:
    db = tmp_path / "foreign" / "lineage.db"
    db.parent.mkdir()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE accounts (id INTEGER PRIMARY KEY)")
    engine.dispose()
    with pytest.raises(SchemaVersionError):
        Store(db.parent)


# -- bulk import -----------------------------------------------------------------------------------


def _hid(i: int) -> str:
    import hashlib

    return hashlib.sha256(f"bulk-{i}".encode()).hexdigest()


def test_add_nodes_bulk(store) -> None:
    base = store.register(P(1), name="zoo")
    nodes = [{"id": _hid(i), "name": "zoo", "metrics": {"acc": i / 10}} for i in range(4)]
    nodes.append({"id": _hid(9), "name": "other", "tags": {"healthy": True}})
    links = [
        {"parent": base.id, "child": _hid(0), "kind": "finetune"},
        {"parent": _hid(0), "child": _hid(1)},
        {"parent": _hid(1), "child": _hid(2)},
        {"parent": _hid(0), "child": _hid(3), "kind": "merge"},
        {"parent": _hid(2), "child": _hid(3), "kind": "merge"},
        {"parent": _hid(2), "child": _hid(3), "kind": "merge"},  # duplicate: stored once
    ]
    assert store.add_nodes_bulk(nodes, links) == 5
    assert [m.version for m in store.list_models("zoo")] == [1, 2, 3, 4, 5]
    assert store.get("zoo@5").id == _hid(3) and store.get("zoo@5").metrics == {"acc": 0.3}
    assert store.get("other").tags == {"healthy": True}
    # nearest first, then name, version: zoo@2, zoo@4 (1 hop), zoo@1, zoo@3 (2 hops)
    assert [(r.id, r.hops) for r in store.ancestors(_hid(3))] == [
        (_hid(0), 1),
        (_hid(2), 1),
        (base.id, 2),
        (_hid(1), 2),
    ]
    assert len(store.parents(_hid(3))) == 2
    assert store.load(_hid(3)) == {}  # metadata only


@pytest.mark.parametrize(
    "nodes, links, error",
    [
        ([{"id": "xyz", "name": "a"}], [], InvalidInputError),
        ([{"id": _hid(1), "name": "a"}] * 2, [], InvalidInputError),
        ([{"id": _hid(1), "name": "bad name"}], [], InvalidInputError),
        ([{"id": _hid(1), "name": "a"}], [{"parent": _hid(1), "child": _hid(1)}], CycleError),
        (
            [{"id": _hid(1), "name": "a"}, {"id": _hid(2), "name": "a"}],
            [{"parent": _hid(2), "child": _hid(1)}],
            InvalidInputError,
        ),
        (
            [{"id": _hid(1), "name": "a"}],
            [{"parent": _hid(7), "child": _hid(1)}],
            UnknownReferenceError,
        ),
        (
            [{"id": _hid(1), "name": "a"}],
            [{"parent": _hid(1), "child": _hid(8)}],
            InvalidInputError,
        ),
        (
            [{"id": _hid(1), "name": "a"}, {"id": _hid(2), "name": "a"}],
            [{"parent": _hid(1), "child": _hid(2), "kind": "teleport"}],
            InvalidInputError,
        ),
    ],
)
def test_add_nodes_bulk_refuses_bad_batches(store, nodes, links, error) -> None:
    store.register(P(1), name="a")
    before = _counts(store)
    with pytest.raises(error):
        store.add_nodes_bulk(nodes, links)
    assert _counts(store) == before


def test_add_nodes_bulk_refuses_existing_ids(store) -> None:
    m = store.register(P(1), name="a")
    before = _counts(store)
    with pytest.raises(InvalidInputError, match="already"):
        store.add_nodes_bulk([{"id": _hid(1), "name": "a"}, {"id": m.id, "name": "a"}])
    assert _counts(store) == before


# -- schema migration ------------------------------------------------------------------------------


def downgrade_to_v2(store: Store) -> None:
    """Turn a store into the version-2 layout: no chain decomposition (``models.chain/pos``,
    ``chain_links``), schema_version 2."""
    from driftline.store.schema import CHAIN_INDEXES

    with store.write() as conn:
        for name in CHAIN_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("DROP TABLE chain_links")
        conn.exec_driver_sql("ALTER TABLE models DROP COLUMN chain")
        conn.exec_driver_sql("ALTER TABLE models DROP COLUMN pos")
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="2"))


def downgrade_to_v1(store: Store) -> None:
    """Turn a store into the version-1 layout: no integer surrogate keys, the text index on
    edges (child, parent), schema_version 1."""
    from driftline.store.schema import SEQ_INDEXES

    downgrade_to_v2(store)
    with store.write() as conn:
        for name in SEQ_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {name}")
        conn.exec_driver_sql("ALTER TABLE models DROP COLUMN seq")
        conn.exec_driver_sql("ALTER TABLE edges DROP COLUMN parent_seq")
        conn.exec_driver_sql("ALTER TABLE edges DROP COLUMN child_seq")
        conn.exec_driver_sql("CREATE INDEX ix_edges_child_parent ON edges (child, parent)")
        conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="1"))


def lineage_answers(store: Store, ids: dict[str, str]) -> tuple:
    """Every graph query on the small lineage of :func:`small_lineage`."""
    a, d, t, x = ids["a"], ids["d"], ids["t"], ids["x"]
    nodes, links = store.subgraph(ids["c"], hops=2)
    fam_nodes, fam_links = store.family(x)
    return (
        store.ancestors(d),
        store.ancestors(x),
        store.ancestors(d, max_hops=1),
        store.descendants(a),
        store.descendants(a, max_hops=2),
        store.nearest_ancestor(x, {"tags.healthy": True}),
        store.nearest_ancestor(x, {"metrics.acc": 0.8}, max_hops=3),
        store.path(a, x),
        store.path(x, a),
        store.path(t, a),
        sorted(m.id for m in nodes),
        sorted((e.parent, e.child) for e in links),
        sorted(m.id for m in fam_nodes),
        sorted((e.parent, e.child) for e in fam_links),
        sorted(e.parent for e in store.parents(d)),
        [e.child for e in store.children(a)],
    )


def small_lineage(store: Store) -> dict[str, str]:
    a = store.register(P(1), name="base", metrics={"acc": 0.9}, tags={"healthy": True})
    b = store.register(P(2), name="base", parents=[a], metrics={"acc": 0.8})
    c = store.register(P(3), name="base", parents=[b])
    t = store.register(P(4), name="teacher")
    d = store.register(P(5), name="merged", parents=[c, t], transform="merge")
    x = _hid(42)
    store.add_nodes_bulk([{"id": x, "name": "bulk"}], [{"parent": d.id, "child": x}])
    return {"a": a.id, "b": b.id, "c": c.id, "t": t.id, "d": d.id, "x": x}


def seq_consistent(store: Store) -> bool:
    """Every model has a distinct seq and every edge repeats its endpoints' seqs."""
    with store.read() as conn:
        n, distinct = conn.exec_driver_sql("SELECT count(*), count(DISTINCT seq) FROM models").one()
        bad = conn.exec_driver_sql(
            "SELECT count(*) FROM edges e JOIN models p ON p.id = e.parent "
            "JOIN models c ON c.id = e.child WHERE p.seq <> e.parent_seq OR c.seq <> e.child_seq"
        ).scalar_one()
    return n == distinct and bad == 0 and chain_consistent(store)


def chain_consistent(store: Store) -> bool:
    """The chain decomposition matches the edges: ``(chain, pos)`` is unique, every model at
    ``pos > 0`` has the model at ``(chain, pos - 1)`` as a parent, a chain head's ``chain`` is
    its ``seq``, and ``chain_links`` holds exactly the other edges."""
    with store.read() as conn:
        node = {s: (c, p) for s, c, p in conn.exec_driver_sql("SELECT seq, chain, pos FROM models")}
        pairs = {
            (ps, cs) for ps, cs in conn.exec_driver_sql("SELECT parent_seq, child_seq FROM edges")
        }
        links = sorted(conn.exec_driver_sql("SELECT * FROM chain_links").all())
    at = {cp: s for s, cp in node.items()}
    if len(at) != len(node):
        return False
    for s, (c, p) in node.items():
        if p == 0 and c != s:
            return False
        if p > 0 and (at.get((c, p - 1)), s) not in pairs:
            return False
    expect = sorted(
        (*node[cs], *node[ps])
        for ps, cs in pairs
        if not (node[cs][0] == node[ps][0] and node[cs][1] == node[ps][1] + 1)
    )
    return [tuple(r) for r in links] == expect


def test_version_1_store_is_migrated(tmp_path) -> None:
    from driftline.store.schema import SCHEMA_VERSION, SEQ_INDEXES

    loc = tmp_path / "s"
    with Store(loc) as s:
        ids = small_lineage(s)
        expect = lineage_answers(s, ids)
        downgrade_to_v1(s)
    engine = sa.create_engine(f"sqlite:///{loc / 'lineage.db'}")
    with engine.connect() as conn:
        assert "seq" not in {c["name"] for c in sa.inspect(conn).get_columns("models")}
    engine.dispose()

    with Store(loc) as s:  # migrated in place
        with s.read() as conn:
            insp = sa.inspect(conn)
            assert conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one() == str(SCHEMA_VERSION)
            indexes = {i["name"] for t in ("models", "edges") for i in insp.get_indexes(t)}
            assert set(SEQ_INDEXES) <= indexes and "ix_edges_child_parent" not in indexes
        assert seq_consistent(s)
        assert lineage_answers(s, ids) == expect
        # registration continues after the backfilled seqs; cycles are still refused
        e = s.register(P(6), name="merged", parents=[ids["d"], ids["a"]], transform="merge")
        assert [r.id for r in s.ancestors(e, max_hops=1)] == [ids["a"], ids["d"]]
        with pytest.raises(CycleError):
            s.add_edge(e, ids["b"])
        assert seq_consistent(s)
        expect = lineage_answers(s, ids)
    with Store(loc) as s:  # opening again is a no-op
        assert lineage_answers(s, ids) == expect


def test_version_2_store_is_migrated(tmp_path) -> None:
    from driftline.store.schema import CHAIN_INDEXES, SCHEMA_VERSION

    loc = tmp_path / "s"
    with Store(loc) as s:
        ids = small_lineage(s)
        # a chain head given a parent later, and a second child of a chain tail
        extra = s.register(P(7), name="late")
        s.add_edge(ids["x"], extra)
        s.register(P(8), name="fork", parents=[ids["a"]])
        assert seq_consistent(s)
        expect = lineage_answers(s, ids)
        downgrade_to_v2(s)
    with Store(loc) as s:  # migrated in place
        with s.read() as conn:
            insp = sa.inspect(conn)
            assert conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one() == str(SCHEMA_VERSION)
            indexes = {i["name"] for t in ("models", "chain_links") for i in insp.get_indexes(t)}
            assert set(CHAIN_INDEXES) <= indexes
        assert seq_consistent(s)
        assert lineage_answers(s, ids) == expect
        e = s.register(P(9), name="merged", parents=[extra, ids["t"]], transform="merge")
        assert [r.id for r in s.ancestors(e, max_hops=1)] == sorted(
            [extra.id, ids["t"]], key=lambda i: s.get(i).name
        )
        assert [r.hops for r in s.ancestors(e) if r.id == ids["a"]] == [6]
        assert seq_consistent(s)


def test_chains_follow_registration(store) -> None:
    """A model extends its first parent's chain while that parent is the chain's tail; a second
    child, a merge's other parents and later edges become links. Walks agree either way."""
    a = store.register(P(1), name="m")
    b = store.register(P(2), name="m", parents=[a])
    c = store.register(P(3), name="m", parents=[a])  # a already extended by b: new chain
    d = store.register(P(4), name="m", parents=[c, b], transform="merge")  # extends c
    x = _hid(7)
    store.add_nodes_bulk(
        [{"id": x, "name": "bulk"}, {"id": _hid(8), "name": "bulk"}],
        [
            {"parent": b.id, "child": x},
            {"parent": x, "child": _hid(8)},
            {"parent": d.id, "child": _hid(8)},
        ],
    )
    with store.read() as conn:
        cp = dict(
            (i, (c_, p)) for i, c_, p in conn.exec_driver_sql("SELECT id, chain, pos FROM models")
        )
    assert cp[b.id][0] == cp[a.id][0] and cp[b.id][1] == 1
    assert cp[c.id][1] == 0 and cp[d.id] == (cp[c.id][0], 1)
    assert cp[x] == (cp[a.id][0], 2) and cp[_hid(8)] == (cp[a.id][0], 3)
    assert seq_consistent(store)
    assert [(r.id, r.hops) for r in store.ancestors(_hid(8))] == [
        (x, 1),  # ties by name, version
        (d.id, 1),
        (b.id, 2),
        (c.id, 2),
        (a.id, 3),
    ]
    assert {r.id: r.hops for r in store.descendants(a)} == {
        b.id: 1,
        c.id: 1,
        d.id: 2,
        x: 2,
        _hid(8): 3,
    }


def test_migration_is_idempotent(tmp_path) -> None:
    """A store whose version row says 1 but whose columns exist (an interrupted or repeated
    upgrade) migrates without error."""
    loc = tmp_path / "s"
    with Store(loc) as s:
        ids = small_lineage(s)
        expect = lineage_answers(s, ids)
        with s.write() as conn:
            conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="1"))
    with Store(loc) as s:
        assert lineage_answers(s, ids) == expect and seq_consistent(s)


def test_a_read_only_store_folder_reads_and_refuses_writes_in_one_line(tmp_path, monkeypatch):
    """A store on a read-only file system (a mounted backup, a shared read-only volume):
    SQLite cannot create its WAL index there, so reads opened the database read-only, and
    a write is one clear error instead of 'unable to open database file'."""
    from driftline.errors import DriftlineError
    from driftline.store import engine

    loc = tmp_path / "s"
    with Store(loc) as s:
        m = s.register(P(1), name="m")
    for extra in ("lineage.db-wal", "lineage.db-shm"):  # as a cleanly closed store has none
        (loc / extra).unlink(missing_ok=True)
    monkeypatch.setattr(engine, "writable", lambda folder: False)
    with Store(loc, create=False) as s:
        assert s.get("m@1").id == m.id and model_id(s.load(m)) == m.id
        with pytest.raises(DriftlineError, match="read-only"):
            s.register(P(2), name="m")
        with pytest.raises(DriftlineError, match="read-only"):
            s.deploy(m, "d")
    assert not (loc / "lineage.db-shm").exists()  # nothing was written beside it
    assert sorted(s.blobs.keys()) == sorted(t.blob for t in s.manifest(m.id))
