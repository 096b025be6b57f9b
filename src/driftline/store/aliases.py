"""Identical content registered again, under another name or with new metadata.

The node's id is its content, so a second registration cannot make a second node. It is never
dropped silently: :func:`record_alias` appends ``{name, metrics, tags, at}`` to the node's
``tags["aliases"]`` and merges the new metrics into the node's metrics (the newest value of a
key wins), and the caller is told through ``tags["aliases"]`` (the CLI prints a line).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from driftline.jsonutil import jsonable
from driftline.store.schema import models


def record_alias(
    conn: sa.Connection,
    mid: str,
    name: str,
    metrics: Mapping[str, Any] | None,
    tags: Mapping[str, Any] | None,
) -> bool:
    """Record a re-registration of node ``mid`` when its name or metadata is new; return whether
    anything was recorded (a plain repeat of the same registration records nothing)."""
    row = conn.execute(
        sa.select(models.c.name, models.c.metrics, models.c.tags).where(models.c.id == mid)
    ).one()
    cur_metrics, cur_tags = dict(row.metrics or {}), dict(row.tags or {})
    metrics, tags = jsonable(dict(metrics or {})), jsonable(dict(tags or {}))
    aliases = list(cur_tags.get("aliases", []))
    known_names = {row.name} | {a.get("name") for a in aliases}
    new_metrics = any(cur_metrics.get(k) != v for k, v in metrics.items())
    new_tags = any(cur_tags.get(k) != v for k, v in tags.items() if k != "aliases")
    if name in known_names and not new_metrics and not new_tags:
        return False
    aliases.append({"name": name, "metrics": metrics, "tags": tags, "at": time.time()})
    conn.execute(
        sa.update(models)
        .where(models.c.id == mid)
        .values(metrics={**cur_metrics, **metrics}, tags={**cur_tags, "aliases": aliases})
    )
    return True


def alias_nodes(conn: sa.Connection, name: str) -> list[tuple[str, int]]:
    """``(id, seq)`` of the nodes aliased as ``name``, in the order the alias was first
    recorded: the k-th of them is ``name@k`` (when no node is really named ``name``)."""
    first: list[tuple[float, str, int]] = []
    rows = conn.execute(
        sa.select(models.c.id, models.c.seq, models.c.tags).where(models.c.tags.is_not(None))
    )
    for mid, seq, tags in rows:
        times = [
            float(a.get("at", 0.0))
            for a in (tags or {}).get("aliases", [])
            if isinstance(a, dict) and a.get("name") == name
        ]
        if times:
            first.append((min(times), mid, seq))
    return [(mid, seq) for _, mid, seq in sorted(first)]


def resolve_alias(conn: sa.Connection, name: str, version: str | None) -> tuple[str, int] | None:
    """The node of alias ``name`` (its latest when ``version`` is None or ``"latest"``,
    else the ``version``-th), or None when there is no such alias."""
    nodes = alias_nodes(conn, name)
    if not nodes:
        return None
    if version in (None, "latest"):
        return nodes[-1]
    k = int(version) if str(version).isdigit() else 0
    return nodes[k - 1] if 1 <= k <= len(nodes) else None
