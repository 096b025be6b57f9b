"""Selection without overfitting: which validation rows choose, which only report.

With ``n`` labels and ``n ≥ policy.min_held_out_labels`` the rows are split once (seeded,
stratified by label): a *choose* part (α, routing temperature and continued training are fitted
there and every candidate is compared there) and a *held-out* part of
``round(n · policy.held_out_fraction)`` rows that nothing is fitted to and nothing is chosen on.
Every candidate's score on the held-out rows is the table's ``held_out`` column: an unbiased
estimate of what the chosen candidate does on new rows (the choose-part score of the winner is
biased upward by the choice itself). The policy also asks the winner not to be worse than the
drifted model on the held-out rows (:func:`no_worse_held_out`). Fewer labels: every row chooses
and the table has no held-out column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from driftline.repair.evaluation import score

__all__ = ["held_out_scores", "no_worse_held_out", "split_rows"]


def split_rows(
    y: np.ndarray, fraction: float, min_labels: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(choose indices, held-out indices): per class, a seeded ``fraction`` of its rows is held
    out (at least one row of every class with ≥ 2 rows stays in the choose part); no held-out
    rows when ``len(y) < min_labels`` or ``fraction <= 0``."""
    n = len(y)
    if n < max(min_labels, 2) or fraction <= 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in np.unique(np.asarray(y)):
        rows = rng.permutation(np.flatnonzero(np.asarray(y) == c))
        k = min(int(round(len(rows) * fraction)), len(rows) - 1)
        held.append(rows[: max(k, 0)])
    held_idx = np.sort(np.concatenate(held)) if held else np.arange(0)
    choose_idx = np.setdiff1d(np.arange(n), held_idx)
    return choose_idx, held_idx


Proba = Callable[[], np.ndarray]


def held_out_scores(
    predictors: Mapping[str, Proba], y: np.ndarray, classes: np.ndarray
) -> dict[str, dict[str, float]]:
    """Each candidate's accuracy and log-loss on the held-out rows (``predictors[name]()``
    returns its probabilities there); a candidate that cannot predict is left out."""
    out: dict[str, dict[str, float]] = {}
    for name, proba in predictors.items():
        out[name] = score(proba(), y, classes).to_dict()
    return out


def no_worse_held_out(
    held_out: Mapping[str, Mapping[str, float]], name: str, baseline: str = "drifted"
) -> bool:
    """True when ``name`` is at least as accurate as ``baseline`` on the held-out rows (or
    there are none)."""
    row, base = held_out.get(name), held_out.get(baseline)
    if not row or not base:
        return True
    return float(row["accuracy"]) >= float(base["accuracy"])
