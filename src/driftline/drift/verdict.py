"""From a window's per-feature metrics to drift decisions, under a :class:`RuleSettings`.

* ``"calibrated"`` (default): a feature drifts when its calibrated p-value (null estimated from
  the training data, stored in the signature) is below ``calibration.alpha``, an effect size
  clears the materiality floor, and it survives Holm at ``calibration.family_alpha`` across
  features (family-wise error rate). See :mod:`driftline.drift.calibration`;
* ``"effect"``: a feature drifts if any metric exceeds its threshold (``|·|`` for
  ``missing_change`` and ``mean_shift``);
* ``"bonferroni"`` / ``"bh"``: a feature drifts if its KS (numeric) or χ² (categorical) p-value,
  adjusted across features, is below ``alpha``; the missing-rate threshold still applies.

Label and prediction columns (roles) always use the effect thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Container, Mapping

import numpy as np

from driftline.drift.agent_settings import RuleSettings
from driftline.drift.calibration import (
    FeatureCalibration,
    categorical_test,
    holm,
    numeric_test,
)
from driftline.drift.report import FeatureDrift
from driftline.drift.windows import CategoricalWindow, FeatureWindow, NumericWindow

_ABS_METRICS = ("missing_change", "mean_shift")


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Bonferroni ``min(1, m p)`` or Benjamini–Hochberg step-up adjusted p-values.

    >>> adjust_pvalues(np.array([0.01, 0.04]), "bonferroni").tolist()
    [0.02, 0.08]
    """
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def feature_drift(
    name: str, window: FeatureWindow, rules: RuleSettings, *, role: bool
) -> FeatureDrift:
    """Metrics of one feature's window and the thresholds they cross (the effect part of the
    rule; the calibrated and p-value rules add their alarms in :func:`apply_rule`)."""
    th = rules.thresholds_for(name)
    m = window.metrics()
    if rules.rule == "calibrated" and not role:
        th = {}  # role columns (label / prediction drift) keep the effect thresholds
    effect = rules.rule == "effect" or role
    fired: list[str] = []
    for metric, thr in th.items():
        v = m.get(metric)
        if v is None or math.isnan(v):
            continue
        if not effect and metric != "missing_change":
            continue
        if (abs(v) if metric in _ABS_METRICS else v) > thr:
            fired.append(metric)
    kind = "numeric" if isinstance(window, NumericWindow) else "categorical"
    return FeatureDrift(name, kind, m, th, fired)


def feature_drifts(
    windows: Mapping[str, FeatureWindow],
    rules: RuleSettings,
    calibrations: Mapping[str, FeatureCalibration],
    role_names: Container[str],
) -> tuple[dict[str, FeatureDrift], dict[str, FeatureDrift]]:
    """``(features, label drift)`` of a window: every feature decided under ``rules``; role
    columns (target / prediction) with no rows in the window are left out."""
    feats: dict[str, FeatureDrift] = {}
    labels: dict[str, FeatureDrift] = {}
    for name, w in windows.items():
        role = name in role_names
        if role and w.n == 0:
            continue  # the window carried no labels / predictions
        (labels if role else feats)[name] = feature_drift(name, w, rules, role=role)
    apply_rule(feats, windows, rules, calibrations)
    return feats, labels


def apply_rule(
    feats: dict[str, FeatureDrift],
    windows: Mapping[str, FeatureWindow],
    rules: RuleSettings,
    calibrations: Mapping[str, FeatureCalibration],
) -> None:
    """Add the calibrated or p-value alarms of ``rules.rule`` to ``feats`` (in place)."""
    if rules.rule == "calibrated":
        apply_calibrated(feats, windows, rules, calibrations)
    elif rules.rule != "effect":
        apply_tests(feats, rules)


def apply_calibrated(
    feats: dict[str, FeatureDrift],
    windows: Mapping[str, FeatureWindow],
    rules: RuleSettings,
    calibrations: Mapping[str, FeatureCalibration],
) -> None:
    """Calibrated p-values and floors per feature, Holm across features (FWER)."""
    cs = rules.calibration
    names, ps, material = [], [], []
    for name, f in feats.items():
        w, cal = windows[name], calibrations[name]
        if isinstance(w, NumericWindow):
            t = numeric_test(w, cal, cs)
        else:
            assert isinstance(w, CategoricalWindow)
            t = categorical_test(w, cal, cs)
        mat = bool(t["material"])
        f.metrics.update(t)
        f.thresholds.update({"alpha": cs.alpha, "family_alpha": cs.family_alpha})
        f.thresholds.update({k: cs.floor(k) for k in ("ks_all", "tv", "unseen_excess") if k in t})
        if not math.isnan(t["p_cal"]):
            names.append(name)
            ps.append(t["p_cal"])
            material.append(mat)
    adj = holm(np.array(ps))
    for name, p, pa, mat in zip(names, ps, adj.tolist(), material, strict=True):
        f = feats[name]
        f.metrics["p_adj"] = pa
        if mat and p < cs.alpha and pa < cs.family_alpha:
            f.fired.append(fired_label(f))


def apply_tests(feats: dict[str, FeatureDrift], rules: RuleSettings) -> None:
    """KS / χ² p-values adjusted across features (Bonferroni or BH), compared with ``alpha``."""
    alpha = rules.effective_alpha
    names, ps = [], []
    for name, f in feats.items():
        key = "ks_p" if f.kind == "numeric" else "chi2_p"
        p = f.metrics.get(key, math.nan)
        if not math.isnan(p):
            names.append((name, key))
            ps.append(p)
    adj = adjust_pvalues(np.array(ps), "bonferroni" if rules.rule == "bonferroni" else "bh")
    for (name, key), pa in zip(names, adj.tolist(), strict=True):
        f = feats[name]
        f.metrics["p_adj"] = pa
        f.thresholds["alpha"] = alpha
        if pa < alpha:
            f.fired.append(key)


def fired_label(f: FeatureDrift) -> str:
    """Name the calibrated alarm by what moved most: missing share, unseen values or shape."""
    m = f.metrics
    miss = abs(m.get("missing_change", 0.0) or 0.0)
    if f.kind == "numeric":
        ks = m.get("ks")
        ks = 0.0 if ks is None or math.isnan(ks) else ks  # NaN when no value is present
        return "missing_change" if miss > ks else "ks_all"
    if (m.get("p_unseen", 1.0) < m.get("p_cal", 1.0)) and m.get("unseen_excess", 0.0) > 0:
        return "unseen_excess"
    return "missing_change" if miss >= 0.5 * (m.get("tv") or 0.0) else "tv"
