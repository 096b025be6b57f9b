"""Allocating a new model's ``seq``, ``(chain, pos)`` and version, alone or for a batch.

``seq`` is max + 1 (a batch takes consecutive values). A model with parents extends the chain of
the first parent that is still its chain's tail, else starts a chain of its own at ``(seq, 0)``
(see :mod:`driftline.store.schema`). Versions count up per name. Every function here runs inside
a write transaction, after :func:`next_seq` has serialised the writers (SQLite: ``BEGIN
IMMEDIATE``; PostgreSQL: a transaction-level advisory lock held until commit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import sqlalchemy as sa

from driftline.store.graph import RawQuery
from driftline.store.schema import SEQ_LOCK, models

CHUNK = 500
"""Ids per ``IN (...)`` list (well under SQLite's bound-parameter limit)."""

_SEQ_LOCK = sa.text("SELECT pg_advisory_xact_lock(:k)")
_MAX_SEQ = sa.select(sa.func.max(models.c.seq))
_CHAIN_POS = RawQuery("SELECT chain, pos FROM models WHERE seq = :seq")
_POS_TAKEN = RawQuery("SELECT 1 FROM models WHERE chain = :chain AND pos = :pos")


def next_seq(conn: sa.Connection) -> int:
    """The next free ``models.seq`` (max + 1; a batch takes consecutive values from it).
    Writers are serialised: SQLite by ``BEGIN IMMEDIATE`` (:meth:`Store.write`), PostgreSQL by
    a transaction-level advisory lock taken here, held until commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(_SEQ_LOCK, {"k": SEQ_LOCK})
    return int(conn.execute(_MAX_SEQ).scalar() or 0) + 1


def chain_pos(conn: sa.Connection, seq: int) -> tuple[int, int]:
    """``(chain, pos)`` of the model with ``seq``."""
    c, k = _CHAIN_POS.rows(conn, seq=seq)[0]
    return int(c), int(k)


def new_chain_pos(conn: sa.Connection, seq: int, parents: Sequence[int]) -> tuple[int, int]:
    """``(chain, pos)`` of a new model (seq ``seq``) with parents ``parents`` (seqs, in order):
    after the first parent that is its chain's tail, else a chain of its own. Called under the
    writers' serialisation of :func:`next_seq`."""
    for p in parents:
        c, k = chain_pos(conn, p)
        if not _POS_TAKEN.rows(conn, chain=c, pos=k + 1):
            return c, k + 1
    return seq, 0


def assign_chain(
    parents: Sequence[int], chain_pos: Mapping[int, tuple[int, int]], taken: set[tuple[int, int]]
) -> tuple[int, int] | None:
    """``(chain, pos)`` of a new model whose parents have seqs ``parents`` (in order): after the
    first parent that is its chain's tail (``(chain, pos + 1)`` not in ``taken``; that position
    is added to ``taken``), or None (the model starts a chain of its own)."""
    for p in parents:
        cp = chain_pos.get(p)
        if cp is not None:
            nxt = (cp[0], cp[1] + 1)
            if nxt not in taken:
                taken.add(nxt)
                return nxt
    return None


def next_version(conn: sa.Connection, name: str) -> int:
    """The version a new model named ``name`` gets: the name's highest + 1 (1 for a new name)."""
    q = sa.select(sa.func.max(models.c.version)).where(models.c.name == name)
    return int(conn.execute(q).scalar() or 0) + 1


def latest_versions(conn: sa.Connection, names: Sequence[str]) -> dict[str, int]:
    """The highest stored version of each of ``names`` that has one."""
    out: dict[str, int] = {}
    for i in range(0, len(names), CHUNK):
        q = (
            sa.select(models.c.name, sa.func.max(models.c.version))
            .where(models.c.name.in_(names[i : i + CHUNK]))
            .group_by(models.c.name)
        )
        out.update({name: int(v) for name, v in conn.execute(q)})
    return out


def taken_after(
    conn: sa.Connection, chain_pos: Mapping[int, tuple[int, int]]
) -> set[tuple[int, int]]:
    """The positions right after the given stored models that are already taken (their model is
    no longer its chain's tail): ``(chain, pos + 1)`` for each ``(chain, pos)`` below its
    chain's highest position."""
    taken: set[tuple[int, int]] = set()
    chains = sorted({c for c, _ in chain_pos.values()})
    for i in range(0, len(chains), CHUNK):
        q = (
            sa.select(models.c.chain, sa.func.max(models.c.pos))
            .where(models.c.chain.in_(chains[i : i + CHUNK]))
            .group_by(models.c.chain)
        )
        tail = {int(c): int(p) for c, p in conn.execute(q)}
        taken.update((c, p + 1) for c, p in chain_pos.values() if p < tail.get(c, p))
    return taken


def assign_batch_chains(
    seqs: Iterable[int],
    parents_of: Mapping[int, Sequence[int]],
    chain_pos: dict[int, tuple[int, int]],
    taken: set[tuple[int, int]],
) -> None:
    """Give each new model of a batch (``seqs``, parents before children) its ``(chain, pos)``
    in ``chain_pos``, which already holds the stored parents' (see :func:`assign_chain`)."""
    for seq in seqs:
        ps = parents_of.get(seq)
        cp = assign_chain(ps, chain_pos, taken) if ps else None
        chain_pos[seq] = cp if cp is not None else (seq, 0)
