"""Registration is one transaction, and the store computes no statistics: the training data's
signature, schema and drift against parents come from the injected strategy, before the write."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from driftline.drift import Signature
from driftline.errors import UnknownReferenceError
from driftline.store import Store, registration
from driftline.store.engine import DB_FILE
from driftline.store.schema import edges, models, signatures, tensors


def P(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"w": rng.normal(size=(3, 2)).astype(np.float32), "b": np.full(2, seed, np.float32)}


def X(loc: float, n: int = 600, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, 1.0, size=(n, 2))


def _rows(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (models, tensors, edges, signatures)
        }


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store") as s:
        yield s


def test_a_failing_edge_write_leaves_no_model_manifest_or_signature(store_location, monkeypatch):
    with Store(store_location) as store:
        parent = store.register(P(0), name="m")
        before = _rows(store)

        def fail(*args: Any, **kwargs: Any) -> None:
            raise RuntimeError("disk full while writing the edge")

        monkeypatch.setattr(registration, "add_edge", fail)
        with pytest.raises(RuntimeError, match="disk full"):
            store.register(P(1), name="m", parents=[parent], data=X(0.0))
        assert _rows(store) == before  # signature, model row, manifest: all rolled back
        assert [m.ref for m in store.list_models()] == ["m@1"]


def test_an_unknown_parent_writes_no_signature(store_location):
    sig = Signature.from_data(X(0))
    with Store(store_location) as store:
        with pytest.raises(UnknownReferenceError):
            store.register(P(1), name="m", parents=["nosuch@1"], signature=sig)
        assert _rows(store) == {"models": 0, "tensors": 0, "edges": 0, "signatures": 0}


class RecordingStatistics:
    """A strategy that computes nothing real, and checks it runs outside any write transaction:
    it takes the store's write lock itself (it would wait on a lock held by ``register``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.calls: list[tuple[str, Any]] = []
        self.signature_of = Signature.from_data(X(5.0, seed=9))

    def _no_writer(self) -> None:
        assert self.store.root is not None
        db = sqlite3.connect(self.store.root / DB_FILE, timeout=0.2, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")  # "database is locked" if register held the lock
            db.execute("ROLLBACK")
        finally:
            db.close()

    def signature(self, data: object) -> Signature:
        self._no_writer()
        self.calls.append(("signature", data))
        return self.signature_of

    def input_schema(self, data: object, signature: Signature) -> dict[str, Any]:
        self.calls.append(("input_schema", signature.id))
        return {"features": ["a", "b"]}

    def edge_stats(
        self, signature: Signature, data: object | None, parents: Mapping[str, Signature]
    ) -> dict[str, Any]:
        self._no_writer()
        self.calls.append(("edge_stats", sorted(parents)))
        return {"fake": True, "parents": sorted(parents)}


def test_statistics_come_from_the_injected_strategy_outside_the_write(tmp_path):
    with Store(tmp_path / "s") as store:
        fake = RecordingStatistics(store)
        store.statistics = fake
        a = store.register(P(0), name="m", data=X(0.0))
        b = store.register(P(1), name="m", parents=[a], data=X(1.0))
        assert [c[0] for c in fake.calls] == ["signature", "input_schema", "edge_stats"] * 2
        assert fake.calls[-1] == ("edge_stats", [a.id])  # the parent's signature was handed over
        (edge,) = store.parents(b)
        assert edge.data_stats == {"fake": True, "parents": [a.id]}
        assert b.signature_id == fake.signature_of.id
        assert b.architecture["input_schema"] == {"features": ["a", "b"]}


def test_default_statistics_record_moments_and_drift_against_the_parent(store):
    a = store.register(P(0), name="m", data=X(0.0))
    same = store.register(P(1), name="m", parents=[a], data=X(0.0, seed=1))
    moved = store.register(P(2), name="m", parents=[a], data=X(4.0, seed=2))
    (e_same,), (e_moved,) = store.parents(same), store.parents(moved)
    assert e_same.data_stats["n_rows"] == 600
    assert set(e_same.data_stats["moments"]) == set(store.signature(a).features)
    assert e_same.data_stats["drift_vs_parent"][a.id]["drift"] is False
    vs = e_moved.data_stats["drift_vs_parent"][a.id]
    assert vs["drift"] is True and vs["parent_signature_id"] == a.signature_id
    assert vs["score"] > 0.25


def test_a_signature_without_data_stores_moments_but_no_parent_drift(store):
    a = store.register(P(0), name="m", data=X(0.0))
    sig = Signature.from_data(X(3.0))
    b = store.register(P(1), name="m", parents=[a], signature=sig)
    (edge,) = store.parents(b)
    assert edge.data_stats["signature_id"] == sig.id and "drift_vs_parent" not in edge.data_stats
    assert store.signature(b).id == sig.id
