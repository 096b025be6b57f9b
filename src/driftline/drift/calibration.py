"""Calibrated per-feature drift alarms: null distributions from the training data itself.

A feature *alarms* when its window is both **significant** (calibrated p-value below the stated
per-feature level ``alpha``, default 1 %) and **material** (an effect size at least the
materiality floor). The *data-set verdict* counts only features that also survive Holm's step-down
procedure at ``family_alpha`` (default 1 %) over all features, so the verdict controls the
**family-wise error rate** (P(any false feature alarm) <= ``family_alpha``, any dependence
between features), and each feature's false-alarm rate is at most ``min(alpha, family_alpha)``.

Tests and their nulls (``n`` window rows, ``N`` reference rows, both counting missing values):

* **numeric** — KS distance over the whole distribution, missing values as an atom at +∞:
  ``D = sup_x |F_ref(x) − F_cur(x)|``. The reference CDF is the sketch's, within ``rank_error``
  of the exact one, so ``D_eff = max(D − rank_error − c, 0)`` (``c = ½/n`` for discrete
  features: continuity correction). ``p = Q_K(κ (√e + 0.12 + 0.11/√e) D_eff)``, ``e = nN/(n+N)``,
  ``Q_K`` the Kolmogorov survival function (Stephens' finite-n form). ``κ >= 1`` is the
  *discreteness factor* stored in the signature: for a continuous feature ``κ = 1`` (exact
  asymptotic null); when the reference has atoms (ties: counts, few levels, zero inflation,
  missing values) ``κ = q_K(0.99) / q_B(0.99)``, with ``q_B`` the 99 % quantile of
  ``sup_j |B(F_j)|`` for a Brownian bridge ``B`` observed only at the atoms' CDF values ``F_j``
  (3,000 seeded simulations on cells of at most 1/1024 mass; heavy atoms stay single). The
  discrete sup is stochastically smaller than Kolmogorov's and its tail decays at least as fast,
  so matching the two at 99 % is exact there and conservative further out.
* **categorical** — Pearson's χ² of the window counts against the reference frequencies, cells
  pooled (rarest first) until every expected count ``n p_j >= 5``, missing values a cell,
  labels the reference never saw in the pooled cell; two-sample variance correction
  ``χ²' = χ² / (1 + n/N)``; ``p = χ²_{df}.sf(χ²')``. With small expected counts the χ² tail
  is too light (Pearson's statistic ran 2× the nominal rate at ``p`` = 0.4 % for 50 Zipf labels
  and 500 rows): where its exact variance exceeds ``2 df`` by 1 % or more and ``1e-9 <= p <
  0.05``, ``p`` is the Monte-Carlo p-value of the same statistic under the two-sample
  multinomial null (:func:`~driftline.drift.category_nulls.chi_square_pvalue_mc`, up to 20,000
  seeded draws).
  Materiality: total-variation distance ``TV = ½ Σ |p_cur − p_ref|``.
* **unseen values** (categorical) — Good–Turing: the chance that a new row carries a label the
  training data never showed is ``m₀ = f₁ / N`` (``f₁`` labels seen once). When the counts are
  capped (top-k + ``"__other__"``), ``f₁``, ``N`` and the unseen rows ``k`` of the window are
  taken on the signature's hash sample of the vocabulary (labels with hash < τ, see
  :class:`~driftline.drift.sketch.LabelSample`); otherwise on the whole vocabulary.
  ``p = Binom(n, m₀⁺).sf(k − 1)``, ``m₀⁺ = (f₁ + 2√f₁ + 1) / N`` (two standard errors up).
  Materiality: ``k/n − m₀ >= 0.01``. A categorical feature with both tests uses
  ``p = t + F_u(t)``, ``t = min(p_χ², p_unseen)``, ``F_u(t)`` the unseen test's attainable null
  probability of ``p <= t`` (a union bound, valid under any dependence; ``2t`` when the unseen
  test is the smaller, close to ``t`` when few unseen values are expected).

Nothing here needs the raw training data: κ comes from the sketch's weighted points, the rest
from stored counts. The calibration block is stored in the signature header and is a pure
function of the summaries (fixed seed), so merged signatures recompute it from the merged
summaries and stay mergeable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import special

from driftline.drift.category_nulls import (
    chi_square_pvalue_calibrated,
    chi_square_pvalue_mc,
    combine_with_unseen,
    needs_mc,
    pooled_cells,
    pooled_chi_square,
    unseen_attainable,
    unseen_pvalue,
)
from driftline.errors import InvalidInputError

__all__ = [
    "CalibrationSettings",
    "FeatureCalibration",
    "calibration_of",
    "categorical_test",
    "holm",
    "numeric_test",
    "pooled_chi_square",
]

if TYPE_CHECKING:  # pragma: no cover
    from driftline.drift.signature import CategoricalSummary, NumericSummary, Signature
    from driftline.drift.windows import CategoricalWindow, NumericWindow

DEFAULT_ALPHA = 0.01
DEFAULT_FAMILY_ALPHA = 0.01
DEFAULT_MATERIALITY: dict[str, float] = {"ks_all": 0.02, "tv": 0.02, "unseen_excess": 0.01}
HEAVY_ATOM = 0.005
CELL_MASS = 1.0 / 1024
BRIDGE_SIMS = 3000
KAPPA_LEVEL = 0.01
CALIBRATION_VERSION = 1
_Q_KOLMOGOROV = float(special.kolmogi(KAPPA_LEVEL))


@dataclass(frozen=True)
class FeatureCalibration:
    """Stored null parameters of one feature (see module docstring)."""

    kind: str
    kappa: float = 1.0
    rank_error: float = 0.0
    discrete: bool = False
    singletons: int | None = None  # Good–Turing f1; None when the vocabulary is not known
    vocab_rows: int | None = None  # rows behind f1 (all rows, or the hash sample's rows)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FeatureCalibration:
        s = d.get("singletons")
        v = d.get("vocab_rows")
        return cls(
            str(d["kind"]),
            float(d.get("kappa", 1.0)),
            float(d.get("rank_error", 0.0)),
            bool(d.get("discrete", False)),
            None if s is None else int(s),
            None if v is None else int(v),
        )


@dataclass(frozen=True)
class CalibrationSettings:
    """Levels and materiality floors of the calibrated rule."""

    alpha: float = DEFAULT_ALPHA
    family_alpha: float = DEFAULT_FAMILY_ALPHA
    materiality: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_MATERIALITY))

    def __post_init__(self) -> None:
        for name in ("alpha", "family_alpha"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and 0.0 < v < 1.0):
                raise InvalidInputError(f"{name} must be a number in (0, 1), got {v!r}")
        unknown = set(self.materiality) - set(DEFAULT_MATERIALITY)
        if unknown:
            raise InvalidInputError(
                f"unknown materiality metric(s) {sorted(unknown)}; use "
                f"{sorted(DEFAULT_MATERIALITY)}"
            )
        for k, v in self.materiality.items():
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise InvalidInputError(
                    f"materiality floor {k} must be a finite number >= 0, got {v!r}"
                )

    def floor(self, metric: str) -> float:
        return float({**DEFAULT_MATERIALITY, **dict(self.materiality)}[metric])


# --------------------------------------------------------------------------- building
def _cells(probs: np.ndarray) -> np.ndarray:
    """CDF values at cell ends: light atoms grouped to <= CELL_MASS, heavy atoms alone."""
    cdf = np.cumsum(probs)
    heavy = probs > CELL_MASS
    grid = np.floor(cdf / CELL_MASS)
    keep = np.ones(probs.size, dtype=bool)
    keep[:-1] = (grid[1:] != grid[:-1]) | heavy[:-1] | heavy[1:]
    return cdf[keep]


def bridge_quantile(
    cdf_at_cells: np.ndarray, level: float = KAPPA_LEVEL, sims: int = BRIDGE_SIMS, seed: int = 0
) -> float:
    """``(1 − level)`` quantile of ``max_j |B(F_j)|`` for a standard Brownian bridge ``B``.

    Simulated in float32 (``sims`` seeded paths; the sup is compared at the 1e-3 level, far
    above float32 rounding).
    """
    f = np.asarray(cdf_at_cells, np.float64)
    f = f[(f > 0) & (f < 1 - 1e-12)]
    if f.size == 0:
        return 0.0
    steps = np.diff(np.concatenate([[0.0], f, [1.0]])).astype(np.float32)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((sims, steps.size), dtype=np.float32)
    z *= np.sqrt(steps)
    np.cumsum(z, axis=1, out=z)
    b = z[:, :-1] - f.astype(np.float32) * z[:, -1:]
    np.abs(b, out=b)
    return float(np.quantile(b.max(axis=1), 1.0 - level))


def calibrate_numeric(s: NumericSummary) -> FeatureCalibration:
    """κ and the sketch error of a numeric feature (missing values are an atom at +∞)."""
    total = float(s.count + s.missing)
    if total == 0:
        return FeatureCalibration("numeric")
    sk = s.sketch.compressed()
    _, w = sk.points()
    probs = np.concatenate([w / total, [s.missing / total]]) if s.missing else w / total
    heavy = probs.size > 0 and float(probs.max()) > HEAVY_ATOM
    kappa = 1.0
    if heavy:
        qb = bridge_quantile(_cells(probs))
        kappa = min(max(_Q_KOLMOGOROV / qb, 1.0), 50.0) if qb > 0 else 50.0
    return FeatureCalibration("numeric", round(kappa, 6), sk.rank_error, bool(heavy))


def calibrate_categorical(s: CategoricalSummary) -> FeatureCalibration:
    """Good–Turing ``f₁`` and its rows: whole vocabulary if stored, else the hash sample."""
    from driftline.drift.signature import OTHER

    if OTHER not in s.counts:
        f1 = sum(1 for c in s.counts.values() if c == 1)
        return FeatureCalibration("categorical", singletons=f1, vocab_rows=s.count)
    if s.sample is None or s.sample.rows == 0:
        return FeatureCalibration("categorical")
    return FeatureCalibration(
        "categorical", singletons=s.sample.singletons, vocab_rows=s.sample.rows
    )


def calibrate(signature: Signature) -> dict[str, FeatureCalibration]:
    """Calibration of every feature of a signature (deterministic)."""
    from driftline.drift.signature import NumericSummary

    return {
        name: calibrate_numeric(f) if isinstance(f, NumericSummary) else calibrate_categorical(f)
        for name, f in signature.features.items()
    }


def calibration_of(signature: Signature) -> dict[str, FeatureCalibration]:
    """The signature's stored calibration, computed (and cached on it) when absent."""
    cal = getattr(signature, "_calibration", None)
    if cal is None or set(cal) != set(signature.features):
        cal = calibrate(signature)
        signature._calibration = cal
    return cal


def calibration_header(signature: Signature) -> dict[str, Any]:
    """The header block ``{"calibration": {...}}`` stored in the signature's bytes."""
    cal = calibration_of(signature)
    return {
        "calibration": {
            "version": CALIBRATION_VERSION,
            "features": {k: c.to_dict() for k, c in cal.items()},
        }
    }


def read_calibration(head: Mapping[str, Any]) -> dict[str, FeatureCalibration] | None:
    """Inverse of :func:`calibration_header` (None for signatures stored without one)."""
    block = head.get("calibration")
    if not block or int(block.get("version", 0)) != CALIBRATION_VERSION:
        return None
    return {k: FeatureCalibration.from_dict(v) for k, v in block["features"].items()}


# --------------------------------------------------------------------------- testing windows
def ks_pvalue_calibrated(d: float, n_ref: float, n_cur: float, cal: FeatureCalibration) -> float:
    """Calibrated p-value of the whole-distribution KS distance (see module docstring)."""
    if not (n_ref > 0 and n_cur > 0) or math.isnan(d):
        return math.nan
    e = n_ref * n_cur / (n_ref + n_cur)
    r = math.sqrt(e)
    corr = 0.5 / n_cur if cal.discrete else 0.0
    d_eff = max(d - cal.rank_error - corr, 0.0)
    return float(special.kolmogorov(cal.kappa * (r + 0.12 + 0.11 / r) * d_eff))


def ks_all(win: NumericWindow) -> float:
    """KS distance between full distributions (finite values, then missing at +∞)."""
    ref = win.ref
    nr = ref.count + ref.missing
    nc = float(win.n + win.missing)
    if nr <= 0 or nc <= 0 or ref.points.size == 0:
        return abs(win.missing / nc - ref.missing / nr) if nr > 0 and nc > 0 else math.nan
    fr = ref.cdf * (ref.count / nr)
    prev = np.concatenate([[0.0], fr[:-1]])
    d1 = np.max(np.abs(fr - win.le / nc))
    d2 = np.max(np.abs(prev - win.lt / nc))
    d3 = abs(ref.count / nr - win.n / nc)  # just below +∞: the missing shares differ
    return float(max(d1, d2, d3))


def holm(p: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (FWER control under any dependence)."""
    p = np.asarray(p, np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    adj = np.maximum.accumulate(np.minimum(p[order] * (m - np.arange(m)), 1.0))
    out = np.empty(m)
    out[order] = adj
    return out


# --------------------------------------------------------------------------- per-window tests
def _label_cells(win: CategoricalWindow) -> tuple[np.ndarray, np.ndarray, int]:
    """Reference cells: every label, then missing; window cells add unseen labels at the end."""
    _, r, c = win.cells()
    known = len(win.ref.counts)
    return (
        np.concatenate([r[:known], [win.ref.missing]]),
        np.concatenate([c[:known], [win.missing], c[known:]]),
        known,
    )


def _sampled_cells(win: CategoricalWindow) -> tuple[np.ndarray, np.ndarray, int]:
    """Cells free of top-k selection bias for a capped feature.

    Top-k counts are biased upward near the cut (labels were kept *because* their count was
    high), so only labels far above the cut (count >= c_k + 4 sqrt(c_k) + 4) keep their own cell;
    the hash-sampled labels (chosen by hash, not count) keep theirs; the remaining rows form one
    cell, then missing. Unseen sampled labels are left to the unseen-value test.
    """
    from driftline.drift.signature import OTHER

    ref = win.ref
    kept = [v for k, v in ref.counts.items() if k != OTHER]
    ck = min(kept) if kept else 0
    conf = [k for k, v in ref.counts.items() if k != OTHER and v >= ck + 4 * math.sqrt(ck) + 4]
    cs = set(conf)
    samp = [k for k in ref.sample_counts if k not in cs]
    r_lab = [float(ref.counts[k]) for k in conf] + [float(ref.sample_counts[k]) for k in samp]
    c_lab = [float(win.counts.get(k, 0)) for k in conf] + [
        float(win.sampled_counts.get(k, 0)) for k in samp
    ]
    r_rest = max(ref.count - sum(r_lab), 0.0)
    c_rest = max(win.n - sum(c_lab) - win.sampled_unseen, 0.0)
    r = np.array([*r_lab, r_rest, ref.missing])
    c = np.array([*c_lab, c_rest, win.missing])
    return r, c, r.size - 1


def numeric_test(
    win: NumericWindow, cal: FeatureCalibration, settings: CalibrationSettings
) -> dict[str, float]:
    """Calibrated metrics of a numeric window: ``ks_all``, ``p_cal``, ``material``."""
    d = ks_all(win)
    nr = win.ref.count + win.ref.missing
    p = ks_pvalue_calibrated(d, nr, float(win.n + win.missing), cal)
    return {"ks_all": d, "p_cal": p, "material": float(d >= settings.floor("ks_all"))}


def categorical_test(
    win: CategoricalWindow, cal: FeatureCalibration, settings: CalibrationSettings
) -> dict[str, float]:
    """Calibrated metrics of a categorical window: ``tv``, ``unseen_excess``, ``p_cal``."""
    r, c, known = _sampled_cells(win) if win.ref.sample_tau is not None else _label_cells(win)
    n, nr = float(c.sum()), float(r.sum())
    if n <= 0 or nr <= 0:
        return {"tv": math.nan, "p_cal": math.nan, "material": 0.0}
    rr = np.concatenate([r, np.zeros(c.size - r.size)])
    tv = 0.5 * float(np.abs(c / n - rr / nr).sum())
    pr, pc, pe = pooled_cells(r, c)
    stat = float(np.sum((pc - pe) ** 2 / pe)) if pe.size >= 2 else 0.0
    df = max(pe.size - 1, 0)
    p = chi_square_pvalue_calibrated(stat, df, nr, n)
    if df > 0 and needs_mc(p, pe):
        p = chi_square_pvalue_mc(pr, pc)
    material = tv >= settings.floor("tv")
    out = {"tv": tv, "chi2_pooled": stat, "chi2_df": float(df)}
    if cal.singletons is not None and cal.vocab_rows:
        if win.ref.sample_tau is None:
            k, n_present = float(c[known + 1 :].sum()), float(win.n)
        else:
            k, n_present = float(win.sampled_unseen), float(win.sampled_rows)
        pu = unseen_pvalue(k, n_present, cal.vocab_rows, cal.singletons)
        excess = k / n_present - cal.singletons / cal.vocab_rows if n_present else math.nan
        out.update(unseen_excess=excess, p_unseen=pu)
        if not math.isnan(pu) and n_present > 0:
            unseen_sig = pu < p and excess >= settings.floor("unseen_excess")
            att = unseen_attainable(min(p, pu), n_present, cal.vocab_rows, cal.singletons)
            p = combine_with_unseen(p, pu, att)
            material = material or unseen_sig
    out.update(p_cal=p, material=float(material))
    return out
