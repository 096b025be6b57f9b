"""The capability candidate table end to end: build and score the rows, choose, register the
chosen row as a lineage node and settle the deployment (see :mod:`driftline.repair.capability`)."""

from __future__ import annotations

from typing import Any

from driftline.params import ModelParams
from driftline.repair.capability_rows import Candidate, Context, choose, meets_policy
from driftline.repair.capability_select import select_rows
from driftline.repair.selection import no_worse_held_out
from driftline.statuses import RepairStatus
from driftline.store import Model


def register_row(ctx: Context, row: Candidate, before: dict[str, float]) -> Model:
    """The chosen row as a lineage node (rollback: the ancestor itself)."""
    from driftline.jsonutil import jsonable

    metrics = {f"val_{k}": v for k, v in row.scores.items() if k != "n"}
    edge_metrics = {"before": before, "after": row.scores}
    edge: dict[str, Any] = {
        "method": row.name,
        "capability": ctx.plan.capability.value,
        "ancestor": ctx.ancestor.ref,
    }
    if row.name == "rollback":
        return ctx.ancestor
    if row.name == "output-interpolation":
        from driftline.repair.output_space import register_blend

        return register_blend(
            ctx.store,
            ctx.drifted,
            ctx.ancestor,
            float(row.alpha or 0.0),
            task=ctx.plan.task,
            metrics=metrics,
            edge_metrics=edge_metrics,
            edge_params=edge,
            data=ctx.X_win,
        )
    if "gate" in row.info:  # gated regression mixture (T fitted, or T = 1 without labels)
        from driftline.repair.output_space import register_blend

        edge["temperature"] = row.info["temperature"]
        return register_blend(
            ctx.store,
            ctx.drifted,
            ctx.ancestor,
            0.0,
            task=ctx.plan.task,
            metrics=metrics,
            edge_metrics=edge_metrics,
            edge_params=edge,
            data=ctx.X_win,
            gate=row.info["gate"],
        )
    if "routed" in row.info:  # routing, with T fitted or T = 1
        from driftline.drift import Signature
        from driftline.repair.routed_model import register_routed

        node = register_routed(
            ctx.store,
            row.info["routed"],
            name=ctx.drifted.name,
            metrics=jsonable(metrics),
            edge_metrics=jsonable(edge_metrics),
            tags={"repair_of": ctx.drifted.ref},
            params=edge,
        )
        ctx.store.attach_signature(node.id, Signature.from_data(ctx.X_win))
        return node
    start = row.info.get("start", ctx.drifted)
    if row.name == "weight-interpolation":
        edge["alpha"] = row.alpha
    else:
        edge.update({"from": start.ref, "rounds": row.info.get("rounds")})
    parents = list(dict.fromkeys([ctx.drifted.id, ctx.ancestor.id, start.id]))
    return ctx.store.register(
        ModelParams(row.info["params"], start.framework, start.architecture),
        name=ctx.drifted.name,
        parents=parents,
        transform="repair",
        params=jsonable(edge),
        metrics=jsonable(metrics),
        edge_metrics=jsonable(edge_metrics),
        tags={"repair_of": ctx.drifted.ref},
        data=ctx.X_win,
    )


def run_candidate_table(
    ctx: Context, result: Any, deployment: str | None, approve: bool, actor: str
) -> Any:
    """Build, score, choose, register and (per policy) deploy; fills the pipeline's
    ``RepairResult`` (``capability`` explains the path, ``candidates`` every row)."""
    result.capability = ctx.plan.to_dict()
    loss = getattr(ctx.policy, "regression_loss", "mse")
    if ctx.y_val is None or len(ctx.y_val) == 0:
        return _without_labels(ctx, result)
    ctx.say(f"scoring the candidate table ({ctx.plan.reason})")
    sel = select_rows(ctx)
    rows = sel.rows
    result.candidates = {r.name: dict(r.scores) for r in rows}
    result.held_out, result.selection = sel.held_out, dict(sel.counts)
    eligible = [r for r in rows if no_worse_held_out(sel.held_out, r.name)]
    best = choose(ctx.plan.task, eligible or rows[:1], loss)
    before = rows[0].scores
    result.before, result.after, result.chosen = dict(before), dict(best.scores), best.name
    if best.alpha is not None:
        result.alpha = best.alpha
        result.alpha_objective = best.info.get("objective")
        result.alpha_evaluations = [tuple(e) for e in best.info.get("evaluations", [])]
    if "vector" in best.info:
        result.vector = best.info["vector"]
    if best.name == "drifted":
        result.status = RepairStatus.NEEDS_LABELS
        result.message = "no candidate beats the drifted model: active learning should take over"
        return result
    ctx.say(f"registering the {best.name} repair")
    node = register_row(ctx, best, before)
    result.repaired_id, result.repaired_ref = node.id, node.ref
    meets = meets_policy(ctx.plan.task, before, best.scores, ctx.policy)
    how = f"{best.name} repair"
    if not meets:
        result.status = RepairStatus.NEEDS_LABELS
        result.message = f"{how} below the policy target: active learning should take over"
    else:
        from driftline.repair.decide import settle_deployment

        settle_deployment(
            result,
            node,
            how,
            ctx.drifted.ref,
            deployment,
            approve,
            actor,
            note=f"; {ctx.plan.reason}",
        )
    return result


def _without_labels(ctx: Context, result: Any) -> Any:
    """No labels: propose the label-free routing for approval, else ask for labels
    (:mod:`driftline.repair.capability_label_free`)."""
    from driftline.repair.capability_label_free import propose_without_labels

    table = "rollback, output interpolation, continued training and routing"
    row = propose_without_labels(ctx, result)
    if row is None:
        result.status = RepairStatus.NEEDS_LABELS
        result.message = f"{ctx.plan.reason}: choosing among {table} needs validation labels"
        return result
    ctx.say(f"registering the label-free {row.name} repair")
    node = register_row(ctx, row, {})
    result.repaired_id, result.repaired_ref, result.chosen = node.id, node.ref, row.name
    result.status = RepairStatus.AWAITING_APPROVAL
    result.message = (
        f"{row.name} (the lineage's Bayes routing) chosen without labels: approve to deploy "
        f"{node.ref}, or give validation labels to choose among {table}"
    )
    return result
