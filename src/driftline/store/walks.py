"""The lineage queries behind :class:`~driftline.store.Store`'s graph methods, on a connection.

Each takes a start node's ``seq`` (resolved by the caller) and runs the statements of
:mod:`driftline.store.graph`, labelling hop counts in memory (:mod:`driftline.store.hops`).
"""

from __future__ import annotations

import sqlalchemy as sa

from driftline.store import graph
from driftline.store.models import Edge, Model, Relative, edge_from_row, model_from_row
from driftline.store.schema import edges, models


def relatives(
    conn: sa.Connection, seq: int, direction: str, max_hops: int | None
) -> list[Relative]:
    """Ancestors (``up``) or descendants (``down``) of ``seq``, nearest first (ties by name,
    version, id); short bounded walks carry hops in SQL, others walk the chains."""
    if max_hops is not None and max_hops <= graph.BOUNDED_WALK_MAX:
        if max_hops < 1:
            return []
        rows = graph.BOUNDED[direction].rows(conn, start=seq, max_hops=max_hops)
        return graph.relatives_from_keys((h, n, v, i) for i, h, n, v in rows)
    rows = graph.CHAIN[direction].rows(conn, start=seq)
    return graph.relatives_from_chains(rows, direction, max_hops)


def nearest_ancestor(
    conn: sa.Connection, seq: int, where: graph.Predicate, max_hops: int | None
) -> Relative | None:
    """The closest ancestor of ``seq`` satisfying ``where``, or None."""
    if max_hops is not None and max_hops <= graph.BOUNDED_WALK_MAX:
        if max_hops < 1:
            graph.predicate_clause(where)  # still refuse a bad predicate
            return None
        row = conn.execute(graph.nearest_ancestor_query(seq, where, max_hops)).first()
        if row is None:
            return None
        return Relative(row.id, int(row.hops), row.name, row.version)
    query = graph.cached_nearest_query(where)
    rows = graph.fetch_tuples(conn, query, {"start": seq})
    return graph.nearest_from_chains(rows, max_hops)


def shortest_path(conn: sa.Connection, a: tuple[str, int], b: tuple[str, int]) -> list[str] | None:
    """Shortest directed path between nodes ``a`` and ``b`` (``(id, seq)``; either may be the
    ancestor), as ids from ``a`` to ``b``, or None."""
    (ia, sa_), (ib, sb) = a, b
    if ia == ib:
        return [ia]
    up = graph.CLOSURE["up"]
    down = graph.path_from_closure(up.rows(conn, start=sb), sb, ib, sa_)
    if down is not None:
        return down
    path = graph.path_from_closure(up.rows(conn, start=sa_), sa_, ia, sb)
    return None if path is None else list(reversed(path))


def neighbourhood(conn: sa.Connection, seq: int, hops: int) -> tuple[list[Model], list[Edge]]:
    """Models within ``hops`` undirected steps of ``seq`` and the edges among them."""
    erows = conn.execute(graph.neighbourhood_edges_query(seq, hops)).all()
    seqs = {seq} | {r.parent_seq for r in erows} | {r.child_seq for r in erows}
    mrows = conn.execute(sa.select(models).where(models.c.seq.in_(seqs))).all()
    nodes = sorted((model_from_row(r) for r in mrows), key=lambda m: (m.name, m.version))
    return nodes, [edge_from_row(r) for r in erows]


def family(conn: sa.Connection, seq: int) -> tuple[list[Model], list[Edge]]:
    """The roots of ``seq`` (ancestors without parents) and every descendant of those roots,
    with the edges among them (oldest first)."""
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
    nodes = sorted((model_from_row(r) for r in mrows), key=lambda m: (m.name, m.version))
    return nodes, sorted((edge_from_row(r) for r in erows), key=lambda e: e.created_at)
