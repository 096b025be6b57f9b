"""Per-feature summaries of a signature: numeric moments + quantile sketch, categorical counts.

Numeric features keep count, missing count (NaN, ±inf, None), the central moment sums
``M_p = Σ (x - mean)^p`` for p = 2, 3, 4 (merged with the Chan / Pébay pairwise formulas), min,
max and a :class:`~driftline.drift.sketch.QuantileSketch`. Categorical features keep counts of at
most ``max_categories`` categories; the rest is folded into ``"__other__"`` (ties broken by
label so the result is deterministic). Both merge exactly and serialise to a JSON header (plus
the sketch's bytes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.drift.fixed_sum import central_sums
from driftline.drift.sketch import LabelSample, QuantileSketch

OTHER = "__other__"
DEFAULT_MAX_CATEGORIES = 256


# --------------------------------------------------------------------------- numeric
@dataclass
class NumericSummary:
    """Moments, range, missing count and quantile sketch of one numeric feature."""

    count: int = 0
    missing: int = 0
    mean: float = 0.0
    m2: float = 0.0
    m3: float = 0.0
    m4: float = 0.0
    min: float = math.inf
    max: float = -math.inf
    sketch: QuantileSketch = field(default_factory=QuantileSketch)

    kind = "numeric"

    @property
    def total(self) -> int:
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.total if self.total else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance ``M2 / (n - 1)`` (NaN for n < 2)."""
        return self.m2 / (self.count - 1) if self.count > 1 else math.nan

    @property
    def std(self) -> float:
        return math.sqrt(self.variance) if self.count > 1 else math.nan

    @property
    def skewness(self) -> float:
        """Biased sample skewness ``g1 = sqrt(n) M3 / M2^1.5`` (as ``scipy.stats.skew``)."""
        if self.count < 2 or self.m2 <= 0:
            return math.nan
        return float(math.sqrt(self.count) * self.m3 / self.m2**1.5)

    @property
    def kurtosis(self) -> float:
        """Biased excess kurtosis ``g2 = n M4 / M2^2 - 3`` (as ``scipy.stats.kurtosis``)."""
        if self.count < 2 or self.m2 <= 0:
            return math.nan
        return self.count * self.m4 / self.m2**2 - 3.0

    def update(self, values: np.ndarray) -> NumericSummary:
        """Add values (non-finite = missing) in place; returns ``self``."""
        x = np.asarray(values, dtype=np.float64)
        fin = np.isfinite(x)
        nf = int(fin.sum())
        self.missing += int(x.size - nf)
        if nf == 0:
            return self
        if nf != x.size:
            x = x[fin]
        # fixed-order sums: the same bits in any process, alignment or thread count
        mean, m2, m3, m4 = central_sums(x)
        other = NumericSummary(
            count=nf, mean=mean, m2=m2, m3=m3, m4=m4, min=float(x.min()), max=float(x.max())
        )
        self._absorb_moments(other)
        self.sketch.update(x)
        return self

    def _absorb_moments(self, b: NumericSummary) -> None:
        na, nb = self.count, b.count
        if nb == 0:
            return
        if na == 0:
            self.count, self.mean, self.m2, self.m3, self.m4 = nb, b.mean, b.m2, b.m3, b.m4
            self.min, self.max = b.min, b.max
            return
        n = na + nb
        delta = b.mean - self.mean
        d_n = delta / n
        m2 = self.m2 + b.m2 + delta * d_n * na * nb
        m3 = (
            self.m3
            + b.m3
            + delta * d_n * d_n * na * nb * (na - nb)
            + 3.0 * d_n * (na * b.m2 - nb * self.m2)
        )
        m4 = (
            self.m4
            + b.m4
            + delta * d_n**3 * na * nb * (na * na - na * nb + nb * nb)
            + 6.0 * d_n * d_n * (na * na * b.m2 + nb * nb * self.m2)
            + 4.0 * d_n * (na * b.m3 - nb * self.m3)
        )
        self.mean = self.mean + nb * d_n
        self.count, self.m2, self.m3, self.m4 = n, m2, m3, m4
        self.min, self.max = min(self.min, b.min), max(self.max, b.max)

    def merge(self, other: NumericSummary) -> NumericSummary:
        out = NumericSummary(
            count=self.count,
            missing=self.missing + other.missing,
            mean=self.mean,
            m2=self.m2,
            m3=self.m3,
            m4=self.m4,
            min=self.min,
            max=self.max,
            sketch=self.sketch.merge(other.sketch),
        )
        out._absorb_moments(other)
        return out

    def header(self) -> dict[str, Any]:
        return {
            "kind": "numeric",
            "count": self.count,
            "missing": self.missing,
            "mean": _f(self.mean),
            "m2": _f(self.m2),
            "m3": _f(self.m3),
            "m4": _f(self.m4),
            "min": _f(self.min),
            "max": _f(self.max),
        }

    @classmethod
    def from_header(cls, h: Mapping[str, Any], sketch: QuantileSketch) -> NumericSummary:
        return cls(
            count=int(h["count"]),
            missing=int(h["missing"]),
            mean=_uf(h["mean"]),
            m2=_uf(h["m2"]),
            m3=_uf(h["m3"]),
            m4=_uf(h["m4"]),
            min=_uf(h["min"]),
            max=_uf(h["max"]),
            sketch=sketch,
        )


def _f(x: float) -> float | str:
    """JSON-safe float (inf / nan as strings so the header stays standard JSON)."""
    x = float(x)
    return x if math.isfinite(x) else repr(x)


def _uf(x: float | str) -> float:
    return float(x)


# --------------------------------------------------------------------------- categorical
@dataclass
class CategoricalSummary:
    """Category counts (capped, rest in ``"__other__"``) and missing count."""

    counts: dict[str, int] = field(default_factory=dict)
    missing: int = 0
    max_categories: int = DEFAULT_MAX_CATEGORIES
    #: hash sample of the vocabulary (Good–Turing unseen mass); None in pre-sample signatures
    sample: LabelSample | None = field(default_factory=LabelSample)

    kind = "categorical"

    @property
    def count(self) -> int:
        return int(sum(self.counts.values()))

    @property
    def total(self) -> int:
        return self.count + self.missing

    @property
    def missing_rate(self) -> float:
        return self.missing / self.total if self.total else 0.0

    def update(self, values: np.ndarray) -> CategoricalSummary:
        """Add labels (None = missing) in place; returns ``self``."""
        arr = np.asarray(values, dtype=object)
        miss = np.fromiter((v is None for v in arr), dtype=bool, count=arr.size)
        self.missing += int(miss.sum())
        if miss.all():
            return self
        labels, cnt = np.unique(arr[~miss].astype(str), return_counts=True)
        for lab, c in zip(labels.tolist(), cnt.tolist(), strict=True):
            self.counts[lab] = self.counts.get(lab, 0) + int(c)
        if self.sample is not None:
            self.sample.update(labels.tolist(), cnt.tolist())
        self._cap()
        return self

    def _cap(self) -> None:
        if len(self.counts) <= self.max_categories:
            return
        other = self.counts.pop(OTHER, 0)
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        keep = ranked[: self.max_categories - 1]
        other += sum(c for _, c in ranked[self.max_categories - 1 :])
        self.counts = dict(keep)
        self.counts[OTHER] = other

    def merge(self, other: CategoricalSummary) -> CategoricalSummary:
        counts = dict(self.counts)
        for k, c in other.counts.items():
            counts[k] = counts.get(k, 0) + c
        sample = (
            self.sample.merge(other.sample)
            if self.sample is not None and other.sample is not None
            else None
        )
        out = CategoricalSummary(
            counts,
            self.missing + other.missing,
            max(self.max_categories, other.max_categories),
            sample,
        )
        out._cap()
        return out

    def header(self) -> dict[str, Any]:
        h = {
            "kind": "categorical",
            "missing": self.missing,
            "max_categories": self.max_categories,
            "counts": {k: self.counts[k] for k in sorted(self.counts)},
        }
        if self.sample is not None:
            h["sample"] = self.sample.to_dict()
        return h

    @classmethod
    def from_header(cls, h: Mapping[str, Any]) -> CategoricalSummary:
        sample = LabelSample.from_dict(h["sample"]) if "sample" in h else None
        return cls(
            {str(k): int(v) for k, v in h["counts"].items()},
            int(h["missing"]),
            int(h["max_categories"]),
            sample,
        )


FeatureSummary = NumericSummary | CategoricalSummary


def summary_headers(
    summaries: Mapping[str, FeatureSummary], blobs: list[bytes]
) -> list[dict[str, Any]]:
    """Header entries of summaries; numeric sketches' bytes are appended to ``blobs``."""
    out = []
    for name, f in summaries.items():
        h = f.header()
        h["name"] = name
        if isinstance(f, NumericSummary):
            b = f.sketch.to_bytes()
            h["sketch_bytes"] = len(b)
            blobs.append(b)
        out.append(h)
    return out


def summaries_from_bytes(
    headers: list[Mapping[str, Any]], data: bytes, p: int
) -> tuple[dict[str, FeatureSummary], int]:
    out: dict[str, FeatureSummary] = {}
    for h in headers:
        if h["kind"] == "numeric":
            nb = int(h["sketch_bytes"])
            out[h["name"]] = NumericSummary.from_header(
                h, QuantileSketch.from_bytes(data[p : p + nb])
            )
            p += nb
        else:
            out[h["name"]] = CategoricalSummary.from_header(h)
    return out, p


def merge_summaries(
    a: Mapping[str, FeatureSummary], b: Mapping[str, FeatureSummary]
) -> dict[str, FeatureSummary]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out[k].merge(v) if k in out and out[k].kind == v.kind else v  # type: ignore[arg-type]
    return out
