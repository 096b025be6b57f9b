"""Step 2, detect: does the window drift, and (with labels) does the deployed model still
perform? Ends the repair on no drift, or on drift too small to matter (``harmless-drift``)."""

from __future__ import annotations

from driftline.drift import compare
from driftline.repair.concept import check_performance, estimated_drop
from driftline.repair.steps.state import RepairState
from driftline.statuses import RepairStatus

__all__ = ["detect"]


def detect(state: RepairState) -> RepairState:
    """Compare the window with the drifted model's training signature, save the drift report,
    check performance on the labels (concept drift) and apply the policy's gate."""
    store, policy, result = state.store, state.policy, state.result
    state.say(f"checking {state.drifted.ref} against its training signature")
    report = compare(state.sig, state.table, **policy.agent_kwargs())
    result.drift_report_id = store.save_drift_report(state.drifted.id, report, state.deployment)
    if state.val is not None:
        state.check = check_performance(
            store,
            state.drifted,
            state.X_win,
            state.val.X,
            state.val.y,
            state.family,
            alpha=policy.performance_alpha,
            min_drop=policy.min_performance_drop,
            inputs_drift=report.drift,
        )
    if state.check is not None:
        result.performance = state.check.to_dict()
        result.concept_drift = state.check.concept_drift
    if report.drift and _harmless(state) and not policy.force:
        return state
    if not report.drift and not policy.force and not result.concept_drift:
        moved = f"{len(report.drifted_features)} of {len(report.features)} features moved"
        return state.finish(RepairStatus.NO_DRIFT, f"no drift: {moved}")
    state.done = False
    return state


def _harmless(state: RepairState) -> bool:
    """The policy gate: drift whose (estimated) accuracy drop is below the floor is harmless
    (marks the result; the caller ends the repair unless ``policy.force``)."""
    floor = state.policy.min_estimated_drop
    if floor is None:
        return False
    drop = estimated_drop(state.store, state.drifted, state.X_win, state.family, state.check)
    if drop is None or drop >= floor:
        return False
    state.finish(
        RepairStatus.HARMLESS_DRIFT,
        f"inputs drift but the accuracy drop is {drop:.3f} < {floor}: no repair",
    )
    return True
