"""Locate unsorted values on a reference's fixed grid of sketch points without sorting them.

A window needs, per batch, ``lt_j = #{x < v_j}``, ``le_j = #{x <= v_j}`` and the matching sums of
values over the fixed sorted points ``v_0 < … < v_{m−1}`` of the reference sketch. With
``r(x) = #{j : v_j <= x}`` (the insertion index on the right) and ``l(x) = r(x) − [x ∈ v]``:

    lt_j = #{x : r(x) <= j},   le_j = #{x : l(x) <= j}

so one bucketed count per point plus a cumulative sum replaces the sort (O(n log n)).
``r(x)`` is found in O(1) expected time: a uniform table of ``K`` buckets over ``[v_0, v_{m−1}]``
gives a lower bound (the points at or below the bucket's previous edge), then a vectorised
"step while ``v_r <= x``" loop runs at most the largest number of points in two adjacent buckets.
The loop runs until no value moves, so the result is exact for any input; when the points are
too uneven for the table (heavy tails: many points share a bucket), :func:`grid_for` returns
``None`` and callers sort instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: bucket tables larger than this many points in two adjacent buckets fall back to sorting
MAX_STEPS = 6
BUCKETS_PER_POINT = 8
MIN_POINTS = 16


@dataclass(frozen=True)
class GridIndex:
    """Bucket table over sorted points ``v`` (see the module docstring)."""

    lo: float
    inv_width: float
    start: np.ndarray  # start[b] = #{v_j <= lo + (b − 1) · width}  (a lower bound of r)
    padded: np.ndarray  # v followed by +inf, so the step loop stops at r = m
    left: np.ndarray  # −inf followed by v: left[r] = v_{r−1}

    def locate(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(r, eq)`` of finite values ``x``: ``r`` = points ``<= x``, ``eq`` = x is a point
        (then ``l = r − 1`` points are ``< x``)."""
        k = self.start.size
        t = np.subtract(x, self.lo)
        np.multiply(t, self.inv_width, out=t)
        np.clip(t, 0.0, k - 1, out=t)
        r = self.start[t.astype(np.intp)]
        step = self.padded[r] <= x
        while step.any():
            r += step
            step = self.padded[r] <= x
        return r, self.left[r] == x


def grid_for(points: np.ndarray) -> GridIndex | None:
    """A :class:`GridIndex` for sorted unique ``points``, or None when sorting is cheaper."""
    v = np.asarray(points, dtype=np.float64)
    m = v.size
    if m < MIN_POINTS or not (np.isfinite(v[0]) and np.isfinite(v[-1])) or v[-1] <= v[0]:
        return None
    k = BUCKETS_PER_POINT * m
    width = (float(v[-1]) - float(v[0])) / k
    edges = float(v[0]) + (np.arange(k + 1) - 1.0) * width
    below = np.searchsorted(v, edges, side="right")
    start = below[:k].astype(np.intp)
    # most steps a bucket needs: points in (edge_{b−1}, edge_{b+1}] plus rounding slack
    upper = np.append(below, m)[2 : k + 2]
    if int(np.max(upper - start)) > MAX_STEPS:
        return None
    return GridIndex(
        float(v[0]), 1.0 / width, start, np.append(v, np.inf), np.concatenate([[-np.inf], v])
    )
