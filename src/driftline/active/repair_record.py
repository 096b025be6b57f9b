"""What active learning writes back to its repair record, so that every view (the demo,
``driftline repairs``, ``driftline approve``) shows the same status.

- waiting for human answers (and not deployed): status ``waiting-for-labels``;
- deployed: status ``deployed``, ``active["deployed_ref"]`` names the deployed round model and
  ``after`` holds its validation scores (``repaired_id`` keeps the pipeline's repair, where a
  resumed loop starts); the deployment switch and the record are one transaction.
"""

from __future__ import annotations

from typing import Any

from driftline.repair.pipeline import RepairResult, update_repair
from driftline.statuses import RepairStatus
from driftline.store.repairs import Switch

__all__ = ["record_active"]


def record_active(
    store: Any,
    result: RepairResult,
    out: Any,
    model_id: str | None,
    model_ref: str | None,
    actor: str,
) -> None:
    """Update ``result`` (and its stored record) from the active-learning result ``out``;
    with ``model_id`` deploy that model as ``result.deployment`` in the same transaction."""
    result.active = {
        "status": out.status,
        "labels": out.labels_used,
        "pending": len(out.pending),
        "final": out.final_ref,
    }
    switch = None
    if model_id is None:
        result.status = RepairStatus.WAITING_FOR_LABELS
        result.message = out.message or f"{len(out.pending)} label request(s) wait for a human"
    else:
        assert result.deployment is not None
        switch = Switch(
            model_id,
            result.deployment,
            f"active learning for repair #{result.repair_id}: {out.labels_used} labels",
            actor,
        )
        result.status, result.deployed = RepairStatus.DEPLOYED, True
        result.active.update({"deployed_id": model_id, "deployed_ref": model_ref})
        if out.after:
            result.after = dict(out.after)
        result.message = (
            f"active learning: deployed {model_ref} as {result.deployment} "
            f"after {out.labels_used} labels"
        )
    update_repair(store, result, switch)
