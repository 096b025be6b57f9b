"""One labelling round, shared by the store loop (:func:`~driftline.active.run_active_learning`)
and the benchmark curve (:func:`~driftline.active.accuracy_vs_labels`).

A round ``r`` weighs the committee, decides whether it is a cold start, selects ``k`` pool
points and asks for their labels:

- weights (committee strategies, once there are labels or validation data):
  ``w_m ∝ max(acc_m − 1/C, 0) + 0.01`` with ``acc_m`` member ``m``'s accuracy on those rows;
- cold start: no labels yet, or the current model's validation accuracy below
  ``settings.cold_start``; the round then takes a representative batch
  (:func:`~driftline.active.representative`) instead of the strategy's top scores;
- selection: :func:`~driftline.active.select` with seed ``7919·seed + r``.

The callers differ only in who the committee is and how a question is asked (a simulated oracle
answering at once, or the label queue).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.active.settings import RefineSettings
from driftline.active.strategies import Selection, select
from driftline.repair.evaluation import score

__all__ = ["RoundView", "committee_weights", "is_cold", "labelling_round"]

_EPS_WEIGHT = 0.01
_SEED_STRIDE = 7919

#: Committee probabilities on the weighing rows (labelled ∪ validation) and those rows' labels.
Weighing = Callable[[], tuple[Sequence[np.ndarray], np.ndarray] | None]


def committee_weights(
    probas: Sequence[np.ndarray], y: np.ndarray | None, classes: np.ndarray
) -> np.ndarray | None:
    """Member weights ``w_m ∝ max(acc_m − 1/C, 0) + 0.01`` from each member's probabilities on
    labelled points ``y`` (None without labels: equal weights)."""
    if y is None or len(y) == 0:
        return None
    chance = 1.0 / max(len(classes), 1)
    w = np.array([max(score(p, y, classes).accuracy - chance, 0.0) + _EPS_WEIGHT for p in probas])
    return np.asarray(w / w.sum())


def is_cold(cold_start: float | None, n_labels: int, val_accuracy: float | None) -> bool:
    """A cold-start round: no labels yet, or the current model's validation accuracy is below
    ``cold_start`` (None disables cold starts)."""
    if cold_start is None:
        return False
    if n_labels == 0:
        return True
    return val_accuracy is not None and val_accuracy < cold_start


@dataclass(frozen=True)
class RoundView:
    """What round ``round`` sees: ``k`` labels to ask for, the committee's probabilities on the
    pool (current model first), the pool's ``features`` (diversity, cold start), the indices
    already asked (``exclude``), the labels so far, the current validation accuracy and a
    ``weighing`` callback (called only for committee strategies)."""

    round: int
    k: int
    members: Sequence[np.ndarray]
    features: np.ndarray
    exclude: np.ndarray
    n_labels: int
    val_accuracy: float | None
    classes: np.ndarray
    weighing: Weighing


@dataclass(frozen=True)
class Asked:
    """A round's selection, whether it was a cold start, and what asking returned."""

    selection: Selection
    cold: bool
    answer: Any


def labelling_round(
    view: RoundView, settings: RefineSettings, ask: Callable[[Selection, bool], Any]
) -> Asked | None:
    """Select ``view.k`` points (module docstring) and ``ask(selection, cold)`` for their
    labels; None when the pool has no point left to ask."""
    weights = None
    if settings.committee_strategy:
        got = view.weighing()
        if got is not None:
            weights = committee_weights(got[0], got[1], view.classes)
    cold = is_cold(settings.cold_start, view.n_labels, view.val_accuracy)
    kw: dict[str, Any] = {
        "exclude": view.exclude,
        "seed": settings.seed * _SEED_STRIDE + view.round,
        "diversity": settings.diversity,
        "features": view.features if settings.diversity or cold else None,
        "cold_start": cold,
    }
    proba = view.members[0]
    if settings.committee_strategy:
        sel = select(
            settings.strategy,
            view.k,
            committee=list(view.members),
            weights=weights,
            proba=proba,
            **kw,
        )
    else:
        sel = select(settings.strategy, view.k, proba=proba, **kw)
    if len(sel) == 0:
        return None
    return Asked(sel, cold, ask(sel, cold))
