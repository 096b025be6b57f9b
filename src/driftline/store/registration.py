"""Registering one model: its tensors' blobs, then one write transaction for everything else.

Blobs are written first, outside the transaction (content-addressed: an interrupted registration
leaves only orphans, which ``gc`` removes). Then :func:`commit` writes, in the caller's one write
transaction, the training signature, the model row (or an alias of identical content), its tensor
manifest and its parent edges with their ``data_stats``: all of it commits together or not at all.
Statistics of the training data arrive computed (:mod:`driftline.store.training_data`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import sqlalchemy as sa

from driftline.errors import CycleError
from driftline.jsonutil import jsonable
from driftline.params import Params, as_model_params, model_id, validate_params
from driftline.params.identity import hash_workers, io_workers, le_view, tensor_hashes
from driftline.store import allocation
from driftline.store import deltas as delta_store
from driftline.store import signatures as sigs
from driftline.store.aliases import record_alias
from driftline.store.deltas import Encoding
from driftline.store.graph import IS_ANCESTOR, RawQuery
from driftline.store.models import Model
from driftline.store.references import Node, resolve_node
from driftline.store.schema import chain_links, edges, models, tensors

if TYPE_CHECKING:
    from driftline.drift.signature import Signature
    from driftline.store.store import Store

_EDGE_EXISTS = RawQuery("SELECT 1 FROM edges WHERE child_seq = :child AND parent_seq = :parent")


@dataclass(frozen=True)
class Prepared:
    """A model read, validated and hashed, before anything is written."""

    params: Params
    hashes: dict[str, str]  # tensor name -> SHA-256 of its bytes (its blob key)
    id: str  # the Merkle root over the tensors
    framework: str
    architecture: dict[str, Any]


def prepare(model: Any, architecture: Mapping[str, Any] | None) -> Prepared:
    """Read ``model`` (a file's tensors stay memory-mapped), validate it fully and hash every
    tensor once, in parallel (the blob keys and the id's leaves)."""
    mp = as_model_params(model, mmap=True)
    validate_params(mp.params)
    hashes = tensor_hashes(mp.params)
    arch = dict(mp.architecture)
    arch.update(architecture or {})
    return Prepared(mp.params, dict(hashes), model_id(mp.params, hashes), mp.framework, arch)


@dataclass(frozen=True)
class NewModel:
    """What one registration writes in its transaction (see :func:`commit`)."""

    prepared: Prepared
    name: str
    parents: Sequence[str | Model] = ()  # references
    transform: str = "finetune"
    metrics: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, Any] = field(default_factory=dict)
    edge_params: Mapping[str, Any] = field(default_factory=dict)
    edge_metrics: Mapping[str, Any] = field(default_factory=dict)
    edge_stats: Mapping[str, Any] = field(default_factory=dict)
    signature: Signature | None = None


def commit(conn: sa.Connection, new: NewModel, blobs: Mapping[str, str]) -> None:
    """Write the signature, the model row (or an alias), its manifest and its parent edges in
    ``conn``'s transaction (the caller's :meth:`Store.write`)."""
    p = new.prepared
    parent_nodes = list(
        dict.fromkeys(resolve_node(conn, r.id if isinstance(r, Model) else r) for r in new.parents)
    )
    sig_id = sigs.put_signature(conn, new.signature) if new.signature is not None else None
    existing = conn.execute(
        sa.select(models.c.seq, models.c.signature_id).where(models.c.id == p.id)
    ).one_or_none()
    if existing is None:
        seq = _insert_model(conn, new, sig_id, [s for _, s in parent_nodes])
        insert_manifest(conn, p.id, p.params, blobs)
    else:
        seq = existing.seq
        # same content, new name or metadata: recorded as an alias, never dropped
        record_alias(conn, p.id, new.name, new.metrics, new.tags)
        if sig_id and existing.signature_id is None:
            conn.execute(sa.update(models).where(models.c.id == p.id).values(signature_id=sig_id))
    for parent in parent_nodes:
        add_edge(
            conn,
            parent,
            (p.id, seq),
            new.transform,
            EdgeData(new.edge_params, new.edge_metrics, new.edge_stats),
            new_child=existing is None,
        )


def _insert_model(
    conn: sa.Connection, new: NewModel, sig_id: str | None, parent_seqs: Sequence[int]
) -> int:
    """Insert the model row with its allocated seq, chain position and version; return seq."""
    p = new.prepared
    seq = allocation.next_seq(conn)
    chain, pos = allocation.new_chain_pos(conn, seq, parent_seqs)
    arch = dict(p.architecture)
    conn.execute(
        sa.insert(models).values(
            id=p.id,
            name=new.name,
            version=allocation.next_version(conn, new.name),
            kind=arch.pop("_kind", "model"),
            framework=p.framework,
            architecture=arch,
            signature_id=sig_id,
            metrics=dict(new.metrics),
            tags=dict(new.tags),
            created_at=now(),
            seq=seq,
            chain=chain,
            pos=pos,
        )
    )
    return seq


def insert_manifest(
    conn: sa.Connection, mid: str, params: Params, blobs: Mapping[str, str]
) -> None:
    """One ``tensors`` row per tensor: name, dtype, shape and blob key."""
    rows = [
        {
            "model_id": mid,
            "name": k,
            "dtype": np.dtype(v.dtype).name,
            "shape": list(v.shape),
            "blob": blobs[k],
        }
        for k, v in params.items()
    ]
    conn.execute(sa.insert(tensors), rows)


@dataclass(frozen=True)
class EdgeData:
    """An edge's JSON columns: the transformation's settings, metrics and data statistics."""

    params: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, Any] = field(default_factory=dict)
    data_stats: Mapping[str, Any] = field(default_factory=dict)


def add_edge(
    conn: sa.Connection,
    parent_node: Node,
    child_node: Node,
    kind: str,
    data: EdgeData,
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
        if _EDGE_EXISTS.rows(conn, parent=pseq, child=cseq):
            return
        if IS_ANCESTOR.rows(conn, candidate=cseq, of=pseq):
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
            params=dict(data.params),
            metrics=dict(data.metrics),
            data_stats=jsonable(dict(data.data_stats)),
            created_at=now(),
        )
    )
    (pc, pp), (cc, cp) = allocation.chain_pos(conn, pseq), allocation.chain_pos(conn, cseq)
    if not (cc == pc and cp == pp + 1):  # not the chain edge: a link
        conn.execute(
            sa.insert(chain_links).values(
                child_chain=cc, child_pos=cp, parent_chain=pc, parent_pos=pp
            )
        )


def now() -> float:
    """Timestamps are UTC seconds since the epoch."""
    return time.time()


# -- blobs ---------------------------------------------------------------------------------------
def put_tensors(
    store: Store, params: Params, hashes: Mapping[str, str], parent: str | Model | None = None
) -> tuple[dict[str, str], dict[str, Encoding]]:
    """Write each tensor's blob (in parallel: fsync and hashing release the GIL), or with
    ``store.deltas`` set its smallest encoding (see :mod:`driftline.store.deltas`) against the
    first parent ``parent``; returns the keys and the new encodings by tensor name."""
    if store.deltas is not None:
        return _put_encoded(store, params, hashes, parent)
    names = list(params)
    with ThreadPoolExecutor(max_workers=io_workers()) as pool:
        keys = pool.map(lambda n: store.blobs.put(le_view(params[n]), hashes[n]), names)
        return dict(zip(names, keys, strict=True)), {}


def _put_encoded(
    store: Store, params: Params, hashes: Mapping[str, str], parent: str | Model | None
) -> tuple[dict[str, str], dict[str, Encoding]]:
    """Tensors in parallel (``hash_workers`` threads: zstd, hashing and numpy release the GIL;
    memory: one tensor, its base and their encodings per thread): already stored keys are kept,
    others take their smallest form against the first parent's same-named tensor."""
    settings = store.deltas
    assert settings is not None
    items = store.manifest(parent) if parent is not None else []
    base_keys = {i.name: i.blob for i in items}
    base_dtypes = {i.name: i.dtype for i in items}  # a cast delta predicts from the parent's dtype
    with store.read() as conn:
        known = delta_store.encodings(conn, [*hashes.values(), *base_keys.values()])

    def one(name: str) -> Encoding | None:
        arr, key = params[name], hashes[name]
        if key in known or store.blobs.exists(key):
            if key not in known:
                store.blobs.put(le_view(arr), key)  # refresh its age for gc
            return None
        base = delta_store.base_for(
            store.blobs,
            base_keys.get(name),
            known,
            f"delta base for {name!r}",
            settings.chain,
            base_dtypes.get(name),
        )
        return delta_store.put_encoded(store.blobs, arr, key, base, settings)

    names = list(params)
    with ThreadPoolExecutor(max_workers=hash_workers()) as pool:
        found = dict(zip(names, pool.map(one, names), strict=True))
    return dict(hashes), {n: enc for n, enc in found.items() if enc is not None}


def ensure_blobs(
    conn: sa.Connection,
    store: Store,
    params: Params,
    keys: Mapping[str, str],
    encoded: Mapping[str, Encoding],
) -> list[Encoding]:
    """Re-write any of ``keys`` that is gone (``gc`` deletes only while holding the write
    lock, so once the caller holds it the blobs it checked stay); a new encoded form that
    gc removed is replaced by the raw blob. A key already recorded with an encoding is kept
    as it is (gc keeps every recorded encoding's objects): writing its raw bytes as well would
    store an unchanged tensor twice. Returns the encodings still to record."""
    recorded = delta_store.encodings(conn, keys.values()) if store.deltas is not None else {}
    kept = []
    for name, key in keys.items():
        enc = encoded.get(name)
        if enc is not None and store.blobs.exists(enc.stored):
            kept.append(enc)
        elif enc is None and key in recorded:
            continue
        elif enc is not None or not store.blobs.exists(key):
            store.blobs.put(le_view(params[name]), key)
    return kept
