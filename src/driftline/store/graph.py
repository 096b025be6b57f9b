"""Lineage-graph queries. Each is one recursive-CTE statement (one database round trip).

Hop counts are shortest directed distances: a parent is 1 hop away, a grandparent 2, ...

Walks run over the integer surrogate keys (``edges.child_seq`` / ``edges.parent_seq``, index-only
through ``ix_edges_child_seq`` / ``ix_edges_parent_seq``); only the rows they return are mapped
back to ids, names and versions (``models.seq``, covering index ``ix_models_seq_node``).

``ancestors``, ``descendants`` (without a small ``max_hops``) and ``nearest_ancestor`` walk the
chain decomposition (:mod:`driftline.store.schema`): a recursive CTE follows only the *links*
(edges that are not chain edges) from entry point to entry point — a few hundred rows for a
depth-1000 lineage with merges instead of one index probe per ancestor — and the models come
from one index range per reached chain (its prefix upwards, its suffix downwards), in the same
statement (:data:`CHAIN`). Hop counts are computed in memory (:class:`ChainHops`).

``path`` and ``family`` fetch the *edges* of the ancestor (descendant) subgraph with one
recursive CTE that visits every edge once (``UNION`` over edge rows), and the hop counts come
from a breadth-first pass over those rows in memory. A CTE that carries hop counts itself
(``UNION`` over ``(id, hops)``) must keep every distinct path length to every node, which grows
quadratically on deep lineages with merges (a depth-1000 chain with 5% merges: ~10^5 rows instead
of ~10^3). Short bounded walks (``max_hops <= BOUNDED_WALK_MAX``) still carry hops in SQL.

The fixed statements are plain SQL compiled once per dialect and run on the DBAPI cursor
(:class:`RawQuery`): their rows are integers and strings, so SQLAlchemy's row objects and result
processing would only add per-row overhead.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from driftline.store.schema import chain_links, edges, models


@dataclass(frozen=True)
class Relative:
    """A node reached from another, with its shortest hop count."""

    id: str
    hops: int
    name: str
    version: int


Predicate = sa.ColumnElement[bool] | Mapping[str, Any]

_new = object.__new__


def _relatives(keys: Iterable[tuple[int, str, int, str]]) -> list[Relative]:
    """Relatives from ``(hops, name, version, id)`` tuples, in that order. Bypasses the
    dataclass ``__init__`` (four ``object.__setattr__`` calls per frozen instance): same
    objects, a third of the cost on walks of thousands of nodes."""
    out = []
    append = out.append
    for h, n, v, i in keys:
        r = _new(Relative)
        d = r.__dict__
        d["id"] = i
        d["hops"] = h
        d["name"] = n
        d["version"] = v
        append(r)
    return out


class RawQuery:
    """A fixed SQL statement with ``:name`` binds, compiled once per dialect, executed on the
    DBAPI cursor of a SQLAlchemy connection (inside its transaction, if any). Returns plain
    tuples; only for statements whose columns need no result processing (integers, strings)
    and whose parameters need no bind processing."""

    def __init__(self, sql: str) -> None:
        self.text = sa.text(sql)
        self._compiled: dict[tuple[str, str], tuple[str, Sequence[str] | None]] = {}

    def rows(self, conn: sa.Connection, **params: Any) -> list[tuple[Any, ...]]:
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


_NEAREST: dict[tuple[Any, ...], sa.Select] = {}


def cached_nearest_query(where: Predicate) -> Any:
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
) -> list[tuple[Any, ...]]:
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


def bfs_hops(rows: Iterable[Sequence[Any]], start: int) -> dict[int, int]:
    """Shortest hop counts from ``start`` (included, 0) over closure rows (``near`` -> ``far``)."""
    adj: dict[int, list[int]] = {}
    for r in rows:
        n = r[0]
        if n in adj:
            adj[n].append(r[1])
        else:
            adj[n] = [r[1]]
    hops = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        h = hops[node] + 1
        for nxt in adj.get(node, ()):
            if nxt not in hops:
                hops[nxt] = h
                queue.append(nxt)
    return hops


def closure_hops(rows: Sequence[Sequence[Any]], start: int) -> dict[int, int]:
    """Shortest hop counts from ``start`` (included, 0) over closure rows ``(near, far, ...)``.

    The walk emits edges breadth-first in practice (SQLite's recursive queue is FIFO,
    PostgreSQL iterates level by level), so one pass labelling each node from the first edge
    that reaches it usually gives the distances. That is certified, not assumed: the labels are
    shortest distances iff every edge satisfies ``hops[far] <= hops[near] + 1`` (each label is
    the length of a real path by construction). Otherwise a plain BFS computes them.
    """
    hops = {start: 0}
    get = hops.get
    for r in rows:
        far = r[1]
        if far not in hops:
            h = get(r[0])
            if h is None:
                return bfs_hops(rows, start)
            hops[far] = h + 1
    for r in rows:
        if hops[r[1]] > hops[r[0]] + 1:
            return bfs_hops(rows, start)
    return hops


def relatives_from_closure(
    rows: Sequence[Sequence[Any]], start: int, max_hops: int | None = None
) -> list[Relative]:
    """Relatives (nearest first; ties by name, version, id) from :data:`CLOSURE` rows.

    Same result as labelling with :func:`closure_hops` and keeping one row per relative, fused
    into one pass over the rows (plus the certificate pass) for the common breadth-first order.
    """
    hops = {start: 0}
    get = hops.get
    keys: list[tuple[int, str, int, str]] | None = []
    for near, far, i, n, v in rows:
        if far not in hops:
            h = get(near)
            if h is None:
                keys = None
                break
            h += 1
            hops[far] = h
            keys.append((h, n, v, i))  # type: ignore[union-attr]
    if keys is not None:
        for r in rows:
            if hops[r[1]] > hops[r[0]] + 1:
                keys = None
                break
    if keys is None:  # not breadth-first: label by BFS
        hops = bfs_hops(rows, start)
        node = {r[1]: r for r in rows}
        keys = [(hops[far], r[3], r[4], r[2]) for far, r in node.items()]
    if max_hops is not None:
        keys = [k for k in keys if k[0] <= max_hops]
    keys.sort()
    return _relatives(keys)


def path_from_closure(
    rows: Sequence[Sequence[Any]], start: int, start_id: str, target: int
) -> list[str] | None:
    """Shortest path ``target -> ... -> start`` (downward, as ids) from ``start``'s upward
    :data:`CLOSURE` rows; among equally short choices the smallest id is taken at each step."""
    hops = closure_hops(rows, start)
    if target not in hops:
        return None
    ids = {start: start_id}
    down: dict[int, list[int]] = {}
    for near, far, i, _n, _v in rows:
        ids[far] = i
        down.setdefault(far, []).append(near)
    path = [ids[target]]
    node = target
    while node != start:
        node = min((c for c in down[node] if hops[c] == hops[node] - 1), key=ids.__getitem__)
        path.append(ids[node])
    return path


class ChainHops:
    """Shortest hop counts from a start ``(chain, pos)`` over :data:`CHAIN` link rows.

    Inside a chain the only edges are chain edges, one hop per position; between chains only
    links. So a shortest path is a sequence of chain runs joined by links, and Dijkstra over the
    *entry points* (the start and the links' far endpoints) gives each entry's distance, with a
    link ``near -> far`` reachable from an entry ``e`` of its near chain when ``near`` is at or
    past ``e`` in the walk's direction, at cost ``|e.pos - near.pos| + 1``. A model ``(c, p)`` of
    a reached chain is ``min(h_e + |e.pos - p|)`` over the entries ``e`` of ``c`` at or before
    ``p`` in the walk's direction. Positions are handled as ``q = pos`` upwards and
    ``q = -pos`` downwards, so "at or past" is always ``q <= q_e``.
    """

    __slots__ = ("keys", "qs", "sign", "single")

    def __init__(
        self,
        links: Iterable[Sequence[Any]],
        start: tuple[int, int],
        direction: str,
        max_hops: int | None = None,
    ) -> None:
        sign = 1 if direction == "up" else -1
        self.sign = sign
        out: dict[int, list[tuple[int, int, int]]] = {}  # near chain -> [(q, far chain, far pos)]
        for r in links:
            c = r[0]
            item = (sign * r[1], r[5], r[6])
            if c in out:
                out[c].append(item)
            else:
                out[c] = [item]
        for lst in out.values():
            lst.sort()
        dist = {start: 0}
        done: dict[int, list[tuple[int, int]]] = {}  # chain -> [(q, h + q)] of expanded entries
        heap = [(0, start[0], start[1])]
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            h, c, k = pop(heap)
            if dist[(c, k)] < h:
                continue
            qk = sign * k
            key = h + qk
            seen = done.get(c)
            if seen is None:
                done[c] = [(qk, key)]
            elif any(q >= qk and kk <= key for q, kk in seen):
                continue  # an expanded entry above reaches everything this one does, as soon
            else:
                seen.append((qk, key))
            for q, fc, fp in out.get(c, ()):
                if q > qk:
                    break
                nh = key - q + 1
                if max_hops is not None and nh > max_hops:
                    continue
                far = (fc, fp)
                old = dist.get(far)
                if old is None or nh < old:
                    dist[far] = nh
                    push(heap, (nh, fc, fp))
        # per chain: entries by q ascending with the suffix minimum of h_e + q_e
        single: dict[int, tuple[int, int]] = {}  # chain -> (q, h + q) of its only entry
        qs: dict[int, list[int]] = {}
        keys: dict[int, list[int]] = {}
        for c, entries in done.items():
            if len(entries) == 1:
                single[c] = entries[0]
                continue
            entries.sort()
            best = []
            m = entries[-1][1]
            for _q, key in reversed(entries):
                m = key if key < m else m
                best.append(m)
            best.reverse()
            qs[c] = [q for q, _ in entries]
            keys[c] = best
        self.single = single
        self.qs = qs
        self.keys = keys

    def hops(self, chain: int, pos: int) -> int | None:
        """Hops from the start to model ``(chain, pos)``, or None if not reached."""
        q = self.sign * pos
        one = self.single.get(chain)
        if one is not None:
            return one[1] - q if q <= one[0] else None
        qs = self.qs.get(chain)
        if qs is None:
            return None
        i = bisect_left(qs, q)
        if i == len(qs):
            return None
        return self.keys[chain][i] - q


def _chain_walk(
    rows: Sequence[Sequence[Any]], direction: str, max_hops: int | None
) -> ChainHops | None:
    """:class:`ChainHops` of :data:`CHAIN`-shaped rows (None without a start row)."""
    first = rows[0] if rows else None
    if first is None or first[2] is not None or first[5] is not None:
        first = next((r for r in rows if r[2] is None and r[5] is None), None)
        if first is None:
            return None
    links = [r for r in rows if r[5] is not None]
    return ChainHops(links, (first[0], first[1]), direction, max_hops)


def relatives_from_chains(
    rows: Sequence[Sequence[Any]], direction: str, max_hops: int | None = None
) -> list[Relative]:
    """Relatives (nearest first; ties by name, version, id) from :data:`CHAIN` rows."""
    ch = _chain_walk(rows, direction, max_hops)
    if ch is None:
        return []
    sign, single, hops = ch.sign, ch.single.get, ch.hops
    if max_hops is None and not ch.qs:
        # every reached chain has one entry, at the end of its range: hops = key - q (the
        # start is the one row at 0 hops)
        base = {c: key for c, (_q, key) in ch.single.items()}
        try:
            if sign == 1:
                keys = [(base[c] - p, n, v, i) for c, p, i, n, v, _f, _g in rows if i is not None]
            else:
                keys = [(base[c] + p, n, v, i) for c, p, i, n, v, _f, _g in rows if i is not None]
        except KeyError:  # a chain the walk did not reach (not expected): the general path
            pass
        else:
            keys.sort()
            if keys and keys[0][0] == 0:
                del keys[0]
            return _relatives(keys)
    limit = max_hops if max_hops is not None else 1 << 62
    keys = []
    append = keys.append
    for c, p, i, n, v, _f, _g in rows:
        if i is None:
            continue
        one = single(c)
        if one is not None:
            q = sign * p
            if q > one[0]:
                continue
            h = one[1] - q
        else:
            h = hops(c, p)
            if h is None:
                continue
        if 0 < h <= limit:  # hops 0: the start itself
            append((h, n, v, i))
    keys.sort()
    return _relatives(keys)


def nearest_from_chains(
    rows: Sequence[Sequence[Any]], max_hops: int | None = None
) -> Relative | None:
    """The nearest hit (ties by name, version, id) from :func:`nearest_chain_query` rows."""
    ch = _chain_walk(rows, "up", max_hops)
    if ch is None:
        return None
    best = None
    for c, p, i, n, v, _f, _g in rows:
        if i is None:
            continue
        h = ch.hops(c, p)
        if h is None or h <= 0 or (max_hops is not None and h > max_hops):
            continue
        key = (h, n, v, i)
        if best is None or key < best:
            best = key
    return None if best is None else _relatives([best])[0]
