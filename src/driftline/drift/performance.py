"""Model-aware drift: performance drift with labels, a streaming error detector, and a label-free
performance estimate (CBPE-style).

* :func:`performance_drift` — a window's accuracy (classifiers), log-loss or MSE against the
  model's reference performance, with a calibrated one-sided alarm:
  accuracy: ``p = Binom(n, acc_ref).cdf(k)`` for ``k`` correct of ``n`` (exact; with a
  reference sample size ``n_ref`` the reference's own noise is added through the two-proportion
  z-test ``z = (acc_cur − acc_ref) / sqrt(p̄(1 − p̄)(1/n + 1/n_ref))``); log-loss / MSE:
  ``z = (mean_cur − mean_ref) / sqrt(s²_cur/n + s²_ref/n_ref)`` (Welch, normal tail). The alarm
  needs ``p < alpha`` (default 1 %) **and** a drop of at least ``min_drop`` (the floor).
* :class:`DDM` — the drift detection method of Gama et al. (2004) on a 0/1 error stream:
  with ``p_i`` the running error rate and ``s_i = sqrt(p̃_i (1 − p̃_i) / i)`` (``p̃`` the
  add-one smoothed rate, so a run of early successes does not make ``s = 0``), remember the
  minimum of ``p_i + s_i``; *warning* when ``p_i + s_i >= p_min + 2 s_min``, *drift* when
  ``>= p_min + 3 s_min`` (then restart). Nothing is judged before ``min_samples`` errors.
* :class:`ADWIN` — adaptive windowing with the ADWIN2 bound (a false alarm per check at most
  ``δ``), checked once per block of values; the recommended streaming detector.
* :class:`CBPE` — confidence-based performance estimation (as NannyML's CBPE): on labelled
  reference data, fit an isotonic map ``g`` from the model's top-class probability to
  P(prediction correct); a window's estimated accuracy is ``mean_i g(max_k p_ik)``. Under
  covariate shift (P(y|x) unchanged) a calibrated confidence stays valid, so the estimate
  follows the realised accuracy without labels. The map is a few dozen breakpoints (JSON).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from scipy import stats

from driftline.errors import InvalidInputError

DEFAULT_ALPHA = 0.01
DEFAULT_MIN_DROP = 0.02


class PerformanceMetric(StrEnum):
    ACCURACY = "accuracy"
    LOG_LOSS = "log_loss"
    MSE = "mse"


@dataclass(frozen=True)
class PerformanceReference:
    """The model's reference performance: mean per-row score, its variance and row count."""

    metric: PerformanceMetric
    mean: float
    var: float = math.nan
    n: int = 0

    @classmethod
    def from_rows(cls, metric: PerformanceMetric | str, rows: np.ndarray) -> PerformanceReference:
        r = np.asarray(rows, np.float64)
        if r.size == 0:
            raise InvalidInputError("the reference performance needs at least one labelled row")
        return cls(
            PerformanceMetric(metric),
            float(r.mean()),
            float(r.var(ddof=1)) if r.size > 1 else math.nan,
            int(r.size),
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "metric": self.metric.value}


@dataclass
class PerformanceDrift:
    """Verdict of one labelled window against the reference performance."""

    metric: str
    reference: float
    current: float
    n: int
    p_value: float
    drop: float
    drift: bool
    alpha: float = DEFAULT_ALPHA
    min_drop: float = DEFAULT_MIN_DROP

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_row_scores(
    metric: PerformanceMetric | str,
    y: np.ndarray,
    output: np.ndarray,
    classes: np.ndarray | None = None,
) -> np.ndarray:
    """Per-row score: 1{argmax = y} (accuracy), −ln p(y) (log-loss, p >= 1e-15), (ŷ − y)² (MSE)."""
    m = PerformanceMetric(metric)
    y = np.asarray(y)
    out = np.asarray(output, np.float64)
    if len(y) != len(out):
        raise InvalidInputError(f"{len(y)} labels for {len(out)} predictions")
    if m is PerformanceMetric.MSE:
        return (out.reshape(len(y), -1)[:, 0] - y.astype(np.float64)) ** 2
    cl = np.arange(out.shape[1]) if classes is None else np.asarray(classes)
    if m is PerformanceMetric.ACCURACY:
        return (cl[np.argmax(out, axis=1)] == y).astype(np.float64)
    lookup = {c: i for i, c in enumerate(cl.tolist())}
    idx = np.array([lookup.get(v, -1) for v in y.tolist()])
    p = np.where(idx >= 0, out[np.arange(len(y)), np.clip(idx, 0, None)], 0.0)
    return -np.log(np.clip(p, 1e-15, 1.0))


def performance_drift(
    reference: PerformanceReference,
    rows: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    min_drop: float = DEFAULT_MIN_DROP,
) -> PerformanceDrift:
    """Is the window's performance (per-row scores ``rows``) below the reference? (docstring)"""
    r = np.asarray(rows, np.float64)
    if r.size == 0:
        raise InvalidInputError("the window has 0 labelled rows: no performance verdict")
    if not (0 < alpha < 1) or not math.isfinite(min_drop):
        raise InvalidInputError("alpha must be in (0, 1) and min_drop finite")
    n, cur = int(r.size), float(r.mean())
    higher_is_better = reference.metric is PerformanceMetric.ACCURACY
    drop = (reference.mean - cur) if higher_is_better else (cur - reference.mean)
    if higher_is_better:
        p = _accuracy_p(int(round(r.sum())), n, reference)
    else:
        p = _mean_p(r, reference)
    return PerformanceDrift(
        reference.metric.value,
        reference.mean,
        cur,
        n,
        p,
        drop,
        bool(p < alpha and drop >= min_drop),
        alpha,
        min_drop,
    )


def _accuracy_p(k: int, n: int, ref: PerformanceReference) -> float:
    p0 = min(max(ref.mean, 0.0), 1.0)
    if ref.n <= 0:
        return float(stats.binom.cdf(k, n, p0))
    pooled = (k + p0 * ref.n) / (n + ref.n)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n + 1 / ref.n))
    return float(stats.norm.cdf((k / n - p0) / se))


def _mean_p(r: np.ndarray, ref: PerformanceReference) -> float:
    var_c = float(r.var(ddof=1)) if r.size > 1 else 0.0
    var_r = ref.var / ref.n if ref.n > 1 and math.isfinite(ref.var) else 0.0
    se = math.sqrt(var_c / r.size + var_r)
    if se == 0:
        return 0.0 if r.mean() > ref.mean else 1.0
    return float(stats.norm.sf((r.mean() - ref.mean) / se))


# --------------------------------------------------------------------------- streaming
class DDMState(StrEnum):
    STABLE = "stable"
    WARNING = "warning"
    DRIFT = "drift"


@dataclass
class DDM:
    """Drift detection method (Gama et al. 2004) on a stream of 0/1 errors (see module doc)."""

    min_samples: int = 100
    warning_level: float = 2.0
    drift_level: float = 3.0
    n: int = 0
    errors: int = 0
    p_min: float = math.inf
    s_min: float = math.inf
    detections: list[int] = field(default_factory=list)
    seen: int = 0

    def update(self, error: bool | int | float) -> DDMState:
        """Add one prediction's error indicator; return the detector's state after it."""
        self.seen += 1
        self.n += 1
        self.errors += int(bool(error))
        if self.n < self.min_samples:
            return DDMState.STABLE
        p = self.errors / self.n
        pt = (self.errors + 1) / (self.n + 2)  # smoothed for s: a clean start has s > 0
        s = math.sqrt(pt * (1 - pt) / self.n)
        if p + s < self.p_min + self.s_min:
            self.p_min, self.s_min = p, s
        if p + s >= self.p_min + self.drift_level * self.s_min:
            self.detections.append(self.seen)
            self.n, self.errors, self.p_min, self.s_min = 0, 0, math.inf, math.inf
            return DDMState.DRIFT
        if p + s >= self.p_min + self.warning_level * self.s_min:
            return DDMState.WARNING
        return DDMState.STABLE

    def update_many(self, errors: np.ndarray) -> list[int]:
        """Feed a batch of errors; return the stream positions (1-based) where drift fired."""
        before = len(self.detections)
        for e in np.asarray(errors).ravel().tolist():
            self.update(e)
        return self.detections[before:]


@dataclass
class ADWIN:
    """Adaptive windowing (Bifet & Gavaldà 2007, ADWIN2 bound) over blocks of ``block`` values.

    The window is kept as block sums. After each full block, every split of the window into an
    older part ``W0`` and a newer part ``W1`` is tested: with ``m = 1 / (1/n0 + 1/n1)``,
    ``δ' = δ / n`` and the window variance ``σ²``, a change is declared when
    ``|μ0 − μ1| > sqrt(2 σ² ln(2/δ') / m) + 2 ln(2/δ') / (3 m)``; the older part is dropped.
    The false-alarm probability per check is at most ``δ`` (default 0.002).
    """

    delta: float = 0.002
    block: int = 32
    max_blocks: int = 1024
    sums: list[float] = field(default_factory=list)
    sq: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    detections: list[int] = field(default_factory=list)
    seen: int = 0
    _s: float = 0.0
    _q: float = 0.0
    _n: int = 0

    @property
    def mean(self) -> float:
        n = sum(self.counts)
        return sum(self.sums) / n if n else math.nan

    def update(self, value: float) -> bool:
        """Add one value (e.g. a 0/1 error); True when a change was detected at this value."""
        v = float(value)
        self.seen += 1
        self._s, self._q, self._n = self._s + v, self._q + v * v, self._n + 1
        if self._n < self.block:
            return False
        self.sums.append(self._s)
        self.sq.append(self._q)
        self.counts.append(self._n)
        self._s, self._q, self._n = 0.0, 0.0, 0
        if len(self.counts) > self.max_blocks:
            del self.sums[0], self.sq[0], self.counts[0]
        return self._check()

    def _check(self) -> bool:
        if len(self.counts) < 2:
            return False
        s, c = np.array(self.sums), np.array(self.counts, np.float64)
        n, total = c.sum(), s.sum()
        var = max(float(np.sum(self.sq)) / n - (total / n) ** 2, 0.0)
        n0, s0 = np.cumsum(c)[:-1], np.cumsum(s)[:-1]
        n1 = n - n0
        m = 1.0 / (1.0 / n0 + 1.0 / n1)
        ln = math.log(2.0 * n / self.delta)
        eps = np.sqrt(2.0 * var * ln / m) + 2.0 * ln / (3.0 * m)
        cut = np.flatnonzero(np.abs(s0 / n0 - (total - s0) / n1) > eps)
        if cut.size == 0:
            return False
        k = int(cut[-1]) + 1  # drop the older blocks up to the last significant split
        del self.sums[:k], self.sq[:k], self.counts[:k]
        self.detections.append(self.seen)
        return True

    def update_many(self, values: np.ndarray) -> list[int]:
        """Feed a batch; return the stream positions (1-based) where a change was detected."""
        before = len(self.detections)
        for v in np.asarray(values, np.float64).ravel().tolist():
            self.update(v)
        return self.detections[before:]


# --------------------------------------------------------------------------- label-free
@dataclass
class CBPE:
    """Confidence-based accuracy estimate (see module docstring)."""

    x: list[float] = field(default_factory=list)  # isotonic breakpoints: confidence
    y: list[float] = field(default_factory=list)  # ... and P(correct)
    reference_accuracy: float = math.nan
    n: int = 0

    @classmethod
    def fit(cls, proba: np.ndarray, y: np.ndarray, classes: np.ndarray | None = None) -> CBPE:
        """Calibrate on labelled reference / validation rows (probabilities and labels)."""
        from sklearn.isotonic import IsotonicRegression

        p = np.asarray(proba, np.float64)
        if p.ndim != 2 or len(p) != len(y) or len(p) == 0:
            raise InvalidInputError(
                "CBPE.fit needs an (n, classes) probability matrix and n labels"
            )
        correct = per_row_scores(PerformanceMetric.ACCURACY, np.asarray(y), p, classes)
        conf = p.max(axis=1)
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(conf, correct)
        return cls(
            [float(v) for v in iso.X_thresholds_],
            [float(v) for v in iso.y_thresholds_],
            float(correct.mean()),
            int(len(p)),
        )

    def confidence(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated P(correct) per row."""
        conf = np.asarray(proba, np.float64).max(axis=1)
        if not self.x:
            return conf
        return np.interp(conf, self.x, self.y)

    def estimate(self, proba: np.ndarray) -> float:
        """Estimated accuracy of a window (no labels needed)."""
        p = np.asarray(proba, np.float64)
        if p.ndim != 2 or len(p) == 0:
            raise InvalidInputError("the window has 0 rows: no performance estimate")
        return float(self.confidence(p).mean())

    def estimated_drop(self, proba: np.ndarray) -> float:
        """Reference accuracy minus the window's estimate."""
        return self.reference_accuracy - self.estimate(proba)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CBPE:
        return cls(
            list(d.get("x", [])),
            list(d.get("y", [])),
            float(d.get("reference_accuracy", math.nan)),
            int(d.get("n", 0)),
        )


@dataclass
class LineageCBPE:
    """CBPE per data regime, mixed by each row's regime posterior (lineage-aware CBPE).

    Plain CBPE assumes the confidence calibration of the reference holds on today's rows; it
    breaks when today's rows come from regimes the model was not calibrated on (a fine-tuned
    model is over-confident on the regime it forgot). When the lineage provides, for each
    regime ``r``, a training signature (its per-row log-likelihood ``ℓ_r(x)``, as routing uses)
    and labelled held-out rows, fit one calibration map ``g_r`` per regime and estimate

        acĉ = (1/n) Σ_i Σ_r π_r(x_i) g_r(max_k p_ik),   π_r(x) ∝ w_r exp(ℓ_r(x)),

    with the window's regime shares ``w`` by EM (50 iterations from uniform).
    """

    parts: list[CBPE] = field(default_factory=list)

    @classmethod
    def fit(
        cls, per_regime: list[tuple[np.ndarray, np.ndarray]], classes: np.ndarray | None = None
    ) -> LineageCBPE:
        """``per_regime``: (probabilities, labels) of held-out rows of each regime."""
        if not per_regime:
            raise InvalidInputError("LineageCBPE.fit needs labelled rows of at least one regime")
        return cls([CBPE.fit(p, y, classes) for p, y in per_regime])

    def row_confidence(
        self, proba: np.ndarray, loglik: np.ndarray, iterations: int = 50
    ) -> np.ndarray:
        """Per-row ``Σ_r π_r(x_i) g_r(max_k p_ik)``; ``loglik[i, r] = ℓ_r(x_i)``.

        ``iterations = 0`` keeps the uniform prior ``w_r = 1/R``: each row's value then depends
        on that row only, so sums over panes add up (what a drift agent reports).
        """
        ll = np.asarray(loglik, np.float64)
        p = np.asarray(proba, np.float64)
        if ll.shape != (len(p), len(self.parts)) or len(p) == 0:
            raise InvalidInputError(
                f"loglik must be (rows, {len(self.parts)}) for a non-empty window, got {ll.shape}"
            )
        lik = np.exp(ll - ll.max(axis=1, keepdims=True))
        w = np.full(len(self.parts), 1.0 / len(self.parts))
        post = lik / lik.sum(axis=1, keepdims=True)
        for _ in range(iterations):
            post = lik * w
            post /= post.sum(axis=1, keepdims=True)
            w = post.mean(axis=0)
        g = np.column_stack([part.confidence(p) for part in self.parts])
        return np.asarray(np.sum(post * g, axis=1))

    def estimate(self, proba: np.ndarray, loglik: np.ndarray, iterations: int = 50) -> float:
        """Estimated accuracy of a window (mean of :meth:`row_confidence`)."""
        return float(np.mean(self.row_confidence(proba, loglik, iterations)))

    def to_dict(self) -> dict[str, Any]:
        return {"parts": [part.to_dict() for part in self.parts]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LineageCBPE:
        return cls([CBPE.from_dict(part) for part in d.get("parts", [])])
