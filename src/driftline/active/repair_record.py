"""What active learning writes back to its repair record, so that every view (the demo,
``driftline repairs``, ``driftline approve``) shows the same status.

- waiting for human answers (and not deployed): status ``waiting-for-labels``;
- stopped without deploying (label budget or pool spent, below the policy): ``needs-labels``
  with the loop's reason;
- deployed: status ``deployed``, ``active["deployed_ref"]`` names the deployed round model and
  ``after`` holds its validation scores (``repaired_id`` keeps the pipeline's repair, where a
  resumed loop starts); the deployment switch and the record are one transaction;
- after people answer, skip or cancel requests outside the loop (:func:`sync_queue`):
  ``active["pending"]`` is the queue's count again, and a record with nothing pending any more
  is ``needs-labels`` (run the repair again to refine with the answers and ask for more).
"""

from __future__ import annotations

from typing import Any

from driftline.repair.pipeline import RepairResult, load_repair, update_repair
from driftline.statuses import LabelStatus, RefinementStatus, RepairStatus
from driftline.store.labels import count_by_status
from driftline.store.repairs import Switch

__all__ = ["record_active", "sync_queue"]


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
    if model_id is None and out.status == RefinementStatus.WAITING_FOR_LABELS:
        result.status = RepairStatus.WAITING_FOR_LABELS
        result.message = out.message or f"{len(out.pending)} label request(s) wait for a human"
    elif model_id is None:  # the run stopped (budget, pool, target) without deploying
        result.status = RepairStatus.NEEDS_LABELS
        result.message = f"active learning stopped, {out.status}: {out.message}"
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


def sync_queue(store: Any, repair_ids: Any) -> None:
    """Bring the records of ``repair_ids`` that wait for labels in line with the queue (see
    the module docstring); other records, and unknown ids, are left as they are."""
    for rid in sorted({int(r) for r in repair_ids if r is not None}):
        result = load_repair(store, rid)
        if result is None or result.status != RepairStatus.WAITING_FOR_LABELS:
            continue
        counts = count_by_status(store, rid)
        pending = counts[LabelStatus.PENDING]
        if result.active.get("pending") == pending and pending:
            continue
        result.active = {**result.active, "pending": pending}
        if not pending:
            result.status = RepairStatus.NEEDS_LABELS
            result.message = (
                f"no label request of repair #{rid} is pending ({counts[LabelStatus.LABELLED]} "
                f"labelled, {counts[LabelStatus.SKIPPED]} skipped, "
                f"{counts[LabelStatus.CANCELLED]} cancelled): run the same repair again to "
                "refine with the answers and ask for more"
            )
        update_repair(store, result)
