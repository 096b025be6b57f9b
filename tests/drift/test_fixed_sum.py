"""Fixed-order sums: the same bits at every memory offset, close to the exact sum."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from driftline.drift.fixed_sum import LANES, central_sums, fixed_sum


@pytest.mark.parametrize("n", [7, 2 * LANES - 1, 2 * LANES, 50_001])
def test_same_bits_at_any_alignment_and_close_to_fsum(n):
    x = np.random.default_rng(n).standard_t(3, n) * 1e3
    results = set()
    for off in range(8):  # the same values at 8 different byte offsets (8-byte steps)
        buf = np.empty(n + 8)
        y = buf[off : off + n]
        y[:] = x
        results.add(fixed_sum(y))
        results.add(central_sums(y))
    assert len(results) == 2 and fixed_sum(np.empty(0)) == 0.0
    exact = math.fsum(x.tolist())
    assert abs(fixed_sum(x) - exact) <= (n // LANES + 1) * 2.3e-16 * float(np.abs(x).sum())


def test_central_sums_give_scipy_moments():
    x = np.random.default_rng(1).gamma(2.0, 3.0, 30_000)
    mean, m2, m3, m4 = central_sums(x)
    n = x.size
    assert mean == pytest.approx(x.mean(), rel=1e-14)
    assert m2 / n == pytest.approx(np.var(x), rel=1e-12)
    assert math.sqrt(n) * m3 / m2**1.5 == pytest.approx(stats.skew(x), rel=1e-10)
    assert n * m4 / m2**2 - 3 == pytest.approx(stats.kurtosis(x), rel=1e-10)
