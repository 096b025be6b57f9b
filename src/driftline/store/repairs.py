"""Repair records and the deployment switch a repair causes, written in ONE write transaction.

A repair that deploys switches the deployment pointer (plus its history row) and writes its
repair record together: a process killed in between leaves neither (the database rolls the
transaction back), so the next run sees the drifted model still deployed, no record, and
repairs again. A record never says ``deployed`` without the switch, and no repair switch exists
without its record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from driftline.store import deployments as deps
from driftline.store.schema import repairs

__all__ = [
    "RepairRow",
    "Switch",
    "insert_repair",
    "list_repair_rows",
    "load_repair_row",
    "update_repair_row",
]


@dataclass(frozen=True)
class RepairRow:
    """One stored repair: its id, its status column and its JSON record."""

    id: int
    status: str
    record: Mapping[str, Any]


@dataclass(frozen=True)
class Switch:
    """Point deployment ``name`` at ``model_id`` (recorded with ``reason`` and ``actor``)."""

    model_id: str
    name: str
    reason: str
    actor: str

    def apply(self, conn: sa.Connection) -> deps.DeploymentEvent:
        return deps.switch(
            conn, self.name, self.model_id, action="deploy", reason=self.reason, actor=self.actor
        )


def insert_repair(
    store: Any,
    values: Mapping[str, Any],
    record: Callable[[int], Mapping[str, Any]],
    switch: Switch | None,
) -> int:
    """Insert a repair row (``values``: key, drifted_id, ancestor_id, result_id, status,
    deployment) and its JSON ``record(id)``, after ``switch`` if any: all or nothing."""
    with store.write() as conn:
        if switch is not None:
            switch.apply(conn)
        res = conn.execute(sa.insert(repairs).values(**values, created_at=time.time(), record={}))
        rid = int(res.inserted_primary_key[0])
        conn.execute(sa.update(repairs).where(repairs.c.id == rid).values(record=record(rid)))
    return rid


def update_repair_row(
    store: Any, repair_id: int, values: Mapping[str, Any], switch: Switch | None = None
) -> None:
    """Update a repair row (status, result_id, record) and apply ``switch``: all or nothing."""
    with store.write() as conn:
        if switch is not None:
            switch.apply(conn)
        conn.execute(sa.update(repairs).where(repairs.c.id == int(repair_id)).values(**values))


def load_repair_row(store: Any, key_or_id: str | int) -> RepairRow | None:
    """The repair with this numeric id, or with this key (hash of its inputs); None if absent."""
    col = repairs.c.id if isinstance(key_or_id, int) else repairs.c.key
    with store.read() as conn:
        row = conn.execute(sa.select(repairs).where(col == key_or_id)).first()
    return None if row is None else RepairRow(int(row.id), str(row.status), row.record)


def list_repair_rows(store: Any) -> list[RepairRow]:
    """Every stored repair, oldest first."""
    with store.read() as conn:
        rows = conn.execute(sa.select(repairs).order_by(repairs.c.id)).all()
    return [RepairRow(int(r.id), str(r.status), r.record) for r in rows]
