"""Mergeable quantile summary of one numeric feature.

The summary is a multiset of weighted points ``(v_i, w_i)``; its CDF is the step function
``F̂(x) = Σ_{v_i <= x} w_i / N``. It is built in two tiers:

* **Compactor levels** (while building, in memory). Level ``h`` holds values of weight ``2^h``.
  When a level holds more than ``level_capacity`` values it is sorted, its ``capacity / 32``
  smallest and largest values stay, and every other value of the middle (alternating offset)
  moves up a level; so the global 256 smallest and largest values are kept exactly (heavy tails
  matter for Wasserstein). One compaction changes the rank of any ``x`` by at most ``2^h``; the
  sketch adds exactly that to its absolute error budget ``rank_error_abs``. A compaction at level
  ``h`` consumes more than ``0.9 · capacity`` values of weight ``2^h``, so there are at most
  ``N / (0.9 · capacity · 2^h)`` of them and ``rank_error <= H / (0.9 · capacity)`` with
  ``H = ⌈log2(N / capacity)⌉ + 1`` levels (``capacity = 8192``: <= 0.0025 for N up to 10^9;
  typical errors are far smaller because alternating offsets cancel).
* **Compressed points** (what is serialised, at most ``k = 2048`` points, <= 32 KB). Points are
  grouped by rank with a scale function that makes groups smaller in the tails (t-digest-like
  ``S(q) = q/2 + (asin(2q-1)/π + 1/2)/2``; the 64 extreme points per side stay single) and every
  group is replaced by its weighted median with the group's total weight. Mass moves across any
  ``x`` only inside the one group that straddles it and by at most half the group, so one
  compression adds at most ``0.62 N / (k - 128)`` (about 0.0003 N for ``k = 2048``) to the
  budget; the exact amount is added.

Guarantee (tested): for every ``x``, ``|F̂(x) - F(x)| <= rank_error`` where ``F`` is the empirical
CDF of all values ever added, and ``rank_error = rank_error_abs / N``. Merging adds the absolute
budgets (so the relative bound of a merge is at most the larger of the two). Consequently a KS
statistic computed against ``F̂`` is within ``rank_error`` of the exact two-sample statistic.
"""

from __future__ import annotations

import json
import struct

import numpy as np

from driftline.errors import InvalidInputError

DEFAULT_K = 2048
DEFAULT_LEVEL_CAPACITY = 8192
TAIL_POINTS = 64  # the extreme 64 points on each side are never grouped
_MAGIC = b"DLQS1"


def _scale(q: np.ndarray) -> np.ndarray:
    q = np.clip(q, 0.0, 1.0)
    return 0.5 * q + 0.5 * (np.arcsin(2.0 * q - 1.0) / np.pi + 0.5)


class QuantileSketch:
    """Mergeable weighted-point quantile summary (see module docstring for the error bound)."""

    __slots__ = (
        "k",
        "level_capacity",
        "_levels",
        "_parity",
        "_pv",
        "_pw",
        "n",
        "rank_error_abs",
        "_cache",
    )

    def __init__(self, k: int = DEFAULT_K, level_capacity: int = DEFAULT_LEVEL_CAPACITY) -> None:
        if k < 16 or level_capacity < 16:
            raise InvalidInputError("sketch k and level_capacity must be >= 16")
        self.k = int(k)
        self.level_capacity = int(level_capacity)
        self._levels: list[np.ndarray] = []
        self._parity: list[int] = []
        self._pv = np.empty(0)
        self._pw = np.empty(0)
        self.n = 0.0
        self.rank_error_abs = 0.0
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    # ------------------------------------------------------------------ building
    @property
    def rank_error(self) -> float:
        """Guaranteed bound on ``sup_x |F̂(x) - F(x)|`` (fraction of N)."""
        return self.rank_error_abs / self.n if self.n else 0.0

    def update(self, values: np.ndarray) -> QuantileSketch:
        """Add values (non-finite ones are ignored). Returns ``self``."""
        x = np.asarray(values, dtype=np.float64).ravel()
        x = x[np.isfinite(x)]
        if x.size == 0:
            return self
        self._add_level(0, x)
        self.n += float(x.size)
        self._compact()
        self._cache = None
        return self

    def _add_level(self, h: int, x: np.ndarray) -> None:
        while len(self._levels) <= h:
            self._levels.append(np.empty(0))
            self._parity.append(0)
        lv = self._levels[h]
        self._levels[h] = x.copy() if lv.size == 0 else np.concatenate([lv, x])

    def _compact(self) -> None:
        h = 0
        while h < len(self._levels):
            lv = self._levels[h]
            if lv.size > self.level_capacity:
                s = np.sort(lv)
                t = self.level_capacity // 32  # extremes stay: the global top/bottom t are exact
                mid = s[t : s.size - t]
                m = mid.size - (mid.size % 2)
                off = self._parity[h]
                self._parity[h] ^= 1
                up = mid[off:m:2]
                self._levels[h] = np.concatenate([s[:t], mid[m:], s[s.size - t :]])
                self.rank_error_abs += float(2**h)
                self._add_level(h + 1, up)
            h += 1

    def merge(self, other: QuantileSketch) -> QuantileSketch:
        """Return a new sketch summarising both inputs (absolute error budgets add)."""
        out = QuantileSketch(max(self.k, other.k), max(self.level_capacity, other.level_capacity))
        for src in (self, other):
            for h, lv in enumerate(src._levels):
                if lv.size:
                    out._add_level(h, lv)
        for h in range(len(out._levels)):
            a = self._parity[h] if h < len(self._parity) else 0
            b = other._parity[h] if h < len(other._parity) else 0
            out._parity[h] = a ^ b
        out._pv = np.concatenate([self._pv, other._pv])
        out._pw = np.concatenate([self._pw, other._pw])
        out.n = self.n + other.n
        out.rank_error_abs = self.rank_error_abs + other.rank_error_abs
        out._compact()
        if out._pv.size > 4 * out.k:
            v, w = _unique_weighted(out._pv, out._pw)
            out._pv, out._pw, err = _compress(v, w, out.k)
            out.rank_error_abs += err
        return out

    # ------------------------------------------------------------------ reading
    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique values and their weights (all tiers combined)."""
        if self._cache is None:
            vs = [self._pv] + [lv for lv in self._levels]
            ws = [self._pw] + [np.full(lv.size, float(2**h)) for h, lv in enumerate(self._levels)]
            self._cache = _unique_weighted(np.concatenate(vs), np.concatenate(ws))
        return self._cache

    def compressed(self) -> QuantileSketch:
        """Points-only copy with at most ``k`` points (the serialised form; idempotent)."""
        v, w = self.points()
        out = QuantileSketch(self.k, self.level_capacity)
        out.n = self.n
        out.rank_error_abs = self.rank_error_abs
        if v.size > self.k:
            v, w, err = _compress(v, w, self.k)
            out.rank_error_abs += err
        out._pv, out._pw = v.copy(), w.copy()
        return out

    def cdf(self, x: np.ndarray | float) -> np.ndarray:
        """``F̂(x) = Σ_{v_i <= x} w_i / N`` (NaN if the sketch is empty)."""
        v, w = self.points()
        xq = np.asarray(x, dtype=np.float64)
        if self.n == 0:
            return np.full(xq.shape, np.nan)
        cw = np.concatenate([[0.0], np.cumsum(w)])
        return cw[np.searchsorted(v, xq, side="right")] / self.n

    def quantiles(self, qs: np.ndarray | list[float] | float) -> np.ndarray:
        """Lower quantiles: the smallest point ``v`` with ``F̂(v) >= q`` (NaN if empty)."""
        q = np.asarray(qs, dtype=np.float64)
        v, w = self.points()
        if self.n == 0:
            return np.full(q.shape, np.nan)
        cw = np.cumsum(w)
        idx = np.searchsorted(cw, np.clip(q, 0.0, 1.0) * self.n * (1 - 1e-12), side="left")
        return v[np.minimum(idx, v.size - 1)]

    # ------------------------------------------------------------------ serialisation
    def to_bytes(self) -> bytes:
        """Canonical bytes: magic, JSON header, then little-endian float64 values and weights."""
        c = self.compressed()
        head = json.dumps(
            {
                "k": c.k,
                "cap": c.level_capacity,
                "n": c.n,
                "err": c.rank_error_abs,
                "m": int(c._pv.size),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()
        return b"".join(
            [
                _MAGIC,
                struct.pack("<I", len(head)),
                head,
                c._pv.astype("<f8").tobytes(),
                c._pw.astype("<f8").tobytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> QuantileSketch:
        """Inverse of :meth:`to_bytes` (``to_bytes(from_bytes(b)) == b``)."""
        if not data.startswith(_MAGIC):
            raise InvalidInputError("not a driftline quantile sketch (bad magic bytes)")
        (hl,) = struct.unpack_from("<I", data, len(_MAGIC))
        p = len(_MAGIC) + 4
        head = json.loads(data[p : p + hl])
        p += hl
        m = int(head["m"])
        if len(data) != p + 16 * m:
            raise InvalidInputError("truncated or corrupt quantile sketch bytes")
        out = cls(int(head["k"]), int(head["cap"]))
        out._pv = np.frombuffer(data, "<f8", m, p).astype(np.float64)
        out._pw = np.frombuffer(data, "<f8", m, p + 8 * m).astype(np.float64)
        out.n = float(head["n"])
        out.rank_error_abs = float(head["err"])
        return out


def _unique_weighted(v: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if v.size == 0:
        return np.empty(0), np.empty(0)
    order = np.argsort(v, kind="stable")
    vs, ws = v[order], w[order]
    new = np.empty(vs.size, dtype=bool)
    new[0] = True
    np.not_equal(vs[1:], vs[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    return vs[starts], np.add.reduceat(ws, starts)


def _compress(v: np.ndarray, w: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Group sorted unique points by scaled rank; each group -> its weighted median.

    Returns the new points and the exact added rank error (absolute weight): the largest mass
    of any group lying strictly on one side of its representative.
    """
    n = float(w.sum())
    cw = np.cumsum(w)
    before = cw - w
    e = min(TAIL_POINTS, v.size // 4)
    kk = k - 2 * e
    g = np.minimum(np.floor(_scale(before / n) * kk), kk - 1).astype(np.int64) + e
    g[:e] = np.arange(e)
    g[v.size - e :] = np.arange(kk + e, k)
    g = np.maximum.accumulate(g)
    new = np.empty(g.size, dtype=bool)
    new[0] = True
    np.not_equal(g[1:], g[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    gw = np.add.reduceat(w, starts)
    gid = np.cumsum(new) - 1
    gstart = before[starts]
    c_incl = cw - gstart[gid]
    half = gw[gid] / 2.0
    is_med = (c_incl >= half) & (c_incl - w < half)
    # exactly one median per group; guard against rounding by taking the first per group
    med_idx = np.flatnonzero(is_med)
    first = np.ones(med_idx.size, dtype=bool)
    first[1:] = gid[med_idx[1:]] != gid[med_idx[:-1]]
    med_idx = med_idx[first]
    if med_idx.size != starts.size:  # pragma: no cover - numeric safety net
        med_idx = np.minimum(np.searchsorted(cw, gstart + gw / 2.0), v.size - 1)
    left = c_incl[med_idx] - w[med_idx]
    right = gw - c_incl[med_idx]
    err = float(np.max(np.maximum(left, right))) if starts.size else 0.0
    return v[med_idx].copy(), gw.astype(np.float64), err


# --------------------------------------------------------------------------- label sample
DEFAULT_SAMPLE_LABELS = 1024


def label_hashes(labels: list[str]) -> np.ndarray:
    """Stable hash of each label in ``[0, 1)``: CRC-32 of its UTF-8 bytes / 2³²."""
    import zlib

    return (
        np.fromiter(
            (zlib.crc32(s.encode("utf-8", "surrogatepass")) for s in labels),
            dtype=np.float64,
            count=len(labels),
        )
        / 4294967296.0
    )


class LabelSample:
    """Every label whose hash is below ``tau``, with its exact count (a "distinct sample").

    Labels are kept by hash, not by frequency, so the sample is an unbiased sample of the
    *vocabulary*: among sampled labels, the share of rows whose label occurs once estimates the
    Good–Turing unseen mass ``f₁ / N``, and a window row with a hash below ``tau`` whose label is
    not in the sample is certainly a label the training data never had. At most ``capacity``
    labels are kept (``tau`` shrinks to the smallest dropped hash). Merging unions the counts
    below the smaller ``tau``; the result equals the sample of the concatenated data.
    """

    __slots__ = ("capacity", "tau", "counts")

    def __init__(
        self,
        capacity: int = DEFAULT_SAMPLE_LABELS,
        tau: float = 1.0,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.capacity = int(capacity)
        self.tau = float(tau)
        self.counts: dict[str, int] = dict(counts or {})

    def update(self, labels: list[str], counts: list[int]) -> LabelSample:
        """Add unique labels with their counts (one batch); returns ``self``."""
        h = label_hashes(labels)
        for lab, c, hv in zip(labels, counts, h.tolist(), strict=True):
            if hv < self.tau:
                self.counts[lab] = self.counts.get(lab, 0) + int(c)
        self._cap()
        return self

    def _cap(self) -> None:
        if len(self.counts) <= self.capacity:
            return
        labs = list(self.counts)
        h = label_hashes(labs)
        order = np.argsort(h, kind="stable")
        self.tau = float(h[order[self.capacity]])
        self.counts = {
            labs[i]: self.counts[labs[i]] for i in order[: self.capacity] if h[i] < self.tau
        }

    def merge(self, other: LabelSample) -> LabelSample:
        tau = min(self.tau, other.tau)
        counts: dict[str, int] = {}
        for src in (self.counts, other.counts):
            for k, c in src.items():
                counts[k] = counts.get(k, 0) + c
        if tau < 1.0 and counts:
            labs = list(counts)
            keep = label_hashes(labs) < tau
            counts = {k: counts[k] for k, ok in zip(labs, keep.tolist(), strict=True) if ok}
        out = LabelSample(max(self.capacity, other.capacity), tau, counts)
        out._cap()
        return out

    @property
    def rows(self) -> int:
        """Rows of the summarised data whose label is sampled."""
        return int(sum(self.counts.values()))

    @property
    def singletons(self) -> int:
        """Sampled labels seen exactly once (Good–Turing ``f₁`` of the sample)."""
        return sum(1 for c in self.counts.values() if c == 1)

    def to_dict(self) -> dict[str, object]:
        return {
            "capacity": self.capacity,
            "tau": self.tau,
            "counts": {k: self.counts[k] for k in sorted(self.counts)},
        }

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> LabelSample:
        counts = d.get("counts") or {}
        assert isinstance(counts, dict)
        return cls(
            int(d.get("capacity", DEFAULT_SAMPLE_LABELS)),  # type: ignore[call-overload]
            float(d.get("tau", 1.0)),  # type: ignore[arg-type]
            {str(k): int(v) for k, v in counts.items()},
        )
