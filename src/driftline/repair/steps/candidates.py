"""Step 4, candidates: the candidate table, every row scored on the same validation rows.

Weight-space repairs (:func:`weight_candidates`): the drifted model exactly as it serves (the
baseline, no re-estimation on the window), BatchNorm/statistics re-estimated on the window (when
the family has statistics), interpolation θ(α) = θ_d + α·(θ_a − θ_d) toward the ancestor (α by
:func:`~driftline.repair.alpha.search_alpha` on validation log-loss, or window entropy without
labels; optionally per layer), every lineage member as it was trained (rollback rows) and
routing. Models without a weight space go through :func:`capability_table`
(:mod:`driftline.repair.capability`).
"""

from __future__ import annotations

import numpy as np

from driftline.params import model_id
from driftline.repair.alpha import AlphaSearchResult, ProbaAtAlpha, per_tensor_alpha, search_alpha
from driftline.repair.capability import Plan
from driftline.repair.capability_rows import Context
from driftline.repair.capability_table import run_candidate_table
from driftline.repair.evaluation import classes_of, family_for, score
from driftline.repair.families import Predictor, predictor_at_alpha, prepare_params
from driftline.repair.rollbacks import score_rollbacks
from driftline.repair.steps.routing import routing_candidate
from driftline.repair.steps.state import Labelled, RepairState, WeightSpace
from driftline.repair.vector import (
    Params,
    interpolate,
    layer_groups,
    repair_vector,
    sparsify,
    vector_stats,
)

__all__ = ["capability_table", "weight_candidates"]


def capability_table(state: RepairState, plan: Plan) -> RepairState:
    """Trees, boosters, regressors, shape-changed children: the capability candidate table
    (scored, chosen, registered and staged in one go)."""
    assert state.search is not None
    val = state.val
    if val is None:  # no labels: run_candidate_table says which labels it needs
        val = Labelled(None, np.empty((0, state.X_win.shape[1])), np.empty(0))
    ctx = Context(
        state.store,
        state.drifted,
        state.store.get(state.goal.id),
        state.search,
        state.X_win,
        val.X,
        val.y,
        state.family,
        state.policy,
        plan,
        state.say,
    )
    run_candidate_table(ctx, state.result, state.deployment, state.approve, state.actor)
    state.done = True
    return state


def weight_candidates(state: RepairState) -> RepairState:
    """Fill ``state.weights`` and ``result.candidates`` (module docstring)."""
    fam = family_for(state.drifted, state.family)
    theta_d = state.store.load(state.drifted.id)
    theta_r, classes = _interpolation(state, fam, theta_d)
    theta_bn = prepare_params(fam, theta_d, state.X_win)  # statistics on the window alone
    ws = WeightSpace(fam, theta_d, theta_r, theta_bn, classes)
    state.weights = ws
    if state.val is not None:
        _score_rows(state, ws)
    if state.policy.routing:
        state.say("scoring lineage routing on the same data")
        ws.routed = routing_candidate(state)
    return state


def _interpolation(
    state: RepairState, fam: Predictor, theta_d: Params
) -> tuple[Params, np.ndarray]:
    """θ_r at the α (or per-layer α) that minimises the objective; records the search."""
    result, policy, goal = state.result, state.policy, state.goal
    vector = repair_vector(theta_d, state.store.load(goal.id))
    if policy.sparse_fraction is not None:
        vector = sparsify(vector, policy.sparse_fraction)
    result.vector = dict(vector_stats(vector))
    at = predictor_at_alpha(fam, theta_d, vector, state.X_win)
    X_obj, y_obj = (state.val.X, state.val.y) if state.val is not None else (state.X_win, None)
    probe = fam.predict_proba(prepare_params(fam, theta_d, state.X_win), X_obj[:1])
    classes = classes_of(fam, probe.shape[1])
    objective = "validation log-loss" if y_obj is not None else "window entropy"
    state.say(f"searching alpha toward {goal.ref} ({objective})")
    lo, hi = policy.alpha_range
    res = search_alpha(at, X_obj, y_obj, labels=classes, lo=lo, hi=hi, max_evals=policy.max_evals)
    result.alpha, result.alpha_objective = float(res.alpha), res.objective
    result.alpha_evaluations = [(float(a), float(v)) for a, v in res.evaluations]
    alpha: float | dict[str, float] = float(res.alpha)
    if policy.per_tensor:
        alpha = _per_tensor(state, at, X_obj, y_obj, list(vector), res, classes)
    return prepare_params(fam, interpolate(theta_d, vector, alpha), state.X_win), classes


def _per_tensor(
    state: RepairState,
    at: ProbaAtAlpha,
    X_obj: np.ndarray,
    y_obj: np.ndarray | None,
    names: list[str],
    res: AlphaSearchResult,
    classes: np.ndarray,
) -> float | dict[str, float]:
    """Per-layer α, kept only when it lowers the objective below the single α's."""
    state.say("refining alpha per layer")
    lo, hi = state.policy.alpha_range
    pt = per_tensor_alpha(
        at,
        X_obj,
        y_obj,
        layer_groups(names),
        res.alpha,
        labels=classes,
        lo=lo,
        hi=hi,
        max_evals=state.policy.per_tensor_evals,
        start_value=res.value,
    )
    if pt.value >= res.value:
        return float(res.alpha)
    state.result.per_tensor_alpha = dict(pt.alphas)
    return dict(pt.alphas)


def _score_rows(state: RepairState, ws: WeightSpace) -> None:
    """Baseline, BatchNorm, interpolation and rollback rows on the validation labels."""
    assert state.val is not None and state.search is not None
    result, fam, X, y = state.result, ws.family, state.val.X, state.val.y
    # the drifted model exactly as it serves today: no re-estimation on the window
    before = score(fam.predict_proba(ws.theta_d, X), y, ws.classes).to_dict()
    after = score(fam.predict_proba(ws.theta_r, X), y, ws.classes).to_dict()
    result.before, result.after = before, after
    result.candidates["drifted"] = before
    if model_id(ws.theta_bn) != model_id(ws.theta_d):
        result.candidates["batchnorm"] = score(
            fam.predict_proba(ws.theta_bn, X), y, ws.classes
        ).to_dict()
    result.candidates["interpolation"] = after
    names = set(ws.theta_d)
    ws.rollback_ids, rows = score_rollbacks(state.store, fam, state.search, names, X, y, ws.classes)
    result.candidates.update(rows)
