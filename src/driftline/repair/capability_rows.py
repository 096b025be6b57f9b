"""Rows of the capability candidate table (see :mod:`driftline.repair.capability`): each row
fitted on the *fit* rows of the labels and scored on the *choose* rows (which rows those are:
:mod:`driftline.repair.capability_select`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.errors import DriftlineError
from driftline.repair.alpha import regression_loss, search_alpha, search_alpha_regression
from driftline.repair.capability import Plan
from driftline.repair.continued import ContinueSettings, can_continue, continue_training
from driftline.repair.evaluation import (
    class_columns,
    classes_of,
    family_for,
    row_values,
    score,
    union_classes,
)
from driftline.repair.families import Predictor
from driftline.repair.model_input import input_names
from driftline.repair.vector import interpolate, repair_vector, vector_stats
from driftline.store import Model, Store


@dataclass
class Candidate:
    """One row: its scores on the choose half, and how to make it a lineage node."""

    name: str
    scores: dict[str, float]
    register: Callable[[], Model] | None = None
    alpha: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: per-row values behind ``scores`` (:func:`row_values`), for paired comparisons of rows
    rows: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def scored(
        cls, name: str, task: str, out: np.ndarray, y: np.ndarray, classes: Any, **kw: Any
    ) -> Candidate:
        """A row scored on labelled rows (:func:`scores_of`), keeping its per-row values."""
        return cls(
            name, scores_of(task, out, y, classes), rows=row_values(task, out, y, classes), **kw
        )


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
    """Predictions of the drifted model and the ancestor, with aligned class columns: the
    union of their classes (:func:`union_classes`), so a child trained on data missing one of
    its ancestor's classes (or adding one) is repaired like any other; a member gives the
    classes it does not know probability 0."""

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
            self.own_d = classes_of(self.fam_d, probe.shape[1])
            pa = self.fam_a.predict_proba(self.theta_a, ctx.X_val[:1])
            self.own_a = classes_of(self.fam_a, pa.shape[1])
            self.classes = union_classes(self.own_d, self.own_a)

    def out(self, fam: Predictor, params: Any, X: np.ndarray, ancestor: bool = False) -> np.ndarray:
        if self.task == "classifier":
            p = np.asarray(fam.predict_proba(params, X), dtype=np.float64)
            own = self.own_a if ancestor else self.own_d
            return class_columns(p, own, self.classes)  # type: ignore[arg-type]
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
        Candidate.scored("drifted", task, d_c, y_c, classes),
        Candidate.scored("rollback", task, a_c, y_c, classes),
    ]
    pre = {id(X_f): (d_f, a_f), id(X_c): (d_c, a_c)}

    def blend(alpha: float, X: np.ndarray) -> np.ndarray:
        d, a = pre[id(X)] if id(X) in pre else (m.drifted(X), m.ancestor(X))
        return (1 - alpha) * d + alpha * a

    alpha, objective, evals = alpha_for(task, blend, X_f, y_f, classes, ctx.policy)
    rows.append(
        Candidate.scored(
            "output-interpolation",
            task,
            blend(alpha, X_c),
            y_c,
            classes,
            alpha=alpha,
            info={"objective": objective, "evaluations": evals},
        )
    )
    rows.extend(_weight_row(ctx, m, X_f, y_f, X_c, y_c))
    rows.extend(_continued_row(ctx, m, X_f, y_f, X_c, y_c, rows))
    return rows


def _weight_row(
    ctx: Context, m: _Members, X_f: Any, y_f: Any, X_c: Any, y_c: Any
) -> list[Candidate]:
    if not (ctx.plan.parametric and ctx.plan.same_shapes):
        return []
    if m.task == "classifier" and m.own_d.tolist() != m.own_a.tolist():
        return []  # equal shapes, other labels: the weights' rows belong to other classes
    vector = repair_vector(m.theta_d, m.theta_a, strict=False)
    if not vector:
        return []

    def at(alpha: float, X: np.ndarray) -> np.ndarray:
        return m.out(m.fam_d, interpolate(m.theta_d, vector, alpha), X)

    alpha, objective, evals = alpha_for(m.task, at, X_f, y_f, m.classes, ctx.policy)
    theta = {k: np.asarray(v) for k, v in interpolate(m.theta_d, vector, alpha).items()}
    return [
        Candidate.scored(
            "weight-interpolation",
            m.task,
            at(alpha, X_c),
            y_c,
            m.classes,
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
    ctx: Context, m: _Members, X_f: Any, y_f: Any, X_c: Any, y_c: Any, rows: list[Candidate]
) -> list[Candidate]:
    """Continue training the better of drifted/ancestor (on the fit half) on the fit half;
    no row when ``policy.continued_steps`` is 0."""
    if getattr(ctx.policy, "continued_steps", 1) <= 0:
        return []
    key = getattr(ctx.policy, "regression_loss", "mse")
    starts = [
        ("drifted", m.fam_d, m.theta_d, ctx.drifted, m.drifted(X_f)),
        ("rollback", m.fam_a, m.theta_a, ctx.ancestor, m.ancestor(X_f)),
    ]
    starts = [s for s in starts if can_continue(s[1]) and _knows_labels(m, s[3], ctx, y_f)]
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
        Candidate.scored(
            "continued-training",
            m.task,
            out,
            y_c,
            m.classes,
            info={"params": new, "start": start, "from": name, "rounds": ContinueSettings().rounds},
        )
    ]


def _knows_labels(m: _Members, start: Model, ctx: Context, y: Any) -> bool:
    """Whether ``start`` (drifted or ancestor) predicts every label in ``y``: only such a
    model can continue training on them."""
    if m.task != "classifier":
        return True
    own = m.own_a if start.id == ctx.ancestor.id else m.own_d
    return bool(np.isin(np.asarray(y), own).all())


#: the label-free routing row: EM priors on the window, T = 1 (the Bayes gate)
BAYES_ROUTING = "routing T=1"


def routing_row(ctx: Context, fit: np.ndarray, choose: np.ndarray) -> list[Candidate]:
    """The lineage mixture (classifiers): temperature fitted on the fit rows (``routing``), and
    the label-free Bayes gate (``routing T=1``: fitted to nothing, so its score is clean)."""
    if ctx.plan.task != "classifier":
        return _gated_regression_row(ctx, fit, choose)
    from driftline.repair.routed_model import build_routed, choose_members

    members = choose_members(ctx.store, ctx.drifted.id, ctx.search.rows, max_members=3)
    if len(members) < 2:
        return []
    try:
        bayes = build_routed(ctx.store, members, ctx.X_win, family=ctx.family)
        routed = build_routed(
            ctx.store, members, ctx.X_win, (ctx.X_val[fit], ctx.y_val[fit]), family=ctx.family
        )
    except DriftlineError as exc:
        ctx.say(f"routing skipped: {exc}")
        return []
    X_c, y_c = ctx.X_val[choose], ctx.y_val[choose]
    return [
        Candidate.scored(
            name, "classifier", r.predict_proba(X_c), y_c, r.classes, info={"routed": r}
        )
        for name, r in (("routing", routed), (BAYES_ROUTING, bayes))
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
        names=input_names(ctx.drifted, sigs[0]),
    )
    pred = np.sum(gate.weights(X_c) * np.stack([m.drifted(X_c), m.ancestor(X_c)]), axis=0)
    return [
        Candidate.scored(
            "routing",
            "regressor",
            pred,
            ctx.y_val[choose],
            None,
            info={"gate": gate, "temperature": gate.temperature},
        )
    ]


#: repairs grouped by how many parameters they fit on the labels, fewest first (the one-SE
#: rule's tiers): none (the ancestor; Bayes routing), one scalar (α; the routing temperature),
#: a model's worth (continued training)
SIMPLICITY: tuple[tuple[str, ...], ...] = (
    ("rollback", BAYES_ROUTING),
    ("output-interpolation", "weight-interpolation", "routing"),
    ("continued-training",),
)


def _tier(name: str) -> int | None:
    return next((i for i, names in enumerate(SIMPLICITY) if name in names), None)


def choose(task: str, rows: list[Candidate], loss: str = "mse") -> Candidate:
    """The best row by the task's rank key (ties go to the earlier row); for classifiers, the
    one-standard-error rule then takes the best row of the simplest tier (:data:`SIMPLICITY`)
    that has a row whose accuracy is within one standard error, √(a(1 − a)/n), of the best's
    accuracy ``a``: a few labels cannot tell such rows apart, and a row that fits fewer
    parameters to them has less to overfit. Rows of one tier compete on their scores."""
    best = rows[0]
    for row in rows[1:]:
        if rank_key(task, row.scores, loss) > rank_key(task, best.scores, loss):
            best = row
    tier = _tier(best.name)
    if task != "classifier" or tier is None:
        return best
    a, n = float(best.scores["accuracy"]), max(float(best.scores.get("n", 1)), 1.0)
    se = (a * (1.0 - a) / n) ** 0.5
    for names in SIMPLICITY[:tier]:
        close = [r for r in rows if r.name in names and float(r.scores["accuracy"]) >= a - se]
        if close:
            return max(close, key=lambda r: rank_key(task, r.scores, loss))
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
