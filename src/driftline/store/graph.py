"""Lineage-graph queries. Each is one recursive-CTE statement (one database round trip).

Hop counts are shortest directed distances: a parent is 1 hop away, a grandparent 2, ...
"""

from __future__ import annotations

from collections.abc import Mapping
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


def shortest_layer_edges_query(start: str) -> sa.Select:
    """Edges (parent, child, parent_hops) that lie on some shortest upward path from ``start``.

    ``path`` walks these from the target down to ``start``; one statement.
    """
    walk = _walk(start, "up", None)
    best = (
        sa.select(walk.c.id, sa.func.min(walk.c.hops).label("hops")).group_by(walk.c.id).cte("best")
    )
    p = best.alias("p")
    c = best.alias("c")
    return (
        sa.select(edges.c.parent, edges.c.child, p.c.hops)
        .join(p, p.c.id == edges.c.parent)
        .outerjoin(c, c.c.id == edges.c.child)
        .where(sa.or_(c.c.hops == p.c.hops - 1, sa.and_(edges.c.child == start, p.c.hops == 1)))
    )


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


def path_from_layers(rows: list[tuple[str, str, int]], start: str, target: str) -> list[str] | None:
    """Rebuild the path ``target -> ... -> start`` (downward) from shortest-layer edges."""
    down: dict[str, list[str]] = {}
    for parent, child, _ in rows:
        down.setdefault(parent, []).append(child)
    if target not in down:
        return None
    path = [target]
    node = target
    while node != start:
        node = min(down[node])  # deterministic among equally short choices
        path.append(node)
    return path
