"""Step 6, register and deploy: the chosen row as a lineage node, then the status.

A rollback row is the member itself (no new node); routing registers a routed node; BatchNorm
and interpolation register new tensors with ``repair`` edges (from the drifted model, and for
interpolation from the ancestor), the window's signature as their training signature. The
deployment switch is only *staged* here (``RepairResult.stage_deploy``): it commits with the
repair record (:func:`driftline.repair.records.save_repair`).
"""

from __future__ import annotations

from typing import Any

from driftline.jsonutil import jsonable
from driftline.params import ModelParams, model_id
from driftline.repair.decide import settle_deployment
from driftline.repair.model_input import window_signature
from driftline.repair.routed_model import register_routed
from driftline.repair.steps.continued_row import CONTINUED
from driftline.repair.steps.state import RepairState
from driftline.repair.vector import Params
from driftline.statuses import RepairStatus
from driftline.store import Model

__all__ = ["register_and_deploy"]

_HOW = {
    "routing": "routed repair",
    "batchnorm": "BatchNorm re-estimation",
    CONTINUED: "continued training",
}


def register_and_deploy(state: RepairState) -> RepairState:
    """Register ``result.chosen`` and settle the status (deployed / awaiting approval /
    not deployed / needs labels)."""
    ws, result, goal = state.weights, state.result, state.goal
    assert ws is not None and result.chosen is not None and state.search is not None
    chosen = result.chosen
    if chosen.startswith("rollback "):  # a lineage member itself, as it was trained
        repaired = state.store.get(ws.rollback_ids[chosen])
        state.say(f"the best candidate is {repaired.ref} itself (a rollback)")
    elif chosen == "routing":
        repaired = _register_routing(state)
    elif chosen == CONTINUED:
        state.say(f"registering the continued training from {ws.continued_from}")
        repaired = _register_weights(state, ws.continued)
    elif model_id(ws.theta_r) == state.drifted.id:
        return state.finish(
            RepairStatus.NEEDS_LABELS,
            f"the best alpha is 0 ({result.alpha_objective}): moving toward {goal.ref} does "
            "not help, so active learning should take over",
        )
    elif model_id(ws.theta_r) == goal.id:
        state.say(f"alpha = 1: the repair is the ancestor {goal.ref} itself (a rollback)")
        repaired = state.store.get(goal.id)
    else:
        state.say("registering the repaired model")
        repaired = _register_weights(state)
    result.repaired_id, result.repaired_ref = repaired.id, repaired.ref
    _settle(state, repaired)
    return state


def _settle(state: RepairState, repaired: Model) -> None:
    result, chosen = state.result, state.result.chosen or "interpolation"
    how = _HOW.get(chosen, chosen if chosen.startswith("rollback ") else "lineage repair")
    assert state.weights is not None and state.search is not None
    if state.val is not None and state.weights.pick is None:
        state.finish(
            RepairStatus.NEEDS_LABELS,
            "no candidate clears the policy on validation: active learning should take over",
        )
    elif not state.search.healthy and chosen != "routing" and state.val is None:
        state.finish(
            RepairStatus.NEEDS_LABELS, "no healthy ancestor: active learning should take over"
        )
    elif state.val is None:
        state.finish(
            RepairStatus.AWAITING_APPROVAL,
            f"{how} chosen without labels: approve to deploy {repaired.ref}",
        )
    else:
        settle_deployment(
            result,
            repaired,
            how,
            state.drifted.ref,
            state.deployment,
            state.approve,
            state.actor,
        )


def _register_routing(state: RepairState) -> Model:
    """The routed candidate as a node; monitored against today's window (its members keep
    their own signatures)."""
    result, ws = state.result, state.weights
    assert ws is not None
    state.say("registering the routed model")
    row = result.candidates["routing"]
    repaired = register_routed(
        state.store,
        ws.routed,
        name=state.drifted.name,
        metrics=jsonable({f"val_{k}": v for k, v in row.items() if k != "n"}),
        edge_metrics=jsonable({"before": result.before, "after": row}),
        tags={"repair_of": state.drifted.ref},
        params={"drift_report_id": result.drift_report_id},
    )
    if state.val is not None:
        result.after = dict(row)
    state.store.attach_signature(repaired.id, window_signature(state.table, state.sig))
    return repaired


def _register_weights(state: RepairState, theta: Params | None = None) -> Model:
    """BatchNorm or interpolated tensors as a node with ``repair`` edges from the drifted
    model (and the ancestor); the window's signature becomes its training signature."""
    result, policy, goal, ws = state.result, state.policy, state.goal, state.weights
    assert ws is not None and state.search is not None
    batchnorm = result.chosen == "batchnorm"  # the drifted model, statistics re-estimated
    method = "batchnorm" if batchnorm else result.chosen or "interpolation"
    parents = [state.drifted.id] if batchnorm else [state.drifted.id, goal.id]
    if method == CONTINUED:
        start = ws.continued_from or "drifted"
        parents += [ws.rollback_ids[start]] if start in ws.rollback_ids else []
        parents = list(dict.fromkeys(parents))
    edge_params: dict[str, Any] = {
        "method": method,
        "continued_from": ws.continued_from if method == CONTINUED else None,
        "alpha": result.alpha,
        "per_tensor": result.per_tensor_alpha is not None,
        "objective": result.alpha_objective,
        "evaluations": len(result.alpha_evaluations),
        "vector_l2": result.vector.get("l2_norm"),
        "vector_sparsity": result.vector.get("sparsity"),
        "sparse_fraction": policy.sparse_fraction,
        "ancestor": goal.ref,
        "healthy_ancestor": state.search.healthy,
        "drift_report_id": result.drift_report_id,
    }
    drifted = state.drifted
    return state.store.register(
        ModelParams(
            ws.theta_r if theta is None else theta, drifted.framework, drifted.architecture
        ),
        name=drifted.name,
        parents=parents,
        transform="repair",
        params=jsonable(edge_params),
        metrics=jsonable({f"val_{k}": v for k, v in result.after.items() if k != "n"}),
        edge_metrics=jsonable({"before": result.before, "after": result.after}),
        tags={"repair_of": drifted.ref},
        signature=window_signature(state.table, state.sig),
    )
