"""Selection without overfitting: which validation rows choose, which only report.

With ``n`` labels and ``n ≥ policy.min_held_out_labels`` the rows are split once (seeded,
stratified by label): a *choose* part (α, routing temperature and continued training are fitted
there and every candidate is compared there) and a *held-out* part of
``round(n · policy.held_out_fraction)`` rows that nothing is fitted to and nothing is chosen on.
Every candidate's score on the held-out rows is the table's ``held_out`` column: an unbiased
estimate of what the chosen candidate does on new rows (the choose-part score of the winner is
biased upward by the choice itself). The policy also asks the winner to show its gain over the
drifted model on the held-out rows (:func:`no_worse_held_out`): not worse, and, where the two
disagree on some rows, better by at least one standard error of the paired difference. Among
candidates that are all near chance (no healthy ancestor), the one that won on the choose rows
is often only luckier there. Fewer labels: every row chooses and the table has no held-out
column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from driftline.repair.evaluation import score

__all__ = ["held_out_scores", "no_worse_held_out", "paired_gain_se", "split_rows"]


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
    predictors: Mapping[str, Proba],
    y: np.ndarray,
    classes: np.ndarray,
    baseline: str = "drifted",
) -> dict[str, dict[str, float]]:
    """Each candidate's accuracy and log-loss on the held-out rows (``predictors[name]()``
    returns its probabilities there), and ``gain_se``: :func:`paired_gain_se` of its per-row
    correctness against ``baseline``'s (when ``baseline`` is among the predictors)."""
    out: dict[str, dict[str, float]] = {}
    correct: dict[str, np.ndarray] = {}
    for name, proba in predictors.items():
        p = np.asarray(proba(), dtype=np.float64)
        out[name] = score(p, y, classes).to_dict()
        correct[name] = classes[np.argmax(p, axis=1)] == np.asarray(y)
    base = correct.get(baseline)
    if base is not None:
        for name, hits in correct.items():
            out[name]["gain_se"] = paired_gain_se(hits, base)
    return out


def paired_gain_se(hits: np.ndarray, base_hits: np.ndarray) -> float:
    """Standard error of the mean paired difference ``d_i = hits_i − base_hits_i`` (0/1 or
    per-row losses): ``sd(d, ddof=1) / √n``; 0 for fewer than 2 rows."""
    d = np.asarray(hits, dtype=np.float64) - np.asarray(base_hits, dtype=np.float64)
    if d.size < 2:
        return 0.0
    return float(np.std(d, ddof=1) / np.sqrt(d.size))


def no_worse_held_out(
    held_out: Mapping[str, Mapping[str, float]], name: str, baseline: str = "drifted"
) -> bool:
    """True when ``name``'s held-out accuracy gain over ``baseline`` is at least ``gain_se``
    (one paired standard error, 0 where they agree on every row or it was not measured); true
    for ``baseline`` itself and when there are no held-out rows."""
    row, base = held_out.get(name), held_out.get(baseline)
    if not row or not base or name == baseline:
        return True
    gain = float(row["accuracy"]) - float(base["accuracy"])
    return gain >= max(float(row.get("gain_se", 0.0)), 0.0) - 1e-12
