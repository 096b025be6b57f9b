"""The routing row of the weight-space candidate table: the drifted model, its nearest healthy
(or least drifted) ancestor and the rest of its signed lineage, mixed per input by their
training signatures' likelihood (:mod:`driftline.repair.routed_model`)."""

from __future__ import annotations

from typing import Any

from driftline.repair.alpha import mean_entropy
from driftline.repair.evaluation import score
from driftline.repair.routed_model import build_routed, choose_members, regime_mix_report
from driftline.repair.steps.state import RepairState

MAX_ROUTED_MEMBERS = 6

__all__ = [
    "MAX_ROUTED_MEMBERS",
    "routing_candidate",
    "routing_explains_window",
    "routing_summary",
    "routing_wins_unlabelled",
]


def routing_summary(routed: Any) -> dict[str, Any]:
    """Members (in the priors' order), temperature, priors and how they were calibrated."""
    return {
        "members": list(routed.member_refs),
        "temperature": float(routed.temperature),
        "priors": [float(p) for p in routed.priors],
        "calibration": routed.info.get("calibration"),
    }


def routing_candidate(state: RepairState) -> Any:
    """Build the routed candidate and score it on the validation rows (or the window's
    entropy); None when fewer than two members have signatures."""
    assert state.search is not None
    store, result, val = state.store, state.result, state.choose_rows
    drifted_id = state.drifted.id
    mix_members = [drifted_id] + [r.id for r in state.search.rows if r.has_signature]
    # The whole (signed) lineage up to MAX_ROUTED_MEMBERS, nearest first: on overlapping regimes
    # intermediate members explain rows that neither the root nor the drifted model does
    # (benchmarks/bench_repair.py: 0.945 vs 0.915 with two members; equal elsewhere).
    members = choose_members(store, drifted_id, state.search.rows, max_members=2)
    members += [m for m in mix_members if m not in members][: MAX_ROUTED_MEMBERS - len(members)]
    if len(members) < 2:
        return None
    result.regime_mix = regime_mix_report(store, mix_members, state.table)
    validation = (val.table, val.y) if val is not None else None
    routed = build_routed(store, members, state.table, validation, family=state.family)
    if val is not None:
        proba = routed.predict_proba(val.table)
        result.candidates["routing"] = score(proba, val.y, routed.classes).to_dict()
    else:
        entropy = mean_entropy(routed.predict_proba(state.table))
        result.candidates["routing"] = {"window_entropy": entropy}
    result.routing = routing_summary(routed)
    return routed


def routing_wins_unlabelled(state: RepairState) -> bool:
    """Without labels, routing is chosen when the window mixes regimes: the EM mixture
    proportions of the members' training distributions on the window give none more than
    ``policy.routing_mix_threshold``, where no single interpolated model can serve."""
    if not state.result.candidates.get("routing"):
        return False
    priors = state.result.routing.get("priors") or []
    return bool(priors) and max(priors) < state.policy.routing_mix_threshold


def routing_explains_window(state: RepairState) -> bool:
    """Without labels, when one member dominates the window (no mix): do the rows it claims look
    like its training data (:func:`~driftline.repair.window_fit.dominant_member_fits`)? Never
    when the dominant member is the drifted model itself."""
    import numpy as np

    from driftline.repair.window_fit import dominant_member_fits

    routed = state.weights.routed if state.weights else None
    if routed is None or state.search is None:
        return False
    priors = np.asarray(routed.priors, dtype=np.float64)
    if routed.member_ids[int(np.argmax(priors))] == state.drifted.id:
        return False
    fits, info = dominant_member_fits(
        state.store,
        routed.member_ids,
        routed.member_refs,
        routed.loglik(state.table),
        priors,
        state.table,
        state.policy.agent_kwargs(),
    )
    state.result.routing["explains_window"] = info
    return fits
