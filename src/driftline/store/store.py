"""The store: lineage graph (SQL) + content-addressed tensor blobs, behind one object.

:class:`Store` is the facade; the work is done by modules named for their job: reference
resolution (:mod:`~driftline.store.references`), writes (:mod:`~driftline.store.registration`,
:mod:`~driftline.store.bulk`, :mod:`~driftline.store.allocation`), lineage queries
(:mod:`~driftline.store.walks`), tensor reads (:mod:`~driftline.store.loading`), signatures and
reports (:mod:`~driftline.store.signatures`) and deployments
(:mod:`~driftline.store.deployments`). The store persists and never computes statistics: what
registration records about training data is computed before its write transaction by an
injected :class:`~driftline.store.training_data.TrainingStatistics`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from driftline.errors import InvalidInputError
from driftline.params import ModelParams, Params
from driftline.params.io import save_safetensors
from driftline.store import bulk, graph, registration, walks
from driftline.store import deltas as delta_store
from driftline.store import signatures as sigs
from driftline.store import training_data as training
from driftline.store.deltas import DeltaSettings
from driftline.store.integrity import verify_manifest
from driftline.store.loading import read_tensors
from driftline.store.models import (
    EDGE_KINDS,
    Edge,
    Model,
    TensorInfo,
    edge_from_row,
)
from driftline.store.names import check_name
from driftline.store.records import RecordStore
from driftline.store.registration import EdgeData, NewModel
from driftline.store.schema import edges, models, tensors
from driftline.validation import check_choice

if TYPE_CHECKING:
    from driftline.drift.signature import Signature
    from driftline.store.training_data import TrainingData, TrainingStatistics

__all__ = ["EDGE_KINDS", "Store"]


class Store(RecordStore):
    """A driftline store. ``Store()`` opens ``$DRIFTLINE_STORE`` or ``./.driftline``.

    ``location`` is a folder (SQLite ``lineage.db`` + ``blobs/``) or a database URL
    (``postgresql+psycopg://...``). ``blob_dir`` is a folder or an fsspec URL
    (``s3://bucket/prefix``); the first one given is recorded in the database and every later
    client finds it there (see :mod:`driftline.store.blob_config`). Without one: the recorded
    location, else ``$DRIFTLINE_BLOBS`` (database URLs), else ``blobs/`` beside the database
    (``./.driftline/blobs`` for database URLs). ``deltas`` (this session's delta compression,
    :mod:`driftline.store.deltas`) defaults to the settings recorded in the store by
    ``driftline init --deltas`` (none: tensors stored raw). ``statistics`` computes what :meth:`register`
    records about training data (default: the one the package wires,
    :class:`driftline.drift.lineage_stats.DriftStatistics`).
    """

    def __init__(
        self,
        location: str | os.PathLike | None = None,
        *,
        blob_dir: str | os.PathLike | None = None,
        create: bool = True,
        deltas: DeltaSettings | None = None,
        statistics: TrainingStatistics | None = None,
    ) -> None:
        self.deltas = deltas  # None: every tensor stored raw (see driftline.store.deltas)
        self.statistics = statistics
        super().__init__(location, blob_dir=blob_dir, create=create)
        if deltas is None:  # the settings recorded by `driftline init --deltas`, if any
            with self.read() as conn:
                self.deltas = delta_store.stored_settings(conn)

    # -- registration ---------------------------------------------------------------------------
    def register(
        self,
        model: Any,
        *,
        name: str,
        parents: Sequence[str | Model] = (),
        transform: str = "finetune",
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        edge_metrics: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        architecture: Mapping[str, Any] | None = None,
        data: Any = None,
        signature: Signature | None = None,
        data_stats: Mapping[str, Any] | None = None,
    ) -> Model:
        """Register a model version (idempotent: identical parameters return the same node).

        ``model`` is a params dict, a file path, a fitted scikit-learn estimator or a PyTorch
        module / state dict. ``parents`` become edges of kind ``transform`` carrying ``params``
        (the transformation's settings), ``edge_metrics`` (default: ``metrics``) and
        ``data_stats``. ``data`` (the training data) or ``signature`` stores the model's
        training-data signature; with ``data``, each edge's ``data_stats`` also holds the data's
        drift against the parent's training signature, computed before the write transaction.
        The model row, manifest, edges and signature commit in one transaction, or nothing does.

        >>> import numpy as np, tempfile
        >>> with tempfile.TemporaryDirectory() as tmp, Store(tmp) as store:
        ...     base = store.register({"w": np.zeros((2, 2), np.float32)}, name="demo")
        ...     tuned = store.register({"w": np.ones((2, 2), np.float32)}, name="demo",
        ...                            parents=[base], params={"epochs": 3})
        ...     again = store.register({"w": np.ones((2, 2), np.float32)}, name="demo")
        ...     print(base.ref, tuned.ref, again.id == tuned.id)
        ...     print([(r.name, r.version, r.hops) for r in store.ancestors(tuned)])
        demo@1 demo@2 True
        [('demo', 1, 1)]
        """
        check_name(name, "model name")
        check_choice("transform", transform, EDGE_KINDS)
        self.check_writable()  # before any blob is written
        prepared = registration.prepare(model, architecture)
        schema = "input_schema" not in prepared.architecture
        found = self._training_data(data, signature, parents, schema)
        if found is not None and found.input_schema is not None:  # as the CLI records it
            arch = {**prepared.architecture, "input_schema": found.input_schema}
            prepared = dataclasses.replace(prepared, architecture=arch)
        new = NewModel(
            prepared,
            name,
            parents,
            transform,
            metrics=dict(metrics or {}),
            tags=dict(tags or {}),
            edge_params=dict(params or {}),
            edge_metrics=dict(edge_metrics or metrics or {}),
            edge_stats={**(found.edge_stats if found else {}), **(data_stats or {})},
            signature=found.signature if found else None,
        )
        first = parents[0] if parents else None
        self._claim_blobs()
        blobs, encoded = registration.put_tensors(self, prepared.params, prepared.hashes, first)
        with self.write() as conn:
            # under the lock: gc may have removed them
            kept = registration.ensure_blobs(conn, self, prepared.params, blobs, encoded)
            delta_store.record(conn, kept)
            registration.commit(conn, new, blobs)
        return self.get(prepared.id)

    def _claim_blobs(self) -> None:
        """Mark the blob folder as holding this store's blobs (see
        :mod:`driftline.store.blob_owners`), once per store object."""
        if getattr(self, "_claimed", False):
            return
        from driftline.store import blob_owners

        with self.read() as conn:
            sid = blob_owners.store_id(conn, create=False)
        if sid is None:
            with self.write() as conn:
                sid = blob_owners.store_id(conn, create=True)
        assert sid is not None
        blob_owners.claim(self.blobs, sid)
        self._claimed = True

    def _training_data(
        self, data: Any, signature: Signature | None, parents: Sequence[str | Model], schema: bool
    ) -> TrainingData | None:
        """What :meth:`register` stores about the training data, computed here, before (and
        outside) the write transaction, from the parents' signatures read beforehand."""
        if data is None and signature is None:
            return None
        parent_sigs: dict[str, Signature] = {}
        if data is not None and parents:
            with self.read() as conn:
                ids = [self.resolve(p, conn) for p in parents]
                parent_sigs = sigs.parent_signatures(conn, ids)
        stats = self.statistics or training.default_statistics()
        return training.describe(stats, data, signature, parent_sigs, needs_schema=schema)

    def add_edge(
        self,
        parent: str | Model,
        child: str | Model,
        kind: str = "other",
        *,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, Any] | None = None,
        data_stats: Mapping[str, Any] | None = None,
    ) -> Edge:
        """Add a typed edge between existing models; refuses self-edges and cycles."""
        check_choice("edge kind", kind, EDGE_KINDS)
        data = EdgeData(params or {}, metrics or {}, data_stats or {})
        with self.write() as conn:
            p, c = self._node(parent, conn), self._node(child, conn)
            registration.add_edge(conn, p, c, kind, data)
            row = conn.execute(
                sa.select(edges).where(edges.c.parent == p[0], edges.c.child == c[0])
            ).one()
        return edge_from_row(row)

    def add_nodes_bulk(
        self,
        nodes: Iterable[Mapping[str, Any]],
        edges: Iterable[Mapping[str, Any]] = (),
        *,
        conn: sa.Connection | None = None,
    ) -> int:
        """Insert many metadata-only nodes (no tensors) and their parent edges at once, for
        imports from another registry and synthetic lineages (rules: :mod:`driftline.store.bulk`).

        A node maps ``id`` (64 lowercase hex characters) and ``name``, optionally ``framework``
        (default ``"external"``), ``architecture``, ``metrics``, ``tags``, ``signature_id``,
        ``created_at``; versions follow per name, in order. An edge maps ``parent`` and ``child``
        (ids), optionally ``kind`` (default ``"other"``), ``params``, ``metrics``, ``data_stats``.
        One write transaction (or ``conn``, from :meth:`write`): on any error nothing is written.
        Returns the number of nodes inserted.
        """
        node_list = [dict(n) for n in nodes]
        edge_list = [dict(e) for e in edges]
        pos = bulk.check_batch(node_list, edge_list)
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.write())
            bulk.insert_batch(conn, node_list, edge_list, pos)
        return len(node_list)

    def update_metrics(self, ref: str | Model, metrics: Mapping[str, Any]) -> Model:
        """Merge ``metrics`` into a model's metrics JSON."""
        with self.write() as conn:
            mid = self.resolve(ref, conn)
            cur = conn.execute(sa.select(models.c.metrics).where(models.c.id == mid)).scalar_one()
            conn.execute(
                sa.update(models).where(models.c.id == mid).values(metrics={**cur, **metrics})
            )
        return self.get(mid)

    # -- parameters -----------------------------------------------------------------------------
    def manifest(self, ref: str | Model) -> list[TensorInfo]:
        with self.read() as conn:
            mid = self.resolve(ref, conn)
            rows = conn.execute(
                sa.select(tensors).where(tensors.c.model_id == mid).order_by(tensors.c.name)
            ).all()
        return [TensorInfo(r.name, r.dtype, tuple(r.shape), r.blob) for r in rows]

    def load(
        self, ref: str | Model, names: Iterable[str] | None = None, *, mmap: bool = False
    ) -> Params:
        """The model's tensors (only ``names`` when given), each verified against its hash.

        Blobs are read in parallel, each straight into its tensor's buffer (one copy from the
        page cache). ``mmap=True`` returns read-only memory-mapped tensors for local blob
        folders (no copy at all; the pages are read when touched, after the hash check)."""
        model = self.get(ref)
        infos = self.manifest(model.id)
        verify_manifest(model, infos)
        if names is not None:
            wanted = list(names)
            known = {i.name for i in infos}
            missing = [n for n in wanted if n not in known]
            if missing:
                raise InvalidInputError(
                    f"model {model.ref} has no tensor(s) {', '.join(missing)}; see 'driftline show {model.ref}'"
                )
            infos = [i for i in infos if i.name in set(wanted)]
        with self.read() as conn:
            encoded = delta_store.encodings(conn, [i.blob for i in infos])
        return read_tensors(self.blobs, infos, encoded, model.ref, mmap=mmap)

    def load_model_params(self, ref: str | Model) -> ModelParams:
        model = self.get(ref)
        return ModelParams(self.load(model.id), model.framework, model.architecture)

    def load_estimator(self, ref: str | Model) -> Any:
        """Rebuild a scikit-learn estimator from its stored parameters."""
        from driftline.params.sklearn import params_to_estimator

        mp = self.load_model_params(ref)
        return params_to_estimator(mp.params, mp.architecture)

    def export(self, ref: str | Model, path: str | os.PathLike) -> Path:
        """Write the model to ``.safetensors`` (with id, name and version as metadata)."""
        model = self.get(ref)
        meta = {"driftline.id": model.id, "driftline.ref": model.ref, "framework": model.framework}
        return save_safetensors(self.load(model.id, mmap=True), path, metadata=meta)

    # -- graph queries ---------------------------------------------------------------------------
    def ancestors(self, ref: str | Model, max_hops: int | None = None) -> list[graph.Relative]:
        with self.read() as conn:
            return walks.relatives(conn, self._node(ref, conn)[1], "up", max_hops)

    def descendants(self, ref: str | Model, max_hops: int | None = None) -> list[graph.Relative]:
        with self.read() as conn:
            return walks.relatives(conn, self._node(ref, conn)[1], "down", max_hops)

    def nearest_ancestor(
        self, ref: str | Model, where: graph.Predicate, max_hops: int | None = None
    ) -> graph.Relative | None:
        """The closest ancestor satisfying ``where`` (an expression over ``models`` columns or a
        ``{column: value}`` dict), or None."""
        with self.read() as conn:
            return walks.nearest_ancestor(conn, self._node(ref, conn)[1], where, max_hops)

    def path(self, a: str | Model, b: str | Model) -> list[str] | None:
        """Shortest directed path between two models (either may be the ancestor), or None."""
        with self.read() as conn:
            return walks.shortest_path(conn, self._node(a, conn), self._node(b, conn))

    def subgraph(self, ref: str | Model, hops: int = 2) -> tuple[list[Model], list[Edge]]:
        """Models within ``hops`` undirected steps of ``ref`` and the edges among them."""
        with self.read() as conn:
            return walks.neighbourhood(conn, self._node(ref, conn)[1], hops)

    def family(self, ref: str | Model) -> tuple[list[Model], list[Edge]]:
        """The whole family tree of ``ref``: its roots (ancestors without parents) and every
        descendant of those roots, with the edges among them."""
        with self.read() as conn:
            return walks.family(conn, self._node(ref, conn)[1])

    def parents(self, ref: str | Model) -> list[Edge]:
        return self._edges(ref, edges.c.child_seq)

    def children(self, ref: str | Model) -> list[Edge]:
        return self._edges(ref, edges.c.parent_seq)

    def _edges(self, ref: str | Model, column: sa.Column) -> list[Edge]:
        with self.read() as conn:
            _, seq = self._node(ref, conn)
            rows = conn.execute(
                sa.select(edges).where(column == seq).order_by(edges.c.created_at)
            ).all()
        return [edge_from_row(r) for r in rows]
