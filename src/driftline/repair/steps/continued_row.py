"""The continued-training row of the weight-space candidate table.

From the best row so far on the choose rows (drifted, BatchNorm, interpolation or a rollback:
:func:`driftline.repair.decide.best_candidate`), ``policy.continued_steps`` gradient steps on the
choose rows, pulled toward the start θ_0:

    minimise  CE(θ; choose rows) + l2 · ‖θ − θ_0‖²      (:func:`driftline.repair.families.fine_tune`)

Only gradient families (scikit-learn MLP/SGD and LogisticRegression, torch) get this row. Training on the rows that
also compare the candidates would let it win by memorising them, so its choose-part score is
*cross-fitted* over 5 folds (2 with fewer than 20 rows): each fold is scored by a model trained
on the other folds, so every row is scored by a model that never saw it (slightly pessimistic:
those models saw 4/5 of the rows). The row's parameters are then trained on all choose rows;
the held-out rows (repair.selection) see neither.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from driftline.errors import DriftlineError
from driftline.repair.decide import best_candidate
from driftline.repair.evaluation import score
from driftline.repair.families import fine_tune, supports_fine_tune
from driftline.repair.steps.state import Labelled, RepairState, WeightSpace
from driftline.repair.vector import Params

CONTINUED = "continued-training"
MIN_ROWS = 8  # fewer choose rows: no continued-training row (two folds of ≥ 4)
FOLDS = 5

__all__ = ["CONTINUED", "add_continued_row", "folds"]


def _start(state: RepairState, ws: WeightSpace) -> tuple[str, Params] | None:
    rows = {k: v for k, v in state.result.candidates.items() if k in ws.predictors}
    name = best_candidate(rows)
    if name is None:
        return None
    fixed = {"drifted": ws.theta_d, "batchnorm": ws.theta_bn, "interpolation": ws.theta_r}
    if name in fixed:
        return name, fixed[name]
    return name, state.store.load(ws.rollback_ids[name])


def add_continued_row(state: RepairState, ws: WeightSpace) -> None:
    """Add ``continued-training`` to ``result.candidates`` and ``ws.predictors`` (module doc)."""
    rows, policy = state.choose_rows, state.policy
    if rows is None or policy.continued_steps <= 0 or not supports_fine_tune(ws.family):
        return
    if len(rows.y) < MIN_ROWS:
        return
    start = _start(state, ws)
    if start is None:
        return
    name, theta0 = start

    def train(part: Labelled) -> Params:
        return fine_tune(
            ws.family,
            theta0,
            part.X,
            part.y,
            policy.continued_steps,
            l2_pull_to=theta0,
            lr=policy.continued_lr,
            l2=policy.continued_l2,
        )

    state.say(f"continued training from {name}")
    try:
        proba = _cross_fitted(ws, rows, train)
        theta = train(rows)
    except (DriftlineError, ValueError) as exc:  # e.g. a class missing from one half
        state.say(f"continued training skipped: {exc}")
        return
    state.result.candidates[CONTINUED] = score(proba, rows.y, ws.classes).to_dict()
    state.result.selection["continued_from"] = name
    ws.continued, ws.continued_from = theta, name
    fam = ws.family
    ws.predictors[CONTINUED] = lambda r: fam.predict_proba(theta, r.X)


def _cross_fitted(
    ws: WeightSpace, rows: Labelled, train: Callable[[Labelled], Params]
) -> np.ndarray:
    """Probabilities on every choose row from a model trained on the other folds."""
    n = len(rows.y)
    out: np.ndarray | None = None
    for test in folds(n):
        fit = np.setdiff1d(np.arange(n), test)
        p = np.asarray(ws.family.predict_proba(train(rows.take(fit)), rows.X[test]))
        if out is None:
            out = np.zeros((n, p.shape[1]))
        out[test] = p
    assert out is not None
    return out


def folds(n: int, k: int = FOLDS, seed: int = 0) -> list[np.ndarray]:
    """``k`` seeded folds of ``range(n)`` (sorted indices), at least 4 rows each."""
    k = max(2, min(k, n // 4))
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, k)]
