"""Lineage-graph statements. Each query is one recursive-CTE statement (one database round trip).

Walks run over the integer surrogate keys (``edges.child_seq`` / ``edges.parent_seq``, index-only
through ``ix_edges_child_seq`` / ``ix_edges_parent_seq``); only the rows they return are mapped
back to ids, names and versions (``models.seq``, covering index ``ix_models_seq_node``).

``ancestors``, ``descendants`` (without a small ``max_hops``) and ``nearest_ancestor`` walk the
chain decomposition (:mod:`driftline.store.schema`): a recursive CTE follows only the *links*
(edges that are not chain edges) from entry point to entry point — a few hundred rows for a
depth-1000 lineage with merges instead of one index probe per ancestor — and the models come
from one index range per reached chain (its prefix upwards, its suffix downwards), in the same
statement (:data:`CHAIN`). Hop counts are computed in memory (:mod:`driftline.store.hops`).

``path`` and ``family`` fetch the *edges* of the ancestor (descendant) subgraph with one
recursive CTE that visits every edge once (``UNION`` over edge rows), and the hop counts come
from a breadth-first pass over those rows in memory. A CTE that carries hop counts itself
(``UNION`` over ``(id, hops)``) must keep every distinct path length to every node, which grows
quadratically on deep lineages with merges (a depth-1000 chain with 5% merges: ~10^5 rows instead
of ~10^3). Short bounded walks (``max_hops <= BOUNDED_WALK_MAX``) still carry hops in SQL.

The fixed statements are plain SQL compiled once per dialect and run on the DBAPI cursor
(:class:`RawQuery`): their rows are integers and strings, so SQLAlchemy's row objects and result
processing would only add per-row overhead.

The in-memory half (hop counts from these rows) is :mod:`driftline.store.hops`; its functions
are re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from driftline.store.hops import (
    ChainHops,
    bfs_hops,
    closure_hops,
    nearest_from_chains,
    path_from_closure,
    relatives_from_chains,
    relatives_from_closure,
    relatives_from_keys,
)
from driftline.store.models import Relative
from driftline.store.schema import chain_links, edges, models

__all__ = [
    "BOUNDED",
    "BOUNDED_WALK_MAX",
    "CHAIN",
    "CLOSURE",
    "IS_ANCESTOR",
    "ChainHops",
    "Predicate",
    "RawQuery",
    "Relative",
    "bfs_hops",
    "cached_nearest_query",
    "closure_hops",
    "fetch_tuples",
    "nearest_ancestor_query",
    "nearest_chain_query",
    "nearest_from_chains",
    "neighbourhood_edges_query",
    "path_from_closure",
    "predicate_clause",
    "relatives_from_chains",
    "relatives_from_closure",
    "relatives_from_keys",
]

Predicate = sa.ColumnElement[bool] | Mapping[str, Any]


class RawQuery:
    """A fixed SQL statement with ``:name`` binds, compiled once per dialect, executed on the
    DBAPI cursor of a SQLAlchemy connection (inside its transaction, if any). Returns plain
    tuples; only for statements whose columns need no result processing (integers, strings)
    and whose parameters need no bind processing."""

    def __init__(self, sql: str) -> None:
        self.text = sa.text(sql)
        self._compiled: dict[tuple[str, str], tuple[str, Sequence[str] | None]] = {}

    def rows(self, conn: sa.Connection, **params: Any) -> Sequence[Any]:
        dialect = conn.dialect
        key = (dialect.name, dialect.driver)
        compiled = self._compiled.get(key)
        if compiled is None:
            c = self.text.compile(dialect=dialect)
            compiled = self._compiled[key] = (str(c), c.positiontup if dialect.positional else None)
        sql, order = compiled
        args: Any = params if order is None else tuple(params[k] for k in order)
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, args)
            return cursor.fetchall()
        finally:
            cursor.close()


def _near_far(direction: str) -> tuple[str, str]:
    """Edge columns (near endpoint, far endpoint) of a walk ``up`` (to parents) or ``down``."""
    if direction not in ("up", "down"):
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    return ("child_seq", "parent_seq") if direction == "up" else ("parent_seq", "child_seq")


def _closure_cte(direction: str) -> str:
    near, far = _near_far(direction)
    return (
        "WITH RECURSIVE sub(near, far) AS ("
        f"SELECT e.{near}, e.{far} FROM edges e WHERE e.{near} = :start "
        f"UNION SELECT e.{near}, e.{far} FROM edges e JOIN sub ON e.{near} = sub.far) "
    )


CLOSURE = {
    d: RawQuery(
        _closure_cte(d) + "SELECT sub.near, sub.far, m.id, m.name, m.version "
        "FROM sub JOIN models m ON m.seq = sub.far"
    )
    for d in ("up", "down")
}
"""Rows ``(near, far, id, name, version)``: every edge of the ancestor (``up``) or descendant
(``down``) subgraph of ``:start`` (a seq) once; ``near`` is the endpoint closer to the start,
``far`` the relative (with its id, name and version)."""

BOUNDED = {
    d: RawQuery(
        "WITH RECURSIVE walk(id, hops) AS ("
        f"SELECT e.{_near_far(d)[1]}, 1 FROM edges e WHERE e.{_near_far(d)[0]} = :start "
        f"UNION SELECT e.{_near_far(d)[1]}, walk.hops + 1 FROM edges e "
        f"JOIN walk ON e.{_near_far(d)[0]} = walk.id WHERE walk.hops < :max_hops), "
        "best AS (SELECT id, min(hops) AS hops FROM walk GROUP BY id) "
        "SELECT m.id, best.hops, m.name, m.version FROM best JOIN models m ON m.seq = best.id "
        "ORDER BY best.hops, m.name, m.version, m.id"
    )
    for d in ("up", "down")
}
"""Rows ``(id, hops, name, version)`` of the relatives within ``:max_hops`` (>= 1), in order."""


def _chain_sql(direction: str) -> str:
    """The chain walk from ``:start`` (a seq): CTE ``ent(chain, pos)`` of the entry points (the
    start and every link's far endpoint reachable from it) and ``top(chain, pos)``, the extent of
    each reached chain (its highest entry upwards, its lowest downwards)."""
    near, far = ("child", "parent") if direction == "up" else ("parent", "child")
    cmp, agg = ("<=", "max") if direction == "up" else (">=", "min")
    return (
        "WITH RECURSIVE ent(chain, pos) AS ("
        "SELECT m.chain, m.pos FROM models m WHERE m.seq = :start "
        f"UNION SELECT l.{far}_chain, l.{far}_pos FROM chain_links l JOIN ent "
        f"ON l.{near}_chain = ent.chain AND l.{near}_pos {cmp} ent.pos), "
        f"top(chain, pos) AS (SELECT chain, {agg}(pos) FROM ent GROUP BY chain) "
    )


def _chain_query(direction: str) -> str:
    near, far = ("child", "parent") if direction == "up" else ("parent", "child")
    cmp = "<=" if direction == "up" else ">="
    return (
        _chain_sql(direction)
        # the first branch types the NULL columns (PostgreSQL resolves UNION types in order)
        + "SELECT m.chain, m.pos, CAST(NULL AS VARCHAR(64)), CAST(NULL AS VARCHAR(200)), "
        "CAST(NULL AS INTEGER), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT) FROM models m "
        "WHERE m.seq = :start UNION ALL "
        "SELECT m.chain, m.pos, m.id, m.name, m.version, NULL, NULL FROM top JOIN models m "
        f"ON m.chain = top.chain AND m.pos {cmp} top.pos UNION ALL "
        f"SELECT l.{near}_chain, l.{near}_pos, NULL, NULL, NULL, l.{far}_chain, l.{far}_pos "
        f"FROM top JOIN chain_links l ON l.{near}_chain = top.chain AND l.{near}_pos {cmp} top.pos"
    )


CHAIN = {d: RawQuery(_chain_query(d)) for d in ("up", "down")}
"""The ancestors (``up``) or descendants (``down``) of ``:start`` (a seq) by chains, in one
statement. Rows, told apart by their NULLs: ``(chain, pos, NULL, NULL, NULL, NULL, NULL)`` of the
start; ``(chain, pos, id, name, version, NULL, NULL)`` of every model of the reached chain
prefixes (suffixes), the start included; ``(near_chain, near_pos, NULL, NULL, NULL, far_chain,
far_pos)`` of every link leaving them (towards parents / children). Hop counts come from
:class:`ChainHops`."""


IS_ANCESTOR = RawQuery(
    "WITH RECURSIVE up(id) AS ("
    "SELECT e.parent_seq FROM edges e WHERE e.child_seq = :of "
    "UNION SELECT e.parent_seq FROM edges e JOIN up ON e.child_seq = up.id) "
    "SELECT 1 FROM up WHERE up.id = :candidate LIMIT 1"
)
"""One row if seq ``:candidate`` is an ancestor of seq ``:of`` (used to refuse cycles)."""


def predicate_clause(where: Predicate) -> sa.ColumnElement[bool]:
    """A SQL predicate over ``models`` columns from an expression or a ``{column: value}`` dict.

    Dict keys are column names (``name``, ``framework``, ``signature_id``, ...) or
    ``metrics.KEY`` / ``tags.KEY``; a value of ``None`` means IS NULL, ``...`` means IS NOT NULL.
    """
    if isinstance(where, sa.ColumnElement):
        return where
    clauses: list[sa.ColumnElement[bool]] = []
    for key, value in where.items():
        if "." in key:
            col, sub = key.split(".", 1)
            if col not in ("metrics", "tags", "architecture"):
                raise KeyError(
                    f"only metrics.*, tags.* and architecture.* paths are supported: {key}"
                )
            expr = models.c[col][sub]
            if value is ... or value is None:
                # compare the extracted scalar: SQLite's JSON_QUOTE(missing) is 'null', not NULL
                text = expr.as_string()
                clauses.append(text.isnot(None) if value is ... else text.is_(None))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                clauses.append(
                    expr.as_string() == str(value)
                    if not isinstance(value, bool)
                    else expr.as_boolean() == value
                )
            else:
                clauses.append(expr.as_float() == float(value))
            continue
        column = models.c[key]
        if value is None:
            clauses.append(column.is_(None))
        elif value is ...:
            clauses.append(column.isnot(None))
        else:
            clauses.append(column == value)
    return sa.and_(sa.true(), *clauses)


def _walk(start: int, direction: str, max_hops: int) -> sa.CTE:
    """Recursive CTE (seq, hops) of the relatives of seq ``start`` within ``max_hops``."""
    near, far = (edges.c[c] for c in _near_far(direction))
    seed = sa.select(far.label("seq"), sa.literal(1).label("hops")).where(near == start)
    walk = seed.cte(f"walk_{direction}", recursive=True)
    step = (
        sa.select(far, walk.c.hops + 1).join(walk, near == walk.c.seq).where(walk.c.hops < max_hops)
    )
    return walk.union(step)


def nearest_ancestor_query(start: int, where: Predicate, max_hops: int) -> sa.Select:
    """SELECT id, hops, name, version of the closest ancestor of seq ``start`` within
    ``max_hops`` (>= 1) satisfying ``where`` (ties: name, version, id)."""
    walk = _walk(start, "up", max_hops)
    return (
        sa.select(
            models.c.id, sa.func.min(walk.c.hops).label("hops"), models.c.name, models.c.version
        )
        .join(models, models.c.seq == walk.c.seq)
        .where(predicate_clause(where))
        .group_by(models.c.id, models.c.name, models.c.version)
        .order_by(sa.text("hops"), models.c.name, models.c.version, models.c.id)
        .limit(1)
    )


def nearest_chain_query(where: Predicate) -> sa.CompoundSelect:
    """The chain walk up from ``:start`` (a seq) with the ancestors satisfying ``where``: rows
    like :data:`CHAIN`'s ``up`` rows, but only the models satisfying ``where`` (the start may be
    among them): the predicate is evaluated once per ancestor."""
    links = chain_links
    seed = sa.select(models.c.chain.label("chain"), models.c.pos.label("pos")).where(
        models.c.seq == sa.bindparam("start")
    )
    ent = seed.cte("ent", recursive=True)
    ent = ent.union(
        sa.select(links.c.parent_chain, links.c.parent_pos).join(
            ent, sa.and_(links.c.child_chain == ent.c.chain, links.c.child_pos <= ent.c.pos)
        )
    )
    top = (
        sa.select(ent.c.chain.label("chain"), sa.func.max(ent.c.pos).label("pos"))
        .group_by(ent.c.chain)
        .cte("top")
    )
    null = sa.null()
    # the first branch types the NULL columns (PostgreSQL resolves UNION types in order)
    start = sa.select(
        models.c.chain,
        models.c.pos,
        sa.cast(null, models.c.id.type),
        sa.cast(null, models.c.name.type),
        sa.cast(null, models.c.version.type),
        sa.cast(null, sa.BigInteger),
        sa.cast(null, sa.BigInteger),
    ).where(models.c.seq == sa.bindparam("start"))
    hits = (
        sa.select(
            models.c.chain, models.c.pos, models.c.id, models.c.name, models.c.version, null, null
        )
        .select_from(top)
        .join(models, sa.and_(models.c.chain == top.c.chain, models.c.pos <= top.c.pos))
        .where(predicate_clause(where))
    )
    out = (
        sa.select(
            links.c.child_chain,
            links.c.child_pos,
            null,
            null,
            null,
            links.c.parent_chain,
            links.c.parent_pos,
        )
        .select_from(top)
        .join(links, sa.and_(links.c.child_chain == top.c.chain, links.c.child_pos <= top.c.pos))
    )
    return sa.union_all(start, hits, out)


_NEAREST: dict[tuple[Any, ...], sa.CompoundSelect] = {}


def cached_nearest_query(where: Predicate) -> sa.CompoundSelect:
    """:func:`nearest_chain_query`, built once per dict predicate (by keys, value types and
    values; expressions are built each time)."""
    if not isinstance(where, Mapping):
        return nearest_chain_query(where)
    try:
        key = tuple((k, type(v), v) for k, v in where.items())
        stmt = _NEAREST.get(key)
    except TypeError:  # an unhashable value
        return nearest_chain_query(where)
    if stmt is None:
        if len(_NEAREST) >= 256:
            _NEAREST.clear()
        stmt = _NEAREST[key] = nearest_chain_query(where)
    return stmt


def fetch_tuples(
    conn: sa.Connection, stmt: sa.Executable, params: Mapping[str, Any] | None = None
) -> Sequence[Any]:
    """Execute a Core statement (SQLAlchemy compiles it and processes its bind parameters) and
    fetch plain tuples from the DBAPI cursor, without building a Row per result row. Only for
    statements whose result columns need no processing (integers, strings)."""
    result = conn.execute(stmt, params)
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def neighbourhood_edges_query(start: int, hops: int) -> sa.Select:
    """Edges among the nodes within ``hops`` undirected steps of seq ``start`` (one statement)."""
    seed = sa.select(
        sa.cast(sa.literal(start), sa.BigInteger).label("seq"), sa.literal(0).label("hops")
    )
    near = seed.cte("near", recursive=True)
    other = sa.case((edges.c.child_seq == near.c.seq, edges.c.parent_seq), else_=edges.c.child_seq)
    step = (
        sa.select(other, near.c.hops + 1)
        .join(near, sa.or_(edges.c.child_seq == near.c.seq, edges.c.parent_seq == near.c.seq))
        .where(near.c.hops < hops)
    )
    near = near.union(step)
    seqs = sa.select(near.c.seq).distinct().cte("seqs")
    return (
        sa.select(edges)
        .where(edges.c.parent_seq.in_(sa.select(seqs.c.seq)))
        .where(edges.c.child_seq.in_(sa.select(seqs.c.seq)))
    )


BOUNDED_WALK_MAX = 8
"""Walks bounded by at most this many hops carry hop counts in SQL; longer ones use closures."""
