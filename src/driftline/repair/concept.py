"""Concept drift and performance-aware ancestor search for the repair pipeline.

Inputs can look unchanged while the model fails: P(y|x) moved (concept drift). With validation
labels the pipeline therefore also asks *is the deployed model performing?*

* **Reference accuracy** of the deployed model: its ``val_accuracy`` / ``accuracy`` /
  ``test_accuracy`` metric when registered with one; otherwise its confidence-based estimate on
  the validation inputs (:class:`~driftline.drift.performance.CBPE`: the calibration map stored
  under the model metric ``cbpe`` if any, else the raw top-class probability — what a calibrated
  model expects to score when P(y|x) has not moved).
* **Performance down** when the labelled accuracy is below the reference with ``p <
  performance_alpha`` (exact binomial, :func:`~driftline.drift.performance.performance_drift`)
  and by at least ``min_performance_drop``. Inputs not drifting + performance down = **concept
  drift: inputs unchanged, performance down**.
* **Healthy means performing, not only similar inputs**: every ancestor is scored on the
  labels; an ancestor is healthy when its training data still looks like today's (the input
  test) *and* its accuracy is at least the reference accuracy minus ``min_performance_drop``;
  the target is the best-scoring healthy member (accuracy, then log-loss, then fewer hops), else
  the best-scoring member overall (and active learning takes over).
* **Gate** (``policy.min_estimated_drop``): when inputs drift, repair only if the accuracy
  drop — measured on labels, or estimated without them (reference metric minus the window's
  confidence estimate, lineage-aware when the model metric ``lineage_cbpe`` holds one
  calibration per lineage regime) — reaches the floor; else the result is ``harmless-drift``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from driftline.drift.performance import (
    CBPE,
    LineageCBPE,
    PerformanceMetric,
    PerformanceReference,
    per_row_scores,
    performance_drift,
)
from driftline.errors import DriftlineError
from driftline.repair.ancestors import AncestorSearch
from driftline.repair.evaluation import Families, classes_of, family_for, score
from driftline.repair.families import Predictor
from driftline.statuses import RepairStatus
from driftline.store import Model, Store

CONCEPT_DRIFT = "concept drift: inputs unchanged, performance down"
HARMLESS = RepairStatus.HARMLESS_DRIFT
REFERENCE_METRICS = ("val_accuracy", "accuracy", "test_accuracy")


@dataclass
class PerformanceCheck:
    """The deployed model on the validation labels, against its reference accuracy."""

    reference_accuracy: float
    reference_source: str
    accuracy: float
    n: int
    p_value: float
    drop: float
    performance_down: bool
    concept_drift: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _proba(
    store: Store,
    model: Model,
    family: Predictor | Families | None,
    X_win: np.ndarray,
    X: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    fam = family_for(model, family)
    del X_win  # scored exactly as it serves: no BatchNorm re-estimation on the window
    proba = fam.predict_proba(store.load(model.id), X)
    return proba, classes_of(fam, proba.shape[1])


def reference_accuracy(model: Model, proba: np.ndarray) -> tuple[float, str]:
    """The model's registered accuracy metric, else its confidence estimate (module doc)."""
    metrics = model.metrics or {}
    for key in REFERENCE_METRICS:
        v = metrics.get(key)
        if isinstance(v, int | float) and math.isfinite(v):
            return float(v), f"model metric {key!r}"
    cbpe = CBPE.from_dict(metrics["cbpe"]) if isinstance(metrics.get("cbpe"), dict) else CBPE()
    return cbpe.estimate(proba), "confidence estimate (CBPE) on the validation inputs"


def check_performance(
    store: Store,
    drifted: Model,
    X_win: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    family: Predictor | Families | None,
    *,
    alpha: float,
    min_drop: float,
    inputs_drift: bool,
) -> PerformanceCheck | None:
    """Score the deployed model on the labels (None when it cannot predict here)."""
    try:
        proba, classes = _proba(store, drifted, family, X_win, X_val)
    except DriftlineError:
        return None
    ref, source = reference_accuracy(drifted, proba)
    rows = per_row_scores(PerformanceMetric.ACCURACY, y_val, proba, classes)
    v = performance_drift(
        PerformanceReference(PerformanceMetric.ACCURACY, ref), rows, alpha=alpha, min_drop=min_drop
    )
    return PerformanceCheck(
        ref, source, v.current, v.n, v.p_value, v.drop, v.drift, v.drift and not inputs_drift
    )


def rescore_on_labels(
    store: Store,
    search: AncestorSearch,
    X_win: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    family: Predictor | Families | None,
    reference: float,
    min_drop: float,
) -> AncestorSearch:
    """Healthy = performing: score every ancestor on the labels and target the best one."""
    rows = []
    for row in search.rows:
        scored = None
        try:
            proba, classes = _proba(store, store.get(row.id), family, X_win, X_val)
            scored = score(proba, y_val, classes).to_dict()
        except DriftlineError:
            pass
        performing = scored is not None and scored["accuracy"] >= reference - min_drop
        rows.append(
            dataclasses.replace(row, healthy=row.healthy and performing, label_score=scored)
        )
    out = AncestorSearch(search.drifted_id, rows)
    scored_rows = [r for r in rows if r.label_score is not None]
    if not scored_rows:
        return search

    def rank(r: Any) -> tuple[float, float, int]:
        return (-r.label_score["accuracy"], r.label_score["log_loss"], r.hops)

    healthy = [r for r in scored_rows if r.healthy]
    out.chosen = min(healthy, key=rank) if healthy else None
    out.fallback = min(scored_rows, key=rank)
    return out


def estimated_drop(
    store: Store,
    drifted: Model,
    X_win: np.ndarray,
    family: Predictor | Families | None,
    check: PerformanceCheck | None,
) -> float | None:
    """Accuracy drop for the repair gate: measured on labels, else estimated (module doc)."""
    if check is not None:
        return check.drop
    metrics = drifted.metrics or {}
    ref = next(
        (float(metrics[k]) for k in REFERENCE_METRICS if isinstance(metrics.get(k), int | float)),
        None,
    )
    if ref is None:
        return None
    try:
        proba, _ = _proba(store, drifted, family, X_win, X_win)
    except DriftlineError:
        return None
    lineage = metrics.get("lineage_cbpe")
    if isinstance(lineage, dict):  # lineage-aware estimate (see drift.model_aware)
        from driftline.repair.model_input import input_names
        from driftline.repair.routed_mixture import member_loglik

        sigs = [store.signature(r) for r in lineage["regimes"]]
        sig = store.signature(drifted.signature_id) if drifted.signature_id else None
        ll = member_loglik(sigs, X_win, names=input_names(drifted, sig) or sigs[0].feature_names)
        return ref - LineageCBPE.from_dict(lineage).estimate(proba, ll.T)
    cbpe = CBPE.from_dict(metrics["cbpe"]) if isinstance(metrics.get("cbpe"), dict) else CBPE()
    return ref - cbpe.estimate(proba)
