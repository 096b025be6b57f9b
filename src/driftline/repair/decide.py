"""The repair decision: which row of the candidate table is deployed.

Every candidate is scored on the same validation rows as the drifted model *as it serves*
(``result.candidates["drifted"]``, the baseline). A candidate *clears* the policy when

    acc_c ≥ target_accuracy (if set)   and   acc_c − acc_drifted ≥ max(min_gain, 0)   and
    acc_c > acc_drifted

(so a model worse than, or equal to, the drifted one is never deployed, whatever ``min_gain``
says). The pipeline deploys the best candidate (validation accuracy, then lower log-loss) among
those that clear the policy and are *eligible* (e.g. interpolation toward an ancestor that is
only a fallback is not deployed on its own). :func:`best_candidate` is the best row overall,
cleared or not: where active learning starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftline.statuses import RepairStatus

BASELINE = "drifted"

__all__ = ["BASELINE", "best_candidate", "choose_candidate", "clears_policy", "rank_key"]


def rank_key(row: Mapping[str, float]) -> tuple[float, float]:
    """Higher is better: (accuracy, −log-loss)."""
    return (float(row["accuracy"]), -float(row.get("log_loss", 0.0)))


def clears_policy(
    row: Mapping[str, float] | None, baseline: Mapping[str, float] | None, policy: Any
) -> bool:
    """The module-doc rule for one candidate row against the baseline row."""
    if not row or "accuracy" not in row or not baseline or "accuracy" not in baseline:
        return False
    acc, before = float(row["accuracy"]), float(baseline["accuracy"])
    target = getattr(policy, "target_accuracy", None)
    if target is not None and acc < target:
        return False
    gain = acc - before
    return gain > 0 and gain >= max(float(getattr(policy, "min_gain", 0.0)), 0.0) - 1e-9


def _labelled(candidates: Mapping[str, Mapping[str, float]]) -> dict[str, Mapping[str, float]]:
    return {k: v for k, v in candidates.items() if k != BASELINE and "accuracy" in v}


def best_candidate(
    candidates: Mapping[str, Mapping[str, float]], allowed: Mapping[str, bool] | None = None
) -> str | None:
    """The best scored candidate other than the baseline (``allowed[name]`` False excludes it)."""
    rows = {k: v for k, v in _labelled(candidates).items() if (allowed or {}).get(k, True)}
    return max(rows, key=lambda k: rank_key(rows[k])) if rows else None


def choose_candidate(
    candidates: Mapping[str, Mapping[str, float]],
    policy: Any,
    eligible: Mapping[str, bool] | None = None,
) -> str | None:
    """The best eligible candidate that clears the policy, or None (active learning's turn)."""
    baseline = candidates.get(BASELINE)
    ok = {
        k: bool((eligible or {}).get(k, True)) and clears_policy(v, baseline, policy)
        for k, v in _labelled(candidates).items()
    }
    return best_candidate(candidates, ok) if any(ok.values()) else None


def settle_deployment(
    result: Any,
    node: Any,
    how: str,
    drifted_ref: str,
    deployment: str | None,
    approve: bool,
    actor: str,
    note: str = "",
) -> None:
    """Last step for a candidate that clears the policy: switch ``deployment`` to ``node``
    (staged, so the switch commits with the repair record), wait for approval when not
    ``approve``, or only register it when no deployment is named."""
    if deployment and approve:
        result.stage_deploy(node.id, f"{how} of {drifted_ref}", actor)
        result.message = f"deployed {node.ref} ({how}{note}) as {deployment}"
    elif deployment:
        result.status = RepairStatus.AWAITING_APPROVAL
        result.message = f"validation met the policy; approve to deploy {node.ref} ({how})"
    else:
        result.status = RepairStatus.NOT_DEPLOYED
        result.message = f"{how}: {node.ref} registered (no deployment named)"
