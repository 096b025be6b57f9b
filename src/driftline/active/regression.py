"""Query strategies for regressors: disagreement among the lineage's predictions.

A regressor has no class probabilities to be uncertain about; the committee is the lineage
(drifted model, ancestors, repaired model), and a row is informative when they disagree:

* committee variance   v(x) = Σ_i w_i · (ŷ_i(x) − ȳ(x))²,  ȳ(x) = Σ_i w_i · ŷ_i(x)  (weights sum to 1)
* lineage disagreement d(x) = max_i ŷ_i(x) − min_i ŷ_i(x)

``select_regression`` takes the top ``k`` by variance, or with ``features`` a diverse batch by
greedy k-center over the top ``pool_factor · k`` (:func:`driftline.active.diversity.kcenter_greedy`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftline.active.diversity import kcenter_greedy
from driftline.errors import InvalidInputError


def _stack(preds: Sequence[np.ndarray]) -> np.ndarray:
    stack = np.asarray([np.asarray(p, dtype=np.float64).reshape(-1) for p in preds])
    if stack.ndim != 2 or stack.shape[0] < 2:
        raise InvalidInputError("a regression committee needs at least two members' predictions")
    return stack


def committee_variance(
    preds: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Weighted variance of the members' predictions per row (weights normalised; default equal)."""
    stack = _stack(preds)
    w = np.full(stack.shape[0], 1.0) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (stack.shape[0],) or np.any(w < 0) or w.sum() <= 0:
        raise InvalidInputError("committee weights must be non-negative, one per member")
    w = w / w.sum()
    mean = w @ stack
    return w @ (stack - mean) ** 2


def lineage_disagreement(preds: Sequence[np.ndarray]) -> np.ndarray:
    """Range of the members' predictions per row."""
    stack = _stack(preds)
    return stack.max(axis=0) - stack.min(axis=0)


def select_regression(
    preds: Sequence[np.ndarray],
    k: int,
    *,
    features: np.ndarray | None = None,
    already: Sequence[int] | None = None,
    pool_factor: int = 10,
) -> np.ndarray:
    """Indices of ``k`` rows to label: highest committee variance, diversified when
    ``features`` are given; rows in ``already`` are never returned."""
    scores = committee_variance(preds)
    if k < 0:
        raise InvalidInputError(f"k must be >= 0, got {k}")
    if features is not None:
        return kcenter_greedy(
            np.asarray(features, dtype=np.float64),
            k,
            scores,
            already=already,
            pool_factor=pool_factor,
        )
    order = np.argsort(-scores, kind="stable")
    if already is not None:
        skip = set(int(i) for i in already)
        order = np.array([i for i in order if int(i) not in skip], dtype=np.int64)
    return order[:k]
