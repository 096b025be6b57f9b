"""Lineage-graph queries. Each is one recursive-CTE statement (one database round trip).

Hop counts are shortest directed distances: a parent is 1 hop away, a grandparent 2, ...

Unbounded walks (``ancestors``/``descendants`` without a small ``max_hops``,
``nearest_ancestor``, ``path``) fetch the *edges* of the ancestor (descendant) subgraph with one
recursive CTE that visits every edge once (``UNION`` over edge rows), and the hop counts come
from a breadth-first pass over those rows in memory. A CTE that carries hop counts itself
(``UNION`` over ``(id, hops)``) must keep every distinct path length to every node, which grows
quadratically on deep lineages with merges (a depth-1000 chain with 5% merges: ~10^5 rows instead
of ~10^3). Short bounded walks (``max_hops <= BOUNDED_WALK_MAX``) still carry hops in SQL.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from driftline.store.schema import edges, models


@dataclass(frozen=True)
class Relative:
    """A node reached from another, with its shortest hop count."""

    id: str
    hops: int
    name: str
    version: int


Predicate = sa.ColumnElement[bool] | Mapping[str, Any]


def _walk(start: str, direction: str, max_hops: int | None) -> sa.CTE:
    """Recursive CTE (id, hops) of the ancestors (``up``) or descendants (``down``) of ``start``."""
    near, far = (
        (edges.c.child, edges.c.parent) if direction == "up" else (edges.c.parent, edges.c.child)
    )
    seed = sa.select(far.label("id"), sa.literal(1).label("hops")).where(near == start)
    if max_hops is not None and max_hops < 1:
        seed = seed.where(sa.false())  # max_hops=0: nothing is within reach
    walk = seed.cte(f"walk_{direction}", recursive=True)
    step = sa.select(far, walk.c.hops + 1).join(walk, near == walk.c.id)
    if max_hops is not None:
        step = step.where(walk.c.hops < max_hops)
    return walk.union(step)


def relatives_query(start: str, direction: str, max_hops: int | None = None) -> sa.Select:
    """SELECT id, hops, name, version of every ancestor/descendant, nearest first."""
    walk = _walk(start, direction, max_hops)
    best = (
        sa.select(walk.c.id, sa.func.min(walk.c.hops).label("hops"))
        .group_by(walk.c.id)
        .subquery("best")
    )
    return (
        sa.select(best.c.id, best.c.hops, models.c.name, models.c.version)
        .join(models, models.c.id == best.c.id)
        .order_by(best.c.hops, models.c.name, models.c.version, best.c.id)
    )


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


def nearest_ancestor_query(start: str, where: Predicate, max_hops: int | None = None) -> sa.Select:
    """SELECT the closest ancestor satisfying ``where`` (ties: name, version, id)."""
    walk = _walk(start, "up", max_hops)
    return (
        sa.select(
            models.c.id, sa.func.min(walk.c.hops).label("hops"), models.c.name, models.c.version
        )
        .join(models, models.c.id == walk.c.id)
        .where(predicate_clause(where))
        .group_by(models.c.id, models.c.name, models.c.version)
        .order_by(sa.text("hops"), models.c.name, models.c.version, models.c.id)
        .limit(1)
    )


def is_ancestor_query(candidate: str, of: str) -> sa.Select:
    """SELECT 1 if ``candidate`` is an ancestor of ``of`` (used to refuse cycles)."""
    up = sa.select(edges.c.parent.label("id")).where(edges.c.child == of).cte("up", recursive=True)
    up = up.union(sa.select(edges.c.parent).join(up, edges.c.child == up.c.id))
    return sa.select(sa.literal(1)).select_from(up).where(up.c.id == candidate).limit(1)


def neighbourhood_edges_query(start: str, hops: int) -> sa.Select:
    """Edges among the nodes within ``hops`` undirected steps of ``start`` (one statement)."""
    seed = sa.select(sa.literal(start).label("id"), sa.literal(0).label("hops"))
    near = seed.cte("near", recursive=True)
    other = sa.case((edges.c.child == near.c.id, edges.c.parent), else_=edges.c.child)
    step = (
        sa.select(other, near.c.hops + 1)
        .join(near, sa.or_(edges.c.child == near.c.id, edges.c.parent == near.c.id))
        .where(near.c.hops < hops)
    )
    near = near.union(step)
    ids = sa.select(near.c.id).distinct().cte("ids")
    return (
        sa.select(edges)
        .where(edges.c.parent.in_(sa.select(ids.c.id)))
        .where(edges.c.child.in_(sa.select(ids.c.id)))
    )


BOUNDED_WALK_MAX = 8
"""Walks bounded by at most this many hops carry hop counts in SQL; longer ones use closures."""


def closure_query(direction: str, where: Predicate | None = None) -> sa.Select:
    """SELECT near, far, name, version[, hit] over the edges of ``:start``'s ancestor (``up``)
    or descendant (``down``) subgraph; ``near`` is the endpoint closer to ``:start``, ``far``
    the relative (its name and version; ``hit`` = 1 if it satisfies ``where``).

    One recursive CTE; ``UNION`` over edge rows visits each edge once. Bind ``start``.
    """
    near, far = (
        (edges.c.child, edges.c.parent) if direction == "up" else (edges.c.parent, edges.c.child)
    )
    seed = sa.select(near.label("near"), far.label("far")).where(near == sa.bindparam("start"))
    sub = seed.cte(f"sub_{direction}", recursive=True)
    sub = sub.union(sa.select(near, far).join(sub, near == sub.c.far))
    cols = [sub.c.near, sub.c.far, models.c.name, models.c.version]
    if where is not None:
        cols.append(sa.case((predicate_clause(where), 1), else_=0).label("hit"))
    return sa.select(*cols).join(models, models.c.id == sub.c.far)


_CLOSURE: dict[str, sa.Select] = {}


def cached_closure_query(direction: str) -> sa.Select:
    """:func:`closure_query` without a predicate, built once per direction."""
    if direction not in _CLOSURE:
        _CLOSURE[direction] = closure_query(direction)
    return _CLOSURE[direction]


def bfs_hops(rows: Iterable[Any], start: str) -> dict[str, int]:
    """Shortest hop counts from ``start`` over closure rows (``near`` -> ``far``)."""
    adj: dict[str, list[str]] = {}
    for r in rows:
        adj.setdefault(r[0], []).append(r[1])
    hops = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        h = hops[node] + 1
        for nxt in adj.get(node, ()):
            if nxt not in hops:
                hops[nxt] = h
                queue.append(nxt)
    del hops[start]
    return hops


def relatives_from_closure(
    rows: list[Any], start: str, max_hops: int | None = None
) -> list[Relative]:
    """Relatives (nearest first; ties by name, version, id) from closure rows."""
    hops = bfs_hops(rows, start)
    seen: dict[str, Relative] = {}
    for r in rows:
        far = r[1]
        if far not in seen:
            h = hops[far]
            if max_hops is None or h <= max_hops:
                seen[far] = Relative(far, h, r[2], r[3])
    return sorted(seen.values(), key=lambda x: (x.hops, x.name, x.version, x.id))


def nearest_from_closure(
    rows: list[Any], start: str, max_hops: int | None = None
) -> Relative | None:
    """The nearest relative whose ``hit`` column is set (ties by name, version, id)."""
    hops = bfs_hops(rows, start)
    best: tuple[int, str, int, str] | None = None
    for r in rows:
        if r[4]:
            key = (hops[r[1]], r[2], r[3], r[1])
            if (max_hops is None or key[0] <= max_hops) and (best is None or key < best):
                best = key
    return None if best is None else Relative(best[3], best[0], best[1], best[2])


def path_from_closure(rows: list[Any], start: str, target: str) -> list[str] | None:
    """Shortest path ``target -> ... -> start`` (downward) from ``start``'s upward closure rows;
    among equally short choices the smallest id is taken at each step."""
    hops = bfs_hops(rows, start)
    if target not in hops:
        return None
    hops[start] = 0
    down: dict[str, list[str]] = {}
    for r in rows:
        down.setdefault(r[1], []).append(r[0])
    path = [target]
    node = target
    while node != start:
        node = min(c for c in down[node] if hops.get(c) == hops[node] - 1)
        path.append(node)
    return path
