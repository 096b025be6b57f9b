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

from collections.abc import Callable

import numpy as np

from driftline.params import model_id
from driftline.repair.alpha import AlphaSearchResult, ProbaAtAlpha, per_tensor_alpha, search_alpha
from driftline.repair.capability import Plan
from driftline.repair.capability_rows import Context
from driftline.repair.capability_table import run_candidate_table
from driftline.repair.evaluation import classes_of, family_for, score
from driftline.repair.families import Predictor, predictor_at_alpha, prepare_params
from driftline.repair.proxy import align_columns, committee_agreement, proxy_choice
from driftline.repair.rollbacks import score_rollbacks
from driftline.repair.selection import held_out_scores, split_rows
from driftline.repair.steps.continued_row import add_continued_row
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
    """Fill ``state.weights``, ``result.candidates`` and ``result.held_out`` (module
    docstring; which labels choose and which only report: :mod:`driftline.repair.selection`)."""
    _split_labels(state)
    fam = family_for(state.drifted, state.family)
    theta_d = state.store.load(state.drifted.id)
    theta_r, classes = _interpolation(state, fam, theta_d)
    theta_bn = prepare_params(fam, theta_d, state.X_win)  # statistics on the window alone
    ws = WeightSpace(fam, theta_d, theta_r, theta_bn, classes)
    state.weights = ws
    if state.choose_rows is not None:
        _score_rows(state, ws)
        add_continued_row(state, ws)
    if state.policy.routing:
        state.say("scoring lineage routing on the same data")
        ws.routed = routing_candidate(state)
        if ws.routed is not None:
            routed = ws.routed
            ws.predictors["routing"] = lambda rows: routed.predict_proba(rows.table)
    if state.val is None and ws.routed is not None:
        _rank_without_labels(state, ws)
    if state.held is not None:
        held = state.held
        probas = {k: (lambda f=f: f(held)) for k, f in ws.predictors.items()}
        state.result.held_out = held_out_scores(probas, held.y, classes)
    return state


def _rank_without_labels(state: RepairState, ws: WeightSpace) -> None:
    """Zero labels: each weight-space row and member by its agreement with the routed committee
    on the window (:mod:`driftline.repair.proxy`); ``result.proxy`` holds the hard agreement."""
    assert state.search is not None
    fam = ws.family
    rows = {"drifted": ws.theta_d, "interpolation": ws.theta_r}
    if model_id(ws.theta_bn) != model_id(ws.theta_d):
        rows["batchnorm"] = ws.theta_bn
    names = set(ws.theta_d)
    for r in state.search.rows:
        params = state.store.load(r.id)
        if set(params) == names:
            rows[f"rollback {r.ref}"] = params
    committee = align_columns(
        ws.routed.predict_proba(state.table), ws.routed.classes, ws.classes
    )  # the committee's columns in our order
    scores = {
        k: committee_agreement(committee, fam.predict_proba(v, state.X_win))
        for k, v in rows.items()
    }
    state.result.proxy = {k: v[0] for k, v in scores.items()}
    state.result.selection["proxy_choice"] = proxy_choice(scores)


def _split_labels(state: RepairState) -> None:
    """Choose rows and held-out rows of the validation labels (repair.selection)."""
    val, policy = state.val, state.policy
    if val is None:
        return
    choose, held = split_rows(val.y, policy.held_out_fraction, policy.min_held_out_labels)
    state.choose_rows = val.take(choose) if len(held) else val
    state.held = val.take(held) if len(held) else None
    state.result.selection = {"choose_rows": int(len(choose)), "held_out_rows": int(len(held))}


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
    rows = state.choose_rows
    X_obj, y_obj = (rows.X, rows.y) if rows is not None else (state.X_win, None)
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
    """Baseline, BatchNorm, interpolation and rollback rows on the choose rows."""
    assert state.choose_rows is not None and state.search is not None
    result, fam, rows = state.result, ws.family, state.choose_rows

    def bound(theta: Params) -> Callable[[Labelled], np.ndarray]:
        return lambda r: fam.predict_proba(theta, r.X)

    # the drifted model exactly as it serves today: no re-estimation on the window
    ws.predictors["drifted"] = bound(ws.theta_d)
    if model_id(ws.theta_bn) != model_id(ws.theta_d):
        ws.predictors["batchnorm"] = bound(ws.theta_bn)
    ws.predictors["interpolation"] = bound(ws.theta_r)
    for name, f in ws.predictors.items():
        result.candidates[name] = score(f(rows), rows.y, ws.classes).to_dict()
    result.before = dict(result.candidates["drifted"])
    result.after = dict(result.candidates["interpolation"])
    names = set(ws.theta_d)
    ws.rollback_ids, scored = score_rollbacks(
        state.store, fam, state.search, names, rows.X, rows.y, ws.classes
    )
    result.candidates.update(scored)
    for name, mid in ws.rollback_ids.items():
        ws.predictors[name] = bound(state.store.load(mid))
