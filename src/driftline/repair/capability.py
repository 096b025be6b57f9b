"""Repair by capability: which repairs a model admits, chosen automatically and explained.

* **weight space** — parametric classifiers whose tensors match the ancestor's (linear, MLP,
  torch with the original families): the pipeline's own path (weight interpolation, routing).
* **candidate table** — everything else: trees, forests, boosters (LightGBM, XGBoost,
  HistGradientBoosting), Pipelines, ONNX graphs, regressors, and children whose shapes differ
  from their ancestor (distilled, pruned). Rows, each scored on the same held-out labels:

  - ``drifted`` (as it serves) and ``rollback`` (the ancestor);
  - ``output-interpolation``: p = (1 − α)·p_d + α·p_a (any family);
  - ``weight-interpolation``: θ(α) = θ_d + α·(θ_a − θ_d) when the family is parametric and the
    tensors match (scalers and coefficients of a Pipeline together, ONNX float initializers);
  - ``continued-training`` from the better of drifted/ancestor (:mod:`continued`);
  - ``routing`` (classifiers): the lineage mixture of :mod:`driftline.repair.routed_model`.

  The labels are split once (seeded): α and continued training use the *fit* half, the rows
  are compared on the *choose* half, so the reported score is on rows nothing was fitted to.
  The α search is the pipeline's (grid + golden section, ≤ ``policy.max_evals``) on calibrated
  log-loss for classifiers and ``policy.regression_loss`` (MSE or MAE) for regressors.
  Deploy rule: classifiers as the pipeline (accuracy gain ≥ ``min_gain``); regressors when the
  loss falls by at least ``min_gain`` relative to the drifted model's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from driftline.errors import ArchitectureMismatchError, DriftlineError
from driftline.params import ModelParams
from driftline.repair.alpha import regression_loss, search_alpha, search_alpha_regression
from driftline.repair.continued import ContinueSettings, can_continue, continue_training
from driftline.repair.evaluation import classes_of, family_for, score
from driftline.repair.families import ModelFamily, Predictor
from driftline.repair.vector import interpolate, repair_vector, vector_stats
from driftline.store import Model, Store


class Capability(StrEnum):
    WEIGHT_SPACE = "weight-space"
    CANDIDATE_TABLE = "candidate-table"


@dataclass(frozen=True)
class Plan:
    """What the drifted model admits, and why."""

    capability: Capability
    task: str
    parametric: bool
    same_shapes: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "capability": self.capability.value,
            "task": self.task,
            "parametric": self.parametric,
            "same_shapes": self.same_shapes,
            "reason": self.reason,
        }


def _same_shapes(store: Store, a: str, b: str) -> bool:
    ma = {(t.name, t.dtype, tuple(t.shape)) for t in store.manifest(a)}
    mb = {(t.name, t.dtype, tuple(t.shape)) for t in store.manifest(b)}
    return ma == mb


def plan_repair(store: Store, drifted: Model, ancestor_id: str, family: Any = None) -> Plan:
    """Choose the repair path for ``drifted`` toward ``ancestor_id``."""
    fam = family_for(drifted, family)
    task = str(getattr(fam, "task", "classifier"))
    parametric = bool(getattr(fam, "parametric", True))
    same = _same_shapes(store, drifted.id, ancestor_id)
    if not isinstance(fam, ModelFamily) and task == "classifier" and same:
        return Plan(
            Capability.WEIGHT_SPACE,
            task,
            True,
            True,
            "parametric classifier with the ancestor's tensors: weight interpolation",
        )
    why = []
    if task != "classifier":
        why.append("a regressor (decisions on validation loss)")
    if not parametric:
        why.append(
            f"{drifted.framework} {drifted.architecture.get('estimator', '')}".strip()
            + " has no meaningful weight space"
        )
    if not same:
        why.append("its tensors differ from the ancestor's (distilled/pruned/retrained)")
    if not why:
        why.append("structured model: every repair is compared")
    return Plan(Capability.CANDIDATE_TABLE, task, parametric, same, "; ".join(why))


@dataclass
class Candidate:
    """One row: its scores on the choose half, and how to make it a lineage node."""

    name: str
    scores: dict[str, float]
    register: Callable[[], Model] | None = None
    alpha: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """Everything a capability repair needs (built by the pipeline)."""

    store: Store
    drifted: Model
    ancestor: Model
    search: Any
    X_win: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    family: Any
    policy: Any
    plan: Plan
    say: Callable[[str], None]


class _Members:
    """Predictions of the drifted model and the ancestor, with aligned class columns."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.fam_d = family_for(ctx.drifted, ctx.family)
        self.fam_a = family_for(ctx.ancestor, ctx.family)
        self.theta_d = ctx.store.load(ctx.drifted.id)
        self.theta_a = ctx.store.load(ctx.ancestor.id)
        self.task = ctx.plan.task
        self.classes: np.ndarray | None = None
        if self.task == "classifier":
            probe = self.fam_d.predict_proba(self.theta_d, ctx.X_val[:1])
            self.classes = classes_of(self.fam_d, probe.shape[1])
            pa = self.fam_a.predict_proba(self.theta_a, ctx.X_val[:1])
            ca = classes_of(self.fam_a, pa.shape[1])
            if sorted(ca.tolist()) != sorted(self.classes.tolist()):
                raise ArchitectureMismatchError("the ancestor predicts other classes")
            self.perm = np.array([ca.tolist().index(c) for c in self.classes.tolist()])

    def out(self, fam: Predictor, params: Any, X: np.ndarray, ancestor: bool = False) -> np.ndarray:
        if self.task == "classifier":
            p = np.asarray(fam.predict_proba(params, X), dtype=np.float64)
            return p[:, self.perm] if ancestor else p
        return np.asarray(fam.predict(params, X), dtype=np.float64).reshape(len(X))  # type: ignore[attr-defined]

    def drifted(self, X: np.ndarray) -> np.ndarray:
        return self.out(self.fam_d, self.theta_d, X)

    def ancestor(self, X: np.ndarray) -> np.ndarray:
        return self.out(self.fam_a, self.theta_a, X, ancestor=True)


def scores_of(
    task: str, out: np.ndarray, y: np.ndarray, classes: np.ndarray | None
) -> dict[str, float]:
    """Accuracy/log-loss (classifiers) or MSE/MAE (regressors) on labelled rows."""
    if task == "classifier":
        return score(out, y, classes).to_dict()  # type: ignore[arg-type]
    return {
        "mse": regression_loss(y, out, "mse"),
        "mae": regression_loss(y, out, "mae"),
        "n": int(len(y)),
    }


def rank_key(task: str, scores: dict[str, float], loss: str = "mse") -> tuple[float, ...]:
    """Larger is better: (accuracy, −log-loss) or (−loss,)."""
    if task == "classifier":
        return (scores["accuracy"], -scores["log_loss"])
    return (-scores[loss],)


def split_labels(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A seeded half/half split of n labelled rows into (fit, choose); all rows in both when
    there are fewer than 10."""
    idx = np.random.default_rng(seed).permutation(n)
    if n < 10:
        return idx, idx
    return idx[: n // 2], idx[n // 2 :]


def alpha_for(
    task: str,
    at: Callable[[Any, np.ndarray], np.ndarray],
    X: np.ndarray,
    y: np.ndarray,
    classes: np.ndarray | None,
    policy: Any,
) -> tuple[float, str, list]:
    """The pipeline's α search on the fit half: calibrated log-loss or the regression loss."""
    lo, hi = policy.alpha_range
    if task == "classifier":
        res = search_alpha(at, X, y, labels=classes, lo=lo, hi=hi, max_evals=policy.max_evals)
    else:
        res = search_alpha_regression(
            at,
            X,
            y,
            loss=getattr(policy, "regression_loss", "mse"),
            lo=lo,
            hi=hi,
            max_evals=policy.max_evals,
        )
    return float(res.alpha), res.objective, [(float(a), float(v)) for a, v in res.evaluations]


def build_candidates(ctx: Context, fit: np.ndarray, choose: np.ndarray) -> list[Candidate]:
    """Every row the model admits, scored on the choose half."""
    m = _Members(ctx)
    X_f, y_f = ctx.X_val[fit], ctx.y_val[fit]
    X_c, y_c = ctx.X_val[choose], ctx.y_val[choose]
    task, classes = m.task, m.classes
    d_f, a_f, d_c, a_c = m.drifted(X_f), m.ancestor(X_f), m.drifted(X_c), m.ancestor(X_c)
    rows = [
        Candidate("drifted", scores_of(task, d_c, y_c, classes)),
        Candidate("rollback", scores_of(task, a_c, y_c, classes)),
    ]
    pre = {id(X_f): (d_f, a_f), id(X_c): (d_c, a_c)}

    def blend(alpha: float, X: np.ndarray) -> np.ndarray:
        d, a = pre[id(X)] if id(X) in pre else (m.drifted(X), m.ancestor(X))
        return (1 - alpha) * d + alpha * a

    alpha, objective, evals = alpha_for(task, blend, X_f, y_f, classes, ctx.policy)
    rows.append(
        Candidate(
            "output-interpolation",
            scores_of(task, blend(alpha, X_c), y_c, classes),
            alpha=alpha,
            info={"objective": objective, "evaluations": evals},
        )
    )
    rows.extend(_weight_row(ctx, m, X_f, y_f, X_c, y_c))
    rows.extend(_continued_row(ctx, m, X_f, y_f, X_c, y_c, rows))
    return rows


def _weight_row(ctx: Context, m: _Members, X_f, y_f, X_c, y_c) -> list[Candidate]:
    if not (ctx.plan.parametric and ctx.plan.same_shapes):
        return []
    vector = repair_vector(m.theta_d, m.theta_a, strict=False)
    if not vector:
        return []

    def at(alpha: float, X: np.ndarray) -> np.ndarray:
        return m.out(m.fam_d, interpolate(m.theta_d, vector, alpha), X)

    alpha, objective, evals = alpha_for(m.task, at, X_f, y_f, m.classes, ctx.policy)
    theta = {k: np.asarray(v) for k, v in interpolate(m.theta_d, vector, alpha).items()}
    return [
        Candidate(
            "weight-interpolation",
            scores_of(m.task, at(alpha, X_c), y_c, m.classes),
            alpha=alpha,
            info={
                "objective": objective,
                "evaluations": evals,
                "params": theta,
                "vector": dict(vector_stats(vector)),
            },
        )
    ]


def _continued_row(
    ctx: Context, m: _Members, X_f, y_f, X_c, y_c, rows: list[Candidate]
) -> list[Candidate]:
    """Continue training the better of drifted/ancestor (on the fit half) on the fit half."""
    key = getattr(ctx.policy, "regression_loss", "mse")
    starts = [
        ("drifted", m.fam_d, m.theta_d, ctx.drifted, m.drifted(X_f)),
        ("rollback", m.fam_a, m.theta_a, ctx.ancestor, m.ancestor(X_f)),
    ]
    starts = [s for s in starts if can_continue(s[1])]
    if not starts:
        return []
    name, fam, theta, start, _ = max(
        starts, key=lambda s: rank_key(m.task, scores_of(m.task, s[4], y_f, m.classes), key)
    )
    try:
        new = continue_training(fam, theta, X_f, y_f, ContinueSettings())
    except DriftlineError as exc:
        ctx.say(f"continued training skipped: {exc}")
        return []
    except ValueError as exc:  # e.g. a class missing from the few labels
        ctx.say(f"continued training skipped: {exc}")
        return []
    out = m.out(fam, new, X_c, ancestor=start.id == ctx.ancestor.id)
    return [
        Candidate(
            "continued-training",
            scores_of(m.task, out, y_c, m.classes),
            info={"params": new, "start": start, "from": name, "rounds": ContinueSettings().rounds},
        )
    ]


def routing_row(ctx: Context, fit: np.ndarray, choose: np.ndarray) -> list[Candidate]:
    """The lineage mixture (classifiers), temperature fitted on the fit half."""
    if ctx.plan.task != "classifier":
        return _gated_regression_row(ctx, fit, choose)
    from driftline.repair.routed_model import build_routed, choose_members

    members = choose_members(ctx.store, ctx.drifted.id, ctx.search.rows, max_members=3)
    if len(members) < 2:
        return []
    try:
        routed = build_routed(
            ctx.store, members, ctx.X_win, (ctx.X_val[fit], ctx.y_val[fit]), family=ctx.family
        )
    except DriftlineError as exc:
        ctx.say(f"routing skipped: {exc}")
        return []
    X_c, y_c = ctx.X_val[choose], ctx.y_val[choose]
    return [
        Candidate(
            "routing",
            score(routed.predict_proba(X_c), y_c, routed.classes).to_dict(),
            info={"routed": routed},
        )
    ]


def _gated_regression_row(ctx: Context, fit: np.ndarray, choose: np.ndarray) -> list[Candidate]:
    """Regressors: a gated mixture of the drifted model and the ancestor (gates from their
    training signatures' likelihoods, EM priors on the window, T fitted on the fit half)."""
    from driftline.repair.output_space import fit_gate

    store = ctx.store
    if ctx.drifted.signature_id is None or ctx.ancestor.signature_id is None:
        return []
    m = _Members(ctx)
    sigs = [store.signature(ctx.drifted.id), store.signature(ctx.ancestor.id)]
    X_f, y_f, X_c = ctx.X_val[fit], ctx.y_val[fit], ctx.X_val[choose]
    gate = fit_gate(
        sigs,
        ctx.X_win,
        [m.drifted(X_f), m.ancestor(X_f)],
        X_f,
        y_f,
        getattr(ctx.policy, "regression_loss", "mse"),
    )
    pred = np.sum(gate.weights(X_c) * np.stack([m.drifted(X_c), m.ancestor(X_c)]), axis=0)
    return [
        Candidate(
            "routing",
            scores_of("regressor", pred, ctx.y_val[choose], None),
            info={"gate": gate, "temperature": gate.temperature},
        )
    ]


def choose(task: str, rows: list[Candidate], loss: str = "mse") -> Candidate:
    """The best row by the task's rank key; ties go to the earlier (simpler) row."""
    best = rows[0]
    for row in rows[1:]:
        if rank_key(task, row.scores, loss) > rank_key(task, best.scores, loss):
            best = row
    return best


def meets_policy(task: str, before: dict[str, float], after: dict[str, float], policy: Any) -> bool:
    """Classifiers: accuracy gain ≥ min_gain (and ≥ target_accuracy if set); regressors: the
    loss falls by at least min_gain of the drifted model's loss."""
    if task == "classifier":
        if policy.target_accuracy is not None and after["accuracy"] < policy.target_accuracy:
            return False
        return after["accuracy"] - before["accuracy"] >= policy.min_gain - 1e-9
    loss = getattr(policy, "regression_loss", "mse")
    return after[loss] <= before[loss] * (1 - policy.min_gain) + 1e-12


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
    if row.name == "routing" and "gate" in row.info:  # gated regression mixture
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
    if row.name == "routing":
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
        result.status = "needs-labels"
        result.message = (
            f"{ctx.plan.reason}: choosing among rollback, output interpolation and "
            "continued training needs validation labels"
        )
        return result
    fit, chosen_rows = split_labels(len(ctx.y_val))
    ctx.say(f"scoring the candidate table ({ctx.plan.reason})")
    rows = build_candidates(ctx, fit, chosen_rows)
    if ctx.policy.routing:
        rows.extend(routing_row(ctx, fit, chosen_rows))
    result.candidates = {r.name: dict(r.scores) for r in rows}
    best = choose(ctx.plan.task, rows, loss)
    before = rows[0].scores
    result.before, result.after, result.chosen = dict(before), dict(best.scores), best.name
    if best.alpha is not None:
        result.alpha = best.alpha
        result.alpha_objective = best.info.get("objective")
        result.alpha_evaluations = [tuple(e) for e in best.info.get("evaluations", [])]
    if "vector" in best.info:
        result.vector = best.info["vector"]
    if best.name == "drifted":
        result.status = "needs-labels"
        result.message = "no candidate beats the drifted model: active learning should take over"
        return result
    ctx.say(f"registering the {best.name} repair")
    node = register_row(ctx, best, before)
    result.repaired_id, result.repaired_ref = node.id, node.ref
    meets = meets_policy(ctx.plan.task, before, best.scores, ctx.policy)
    how = f"{best.name} repair"
    if not meets:
        result.status = "needs-labels"
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
