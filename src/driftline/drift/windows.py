"""Per-feature window state: a reference prepared from a signature summary, and the window that
accumulates a stream's values against it in O(sketch points) memory.

KS window state: the reference CDF F̂ is a step function jumping only at the sketch points
``v_j``; the window keeps ``#{x <= v_j}`` and ``#{x < v_j}``, so the sup over each gap is
attained at its ends and the window KS against F̂ is exact up to the sketch's rank error.
Wasserstein state adds the sums of values below each ``v_j``. The formulas are in
:mod:`driftline.drift.metrics`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from driftline.drift.grid import GridIndex, grid_for
from driftline.drift.metrics import (
    DEFAULT_PSI_BINS,
    IQR_TO_SIGMA,
    bin_counts_from_cdf,
    chi_square,
    js_distance,
    kl_divergence,
    ks_pvalue,
    ks_statistic,
    missing_rate_change,
    psi,
)
from driftline.drift.summaries import OTHER, CategoricalSummary, NumericSummary


# --------------------------------------------------------------------------- numeric state
@dataclass
class NumericReference:
    """A numeric feature's reference, prepared for fast window comparison."""

    points: np.ndarray  # sorted unique sketch points v_j
    cdf: np.ndarray  # F̂(v_j)
    count: float  # finite values in the reference
    missing: float
    mean: float
    std: float
    scale: float  # Wasserstein / mean-shift spread s
    shift: float  # reference median: values are centred on it before summing
    psi_idx: np.ndarray  # indices into points of the PSI edges
    psi_ref: np.ndarray  # reference counts per PSI bin
    rank_error: float
    #: bucket table locating batch values on ``points`` without sorting (None: sort instead)
    grid: GridIndex | None = None

    kind = "numeric"

    @classmethod
    def from_summary(cls, s: NumericSummary, psi_bins: int = DEFAULT_PSI_BINS) -> NumericReference:
        sk = s.sketch.compressed()
        v, w = sk.points()
        n = float(w.sum())
        cdf = np.cumsum(w) / n if n else np.empty(0)
        if n:
            q = sk.quantiles(np.arange(1, psi_bins) / psi_bins)
            idx = np.unique(np.searchsorted(v, q))
            q25, med, q75 = sk.quantiles([0.25, 0.5, 0.75])
            iqr = (q75 - q25) / IQR_TO_SIGMA
            std = s.std if s.count > 1 else 0.0
            scale = iqr if iqr > 0 else (std if std > 0 else 1.0)
            psi_ref = bin_counts_from_cdf(np.cumsum(w)[idx], n)
        else:
            idx, med, scale, std = np.empty(0, np.int64), 0.0, 1.0, math.nan
            psi_ref = np.empty(0)
        return cls(
            v.copy(),
            cdf,
            n,
            float(s.missing),
            s.mean if s.count else math.nan,
            std,
            float(scale),
            float(med),
            idx,
            psi_ref,
            sk.rank_error,
            grid_for(v),
        )

    @property
    def psi_edges(self) -> np.ndarray:
        return self.points[self.psi_idx]

    @property
    def nbytes(self) -> int:
        """Bytes of the sketch points, CDF and PSI bins (the lookup grid, a cache, excluded)."""
        return self.points.nbytes + self.cdf.nbytes + self.psi_idx.nbytes + self.psi_ref.nbytes


class NumericWindow:
    """Window state of one numeric feature: O(sketch points) memory, any number of rows."""

    __slots__ = ("ref", "n", "missing", "le", "lt", "sle", "slt", "s1", "s2")

    def __init__(self, ref: NumericReference) -> None:
        m = ref.points.size
        self.ref = ref
        self.n = 0
        self.missing = 0
        self.le = np.zeros(m, np.int64)
        self.lt = np.zeros(m, np.int64)
        self.sle = np.zeros(m)
        self.slt = np.zeros(m)
        self.s1 = 0.0
        self.s2 = 0.0

    @property
    def nbytes(self) -> int:
        """Bytes of the window's count and sum arrays: 2 × 16 bytes per sketch point."""
        return self.le.nbytes + self.lt.nbytes + self.sle.nbytes + self.slt.nbytes

    def add(self, x: np.ndarray, *, inplace: bool = False) -> None:
        """Add raw values (non-finite = missing). Cost: O(n) on the reference's bucket grid
        (:mod:`driftline.drift.grid`), else one sort + O(points · log n).

        ``inplace=True`` lets the window sort ``x`` itself (the caller's buffer is reordered).
        """
        if self.ref.grid is not None:
            self._add_on_grid(x, self.ref.grid)
            return
        if inplace and x.dtype == np.float64 and x.flags.c_contiguous and x.flags.writeable:
            x.sort()
            xs = x
        else:
            xs = np.sort(x)  # -inf first, NaN last
        lo = int(np.searchsorted(xs, -np.inf, side="right"))
        hi = int(np.searchsorted(xs, np.inf, side="left"))
        self.missing += xs.size - (hi - lo)
        xf = xs[lo:hi]
        n = xf.size
        if n == 0:
            return
        v = self.ref.points
        lt = np.searchsorted(xf, v, side="left")
        le = lt.copy()
        eq = xf[np.minimum(lt, n - 1)] == v  # only values equal to a point need 'right'
        if eq.any():
            le[eq] = np.searchsorted(xf, v[eq], side="right")
        # a trailing 0 makes index n valid for reduceat: a segment ending at n keeps d[n-1]
        d = np.empty(n + 1)
        np.subtract(xf, self.ref.shift, out=d[:n])
        d[n] = 0.0
        # prefix sums at every lt_j / le_j via one segmented reduction (no full cumsum)
        m = v.size
        b = np.empty(2 * m + 1, np.int64)
        b[0] = 0
        b[1::2] = lt
        b[2::2] = le
        seg = np.add.reduceat(d, b)
        valid = np.empty(2 * m + 1, dtype=bool)
        np.greater(b[1:], b[:-1], out=valid[:-1])
        valid[-1] = b[-1] < n
        pref = np.cumsum(np.where(valid, seg, 0.0))
        self.le += le
        self.lt += lt
        self.slt += pref[0 : 2 * m : 2]
        self.sle += pref[1 : 2 * m : 2]
        self.n += n
        self.s1 += float(pref[-1])
        self.s2 += float(np.einsum("i,i->", d[:n], d[:n]))

    def _add_on_grid(self, x: np.ndarray, grid: GridIndex) -> None:
        """Counts and sums per point from bucketed insertion indices (no sort)."""
        fin = np.isfinite(x)
        xf = x if fin.all() else x[fin]
        n = xf.size
        self.missing += x.size - n
        if n == 0:
            return
        m = self.ref.points.size
        r, eq = grid.locate(xf)
        d = np.subtract(xf, self.ref.shift)
        lt = np.cumsum(np.bincount(r, minlength=m + 1)[:m])
        slt = np.cumsum(np.bincount(r, weights=d, minlength=m + 1)[:m])
        self.lt += lt
        self.slt += slt
        if eq.any():  # a value equal to v_j counts in le_j but not lt_j: le = lt + ties at j
            at = r[eq] - 1
            lt += np.bincount(at, minlength=m)
            slt += np.bincount(at, weights=d[eq], minlength=m)
        self.le += lt
        self.sle += slt
        self.n += n
        self.s1 += float(d.sum())
        self.s2 += float(np.einsum("i,i->", d, d))

    def absorb(self, other: NumericWindow) -> None:
        """Add another window's state (same reference) into this one."""
        self.n += other.n
        self.missing += other.missing
        self.le += other.le
        self.lt += other.lt
        self.sle += other.sle
        self.slt += other.slt
        self.s1 += other.s1
        self.s2 += other.s2

    def wasserstein_abs(self) -> float:
        """∫ |F̂_ref − F_cur| dx (unscaled), see module docstring."""
        ref, n = self.ref, float(self.n)
        v = ref.points - ref.shift
        a_le, a_lt = self.le / n, self.lt / n
        total = a_lt[0] * v[0] - self.slt[0] / n  # left tail, F_ref = 0
        total += (self.s1 - self.sle[-1]) / n - (1.0 - a_le[-1]) * v[-1]  # right tail, F_ref = 1
        if v.size > 1:
            L, R = v[:-1], v[1:]
            w = R - L
            a, b = a_le[:-1], a_lt[1:]
            r = ref.cdf[:-1]
            s = (self.slt[1:] - self.sle[:-1]) / n
            integ = R * b - L * a - s  # ∫ F_cur over the gap
            above = r <= a
            below = r >= b
            cross = ~(above | below)
            part = np.where(above, integ - r * w, r * w - integ)
            if cross.any():
                aa, bb, rr, ww = a[cross], b[cross], r[cross], w[cross]
                part[cross] = ww * ((rr - aa) ** 2 + (bb - rr) ** 2) / (2.0 * (bb - aa))
            total += float(np.sum(np.maximum(part, 0.0)))
        return float(max(total, 0.0))

    def metrics(self) -> dict[str, float]:
        """All numeric metrics of this window against the reference."""
        ref = self.ref
        out: dict[str, float] = {
            "n": float(self.n),
            "missing": float(self.missing),
            "missing_change": missing_rate_change(
                ref.missing, ref.count + ref.missing, self.missing, self.n + self.missing
            ),
        }
        nan = math.nan
        if self.n == 0 or ref.count == 0:
            out.update(
                psi=nan,
                kl=nan,
                js=nan,
                ks=nan,
                ks_p=nan,
                wasserstein=nan,
                mean=nan,
                std=nan,
                mean_shift=nan,
            )
            return out
        n = float(self.n)
        cur_bins = bin_counts_from_cdf(self.le[ref.psi_idx], n)
        d = ks_statistic(ref.cdf, self.le / n, self.lt / n)
        mean_c = self.s1 / n
        var_c = max(self.s2 / n - mean_c * mean_c, 0.0) * (n / (n - 1)) if n > 1 else nan
        out.update(
            psi=psi(ref.psi_ref, cur_bins),
            kl=kl_divergence(cur_bins, ref.psi_ref),
            js=js_distance(ref.psi_ref, cur_bins),
            ks=d,
            ks_p=ks_pvalue(d, ref.count, n),
            wasserstein=self.wasserstein_abs() / ref.scale,
            mean=mean_c + ref.shift,
            std=math.sqrt(var_c) if n > 1 else nan,
            mean_shift=(mean_c + ref.shift - ref.mean) / ref.scale,
        )
        return out


# --------------------------------------------------------------------------- categorical state
@dataclass
class CategoricalReference:
    """A categorical feature's reference counts (``"__other__"`` absorbs unknown labels)."""

    counts: dict[str, int]
    missing: float
    #: vocabulary hash sample (labels with hash < tau) when the counts are capped, else None
    sample_tau: float | None = None
    sample_counts: dict[str, int] = field(default_factory=dict)

    kind = "categorical"

    @classmethod
    def from_summary(cls, s: CategoricalSummary) -> CategoricalReference:
        if OTHER in s.counts and s.sample is not None:
            return cls(dict(s.counts), float(s.missing), s.sample.tau, dict(s.sample.counts))
        return cls(dict(s.counts), float(s.missing))

    @property
    def count(self) -> float:
        return float(sum(self.counts.values()))

    @property
    def has_other(self) -> bool:
        return self.counts.get(OTHER, 0) > 0


class CategoricalWindow:
    """Window state of one categorical feature: label counts and missing count."""

    __slots__ = ("ref", "counts", "missing", "sampled_rows", "sampled_unseen", "sampled_counts")

    def __init__(self, ref: CategoricalReference) -> None:
        self.ref = ref
        self.counts: dict[str, int] = {}
        self.missing = 0
        self.sampled_rows = 0  # rows whose label hash < ref.sample_tau
        self.sampled_unseen = 0  # ... of which the label is not in the reference's sample
        self.sampled_counts: dict[str, int] = {}  # ... of which the label is in it, per label

    @property
    def n(self) -> int:
        return int(sum(self.counts.values()))

    def add(self, x: np.ndarray) -> None:
        arr = np.asarray(x, dtype=object)
        miss = np.fromiter((v is None for v in arr), dtype=bool, count=arr.size)
        nm = int(miss.sum())
        self.missing += nm
        if nm == arr.size:
            return
        labels, cnt = np.unique(arr[~miss].astype(str), return_counts=True)
        known = self.ref.counts
        fold = self.ref.has_other
        labs, cs = labels.tolist(), cnt.tolist()
        for lab, c in zip(labs, cs, strict=True):
            key = lab if (lab in known or not fold) else OTHER
            self.counts[key] = self.counts.get(key, 0) + int(c)
        if self.ref.sample_tau is not None:
            from driftline.drift.sketch import label_hashes

            inside = label_hashes(labs) < self.ref.sample_tau
            seen, sc = self.ref.sample_counts, self.sampled_counts
            for lab, c, ok in zip(labs, cs, inside.tolist(), strict=True):
                if not ok:
                    continue
                self.sampled_rows += int(c)
                if lab in seen:
                    sc[lab] = sc.get(lab, 0) + int(c)
                else:
                    self.sampled_unseen += int(c)

    def absorb(self, other: CategoricalWindow) -> None:
        self.missing += other.missing
        self.sampled_rows += other.sampled_rows
        self.sampled_unseen += other.sampled_unseen
        for k, c in other.sampled_counts.items():
            self.sampled_counts[k] = self.sampled_counts.get(k, 0) + c
        for k, c in other.counts.items():
            self.counts[k] = self.counts.get(k, 0) + c

    def cells(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Labels (reference ones, then unseen in first-seen order) and both count vectors."""
        labels = list(self.ref.counts) + [k for k in self.counts if k not in self.ref.counts]
        r = np.array([self.ref.counts.get(k, 0) for k in labels], dtype=np.float64)
        c = np.array([self.counts.get(k, 0) for k in labels], dtype=np.float64)
        return labels, r, c

    def metrics(self) -> dict[str, float]:
        """PSI / KL / JS over category cells, chi-square, missing change, unseen share."""
        ref = self.ref
        n = self.n
        out: dict[str, float] = {
            "n": float(n),
            "missing": float(self.missing),
            "missing_change": missing_rate_change(
                ref.missing, ref.count + ref.missing, self.missing, n + self.missing
            ),
        }
        nan = math.nan
        if n == 0 or ref.count == 0:
            out.update(psi=nan, kl=nan, js=nan, chi2=nan, chi2_p=nan, unseen=nan)
            return out
        labels, r, c = self.cells()
        stat, p = chi_square(r, c)
        unseen = sum(self.counts[k] for k in labels if k not in ref.counts) / n
        out.update(
            psi=psi(r, c),
            kl=kl_divergence(c, r),
            js=js_distance(r, c),
            chi2=stat,
            chi2_p=p,
            unseen=float(unseen),
        )
        return out


FeatureReference = NumericReference | CategoricalReference
FeatureWindow = NumericWindow | CategoricalWindow


def prepare_reference(
    summary: NumericSummary | CategoricalSummary, psi_bins: int = DEFAULT_PSI_BINS
) -> FeatureReference:
    """Prepare a signature feature for window comparison."""
    if isinstance(summary, NumericSummary):
        return NumericReference.from_summary(summary, psi_bins)
    return CategoricalReference.from_summary(summary)


def new_window(ref: FeatureReference) -> FeatureWindow:
    return NumericWindow(ref) if isinstance(ref, NumericReference) else CategoricalWindow(ref)


def feature_metrics(
    summary: NumericSummary | CategoricalSummary,
    values: np.ndarray,
    psi_bins: int = DEFAULT_PSI_BINS,
) -> dict[str, float]:
    """Every metric of one feature: reference summary vs current raw values (one shot)."""
    w = new_window(prepare_reference(summary, psi_bins))
    w.add(values)
    return w.metrics()
