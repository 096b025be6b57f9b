"""Selection without overfitting: which validation rows choose, which only report.

With ``n`` labels and ``n ≥ policy.min_held_out_labels`` the rows are split once (seeded,
stratified by label): a *choose* part (α, routing temperature and continued training are fitted
there and every candidate is compared there) and a *held-out* part of
``round(n · policy.held_out_fraction)`` rows that nothing is fitted to and nothing is chosen on.
Every candidate's score on the held-out rows is the table's ``held_out`` column: an unbiased
estimate of what the chosen candidate does on new rows (the choose-part score of the winner is
biased upward by the choice itself). The policy also asks the winner to show its gain over the
drifted model (:func:`no_worse_held_out`): not worse on the held-out rows, and better by at
least one standard error of the paired per-row difference on the rows no fit has seen (the
held-out rows; a cross-fitted table adds its choose rows, each scored by the fit on the other
half). Among candidates that are all near chance (no healthy ancestor), the one that won on the
choose rows is often only luckier there. Fewer labels: every row chooses and the table has no
held-out column.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from driftline.repair.evaluation import row_values, score

__all__ = ["held_out_scores", "no_worse_held_out", "paired_gain", "split_rows"]


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
    returns its probabilities there), and, when ``baseline`` is among the predictors, ``gain``
    = ``held_gain`` and ``gain_se``: :func:`paired_gain` of its per-row correctness against
    the baseline's."""
    out: dict[str, dict[str, float]] = {}
    correct: dict[str, np.ndarray] = {}
    for name, proba in predictors.items():
        p = np.asarray(proba(), dtype=np.float64)
        out[name] = score(p, y, classes).to_dict()
        correct[name] = row_values("classifier", p, y, classes)["accuracy"]
    base = correct.get(baseline)
    if base is not None:
        for name, hits in correct.items():
            gain, se = paired_gain(hits, base)
            out[name].update(gain=gain, gain_se=se, held_gain=gain)
    return out


def paired_gain(
    values: np.ndarray, base_values: np.ndarray, larger_is_better: bool = True
) -> tuple[float, float]:
    """Mean and standard error of the paired per-row difference ``d_i`` (candidate minus
    baseline, sign flipped for losses so that a positive gain is better): ``(mean d,
    sd(d, ddof=1)/√n)``; the SE is 0 for fewer than 2 rows."""
    d = np.asarray(values, dtype=np.float64) - np.asarray(base_values, dtype=np.float64)
    if not larger_is_better:
        d = -d
    if d.size == 0:
        return 0.0, 0.0
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size >= 2 else 0.0
    return float(d.mean()), se


def no_worse_held_out(
    held_out: Mapping[str, Mapping[str, float]], name: str, baseline: str = "drifted"
) -> bool:
    """True when ``name`` shows its gain over ``baseline``: not worse on the held-out rows
    (``held_gain >= 0``) and a gain of at least one paired standard error (``gain >=
    gain_se``) on the rows the test uses (the held-out rows; for cross-fitted tables also the
    choose rows). Rows without these keys compare held-out accuracy (a regressor's row without
    them has shown nothing: false). True for ``baseline`` itself and when there are no
    held-out rows."""
    row, base = held_out.get(name), held_out.get(baseline)
    if not row or not base or name == baseline:
        return True
    if "gain" not in row:  # no per-row values: held-out accuracy, else not shown
        if "accuracy" in row and "accuracy" in base:
            return float(row["accuracy"]) >= float(base["accuracy"])
        return False
    eps = 1e-12
    return float(row["held_gain"]) >= -eps and float(row["gain"]) >= float(row["gain_se"]) - eps
