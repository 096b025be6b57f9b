"""Repair records: write a finished repair, read them back, approve one.

The SQL lives in :mod:`driftline.store.repairs` (the store persists); this module turns rows into
:class:`~driftline.repair.result.RepairResult` objects and back. A record and the deployment
switch it causes are written in one transaction.
"""

from __future__ import annotations

import time
from typing import Any

from driftline.errors import InvalidInputError
from driftline.repair.result import RepairResult
from driftline.statuses import RepairStatus
from driftline.store import Store
from driftline.store.repairs import (
    RepairRow,
    Switch,
    insert_repair,
    list_repair_rows,
    load_repair_row,
    update_repair_row,
)

__all__ = ["approve_repair", "list_repairs", "load_repair", "save_repair", "update_repair"]


def save_repair(store: Store, key: str, result: RepairResult, started: float) -> RepairResult:
    """Write ``result`` as a new record under ``key``, with its staged deployment switch (if
    any) in the same transaction; sets ``repair_id`` and ``seconds``."""
    result.seconds = time.perf_counter() - started
    if result.concept_drift and not result.message.startswith("concept"):
        from driftline.repair.concept import CONCEPT_DRIFT

        result.message = f"{CONCEPT_DRIFT}; {result.message}"
    values = {
        "key": key,
        "drifted_id": result.drifted_id,
        "ancestor_id": result.ancestor_id,
        "result_id": result.repaired_id,
        "status": str(result.status),
        "deployment": result.deployment,
    }

    def record(rid: int) -> dict[str, Any]:
        result.repair_id = rid
        return result.to_dict()

    result.repair_id = insert_repair(store, values, record, result.pending_switch)
    result.pending_switch = None
    return result


def _from_row(row: RepairRow) -> RepairResult:
    out = RepairResult.from_dict(row.record)
    out.repair_id, out.status = row.id, RepairStatus(row.status)
    return out


def load_repair(store: Store, key_or_id: str | int) -> RepairResult | None:
    """A stored repair by its key (hash of the inputs) or its numeric id."""
    row = load_repair_row(store, key_or_id)
    return None if row is None else _from_row(row)


def list_repairs(store: Store) -> list[RepairResult]:
    """Every stored repair, oldest first."""
    return [_from_row(row) for row in list_repair_rows(store)]


def update_repair(store: Store, result: RepairResult, switch: Switch | None = None) -> None:
    """Persist a changed result (status, deployment) of an existing repair record, with the
    deployment ``switch`` (if any) in the same transaction."""
    if result.repair_id is None:
        raise InvalidInputError("this repair result was never stored; run repair() first")
    update_repair_row(
        store,
        int(result.repair_id),
        {"status": str(result.status), "result_id": result.repaired_id, "record": result.to_dict()},
        switch,
    )


def approve_repair(store: Store, repair_id: int, *, actor: str = "driftline") -> RepairResult:
    """Deploy a repair that waits for approval."""
    result = load_repair(store, int(repair_id))
    if result is None:
        raise InvalidInputError(f"no repair #{repair_id}; list them with 'driftline repairs'")
    waiting = result.status == RepairStatus.AWAITING_APPROVAL
    if not waiting or not result.repaired_id or not result.deployment:
        raise InvalidInputError(
            f"repair #{repair_id} is {result.status}; only a repair awaiting approval with a "
            "deployment can be approved"
            + (
                f" (answer its label requests: driftline label --repair {repair_id})"
                if result.needs_labels
                else ""
            )
        )
    result.stage_deploy(result.repaired_id, f"approved repair #{repair_id}", actor)
    result.message = f"deployed {result.repaired_ref} as {result.deployment} (approved)"
    switch, result.pending_switch = result.pending_switch, None
    update_repair(store, result, switch)
    return result
