"""The store: lineage graph (SQL) + content-addressed tensor blobs, behind one object."""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from driftline.errors import (
    AmbiguousReferenceError,
    CycleError,
    DamagedStoreError,
    InvalidInputError,
    UnknownReferenceError,
)
from driftline.jsonutil import jsonable as _jsonable
from driftline.params import ModelParams, Params, as_model_params, model_id, validate_params
from driftline.params.identity import hash_workers, le_view, tensor_hashes
from driftline.params.io import numpy_dtype, save_safetensors
from driftline.store import deltas as delta_store
from driftline.store import deployments as deps
from driftline.store import graph
from driftline.store import signatures as sigs
from driftline.store.aliases import record_alias, resolve_alias
from driftline.store.blob_config import open_blob_store
from driftline.store.blobs import BlobStore
from driftline.store.deltas import DeltaSettings, Encoding
from driftline.store.engine import DB_FILE, default_location, is_url, redact, sqlite_url
from driftline.store.integrity import open_engine, verify_manifest
from driftline.store.models import Edge, Model, TensorInfo
from driftline.store.names import check_name
from driftline.store.schema import (
    SEQ_LOCK,
    assign_chain,
    chain_links,
    edges,
    models,
    tensors,
)
from driftline.store.schema import deployments as deployments_table

EDGE_KINDS = (
    "finetune",
    "prune",
    "distill",
    "merge",
    "quantize",
    "adapter",
    "repair",
    "route",
    "other",
)
_ID_RE = re.compile(r"[0-9a-f]{64}")
_NODE_BY_ID = graph.RawQuery("SELECT id, seq FROM models WHERE id = :id")
_EDGE_EXISTS = graph.RawQuery(
    "SELECT 1 FROM edges WHERE child_seq = :child AND parent_seq = :parent"
)
_CHAIN_POS = graph.RawQuery("SELECT chain, pos FROM models WHERE seq = :seq")
_POS_TAKEN = graph.RawQuery("SELECT 1 FROM models WHERE chain = :chain AND pos = :pos")


def _now() -> float:
    return time.time()


def _row_to_model(row: Any) -> Model:
    return Model(
        id=row.id,
        name=row.name,
        version=row.version,
        framework=row.framework,
        architecture=row.architecture or {},
        signature_id=row.signature_id,
        metrics=row.metrics or {},
        tags=row.tags or {},
        created_at=row.created_at,
        kind=row.kind,
    )


def _row_to_edge(row: Any) -> Edge:
    return Edge(
        parent=row.parent,
        child=row.child,
        kind=row.kind,
        params=row.params or {},
        metrics=row.metrics or {},
        data_stats=row.data_stats or {},
        created_at=row.created_at,
    )


class Store:
    """A driftline store. ``Store()`` opens ``$DRIFTLINE_STORE`` or ``./.driftline``.

    ``location`` is a folder (SQLite ``lineage.db`` + ``blobs/``) or a database URL
    (``postgresql+psycopg://...``). ``blob_dir`` is a folder or an fsspec URL
    (``s3://bucket/prefix``); the first one given is recorded in the database and every later
    client finds it there (see :mod:`driftline.store.blob_config`). Without one: the recorded
    location, else ``$DRIFTLINE_BLOBS`` (database URLs), else ``blobs/`` beside the database
    (``./.driftline/blobs`` for database URLs).
    """

    def __init__(
        self,
        location: str | os.PathLike | None = None,
        *,
        blob_dir: str | os.PathLike | None = None,
        create: bool = True,
        deltas: DeltaSettings | None = None,
    ) -> None:
        self.deltas = deltas  # None: every tensor stored raw (see driftline.store.deltas)
        loc = str(location) if location is not None else default_location()
        must_exist = False
        if blob_dir is None and is_url(loc):
            blob_dir = os.environ.get("DRIFTLINE_BLOBS")
        # an explicit blob location is probed before anything is written (fails with one line)
        explicit = BlobStore(blob_dir) if blob_dir is not None else None
        if is_url(loc):
            self.url = loc
            self.root = None
            blobs = Path(".driftline") / "blobs"
        else:
            self.root = Path(loc)
            db = self.root / DB_FILE
            if db.exists() and not db.is_file():
                raise DamagedStoreError(f"{db} is not a regular file; restore it from backup")
            must_exist = _holds_store(self.root, blob_dir)
            if not db.exists() and not create:
                raise UnknownReferenceError(
                    f"no driftline store at {self.root}; run 'driftline init' (or set DRIFTLINE_STORE)"
                )
            self.root.mkdir(parents=True, exist_ok=True)
            self.url = sqlite_url(self.root)
            blobs = self.root / "blobs"
        self.engine = open_engine(self.url, must_exist=must_exist)
        self.blobs = open_blob_store(self.engine, explicit, blobs)

    def __repr__(self) -> str:
        return f"Store({str(self.root) if self.root else redact(self.url)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------
    @contextlib.contextmanager
    def write(self) -> Iterator[sa.Connection]:
        """A write transaction (SQLite: BEGIN IMMEDIATE). Everything in it commits or nothing."""
        with self.engine.connect().execution_options(write=True) as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    # -- references ---------------------------------------------------------------------------
    def resolve(self, ref: str | Model, conn: sa.Connection | None = None) -> str:
        """Model id for a full id, a unique id prefix, ``name@version``, ``name`` (latest
        version) or ``deployment:NAME``; a name no node has may be an alias (identical content
        registered under it, :func:`~driftline.store.aliases.resolve_alias`)."""
        if isinstance(ref, Model):
            return ref.id
        return self._node(ref, conn)[0]

    def _node(self, ref: str | Model, conn: sa.Connection | None = None) -> tuple[str, int]:
        """``(id, seq)`` of a reference (see :meth:`resolve`); a full id is one indexed
        lookup."""
        ref = ref.id if isinstance(ref, Model) else str(ref).strip()
        if not ref:
            raise UnknownReferenceError(
                "empty model reference; give an id, a prefix or name@version"
            )
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.read())
            if len(ref) == 64 and _ID_RE.fullmatch(ref):
                rows = _NODE_BY_ID.rows(conn, id=ref)
                if rows:
                    return rows[0][0], rows[0][1]
                # not an id: may still be a (64-character hex) name below
            node = sa.select(models.c.id, models.c.seq)
            if ref.startswith("deployment:"):
                dep = ref.split(":", 1)[1]
                found = conn.execute(
                    node.join(deployments_table, deployments_table.c.model_id == models.c.id).where(
                        deployments_table.c.name == dep
                    )
                ).one_or_none()
                if found is None:
                    raise UnknownReferenceError(
                        f"no deployment named {dep!r}; list them with 'driftline deployments'"
                    )
                return found[0], found[1]
            if "@" in ref:
                name, _, ver = ref.rpartition("@")
                q = node.where(models.c.name == name)
                if ver == "latest":
                    q = q.order_by(models.c.version.desc()).limit(1)
                else:
                    q = q.where(models.c.version == _version_number(ref, ver))
                found = conn.execute(q).one_or_none() or resolve_alias(conn, name, ver)
                if found is None:
                    raise UnknownReferenceError(f"no model {ref!r}; see 'driftline list'")
                return found[0], found[1]
            if len(ref) < 64 and re.fullmatch(r"[0-9a-f]{4,63}", ref):
                # ids are lowercase hex: [ref, ref + "g") is exactly the ids starting with ref,
                # as an index range (LIKE 'ref%' scans the whole table on SQLite)
                rows = conn.execute(
                    node.where(models.c.id >= ref, models.c.id < ref + "g")
                    .order_by(models.c.id)
                    .limit(2)
                ).all()
                if len(rows) == 1:
                    return rows[0][0], rows[0][1]
                if len(rows) > 1:
                    raise AmbiguousReferenceError(
                        f"id prefix {ref!r} matches several models; give more characters"
                    )
            found = conn.execute(
                node.where(models.c.name == ref).order_by(models.c.version.desc()).limit(1)
            ).first() or resolve_alias(conn, ref, None)
            if found is None:
                raise UnknownReferenceError(
                    f"no model matches {ref!r}; use a full id, a unique id prefix (>= 4 hex "
                    "characters), name@version, a name, or deployment:NAME"
                )
            return found[0], found[1]

    def get(self, ref: str | Model) -> Model:
        """The model node for a reference."""
        with self.read() as conn:
            mid = self.resolve(ref, conn)
            row = conn.execute(sa.select(models).where(models.c.id == mid)).one()
        return _row_to_model(row)

    def list_models(self, name: str | None = None) -> list[Model]:
        q = sa.select(models).order_by(models.c.name, models.c.version)
        if name:
            q = q.where(models.c.name == name)
        with self.read() as conn:
            return [_row_to_model(r) for r in conn.execute(q)]

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
        signature: Any = None,
        data_stats: Mapping[str, Any] | None = None,
    ) -> Model:
        """Register a model version (idempotent: identical parameters return the same node).

        ``model`` is a params dict, a file path, a fitted scikit-learn estimator or a PyTorch
        module / state dict. ``parents`` become edges of kind ``transform`` carrying ``params``
        (the transformation's settings), ``edge_metrics`` (default: ``metrics``) and
        ``data_stats``. ``data`` (the training data) or ``signature`` stores the model's
        training-data signature.
        """
        _check_name(name)
        if transform not in EDGE_KINDS:
            raise InvalidInputError(
                f"unknown transform {transform!r}; use one of: {', '.join(EDGE_KINDS)}"
            )
        mp = as_model_params(model, mmap=True)  # a file's tensors are hashed and stored mapped
        validate_params(mp.params)  # fully, before anything is written
        hashes = tensor_hashes(mp.params)  # once, in parallel: the blob keys and the id's leaves
        mid = model_id(mp.params, hashes)
        arch = dict(mp.architecture)
        if architecture:
            arch.update(architecture)
        if data is not None:  # the input schema, as the CLI records it
            signature = sigs.training_schema(data, signature, arch)
        sig_id, stats = self._attach_data(data, signature, parents)
        stats = {**stats, **(data_stats or {})}
        blobs, encoded = self._put_tensors(mp.params, hashes, parents)
        with self.write() as conn:
            # under the lock: gc may have removed them
            encoded = self._ensure_blobs(mp.params, blobs, encoded)
            delta_store.record(conn, encoded)
            parent_nodes = list(dict.fromkeys(self._node(p, conn) for p in parents))
            existing = conn.execute(
                sa.select(models.c.seq, models.c.signature_id).where(models.c.id == mid)
            ).one_or_none()
            if existing is None:
                seq = _next_seq(conn)
                chain, pos = _new_chain_pos(conn, seq, [s for _, s in parent_nodes])
                version = (
                    conn.execute(
                        sa.select(sa.func.max(models.c.version)).where(models.c.name == name)
                    ).scalar()
                    or 0
                ) + 1
                conn.execute(
                    sa.insert(models).values(
                        id=mid,
                        name=name,
                        version=version,
                        kind=arch.pop("_kind", "model"),
                        framework=mp.framework,
                        architecture=arch,
                        signature_id=sig_id,
                        metrics=dict(metrics or {}),
                        tags=dict(tags or {}),
                        created_at=_now(),
                        seq=seq,
                        chain=chain,
                        pos=pos,
                    )
                )
                conn.execute(
                    sa.insert(tensors),
                    [
                        {
                            "model_id": mid,
                            "name": k,
                            "dtype": np.dtype(v.dtype).name,
                            "shape": list(v.shape),
                            "blob": blobs[k],
                        }
                        for k, v in mp.params.items()
                    ],
                )
            else:
                seq = existing.seq
                # same content, new name or metadata: recorded as an alias, never dropped
                record_alias(conn, mid, name, metrics, tags)
                if sig_id and existing.signature_id is None:
                    conn.execute(
                        sa.update(models).where(models.c.id == mid).values(signature_id=sig_id)
                    )
            for parent in parent_nodes:
                self._add_edge(
                    conn,
                    parent,
                    (mid, seq),
                    transform,
                    params or {},
                    edge_metrics or metrics or {},
                    stats,
                    new_child=existing is None,
                )
        return self.get(mid)

    def _attach_data(
        self, data: Any, signature: Any, parents: Sequence[str | Model]
    ) -> tuple[str | None, dict[str, Any]]:
        """Store the training-data signature; return its id and the edge's data_stats."""
        if data is None and signature is None:
            return None, {}
        return sigs.attach_training_data(self, data, signature, parents)

    def _ensure_blobs(
        self, params: Params, keys: Mapping[str, str], encoded: Mapping[str, Encoding]
    ) -> list[Encoding]:
        """Re-write any of ``keys`` that is gone (``gc`` deletes only while holding the write
        lock, so once the caller holds it the blobs it checked stay); a new encoded form that
        gc removed is replaced by the raw blob. Returns the encodings still to record."""
        kept = []
        for name, key in keys.items():
            enc = encoded.get(name)
            if enc is not None and self.blobs.exists(enc.stored):
                kept.append(enc)
            elif enc is not None or not self.blobs.exists(key):
                self.blobs.put(le_view(params[name]), key)
        return kept

    def _put_tensors(
        self, params: Params, hashes: Mapping[str, str], parents: Sequence[str | Model] = ()
    ) -> tuple[dict[str, str], dict[str, Encoding]]:
        """Write each tensor's blob (in parallel: fsync and hashing release the GIL), or with
        :attr:`deltas` set its smallest encoding (see :mod:`driftline.store.deltas`); returns
        the keys and the new encodings by tensor name."""
        if self.deltas is not None:
            return self._put_encoded(params, hashes, parents[0] if parents else None)
        names = list(params)
        with ThreadPoolExecutor(max_workers=hash_workers()) as pool:
            keys = pool.map(lambda n: self.blobs.put(le_view(params[n]), hashes[n]), names)
            return dict(zip(names, keys, strict=True)), {}

    def _put_encoded(
        self, params: Params, hashes: Mapping[str, str], parent: str | Model | None
    ) -> tuple[dict[str, str], dict[str, Encoding]]:
        """Tensor by tensor (memory: one tensor and its base): already stored keys are kept,
        others take their smallest form against the first parent's same-named tensor."""
        assert self.deltas is not None
        base_keys, base_dtypes = {}, {}
        if parent is not None:
            items = self.manifest(parent)
            base_keys = {i.name: i.blob for i in items}
            base_dtypes = {i.name: i.dtype for i in items}
        with self.read() as conn:
            known = delta_store.encodings(conn, [*hashes.values(), *base_keys.values()])
        new: dict[str, Encoding] = {}
        for name, arr in params.items():
            key = hashes[name]
            if key in known or self.blobs.exists(key):
                if key not in known:
                    self.blobs.put(le_view(arr), key)  # refresh its age for gc
                continue
            info_key = base_keys.get(name)
            base = delta_store.base_for(
                self.blobs,
                info_key,
                known,
                f"delta base for {name!r}",
                self.deltas.chain,
                base_dtypes.get(name),
            )
            enc = delta_store.put_encoded(self.blobs, arr, key, base, self.deltas)
            if enc is not None:
                new[name] = enc
        return dict(hashes), new

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
        if kind not in EDGE_KINDS:
            raise InvalidInputError(
                f"unknown edge kind {kind!r}; use one of: {', '.join(EDGE_KINDS)}"
            )
        with self.write() as conn:
            p, c = self._node(parent, conn), self._node(child, conn)
            self._add_edge(conn, p, c, kind, params or {}, metrics or {}, data_stats or {})
            row = conn.execute(
                sa.select(edges).where(edges.c.parent == p[0], edges.c.child == c[0])
            ).one()
        return _row_to_edge(row)

    def _add_edge(
        self,
        conn: sa.Connection,
        parent_node: tuple[str, int],
        child_node: tuple[str, int],
        kind: str,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        data_stats: Mapping[str, Any],
        *,
        new_child: bool = False,
    ) -> None:
        """Insert edge parent -> child (``(id, seq)`` pairs) unless it exists; refuse cycles.
        ``new_child``: the child was inserted in this transaction, so it has no edges yet and
        can be no ancestor of anything (no existence check, no walk)."""
        (parent, pseq), (child, cseq) = parent_node, child_node
        if parent == child:
            raise CycleError(f"a model cannot be its own parent ({parent[:12]})")
        if not new_child:
            exists = _EDGE_EXISTS.rows(conn, parent=pseq, child=cseq)
            if exists:
                return
            if graph.IS_ANCESTOR.rows(conn, candidate=cseq, of=pseq):
                raise CycleError(
                    f"edge {parent[:12]} -> {child[:12]} would make a cycle: {child[:12]} is "
                    f"already an ancestor of {parent[:12]}"
                )
        conn.execute(
            sa.insert(edges).values(
                parent=parent,
                child=child,
                parent_seq=pseq,
                child_seq=cseq,
                kind=kind,
                params=dict(params),
                metrics=dict(metrics),
                data_stats=_jsonable(dict(data_stats)),
                created_at=_now(),
            )
        )
        (pc, pp), (cc, cp) = _CHAIN_POS.rows(conn, seq=pseq)[0], _CHAIN_POS.rows(conn, seq=cseq)[0]
        if not (cc == pc and cp == pp + 1):  # not the chain edge: a link
            conn.execute(
                sa.insert(chain_links).values(
                    child_chain=cc, child_pos=cp, parent_chain=pc, parent_pos=pp
                )
            )

    def add_nodes_bulk(
        self,
        nodes: Iterable[Mapping[str, Any]],
        edges: Iterable[Mapping[str, Any]] = (),
        *,
        conn: sa.Connection | None = None,
    ) -> int:
        """Insert many metadata-only nodes (no tensors) and their parent edges at once.

        For imports from another registry and synthetic lineages (``benchmarks/``). A node is a
        mapping with ``id`` (64 lowercase hex characters) and ``name``, optionally ``framework``
        (default ``"external"``), ``architecture``, ``metrics``, ``tags``, ``signature_id`` and
        ``created_at``; versions are assigned per name in the given order after the store's
        existing versions. An edge is a mapping with ``parent`` and ``child`` (ids), optionally
        ``kind`` (default ``"other"``), ``params``, ``metrics`` and ``data_stats``. Every edge's
        child must be a node of this batch and its parent an existing node or a node earlier in
        the batch, so no edge can close a cycle and no recursive check is needed.

        Runs in one write transaction (or in ``conn``, from :meth:`write`); on any error nothing
        is written. Returns the number of nodes inserted.
        """
        node_list = [dict(n) for n in nodes]
        edge_list = [dict(e) for e in edges]
        pos: dict[str, int] = {}
        for i, node in enumerate(node_list):
            nid = node.get("id")
            if not isinstance(nid, str) or not _ID_RE.fullmatch(nid):
                raise InvalidInputError(f"node {i}: id must be 64 lowercase hex characters")
            if nid in pos:
                raise InvalidInputError(f"node {nid[:12]} appears twice in the batch")
            pos[nid] = i
        for name in {n.get("name") for n in node_list}:
            _check_name(name)  # type: ignore[arg-type]
        for e in edge_list:
            kind = e.setdefault("kind", "other")
            if kind not in EDGE_KINDS:
                raise InvalidInputError(
                    f"unknown edge kind {kind!r}; use one of: {', '.join(EDGE_KINDS)}"
                )
            parent, child = e.get("parent"), e.get("child")
            if parent == child:
                raise CycleError(f"a model cannot be its own parent ({str(parent)[:12]})")
            if child not in pos:
                raise InvalidInputError(
                    f"edge child {str(child)[:12]} is not a node of this batch; use add_edge "
                    "for edges between existing models"
                )
            if parent in pos and pos[parent] > pos[child]:
                raise InvalidInputError(
                    f"edge {parent[:12]} -> {child[:12]}: parents must come before their "
                    "children in the batch"
                )
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.write())
            self._bulk_insert(conn, node_list, edge_list, pos)
        return len(node_list)

    def _bulk_insert(
        self,
        conn: sa.Connection,
        node_list: list[dict[str, Any]],
        edge_list: list[dict[str, Any]],
        pos: dict[str, int],
    ) -> None:
        chunk = 500
        ids = list(pos)
        for i in range(0, len(ids), chunk):
            clash = conn.execute(
                sa.select(models.c.id).where(models.c.id.in_(ids[i : i + chunk])).limit(1)
            ).scalar()
            if clash is not None:
                raise InvalidInputError(f"model {clash[:12]} is already in the store")
        outside = sorted({e["parent"] for e in edge_list if e["parent"] not in pos})
        seq_of: dict[str, int] = {}
        chain_pos: dict[int, tuple[int, int]] = {}  # seq -> (chain, pos)
        for i in range(0, len(outside), chunk):
            part = outside[i : i + chunk]
            found = {
                r[0]: (r[1], r[2], r[3])
                for r in conn.execute(
                    sa.select(models.c.id, models.c.seq, models.c.chain, models.c.pos).where(
                        models.c.id.in_(part)
                    )
                )
            }
            if len(found) < len(part):
                missing = next(p for p in part if p not in found)
                raise UnknownReferenceError(f"edge parent {str(missing)[:12]} is not in the store")
            for nid, (seq, c, p) in found.items():
                seq_of[nid] = seq
                chain_pos[seq] = (c, p)
        # under the writers' lock: which outside parents are still their chains' tails
        first = _next_seq(conn)
        taken: set[tuple[int, int]] = set()
        outside_chains = sorted({c for c, _ in chain_pos.values()})
        for i in range(0, len(outside_chains), chunk):
            q = (
                sa.select(models.c.chain, sa.func.max(models.c.pos))
                .where(models.c.chain.in_(outside_chains[i : i + chunk]))
                .group_by(models.c.chain)
            )
            tail = dict(conn.execute(q).all())
            taken.update((c, p + 1) for c, p in chain_pos.values() if p < tail.get(c, p))
        seq_of.update((nid, first + i) for nid, i in pos.items())
        parents_of: dict[int, list[int]] = {}
        for e in edge_list:
            parents_of.setdefault(seq_of[e["child"]], []).append(seq_of[e["parent"]])
        for nid in pos:
            seq = seq_of[nid]
            ps = parents_of.get(seq)
            cp = assign_chain(ps, chain_pos, taken) if ps else None
            chain_pos[seq] = cp if cp is not None else (seq, 0)
        names = sorted({n["name"] for n in node_list})
        version: dict[str, int] = {}
        for i in range(0, len(names), chunk):
            q = (
                sa.select(models.c.name, sa.func.max(models.c.version))
                .where(models.c.name.in_(names[i : i + chunk]))
                .group_by(models.c.name)
            )
            version.update({name: int(v) for name, v in conn.execute(q)})
        now = _now()
        rows = []
        for n in node_list:
            version[n["name"]] = version.get(n["name"], 0) + 1
            rows.append(
                {
                    "id": n["id"],
                    "name": n["name"],
                    "version": version[n["name"]],
                    "kind": "model",
                    "framework": n.get("framework", "external"),
                    "architecture": dict(n.get("architecture") or {}),
                    "signature_id": n.get("signature_id"),
                    "metrics": dict(n.get("metrics") or {}),
                    "tags": dict(n.get("tags") or {}),
                    "created_at": float(n.get("created_at", now)),
                    "seq": seq_of[n["id"]],
                    "chain": chain_pos[seq_of[n["id"]]][0],
                    "pos": chain_pos[seq_of[n["id"]]][1],
                }
            )
        if rows:
            conn.execute(sa.insert(models), rows)
        seen: set[tuple[str, str]] = set()
        erows = []
        lrows = []
        for e in edge_list:
            key = (e["parent"], e["child"])
            if key in seen:
                continue
            seen.add(key)
            pc, pp = chain_pos[seq_of[e["parent"]]]
            cc, cp = chain_pos[seq_of[e["child"]]]
            if not (cc == pc and cp == pp + 1):
                lrows.append(
                    {"child_chain": cc, "child_pos": cp, "parent_chain": pc, "parent_pos": pp}
                )
            erows.append(
                {
                    "parent": e["parent"],
                    "child": e["child"],
                    "parent_seq": seq_of[e["parent"]],
                    "child_seq": seq_of[e["child"]],
                    "kind": e["kind"],
                    "params": dict(e.get("params") or {}),
                    "metrics": dict(e.get("metrics") or {}),
                    "data_stats": _jsonable(dict(e.get("data_stats") or {})),
                    "created_at": float(e.get("created_at", now)),
                }
            )
        if erows:
            conn.execute(sa.insert(edges), erows)
        if lrows:
            conn.execute(sa.insert(chain_links), lrows)

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

        def one(info: TensorInfo) -> np.ndarray:
            where = f"model {model.ref}, tensor {info.name!r}"
            data = delta_store.read_blob(self.blobs, info.blob, encoded, context=where, mmap=mmap)
            return _tensor(data, info, model.ref)

        with ThreadPoolExecutor(max_workers=hash_workers()) as pool:
            arrays = list(pool.map(one, infos))
        return {info.name: arr for info, arr in zip(infos, arrays, strict=True)}

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
        return self._relatives(ref, "up", max_hops)

    def descendants(self, ref: str | Model, max_hops: int | None = None) -> list[graph.Relative]:
        return self._relatives(ref, "down", max_hops)

    def _relatives(
        self, ref: str | Model, direction: str, max_hops: int | None
    ) -> list[graph.Relative]:
        with self.read() as conn:
            _, seq = self._node(ref, conn)
            if max_hops is not None and max_hops <= graph.BOUNDED_WALK_MAX:
                if max_hops < 1:
                    return []
                rows = graph.BOUNDED[direction].rows(conn, start=seq, max_hops=max_hops)
                return graph._relatives((h, n, v, i) for i, h, n, v in rows)
            rows = graph.CHAIN[direction].rows(conn, start=seq)
        return graph.relatives_from_chains(rows, direction, max_hops)

    def nearest_ancestor(
        self, ref: str | Model, where: graph.Predicate, max_hops: int | None = None
    ) -> graph.Relative | None:
        """The closest ancestor satisfying ``where`` (an expression over ``models`` columns or a
        ``{column: value}`` dict), or None."""
        with self.read() as conn:
            _, seq = self._node(ref, conn)
            if max_hops is not None and max_hops <= graph.BOUNDED_WALK_MAX:
                if max_hops < 1:
                    graph.predicate_clause(where)  # still refuse a bad predicate
                    return None
                row = conn.execute(graph.nearest_ancestor_query(seq, where, max_hops)).first()
                if row is None:
                    return None
                return graph.Relative(row.id, int(row.hops), row.name, row.version)
            query = graph.cached_nearest_query(where)
            rows = graph.fetch_tuples(conn, query, {"start": seq})
        return graph.nearest_from_chains(rows, max_hops)

    def path(self, a: str | Model, b: str | Model) -> list[str] | None:
        """Shortest directed path between two models (either may be the ancestor), or None."""
        with self.read() as conn:
            (ia, sa_), (ib, sb) = self._node(a, conn), self._node(b, conn)
            if ia == ib:
                return [ia]
            up = graph.CLOSURE["up"]
            down = graph.path_from_closure(up.rows(conn, start=sb), sb, ib, sa_)
            if down is not None:
                return down
            path = graph.path_from_closure(up.rows(conn, start=sa_), sa_, ia, sb)
            return None if path is None else list(reversed(path))

    def subgraph(self, ref: str | Model, hops: int = 2) -> tuple[list[Model], list[Edge]]:
        """Models within ``hops`` undirected steps of ``ref`` and the edges among them."""
        with self.read() as conn:
            _, seq = self._node(ref, conn)
            erows = conn.execute(graph.neighbourhood_edges_query(seq, hops)).all()
            seqs = {seq} | {r.parent_seq for r in erows} | {r.child_seq for r in erows}
            mrows = conn.execute(sa.select(models).where(models.c.seq.in_(seqs))).all()
        nodes = sorted((_row_to_model(r) for r in mrows), key=lambda m: (m.name, m.version))
        return nodes, [_row_to_edge(r) for r in erows]

    def family(self, ref: str | Model) -> tuple[list[Model], list[Edge]]:
        """The whole family tree of ``ref``: its roots (ancestors without parents) and every
        descendant of those roots, with the edges among them."""
        with self.read() as conn:
            _, seq = self._node(ref, conn)
            rows = graph.CLOSURE["up"].rows(conn, start=seq)
            up = {seq} | {r[1] for r in rows}
            has_parent = {r[0] for r in rows}  # the closure holds every parent edge of ``up``
            seqs = set(up)
            for root in up - has_parent:
                seqs.update(r[1] for r in graph.CLOSURE["down"].rows(conn, start=root))
            mrows = conn.execute(sa.select(models).where(models.c.seq.in_(seqs))).all()
            erows = [
                r
                for r in conn.execute(sa.select(edges).where(edges.c.child_seq.in_(seqs)))
                if r.parent_seq in seqs
            ]
        nodes = sorted((_row_to_model(r) for r in mrows), key=lambda m: (m.name, m.version))
        return nodes, sorted((_row_to_edge(r) for r in erows), key=lambda e: e.created_at)

    # -- signatures and drift reports ------------------------------------------------------------
    def put_signature(self, signature: Any) -> str:
        """Store a :class:`~driftline.drift.Signature` (once per content hash); return its id."""
        with self.write() as conn:
            return sigs.put_signature(conn, signature)

    def signature(self, ref_or_id: str | Model) -> Any:
        """A model's training signature (by model reference), or a signature by its id."""
        with self.read() as conn:
            sid = None
            if isinstance(ref_or_id, str) and len(ref_or_id) == 64:
                sid = conn.execute(
                    sa.select(sigs.signatures.c.id).where(sigs.signatures.c.id == ref_or_id)
                ).scalar_one_or_none()
            if sid is None:
                mid = self.resolve(ref_or_id, conn)
                sid = conn.execute(
                    sa.select(models.c.signature_id).where(models.c.id == mid)
                ).scalar_one()
                if sid is None:
                    ref = conn.execute(
                        sa.select(models.c.name, models.c.version).where(models.c.id == mid)
                    ).one()
                    raise UnknownReferenceError(
                        f"model {ref.name}@{ref.version} has no training signature; attach one with "
                        "'driftline signature DATA --attach REF' or register(..., data=X_train)"
                    )
            return sigs.get_signature(conn, sid)

    def attach_signature(self, ref: str | Model, signature: Any) -> str:
        """Set a model's training signature."""
        with self.write() as conn:
            mid = self.resolve(ref, conn)
            sid = sigs.put_signature(conn, signature)
            conn.execute(sa.update(models).where(models.c.id == mid).values(signature_id=sid))
        return sid

    def save_drift_report(
        self, ref: str | Model, report: Any, deployment: str | None = None
    ) -> int:
        """Append a drift report for a model; returns its id."""
        with self.write() as conn:
            return sigs.save_report(conn, self.resolve(ref, conn), report, deployment)

    def drift_reports(
        self, ref: str | Model | None = None, since: float | None = None, until: float | None = None
    ) -> list[dict[str, Any]]:
        """Stored drift reports (rows with the report JSON), oldest first."""
        with self.read() as conn:
            mid = self.resolve(ref, conn) if ref is not None else None
            return sigs.list_reports(conn, mid, since, until)

    # -- deployments --------------------------------------------------------------------------
    def deploy(
        self, ref: str | Model, name: str, *, reason: str = "", actor: str | None = None
    ) -> deps.DeploymentEvent:
        """Point deployment ``name`` at a model (one transaction, recorded in the history)."""
        with self.write() as conn:
            mid = self.resolve(ref, conn)
            return deps.switch(
                conn, name, mid, action="deploy", reason=reason, actor=actor or deps.default_actor()
            )

    def rollback(
        self, name: str, *, reason: str = "rollback", actor: str | None = None
    ) -> deps.DeploymentEvent:
        """Point ``name`` back at the model it served before its latest switch."""
        with self.write() as conn:
            target = deps.rollback_target(conn, name)
            return deps.switch(
                conn,
                name,
                target,
                action="rollback",
                reason=reason,
                actor=actor or deps.default_actor(),
            )

    def deployments(self) -> list[deps.Deployment]:
        with self.read() as conn:
            return deps.current(conn)

    def deployment_history(self, name: str | None = None) -> list[deps.DeploymentEvent]:
        with self.read() as conn:
            return deps.history(conn, name)

    def deployed_names(self) -> dict[str, list[str]]:
        """model id -> names of the deployments that serve it."""
        out: dict[str, list[str]] = {}
        for d in self.deployments():
            out.setdefault(d.model_id, []).append(d.name)
        return out

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
        return [_row_to_edge(r) for r in rows]


def _holds_store(root: Path, blob_dir: str | os.PathLike | None) -> bool:
    """Whether the folder holds a used store, whose database must not be recreated: it has
    stored blobs. (A store's tables are committed before its first blob is written, so an
    empty database beside blobs was emptied; one without blobs may be a new database that a
    concurrent first opener is creating right now.)"""
    blobs = Path(blob_dir) if blob_dir else root / "blobs"
    return blobs.is_dir() and any(blobs.iterdir())


def _tensor(data: np.ndarray, info: TensorInfo, ref: str) -> np.ndarray:
    """A tensor viewing its verified blob buffer (flat uint8) and shaped by its manifest row
    (a manifest that does not fit the bytes means the database was tampered with). A read-only
    downloaded buffer is copied so that callers get a writeable array unless they asked for
    a memory map."""
    try:
        arr = data.view(numpy_dtype(info.dtype)).reshape(info.shape)
        if not arr.flags.writeable and not isinstance(data, np.memmap):
            arr = arr.copy()
        return arr
    except (TypeError, ValueError) as exc:
        raise DamagedStoreError(
            f"model {ref}, tensor {info.name!r}: the manifest (dtype {info.dtype}, shape "
            f"{list(info.shape)}) does not fit its blob; run 'driftline fsck' and restore the "
            "database from backup"
        ) from exc


def _next_seq(conn: sa.Connection) -> int:
    """The next free ``models.seq`` (max + 1; a batch takes consecutive values from it).
    Writers are serialised: SQLite by ``BEGIN IMMEDIATE`` (:meth:`Store.write`), PostgreSQL by
    a transaction-level advisory lock taken here, held until commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(_SEQ_LOCK, {"k": SEQ_LOCK})
    return (conn.execute(_MAX_SEQ).scalar() or 0) + 1


def _new_chain_pos(conn: sa.Connection, seq: int, parents: Sequence[int]) -> tuple[int, int]:
    """``(chain, pos)`` of a new model (seq ``seq``) with parents ``parents`` (seqs, in order):
    after the first parent that is its chain's tail, else a chain of its own. Called under the
    writers' serialisation of :func:`_next_seq`."""
    for p in parents:
        c, k = _CHAIN_POS.rows(conn, seq=p)[0]
        if not _POS_TAKEN.rows(conn, chain=c, pos=k + 1):
            return c, k + 1
    return seq, 0


_SEQ_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")
_MAX_SEQ = sa.select(sa.func.max(models.c.seq))


def _version_number(ref: str, ver: str) -> int:
    """The version after '@' as a positive 64-bit integer (anything else matches no model)."""
    if not (ver.isascii() and ver.isdigit() and 0 < len(ver) <= 19 and int(ver) < 2**63):
        raise UnknownReferenceError(
            f"bad reference {ref[:80]!r}: the version after '@' must be a positive number or "
            "'latest'"
        )
    return int(ver)


def _check_name(name: str) -> None:
    check_name(name, "model name")
