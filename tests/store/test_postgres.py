"""The store on PostgreSQL 15: a throwaway cluster in a temp folder, a small lineage, every query.

Skipped unless ``/usr/lib/postgresql/15/bin/initdb`` exists and ``psycopg`` is importable
(``pip install 'driftline[postgres]'``). Run only these with ``pytest -m postgres``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from driftline.errors import (
    AmbiguousReferenceError,
    CycleError,
    SchemaVersionError,
    UnknownReferenceError,
)
from driftline.params import model_id
from driftline.store import Store
from driftline.store.schema import SCHEMA_VERSION, SEQ_INDEXES, meta, models

pytestmark = pytest.mark.postgres

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def P(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {"w": rng.normal(size=(3, 2)).astype(np.float32), "b": np.array([i], np.int64)}


def test_lineage_on_postgres(pg_url, tmp_path) -> None:
    with Store(pg_url, blob_dir=tmp_path / "blobs") as store:
        assert store.engine.dialect.name == "postgresql"
        a = store.register(P(1), name="base", metrics={"acc": 0.9}, tags={"healthy": True})
        b = store.register(P(2), name="base", parents=[a], metrics={"acc": 0.8})
        c = store.register(P(3), name="base", parents=[b], metrics={"acc": 0.7})
        t = store.register(P(4), name="teacher", metrics={"acc": 0.95}, tags={"healthy": False})
        d = store.register(
            P(5), name="merged", parents=[c, t], transform="merge", params={"w": [0.5, 0.5]}
        )
        assert [m.ref for m in (a, b, c, d)] == ["base@1", "base@2", "base@3", "merged@1"]
        assert store.register(P(2), name="base").id == b.id  # idempotent
        assert b.id == model_id(P(2))

        # references
        assert store.resolve("base@latest") == c.id == store.resolve("base")
        assert store.resolve(d.id[:10]) == d.id
        with pytest.raises(UnknownReferenceError):
            store.resolve("base@9")

        # queries
        anc = store.ancestors(d)
        assert [(r.name, r.hops) for r in anc] == [
            ("base", 1),
            ("teacher", 1),
            ("base", 2),
            ("base", 3),
        ]
        assert [r.id for r in anc] == [c.id, t.id, b.id, a.id]
        assert [r.id for r in store.ancestors(d, max_hops=1)] == [c.id, t.id]
        assert [(r.id, r.hops) for r in store.descendants(a)] == [(b.id, 1), (c.id, 2), (d.id, 3)]
        assert [r.id for r in store.descendants(a, max_hops=2)] == [b.id, c.id]

        near = store.nearest_ancestor(d, {"metrics.acc": 0.9})
        assert (near.id, near.hops) == (a.id, 3)
        near = store.nearest_ancestor(d, {"tags.healthy": True})
        assert (near.id, near.hops) == (a.id, 3)
        near = store.nearest_ancestor(d, models.c.metrics["acc"].as_float() > 0.85)
        assert (near.id, near.hops) == (t.id, 1)
        near = store.nearest_ancestor(d, {"metrics.acc": ..., "name": "base"}, max_hops=2)
        assert (near.id, near.hops) == (c.id, 1)
        assert store.nearest_ancestor(d, {"tags.healthy": None}).id == c.id
        assert store.nearest_ancestor(d, {"metrics.acc": 0.1}) is None
        assert store.nearest_ancestor(d, {"metrics.acc": 0.9}, max_hops=2) is None

        assert store.path(a, d) == [a.id, b.id, c.id, d.id]
        assert store.path(d, a) == [d.id, c.id, b.id, a.id]
        assert store.path(t, a) is None

        nodes, edges = store.subgraph(c, hops=1)
        assert {m.id for m in nodes} == {b.id, c.id, d.id}
        assert {(e.parent, e.child) for e in edges} == {(b.id, c.id), (c.id, d.id)}
        nodes, edges = store.subgraph(d, hops=2)
        assert {m.id for m in nodes} == {b.id, c.id, t.id, d.id}
        assert {(e.parent, e.child, e.kind) for e in edges} == {
            (b.id, c.id, "finetune"),
            (c.id, d.id, "merge"),
            (t.id, d.id, "merge"),
        }

        # cycles refused, nothing changes
        before = store.ancestors(a), store.descendants(a)
        with pytest.raises(CycleError):
            store.add_edge(d, a)
        with pytest.raises(CycleError):
            store.add_edge(b, b)
        with pytest.raises(CycleError):
            store.register(P(1), name="base", parents=[c])
        assert (store.ancestors(a), store.descendants(a)) == before

        # parameters round-trip, metadata-only bulk nodes work too
        back = store.load("merged@1")
        assert all(back[k].tobytes() == P(5)[k].tobytes() for k in P(5))
        child = "ab" * 32
        store.add_nodes_bulk([{"id": child, "name": "bulk"}], [{"parent": d.id, "child": child}])
        assert [r.id for r in store.ancestors(child, max_hops=1)] == [d.id]
        assert store.path(a, child) == [a.id, b.id, c.id, d.id, child]

    # a second process-level open sees the same store and checks its schema version
    with Store(pg_url, blob_dir=tmp_path / "blobs") as again:
        assert again.get("merged@1").id == d.id


def test_ambiguous_prefix_and_schema_version_on_postgres(pg_url, tmp_path) -> None:
    with Store(pg_url, blob_dir=tmp_path / "blobs") as store:
        store.add_nodes_bulk(
            [{"id": "cafe" + "0" * 60, "name": "x"}, {"id": "cafe" + "1" * 60, "name": "y"}]
        )
        with pytest.raises(AmbiguousReferenceError):
            store.resolve("cafe")
        assert store.resolve("cafe1") == "cafe" + "1" * 60
        with store.write() as conn:
            conn.execute(sa.update(meta).where(meta.c.key == "schema_version").values(value="7"))
    try:
        with pytest.raises(SchemaVersionError):
            Store(pg_url, blob_dir=tmp_path / "blobs")
    finally:
        engine = sa.create_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(
                sa.update(meta)
                .where(meta.c.key == "schema_version")
                .values(value=str(SCHEMA_VERSION))
            )
        engine.dispose()


def test_version_1_store_is_migrated_on_postgres(pg_url, pg_server, tmp_path) -> None:
    from test_store import downgrade_to_v1, lineage_answers, seq_consistent, small_lineage

    url = pg_server.new_database("migrate_v1")
    with Store(url, blob_dir=tmp_path / "blobs") as store:
        ids = small_lineage(store)
        expect = lineage_answers(store, ids)
        downgrade_to_v1(store)
        with store.read() as conn:
            assert "seq" not in {c["name"] for c in sa.inspect(conn).get_columns("models")}
    with Store(url, blob_dir=tmp_path / "blobs") as store:
        with store.read() as conn:
            insp = sa.inspect(conn)
            assert conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one() == str(SCHEMA_VERSION)
            assert not any(c["nullable"] for c in insp.get_columns("edges") if "seq" in c["name"])
            indexes = {i["name"] for t in ("models", "edges") for i in insp.get_indexes(t)}
            assert set(SEQ_INDEXES) <= indexes and "ix_edges_child_parent" not in indexes
        assert seq_consistent(store)
        assert lineage_answers(store, ids) == expect
        e = store.register(P(6), name="merged", parents=[ids["d"], ids["a"]], transform="merge")
        assert [r.id for r in store.ancestors(e, max_hops=1)] == [ids["a"], ids["d"]]
        with pytest.raises(CycleError):
            store.add_edge(e, ids["b"])
        assert seq_consistent(store)


def test_version_2_store_is_migrated_on_postgres(pg_url, pg_server, tmp_path) -> None:
    from test_store import chain_consistent, downgrade_to_v2, lineage_answers, small_lineage

    from driftline.store.schema import CHAIN_INDEXES

    url = pg_server.new_database("migrate_v2")
    with Store(url, blob_dir=tmp_path / "blobs") as store:
        ids = small_lineage(store)
        store.register(P(7), name="fork", parents=[ids["a"]])
        expect = lineage_answers(store, ids)
        downgrade_to_v2(store)
    with Store(url, blob_dir=tmp_path / "blobs") as store:
        with store.read() as conn:
            insp = sa.inspect(conn)
            assert conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one() == str(SCHEMA_VERSION)
            assert not any(
                c["nullable"] for c in insp.get_columns("models") if c["name"] in ("chain", "pos")
            )
            indexes = {i["name"] for t in ("models", "chain_links") for i in insp.get_indexes(t)}
            assert set(CHAIN_INDEXES) <= indexes
        assert chain_consistent(store)
        assert lineage_answers(store, ids) == expect
        e = store.register(P(8), name="merged", parents=[ids["x"], ids["t"]], transform="merge")
        assert [r.hops for r in store.ancestors(e) if r.id == ids["a"]] == [5]
        assert chain_consistent(store)
