"""Optional model-aware parts of a :class:`~driftline.drift.agent.DriftAgent` report.

Off by default (the agent then does no extra work). With :class:`ModelAwareSettings`:

* ``predict_proba`` (window rows as named columns → ``(rows, classes)`` probabilities) adds the
  label-free accuracy estimate of :class:`~driftline.drift.performance.CBPE` per window:
  ``estimated_accuracy = mean_i g(max_k p_ik)`` with the calibration ``g`` of ``cbpe`` (without
  one, ``g`` is the identity: the raw top-class probability), plus ``reference_accuracy`` and
  ``estimated_drop = reference_accuracy − estimated_accuracy`` when the calibration knows its
  reference accuracy;
* with a lineage (``lineage_cbpe``, one calibration map ``g_r`` per lineage regime, and the
  regimes' training signatures), ``estimated_accuracy`` is the lineage-aware estimate of
  :class:`~driftline.drift.performance.LineageCBPE`, ``mean_i Σ_r π_r(x_i) g_r(max_k p_ik)``
  with the regime posterior ``π_r(x) ∝ exp ℓ_r(x)`` under a uniform prior (each row on its own,
  so panes add up); the confidence-only figure stays as ``estimated_accuracy_cbpe``. Where
  regimes are mixed the lineage estimate is the one to read (repair scenarios: mean absolute
  error 0.013 against 0.22 for confidence alone, ``bench_drift_quality.py --cbpe``);
* ``multivariate=True`` adds the multivariate score of
  :func:`~driftline.drift.likelihood.multivariate_drift` per window from running sums of the
  per-row log-likelihood ``ℓ`` (``multivariate_score = E_ref[ℓ] − mean ℓ``, its ``z`` and
  one-sided p-value ``multivariate_p``).

Per pane the state is a handful of sums (rows, Σ g, Σ (ℓ − E), Σ (ℓ − E)²), so panes of a
sliding window add up exactly like the feature windows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.drift.performance import CBPE, LineageCBPE
from driftline.drift.tabular import Columns
from driftline.errors import DriftlineError, InvalidInputError

#: keys a report's ``model`` dict may hold
MODEL_METRICS = (
    "estimated_accuracy",
    "estimated_accuracy_cbpe",
    "reference_accuracy",
    "estimated_drop",
    "multivariate_score",
    "multivariate_z",
    "multivariate_p",
)


@dataclass
class ModelAwareSettings:
    """What the agent adds to each report (all off by default)."""

    #: the deployed model: named window columns -> (rows, classes) class probabilities
    predict_proba: Callable[[Columns], np.ndarray] | None = None
    #: confidence calibration (fitted on labelled reference / validation rows)
    cbpe: CBPE | None = None
    #: add the multivariate likelihood score per window
    multivariate: bool = False
    #: lineage-aware calibration: one map per lineage regime (preferred when set) ...
    lineage_cbpe: LineageCBPE | None = None
    #: ... and those regimes' training signatures, in the same order
    regime_signatures: Sequence[Any] = ()

    @property
    def active(self) -> bool:
        return (
            self.predict_proba is not None
            or self.cbpe is not None
            or self.lineage_cbpe is not None
            or self.multivariate
        )


class ModelAwareWindows:
    """Accumulate and report the model-aware sums of an agent's panes."""

    def __init__(self, settings: ModelAwareSettings, signature: Any) -> None:
        from driftline.drift.likelihood import expected_log_likelihood

        if settings.cbpe is not None and settings.predict_proba is None:
            raise InvalidInputError(
                "a CBPE calibration needs predict_proba (the model's "
                "probabilities) to estimate accuracy"
            )
        lineage = settings.lineage_cbpe
        if lineage is not None and (
            settings.predict_proba is None or len(settings.regime_signatures) != len(lineage.parts)
        ):
            raise InvalidInputError(
                f"a lineage CBPE needs predict_proba and one training signature per regime "
                f"({len(lineage.parts)}), got {len(settings.regime_signatures)}"
            )
        self.settings = settings
        self.signature = signature
        self.cbpe = settings.cbpe or CBPE()
        self.expected = expected_log_likelihood(signature) if settings.multivariate else math.nan

    def add(self, sums: dict[str, float], cols: Columns, a: int, b: int) -> None:
        """Add rows ``[a, b)`` of the batch to a pane's ``sums`` (in place)."""
        rows = {k: v[a:b] for k, v in cols.items()}
        if self.settings.predict_proba is not None:
            proba = np.asarray(self.settings.predict_proba(rows), np.float64)
            if proba.ndim != 2 or len(proba) != b - a:
                raise InvalidInputError(
                    f"predict_proba returned shape {proba.shape} for "
                    f"{b - a} rows; expected (rows, classes)"
                )
            _inc(sums, "conf_n", float(len(proba)))
            _inc(sums, "conf_sum", float(self.cbpe.confidence(proba).sum()))
            self._add_lineage(sums, rows, proba)
        if self.settings.multivariate:
            from driftline.drift.likelihood import log_likelihood

            try:
                ll = log_likelihood(self.signature, rows) - self.expected
            except DriftlineError:
                return  # a feature column is missing: the schema issue already says so
            _inc(sums, "ll_n", float(ll.size))
            _inc(sums, "ll_sum", float(ll.sum()))
            _inc(sums, "ll_sq", float(np.dot(ll, ll)))

    def _add_lineage(self, sums: dict[str, float], rows: Columns, proba: np.ndarray) -> None:
        lineage = self.settings.lineage_cbpe
        if lineage is None or len(proba) == 0:
            return
        from driftline.drift.likelihood import log_likelihood

        try:
            ll = np.column_stack([log_likelihood(s, rows) for s in self.settings.regime_signatures])
        except DriftlineError:
            return  # a regime's feature is missing here: the confidence-only estimate stands
        _inc(sums, "lineage_n", float(len(proba)))
        _inc(sums, "lineage_sum", float(lineage.row_confidence(proba, ll, iterations=0).sum()))

    def report(self, panes: list[Mapping[str, float]]) -> dict[str, float]:
        """The window's ``model`` metrics from its panes' sums (see module docstring)."""
        tot: dict[str, float] = {}
        for p in panes:
            for k, v in p.items():
                _inc(tot, k, v)
        out: dict[str, float] = {}
        if tot.get("conf_n", 0.0) > 0:
            est = tot["conf_sum"] / tot["conf_n"]
            if tot.get("lineage_n", 0.0) == tot["conf_n"]:
                out["estimated_accuracy_cbpe"] = est
                est = tot["lineage_sum"] / tot["lineage_n"]
            out["estimated_accuracy"] = est
            ref = self.cbpe.reference_accuracy
            if not math.isnan(ref):
                out.update(reference_accuracy=ref, estimated_drop=ref - est)
        if tot.get("ll_n", 0.0) >= 2:
            from driftline.drift.likelihood import multivariate_from_moments

            n = tot["ll_n"]
            mean_dev = tot["ll_sum"] / n
            var = max(tot["ll_sq"] / n - mean_dev * mean_dev, 0.0) * n / (n - 1)
            mv = multivariate_from_moments(
                self.expected,
                self.expected + mean_dev,
                math.sqrt(var),
                int(n),
                self.signature.n_rows,
            )
            out.update(multivariate_score=mv.score, multivariate_z=mv.z, multivariate_p=mv.p_value)
        return out


def _inc(d: dict[str, float], key: str, v: float) -> None:
    d[key] = d.get(key, 0.0) + v
