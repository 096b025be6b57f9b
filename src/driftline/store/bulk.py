"""Bulk import of metadata-only nodes and their parent edges (:meth:`Store.add_nodes_bulk`).

A batch is checked whole before the transaction (:func:`check_batch`): ids are 64 lowercase hex
characters and unique, names valid, edge kinds known, every edge's child a node of the batch and
its parent an existing node or one earlier in the batch, so no edge can close a cycle and no
recursive check is needed. :func:`insert_batch` then allocates seqs, chain positions and versions
for the whole batch (:mod:`driftline.store.allocation`) and inserts with three multi-row
statements, in the caller's write transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from driftline.errors import CycleError, InvalidInputError, UnknownReferenceError
from driftline.jsonutil import jsonable
from driftline.store import allocation
from driftline.store.allocation import CHUNK
from driftline.store.models import EDGE_KINDS
from driftline.store.names import check_name
from driftline.store.references import ID_RE
from driftline.store.registration import now
from driftline.store.schema import chain_links, edges, models
from driftline.validation import check_choice

Batch = list[dict[str, Any]]


def check_batch(nodes: Batch, batch_edges: Batch) -> dict[str, int]:
    """Validate a batch (see the module docstring; fills each edge's default ``kind``) and
    return each node's position in it by id."""
    pos: dict[str, int] = {}
    for i, node in enumerate(nodes):
        nid = node.get("id")
        if not isinstance(nid, str) or not ID_RE.fullmatch(nid):
            raise InvalidInputError(f"node {i}: id must be 64 lowercase hex characters")
        if nid in pos:
            raise InvalidInputError(f"node {nid[:12]} appears twice in the batch")
        pos[nid] = i
    for name in {n.get("name") for n in nodes}:
        check_name(name, "model name")
    for e in batch_edges:
        check_choice("edge kind", e.setdefault("kind", "other"), EDGE_KINDS)
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
    return pos


def insert_batch(
    conn: sa.Connection, nodes: Batch, batch_edges: Batch, pos: Mapping[str, int]
) -> None:
    """Insert a checked batch in ``conn``'s write transaction (all or nothing)."""
    _refuse_existing(conn, list(pos))
    outside = sorted({e["parent"] for e in batch_edges if e["parent"] not in pos})
    seq_of, chain_pos = _stored_parents(conn, outside)
    # under the writers' lock: which outside parents are still their chains' tails
    first = allocation.next_seq(conn)
    taken = allocation.taken_after(conn, chain_pos)
    seq_of.update((nid, first + i) for nid, i in pos.items())
    parents_of: dict[int, list[int]] = {}
    for e in batch_edges:
        parents_of.setdefault(seq_of[e["child"]], []).append(seq_of[e["parent"]])
    allocation.assign_batch_chains((seq_of[n] for n in pos), parents_of, chain_pos, taken)
    t = now()
    rows = _model_rows(conn, nodes, seq_of, chain_pos, t)
    if rows:
        conn.execute(sa.insert(models), rows)
    erows, lrows = _edge_rows(batch_edges, seq_of, chain_pos, t)
    if erows:
        conn.execute(sa.insert(edges), erows)
    if lrows:
        conn.execute(sa.insert(chain_links), lrows)


def _refuse_existing(conn: sa.Connection, ids: Sequence[str]) -> None:
    for i in range(0, len(ids), CHUNK):
        q = sa.select(models.c.id).where(models.c.id.in_(ids[i : i + CHUNK])).limit(1)
        clash = conn.execute(q).scalar()
        if clash is not None:
            raise InvalidInputError(f"model {clash[:12]} is already in the store")


def _stored_parents(
    conn: sa.Connection, ids: Sequence[str]
) -> tuple[dict[str, int], dict[int, tuple[int, int]]]:
    """seq by id, and ``(chain, pos)`` by seq, of stored models ``ids`` (all must exist)."""
    seq_of: dict[str, int] = {}
    chain_pos: dict[int, tuple[int, int]] = {}
    for i in range(0, len(ids), CHUNK):
        part = ids[i : i + CHUNK]
        q = sa.select(models.c.id, models.c.seq, models.c.chain, models.c.pos)
        found = {r[0]: (r[1], r[2], r[3]) for r in conn.execute(q.where(models.c.id.in_(part)))}
        if len(found) < len(part):
            missing = next(p for p in part if p not in found)
            raise UnknownReferenceError(f"edge parent {str(missing)[:12]} is not in the store")
        for nid, (seq, c, p) in found.items():
            seq_of[nid] = seq
            chain_pos[seq] = (c, p)
    return seq_of, chain_pos


def _model_rows(
    conn: sa.Connection,
    nodes: Batch,
    seq_of: Mapping[str, int],
    chain_pos: Mapping[int, tuple[int, int]],
    t: float,
) -> Batch:
    """``models`` rows; versions per name in batch order, after the stored ones; ``t``: the
    default ``created_at``."""
    version = allocation.latest_versions(conn, sorted({n["name"] for n in nodes}))
    rows = []
    for n in nodes:
        version[n["name"]] = version.get(n["name"], 0) + 1
        seq = seq_of[n["id"]]
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
                "created_at": float(n.get("created_at", t)),
                "seq": seq,
                "chain": chain_pos[seq][0],
                "pos": chain_pos[seq][1],
            }
        )
    return rows


def _edge_rows(
    batch_edges: Batch,
    seq_of: Mapping[str, int],
    chain_pos: Mapping[int, tuple[int, int]],
    t: float,
) -> tuple[Batch, Batch]:
    """``edges`` rows (a repeated parent -> child pair once) and the ``chain_links`` rows of
    the edges that are not chain edges."""
    seen: set[tuple[str, str]] = set()
    erows, lrows = [], []
    for e in batch_edges:
        key = (e["parent"], e["child"])
        if key in seen:
            continue
        seen.add(key)
        pseq, cseq = seq_of[e["parent"]], seq_of[e["child"]]
        (pc, pp), (cc, cp) = chain_pos[pseq], chain_pos[cseq]
        if not (cc == pc and cp == pp + 1):
            lrows.append({"child_chain": cc, "child_pos": cp, "parent_chain": pc, "parent_pos": pp})
        erows.append(
            {
                "parent": e["parent"],
                "child": e["child"],
                "parent_seq": pseq,
                "child_seq": cseq,
                "kind": e["kind"],
                "params": dict(e.get("params") or {}),
                "metrics": dict(e.get("metrics") or {}),
                "data_stats": jsonable(dict(e.get("data_stats") or {})),
                "created_at": float(e.get("created_at", t)),
            }
        )
    return erows, lrows
