"""Steps 4–6 for a drifted *routed* model: it has no weight vector to interpolate, so its
routing (its members plus the nearest healthy ancestor) is re-fitted to today's window and
validation data, scored against the routing that serves, registered and (per policy) staged."""

from __future__ import annotations

from driftline.jsonutil import jsonable
from driftline.repair.decide import clears_policy
from driftline.repair.evaluation import score
from driftline.repair.model_input import window_signature
from driftline.repair.routed_model import build_routed, load_predictor, register_routed
from driftline.repair.steps.routing import routing_summary
from driftline.repair.steps.state import RepairState
from driftline.statuses import RepairStatus

__all__ = ["reroute"]


def reroute(state: RepairState) -> RepairState:
    """Re-fit the routing of the drifted routed model (module docstring)."""
    store, drifted, result, val, search = (
        state.store,
        state.drifted,
        state.result,
        state.val,
        state.search,
    )
    assert search is not None
    members = list(drifted.architecture.get("members", []))
    if search.chosen is not None and search.chosen.id not in members:
        members.append(search.chosen.id)
    state.say(f"re-fitting the routing over {len(members)} members")
    validation = (val.table, val.y) if val is not None else None
    routed = build_routed(store, members, state.table, validation, family=state.family)
    result.chosen = "routing"
    result.routing = routing_summary(routed)
    if val is not None:
        old = load_predictor(store, drifted.id, state.family)
        result.before = score(old.predict_proba(val.table), val.y, routed.classes).to_dict()
        result.after = score(routed.predict_proba(val.table), val.y, routed.classes).to_dict()
        result.candidates = {"drifted": result.before, "routing": result.after}
    if routed.routing_id == drifted.architecture.get("routing_id"):
        return state.finish(RepairStatus.NEEDS_LABELS, "re-fitting the routing changed nothing")
    repaired = register_routed(
        store,
        routed,
        name=drifted.name,
        tags={"repair_of": drifted.ref},
        metrics=jsonable({f"val_{k}": v for k, v in result.after.items() if k != "n"}),
        edge_metrics=jsonable({"before": result.before, "after": result.after}),
        params={"drift_report_id": result.drift_report_id},
    )
    store.attach_signature(repaired.id, window_signature(state.table, state.sig))
    result.repaired_id, result.repaired_ref = repaired.id, repaired.ref
    state.done = True
    if val is None:
        return state.finish(
            RepairStatus.AWAITING_APPROVAL,
            f"routing re-fitted without labels: approve to deploy {repaired.ref}",
        )
    if not clears_policy(result.after, result.before, state.policy):
        return state.finish(
            RepairStatus.NEEDS_LABELS,
            "validation below the policy target: active learning should take over",
        )
    if state.deployment and state.approve:
        result.stage_deploy(repaired.id, f"re-routed {drifted.ref}", state.actor)
        result.message = f"deployed {repaired.ref} (re-fitted routing) as {state.deployment}"
        return state
    status = RepairStatus.AWAITING_APPROVAL if state.deployment else RepairStatus.NOT_DEPLOYED
    return state.finish(status, f"re-fitted routing {repaired.ref} registered")
