"""Choosing a capability row (:mod:`driftline.repair.capability`) without overfitting the labels.

With ``n`` labels:

1. **Held-out rows** (:func:`driftline.repair.selection.split_rows`, stratified by label; for
   regressors by label quintile): with ``n ≥ policy.min_held_out_labels`` a seeded
   ``policy.held_out_fraction`` of the rows only reports; nothing is fitted or chosen on them.
2. **Cross-fitted choice**: the remaining *choose* rows are halved (seeded); every row of the
   table (α, routing temperature, continued training) is fitted on one half and scored on the
   other, both ways, and each row's score is the row-weighted mean over the two halves, i.e. its
   out-of-fold score on every choose row. Twice the rows of a single half/half split decide,
   and no row is scored on labels it was fitted to.
3. **Final fit**: the table is built once more, fitted on all choose rows; that is what gets
   registered, and its scores on the held-out rows are the ``held_out`` column. The winner's
   gain over the drifted model is tested on the held-out rows and the cross-fitted choose rows
   together (:func:`~driftline.repair.selection.no_worse_held_out`).

Fewer than 10 choose rows: one pass, fitted and scored on the same rows (as a last resort).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from driftline.repair.capability_rows import Candidate, Context, build_candidates, routing_row
from driftline.repair.selection import paired_gain, split_rows

__all__ = ["Selection", "pooled", "select_rows"]

MIN_CROSS_FIT = 10  # choose rows needed for two halves


@dataclass
class Selection:
    """The final rows (fitted on every choose row), with their cross-fitted choose-row scores
    and their held-out scores (empty when there are no held-out rows)."""

    rows: list[Candidate]
    held_out: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _table(ctx: Context, fit: np.ndarray, score_on: np.ndarray) -> list[Candidate]:
    rows = build_candidates(ctx, fit, score_on)
    if ctx.policy.routing:
        rows.extend(routing_row(ctx, fit, score_on))
    return rows


def _strata(ctx: Context) -> np.ndarray:
    """Labels (classifiers) or label quintiles (regressors) to stratify the held-out split."""
    y = np.asarray(ctx.y_val)
    if ctx.plan.task == "classifier":
        return y
    edges = np.quantile(y.astype(np.float64), [0.2, 0.4, 0.6, 0.8])
    return np.searchsorted(edges, y.astype(np.float64))


def pooled(folds: list[list[Candidate]]) -> dict[str, dict[str, float]]:
    """Per row name present in every fold: each metric's mean weighted by the fold's rows
    (every metric is a per-row mean, so this is the metric over the union of the folds)."""
    names = set.intersection(*({r.name for r in rows} for rows in folds))
    out: dict[str, dict[str, float]] = {}
    for name in names:
        parts = [next(r.scores for r in rows if r.name == name) for rows in folds]
        total = sum(float(p["n"]) for p in parts)
        keys = [k for k in parts[0] if k != "n"]
        out[name] = {k: sum(float(p[k]) * float(p["n"]) for p in parts) / total for k in keys}
        out[name]["n"] = int(total)
    return out


def _held_out(
    final: list[Candidate], folds: list[list[Candidate]], metric: str
) -> dict[str, dict[str, float]]:
    """Each row's held-out scores, plus ``held_gain`` (its paired gain over the drifted row on
    the held-out rows), and ``gain`` / ``gain_se`` (:func:`~driftline.repair.selection.
    paired_gain`) over the held-out rows and the cross-fitted choose rows together; ``metric``
    decides (accuracy, or the regressor's loss)."""
    out: dict[str, dict[str, float]] = {}
    for r in final:
        out[r.name] = dict(r.scores)
        found = [_paired(rows, r.name, metric) for rows in [*folds, final]]
        pairs = [p for p in found if p is not None]
        if len(pairs) != len(found):
            continue
        better = metric == "accuracy"
        held_gain, _ = paired_gain(*pairs[-1], better)
        both = (np.concatenate([v for v, _ in pairs]), np.concatenate([b for _, b in pairs]))
        gain, se = paired_gain(*both, better)
        out[r.name].update(gain=gain, gain_se=se, held_gain=held_gain)
    return out


def _paired(rows: list[Candidate], name: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-row ``metric`` of row ``name`` and of the drifted row in one table (None if absent)."""
    row = next((r for r in rows if r.name == name), None)
    base = next((r for r in rows if r.name == "drifted"), None)
    if row is None or base is None or metric not in row.rows or metric not in base.rows:
        return None
    return row.rows[metric], base.rows[metric]


def select_rows(ctx: Context, seed: int = 0) -> Selection:
    """The table's rows, scored as the module docstring says."""
    choose, held = split_rows(
        _strata(ctx), ctx.policy.held_out_fraction, ctx.policy.min_held_out_labels, seed
    )
    counts = {"choose_rows": int(len(choose)), "held_out_rows": int(len(held))}
    if len(choose) < MIN_CROSS_FIT:
        rows = _table(ctx, choose, choose)
        return Selection(rows, {}, {**counts, "cross_fitted": 0})
    perm = np.random.default_rng(seed).permutation(choose)
    a, b = np.sort(perm[: len(perm) // 2]), np.sort(perm[len(perm) // 2 :])
    folds = [_table(ctx, a, b), _table(ctx, b, a)]
    scores = pooled(folds)
    final = _table(ctx, choose, held if len(held) else choose)
    metric = "accuracy" if ctx.plan.task == "classifier" else ctx.policy.regression_loss
    held_out = _held_out(final, folds, metric) if len(held) else {}
    rows = [r for r in final if r.name in scores]
    for r in rows:
        r.scores = scores[r.name]
    return Selection(rows, held_out, {**counts, "cross_fitted": 2})
