"""The repair pipeline: detect → healthy ancestor → repair vector → α search → validate →
register → deploy (or hand over to active learning).

``repair(store, "digits", window, validation=(X_val, y_val))`` repairs the model behind the
deployment ``digits`` (or any model reference). The repaired model is a new node with ``repair``
edges from the drifted model and from the ancestor. Re-running on the same inputs returns the
stored result (the repair key hashes the drifted model, the window, the validation data and the
policy).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from driftline.drift import Signature, compare
from driftline.drift.roles import check_labels
from driftline.errors import InvalidInputError
from driftline.jsonutil import jsonable as _jsonable
from driftline.params import ModelParams, model_id
from driftline.params.identity import le_bytes
from driftline.repair.alpha import per_tensor_alpha, search_alpha
from driftline.repair.ancestors import AncestorSearch, find_healthy_ancestor
from driftline.repair.evaluation import Families, as_matrix, classes_of, family_for, score
from driftline.repair.families import Predictor, predictor_at_alpha, prepare_params
from driftline.repair.model_input import (
    input_names,
    preflight,
    window_signature,
    window_table,
)
from driftline.repair.vector import interpolate, layer_groups, repair_vector, sparsify, vector_stats
from driftline.store import Model, Store
from driftline.store.repairs import Switch, insert_repair, update_repair_row
from driftline.store.schema import repairs

Progress = Callable[[str], None]
MAX_ROUTED_MEMBERS = 6


@dataclass(frozen=True)
class RepairPolicy:
    """What the pipeline may do and when it may deploy.

    The repaired model is deployed when validation labels exist, its validation accuracy is at
    least ``target_accuracy`` (if set) and beats the drifted model's by at least ``min_gain``
    (default one percentage point: a repair that changes nothing measurable is not deployed).
    ``drift_share``/``thresholds`` configure the drift agent used for detection and for judging
    ancestors (``drift_share`` 0.4: a data set drifts when 40% of its features drift — suited to
    wide, redundant inputs such as pixels; None: any drifting feature).
    """

    target_accuracy: float | None = None
    min_gain: float = 0.01
    alpha_range: tuple[float, float] = (0.0, 1.0)
    max_evals: int = 12
    per_tensor: bool = False
    per_tensor_evals: int = 16
    sparse_fraction: float | None = None
    drift_share: float | None = None
    thresholds: Mapping[str, float | None] | None = None
    max_hops: int | None = None
    auto_deploy: bool = True
    force: bool = False
    routing: bool = True
    routing_mix_threshold: float = 0.9
    #: labels: the deployed model is "performing" unless below its reference accuracy with
    #: p < performance_alpha and by >= min_performance_drop (see repair.concept)
    performance_alpha: float = 0.01
    min_performance_drop: float = 0.05
    #: repair drifting inputs only when the (estimated) accuracy drop reaches this; None = always
    min_estimated_drop: float | None = None
    #: how an ancestor's training data is judged against today's window: "effect" (default:
    #: materially similar, every effect size below its threshold; a calibrated test at large n
    #: also flags small real differences that do not make a poor starting point) or any agent
    #: rule ("calibrated", "bonferroni", "bh"). Detection always uses the agent's default rule.
    ancestor_rule: str = "effect"
    regression_loss: str = "mse"  # or "mae": α and decisions for regressors

    def agent_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.drift_share is not None:
            kw["drift_share"] = self.drift_share
        if self.thresholds:
            kw["thresholds"] = dict(self.thresholds)
        return kw

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alpha_range"] = list(self.alpha_range)
        d["thresholds"] = dict(self.thresholds or {})
        return d


@dataclass
class RepairResult:
    """What a repair did. ``status``: no-drift | deployed | awaiting-approval | not-deployed |
    needs-labels."""

    status: str
    drifted_id: str
    drift_report_id: int | None = None
    search: dict[str, Any] = field(default_factory=dict)
    ancestor_id: str | None = None
    healthy_ancestor: bool = False
    alpha: float | None = None
    alpha_objective: str | None = None
    alpha_evaluations: list[tuple[float, float]] = field(default_factory=list)
    per_tensor_alpha: dict[str, float] | None = None
    vector: dict[str, Any] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    chosen: str | None = None
    routing: dict[str, Any] = field(default_factory=dict)
    regime_mix: dict[str, float] = field(default_factory=dict)
    repaired_id: str | None = None
    repaired_ref: str | None = None
    deployment: str | None = None
    deployed: bool = False
    repair_id: int | None = None
    message: str = ""
    seconds: float = 0.0
    performance: dict[str, Any] = field(default_factory=dict)
    concept_drift: bool = False
    capability: dict[str, Any] = field(default_factory=dict)
    active: dict[str, Any] = field(default_factory=dict)  # what active learning did last
    #: the deployment switch to apply in the same transaction as the record (not stored)
    pending_switch: Switch | None = field(default=None, repr=False, compare=False)

    @property
    def needs_labels(self) -> bool:
        return self.status in ("needs-labels", "waiting-for-labels")

    def stage_deploy(self, model_id: str, reason: str, actor: str) -> None:
        """Mark as deployed; the switch happens when the record is written (one transaction)."""
        assert self.deployment is not None
        self.pending_switch = Switch(model_id, self.deployment, reason, actor)
        self.status, self.deployed = "deployed", True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("pending_switch", None)
        return _jsonable(d)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RepairResult:
        d = dict(d)
        d["alpha_evaluations"] = [tuple(x) for x in d.get("alpha_evaluations", [])]
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def _digest(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.asarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(le_bytes(a) if a.dtype.kind != "O" else json.dumps(a.tolist()).encode())
    return h.hexdigest()


def resolve_target(store: Store, target: str | Model) -> tuple[str, str | None]:
    """(model id, deployment name or None) for a deployment name or a model reference."""
    if isinstance(target, str) and not target.startswith("deployment:"):
        names = {d.name for d in store.deployments()}
        if target in names:
            return store.resolve(f"deployment:{target}"), target
    if isinstance(target, str) and target.startswith("deployment:"):
        return store.resolve(target), target.split(":", 1)[1]
    return store.resolve(target), None


def repair(
    store: Store,
    target: str | Model,
    window: Any,
    validation: tuple[Any, Any] | None = None,
    *,
    policy: RepairPolicy | None = None,
    family: Predictor | Families | None = None,
    approve: bool | None = None,
    actor: str = "driftline",
    progress: Progress | None = None,
) -> RepairResult:
    """Run the repair pipeline on the model behind ``target`` (a deployment name or a model
    reference) for the current ``window`` of inputs, choosing α on ``validation`` = (X, y)
    from the current distribution (or on the window's prediction entropy without labels).

    ``approve`` (default ``policy.auto_deploy``) lets the pipeline switch the deployment when
    the policy is met; otherwise the result waits with status ``awaiting-approval``.
    """
    started = time.perf_counter()
    policy = policy or RepairPolicy()
    say = progress or (lambda _msg: None)
    approve = policy.auto_deploy if approve is None else approve
    drifted_id, deployment = resolve_target(store, target)
    drifted = store.get(drifted_id)
    sig = store.signature(drifted_id)
    table = window_table(window, sig)  # drift checks see named columns, the model its inputs
    names = input_names(drifted, sig)
    X_win = as_matrix(table, names)
    X_val = y_val = val_table = None
    if validation is not None:
        val_table = window_table(validation[0], sig)
        X_val = as_matrix(val_table, names)
        y_val = np.asarray(validation[1])
        check_labels(sig, y_val, "validation")
        if len(y_val) != len(X_val):
            raise InvalidInputError(f"{len(y_val)} validation labels for {len(X_val)} rows")
    for X in (X_win, X_val):
        preflight(store, drifted, family, X)  # a clear error before anything is stored
    key = hashlib.sha256(
        json.dumps(
            [drifted_id, _digest(X_win, X_val, y_val), policy.to_dict()],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    previous = load_repair(store, key)
    if previous is not None:
        say("same inputs as an earlier repair: returning its result")
        if (
            previous.status == "awaiting-approval"
            and approve
            and previous.repaired_id
            and deployment
        ):
            return approve_repair(store, previous.repair_id, actor=actor)  # type: ignore[arg-type]
        return previous

    result = RepairResult(status="no-drift", drifted_id=drifted_id, deployment=deployment)
    say(f"checking {drifted.ref} against its training signature")
    report = compare(sig, table, **policy.agent_kwargs())
    result.drift_report_id = store.save_drift_report(drifted_id, report, deployment)
    check = _performance_check(store, drifted, X_win, X_val, y_val, family, policy, report.drift)
    if check is not None:
        result.performance, result.concept_drift = check.to_dict(), check.concept_drift
    gated = report.drift and _harmless(store, drifted, X_win, family, check, policy, result)
    if gated and not policy.force:
        return _finish(store, key, result, started)
    if not report.drift and not policy.force and not result.concept_drift:
        result.message = (
            f"no drift: {len(report.drifted_features)} of {len(report.features)} features moved"
        )
        return _finish(store, key, result, started)

    say("searching the lineage for a healthy ancestor")
    search = find_healthy_ancestor(
        store,
        drifted_id,
        table,
        max_hops=policy.max_hops,
        agent_kwargs={**policy.agent_kwargs(), "rule": policy.ancestor_rule},
    )
    if check is not None and y_val is not None:
        from driftline.repair.concept import rescore_on_labels

        search = rescore_on_labels(
            store,
            search,
            X_win,
            X_val,
            y_val,
            family,
            check.reference_accuracy,
            policy.min_performance_drop,
        )
    result.search = search.to_dict()
    goal = search.target
    if goal is None:
        result.status = "needs-labels"
        result.message = "no ancestor with a training signature: active learning must take over"
        return _finish(store, key, result, started)
    result.ancestor_id = goal.id
    result.healthy_ancestor = search.healthy

    if drifted.framework == "routed":
        return _finish(
            store,
            key,
            _rerouted(
                store,
                drifted,
                search,
                table,
                val_table,
                y_val,
                family,
                result,
                policy,
                deployment,
                approve,
                actor,
                say,
            ),
            started,
        )
    from driftline.repair.capability import Capability, Context, plan_repair, run_candidate_table

    plan = plan_repair(store, drifted, goal.id, family)
    result.capability = plan.to_dict()
    if plan.capability is Capability.CANDIDATE_TABLE:  # trees, boosters, regressors, ...
        ctx = Context(
            store,
            drifted,
            store.get(goal.id),
            search,
            X_win,
            X_val,
            y_val,
            family,
            policy,
            plan,
            say,
        )
        return _finish(
            store, key, run_candidate_table(ctx, result, deployment, approve, actor), started
        )
    fam = family_for(drifted, family)
    theta_d = store.load(drifted_id)
    theta_a = store.load(goal.id)
    vector = repair_vector(theta_d, theta_a)
    if policy.sparse_fraction is not None:
        vector = sparsify(vector, policy.sparse_fraction)
    result.vector = dict(vector_stats(vector))
    at = predictor_at_alpha(fam, theta_d, vector, X_win)
    X_obj, y_obj = (X_val, y_val) if y_val is not None else (X_win, None)
    probe = fam.predict_proba(prepare_params(fam, theta_d, X_win), X_obj[:1])
    classes = classes_of(fam, probe.shape[1])
    say(
        f"searching alpha toward {goal.ref} ({'validation log-loss' if y_val is not None else 'window entropy'})"
    )
    lo, hi = policy.alpha_range
    res = search_alpha(at, X_obj, y_obj, labels=classes, lo=lo, hi=hi, max_evals=policy.max_evals)
    result.alpha, result.alpha_objective = float(res.alpha), res.objective
    result.alpha_evaluations = [(float(a), float(v)) for a, v in res.evaluations]
    alpha: float | dict[str, float] = float(res.alpha)
    if policy.per_tensor:
        say("refining alpha per layer")
        pt = per_tensor_alpha(
            at,
            X_obj,
            y_obj,
            layer_groups(list(vector)),
            res.alpha,
            labels=classes,
            lo=lo,
            hi=hi,
            max_evals=policy.per_tensor_evals,
            start_value=res.value,
        )
        if pt.value < res.value:
            alpha = dict(pt.alphas)
            result.per_tensor_alpha = dict(pt.alphas)
    theta_r = prepare_params(fam, interpolate(theta_d, vector, alpha), X_win)

    rollback_ids: dict[str, str] = {}
    theta_bn = prepare_params(fam, theta_d, X_win)  # BatchNorm/statistics on the window alone
    has_bn = model_id(theta_bn) != model_id(theta_d)
    if y_val is not None:
        # the drifted model exactly as it serves today: no re-estimation on the window
        before = score(fam.predict_proba(theta_d, X_val), y_val, classes)
        after = score(fam.predict_proba(theta_r, X_val), y_val, classes)
        result.before, result.after = before.to_dict(), after.to_dict()
        result.candidates["drifted"] = before.to_dict()
        if has_bn:
            result.candidates["batchnorm"] = score(
                fam.predict_proba(theta_bn, X_val), y_val, classes
            ).to_dict()
        result.candidates["interpolation"] = after.to_dict()
        from driftline.repair.rollbacks import score_rollbacks

        rollback_ids, rows = score_rollbacks(
            store, fam, search, set(theta_d), X_val, y_val, classes
        )
        result.candidates.update(rows)

    routed = None
    if policy.routing:
        say("scoring lineage routing on the same data")
        routed = _routing_candidate(
            store, drifted_id, search, table, val_table, y_val, family, result
        )
    pick = None
    if y_val is not None:
        from driftline.repair.decide import best_candidate, choose_candidate

        # a weight-space repair or rollback toward a member that is only a fallback waits
        eligible = {
            "interpolation": search.healthy,
            "routing": routed is not None,
            **{f"rollback {r.ref}": r.healthy for r in search.rows},
        }
        pick = choose_candidate(result.candidates, policy, eligible)
        # nothing clears the policy: active learning refines the pipeline's weight-space repair
        chosen = (
            pick
            or best_candidate(
                {k: v for k, v in result.candidates.items() if k in ("batchnorm", "interpolation")}
            )
            or "interpolation"
        )
    else:
        use_routing = routed is not None and _routing_wins(result, False, policy)
        chosen = "routing" if use_routing else "interpolation"
    use_routing = chosen == "routing"
    result.chosen = chosen
    if chosen == "batchnorm":
        theta_r = theta_bn
        result.alpha = 0.0
    if y_val is not None and not use_routing:
        result.after = dict(result.candidates[chosen])

    rid = model_id(theta_r)
    if chosen.startswith("rollback "):  # a lineage member itself, as it was trained
        repaired = store.get(rollback_ids[chosen])
        say(f"the best candidate is {repaired.ref} itself (a rollback)")
    elif use_routing:
        from driftline.repair.routed_model import register_routed

        say("registering the routed model")
        repaired = register_routed(
            store,
            routed,
            name=drifted.name,
            metrics=_jsonable(
                {f"val_{k}": v for k, v in result.candidates["routing"].items() if k != "n"}
            ),
            edge_metrics=_jsonable(
                {"before": result.before, "after": result.candidates.get("routing", {})}
            ),
            tags={"repair_of": drifted.ref},
            params={"drift_report_id": result.drift_report_id},
        )
        if y_val is not None:
            result.after = dict(result.candidates["routing"])
        # Monitor it against today's data, like an interpolated repair (its members keep theirs).
        store.attach_signature(repaired.id, window_signature(table, sig))
    elif rid == drifted_id:
        result.status = "needs-labels"
        result.message = (
            f"the best alpha is 0 ({result.alpha_objective}): moving toward {goal.ref} does not "
            "help, so active learning should take over"
        )
        return _finish(store, key, result, started)
    elif rid == goal.id:
        say(f"alpha = 1: the repair is the ancestor {goal.ref} itself (a rollback)")
        repaired = goal
    else:
        say("registering the repaired model")
        repaired = _register_repaired(
            store,
            drifted,
            goal,
            theta_r,
            result,
            policy,
            search.healthy,
            window_signature(table, sig),
        )
    result.repaired_id, result.repaired_ref = repaired.id, repaired.ref

    how = {"routing": "routed repair", "batchnorm": "BatchNorm re-estimation"}.get(
        chosen, chosen if chosen.startswith("rollback ") else "lineage repair"
    )
    if y_val is not None and pick is None:
        result.status = "needs-labels"
        result.message = (
            "no candidate clears the policy on validation: active learning should take over"
        )
    elif not search.healthy and not use_routing and y_val is None:
        result.status = "needs-labels"
        result.message = "no healthy ancestor: active learning should take over"
    elif y_val is None:
        result.status = "awaiting-approval"
        result.message = f"{how} chosen without labels: approve to deploy {repaired.ref}"
    else:
        from driftline.repair.decide import settle_deployment

        settle_deployment(result, repaired, how, drifted.ref, deployment, approve, actor)
    return _finish(store, key, result, started)


def _rerouted(
    store: Store,
    drifted: Model,
    search: AncestorSearch,
    X_win: Any,
    X_val: Any,
    y_val: np.ndarray | None,
    family: Predictor | Families | None,
    result: RepairResult,
    policy: RepairPolicy,
    deployment: str | None,
    approve: bool,
    actor: str,
    say: Progress,
) -> RepairResult:
    """A drifted *routed* model has no weight vector to interpolate: re-fit its routing (its
    members plus the nearest healthy ancestor) to today's window and validation data."""
    from driftline.repair.routed_model import build_routed, load_predictor, register_routed

    members = list(drifted.architecture.get("members", []))
    if search.chosen is not None and search.chosen.id not in members:
        members.append(search.chosen.id)
    say(f"re-fitting the routing over {len(members)} members")
    routed = build_routed(
        store, members, X_win, (X_val, y_val) if y_val is not None else None, family=family
    )
    result.chosen = "routing"
    result.routing = _routing_summary(routed)
    if y_val is not None:
        old = load_predictor(store, drifted.id, family)
        result.before = score(old.predict_proba(X_val), y_val, routed.classes).to_dict()
        result.after = score(routed.predict_proba(X_val), y_val, routed.classes).to_dict()
        result.candidates = {"drifted": result.before, "routing": result.after}
    if routed.routing_id == drifted.architecture.get("routing_id"):
        result.status, result.message = "needs-labels", "re-fitting the routing changed nothing"
        return result
    repaired = register_routed(
        store,
        routed,
        name=drifted.name,
        tags={"repair_of": drifted.ref},
        metrics=_jsonable({f"val_{k}": v for k, v in result.after.items() if k != "n"}),
        edge_metrics=_jsonable({"before": result.before, "after": result.after}),
        params={"drift_report_id": result.drift_report_id},
    )
    store.attach_signature(repaired.id, window_signature(X_win, store.signature(drifted.id)))
    result.repaired_id, result.repaired_ref = repaired.id, repaired.ref
    if y_val is None:
        result.status, result.message = (
            "awaiting-approval",
            f"routing re-fitted without labels: approve to deploy {repaired.ref}",
        )
    elif not _meets_policy(result, policy):
        result.status, result.message = (
            "needs-labels",
            "validation below the policy target: active learning should take over",
        )
    elif deployment and approve:
        result.stage_deploy(repaired.id, f"re-routed {drifted.ref}", actor)
        result.message = f"deployed {repaired.ref} (re-fitted routing) as {deployment}"
    else:
        result.status = "awaiting-approval" if deployment else "not-deployed"
        result.message = f"re-fitted routing {repaired.ref} registered"
    return result


def _routing_summary(routed: Any) -> dict[str, Any]:
    """Members (in the priors' order), temperature, priors and how they were calibrated."""
    return {
        "members": list(routed.member_refs),
        "temperature": float(routed.temperature),
        "priors": [float(p) for p in routed.priors],
        "calibration": routed.info.get("calibration"),
    }


def _routing_candidate(
    store: Store,
    drifted_id: str,
    search: AncestorSearch,
    X_win: Any,
    X_val: Any,
    y_val: np.ndarray | None,
    family: Predictor | Families | None,
    result: RepairResult,
) -> Any:
    """Route between the drifted model, its nearest healthy (or least drifted) ancestor and the
    rest of its signed lineage by training-signature likelihood; score it on the validation data
    (or the window's entropy)."""
    from driftline.repair.alpha import mean_entropy
    from driftline.repair.routed_model import build_routed, choose_members, regime_mix_report

    mix_members = [drifted_id] + [r.id for r in search.rows if r.has_signature]
    # The whole (signed) lineage up to MAX_ROUTED_MEMBERS, nearest first: on overlapping regimes
    # intermediate members explain rows that neither the root nor the drifted model does
    # (benchmarks/bench_repair.py: 0.945 vs 0.915 with two members; equal elsewhere).
    members = choose_members(store, drifted_id, search.rows, max_members=2)
    members += [m for m in mix_members if m not in members][: MAX_ROUTED_MEMBERS - len(members)]
    if len(members) < 2:
        return None
    result.regime_mix = regime_mix_report(store, mix_members, X_win)
    validation = (X_val, y_val) if y_val is not None else None
    routed = build_routed(store, members, X_win, validation, family=family)
    if y_val is not None:
        result.candidates["routing"] = score(
            routed.predict_proba(X_val), y_val, routed.classes
        ).to_dict()
    else:
        result.candidates["routing"] = {"window_entropy": mean_entropy(routed.predict_proba(X_win))}
    result.routing = _routing_summary(routed)
    return routed


def _routing_wins(result: RepairResult, labelled: bool, policy: RepairPolicy) -> bool:
    """With labels: routing beats interpolation on validation accuracy (ties: log-loss).
    Without labels: the window mixes regimes (the EM mixture proportions of the members'
    training distributions on the window give none more than ``policy.routing_mix_threshold``),
    where no single interpolated model can serve."""
    routing = result.candidates.get("routing")
    if not routing:
        return False
    if labelled:
        interp = result.candidates["interpolation"]
        return (routing["accuracy"], -routing["log_loss"]) > (
            interp["accuracy"],
            -interp["log_loss"],
        )
    priors = result.routing.get("priors") or []
    return bool(priors) and max(priors) < policy.routing_mix_threshold


def _register_repaired(
    store: Store,
    drifted: Model,
    goal: Any,
    theta_r: dict[str, np.ndarray],
    result: RepairResult,
    policy: RepairPolicy,
    healthy: bool,
    window_sig: Signature,
) -> Model:
    """The repaired model as a new node with ``repair`` edges from the drifted model and the
    ancestor; the window's signature becomes its training signature."""
    batchnorm = result.chosen == "batchnorm"  # the drifted model, statistics re-estimated
    edge_params = {
        "method": "batchnorm" if batchnorm else "interpolation",
        "alpha": result.alpha,
        "per_tensor": result.per_tensor_alpha is not None,
        "objective": result.alpha_objective,
        "evaluations": len(result.alpha_evaluations),
        "vector_l2": result.vector.get("l2_norm"),
        "vector_sparsity": result.vector.get("sparsity"),
        "sparse_fraction": policy.sparse_fraction,
        "ancestor": goal.ref,
        "healthy_ancestor": healthy,
        "drift_report_id": result.drift_report_id,
    }
    return store.register(
        ModelParams(theta_r, drifted.framework, drifted.architecture),
        name=drifted.name,
        parents=[drifted.id] if batchnorm else [drifted.id, goal.id],
        transform="repair",
        params=_jsonable(edge_params),
        metrics=_jsonable({f"val_{k}": v for k, v in result.after.items() if k != "n"}),
        edge_metrics=_jsonable({"before": result.before, "after": result.after}),
        tags={"repair_of": drifted.ref},
        signature=window_sig,
    )


def _meets_policy(result: RepairResult, policy: RepairPolicy, candidate: str | None = None) -> bool:
    from driftline.repair.decide import clears_policy

    after = result.candidates.get(candidate, {}) if candidate else result.after
    return clears_policy(after, result.before, policy)


def _performance_check(
    store: Store,
    drifted: Model,
    X_win: np.ndarray,
    X_val: Any,
    y_val: Any,
    family: Predictor | Families | None,
    policy: RepairPolicy,
    inputs_drift: bool,
) -> Any:
    """Score the deployed model on the labels (repair.concept); marks concept drift."""
    if y_val is None:
        return None
    from driftline.repair.concept import check_performance

    return check_performance(
        store,
        drifted,
        X_win,
        X_val,
        y_val,
        family,
        alpha=policy.performance_alpha,
        min_drop=policy.min_performance_drop,
        inputs_drift=inputs_drift,
    )


def _harmless(
    store: Store,
    drifted: Model,
    X_win: np.ndarray,
    family: Predictor | Families | None,
    check: Any,
    policy: RepairPolicy,
    result: RepairResult,
) -> bool:
    """The policy gate: drift whose (estimated) accuracy drop is below the floor is harmless."""
    if policy.min_estimated_drop is None:
        return False
    from driftline.repair.concept import HARMLESS, estimated_drop

    drop = estimated_drop(store, drifted, X_win, family, check)
    if drop is None or drop >= policy.min_estimated_drop:
        return False
    result.status = HARMLESS
    result.message = (
        f"inputs drift but the accuracy drop is {drop:.3f} < {policy.min_estimated_drop}: no repair"
    )
    return True


def _finish(store: Store, key: str, result: RepairResult, started: float) -> RepairResult:
    result.seconds = time.perf_counter() - started
    if result.concept_drift and not result.message.startswith("concept"):
        from driftline.repair.concept import CONCEPT_DRIFT

        result.message = f"{CONCEPT_DRIFT}; {result.message}"
    values = {
        "key": key,
        "drifted_id": result.drifted_id,
        "ancestor_id": result.ancestor_id,
        "result_id": result.repaired_id,
        "status": result.status,
        "deployment": result.deployment,
    }

    def record(rid: int) -> dict[str, Any]:
        result.repair_id = rid
        return result.to_dict()

    # the deployment switch (if any) and the record: one transaction (store.repairs)
    result.repair_id = insert_repair(store, values, record, result.pending_switch)
    result.pending_switch = None
    return result


def load_repair(store: Store, key_or_id: str | int) -> RepairResult | None:
    """A stored repair by its key (hash of the inputs) or its numeric id."""
    col = repairs.c.id if isinstance(key_or_id, int) else repairs.c.key
    with store.read() as conn:
        row = conn.execute(sa.select(repairs).where(col == key_or_id)).first()
    if row is None:
        return None
    out = RepairResult.from_dict(row.record)
    out.repair_id, out.status = row.id, row.status
    return out


def list_repairs(store: Store) -> list[RepairResult]:
    with store.read() as conn:
        rows = conn.execute(sa.select(repairs).order_by(repairs.c.id)).all()
    out = []
    for row in rows:
        r = RepairResult.from_dict(row.record)
        r.repair_id, r.status = row.id, row.status
        out.append(r)
    return out


def update_repair(store: Store, result: RepairResult, switch: Switch | None = None) -> None:
    """Persist a changed result (status, deployment) of an existing repair record, with the
    deployment ``switch`` (if any) in the same transaction."""
    update_repair_row(
        store,
        int(result.repair_id),  # type: ignore[arg-type]
        {"status": result.status, "result_id": result.repaired_id, "record": result.to_dict()},
        switch,
    )


def approve_repair(store: Store, repair_id: int, *, actor: str = "driftline") -> RepairResult:
    """Deploy a repair that waits for approval."""
    result = load_repair(store, int(repair_id))
    if result is None:
        raise InvalidInputError(f"no repair #{repair_id}; list them with 'driftline repairs'")
    if result.status != "awaiting-approval" or not result.repaired_id or not result.deployment:
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


__all__ = [
    "AncestorSearch",
    "RepairPolicy",
    "RepairResult",
    "approve_repair",
    "list_repairs",
    "load_repair",
    "repair",
]
