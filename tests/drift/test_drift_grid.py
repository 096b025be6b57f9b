"""The bucket-grid window update equals the sorted one and a direct count on the raw values."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from driftline.drift import Signature
from driftline.drift.grid import grid_for
from driftline.drift.windows import NumericReference, NumericWindow


def _ref(values: np.ndarray) -> NumericReference:
    sig = Signature.from_data(values.reshape(-1, 1))
    return NumericReference.from_summary(sig.features["f0"])


def _batch(rng: np.random.Generator, ref: NumericReference) -> np.ndarray:
    v = ref.points
    x = np.concatenate(
        [
            rng.normal(0.3, 1.5, 3000),  # mostly inside the grid
            rng.choice(v, 500),  # exact ties with the points
            [v[0], v[-1], v[0] - 1e9, v[-1] + 1e9, -1e300, 1e300],  # edges and far outside
            [np.nan, np.inf, -np.inf],  # missing
        ]
    )
    rng.shuffle(x)
    return x


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_update_equals_sorted_update_and_direct_counts(seed):
    rng = np.random.default_rng(seed)
    ref = _ref(rng.normal(size=20_000))
    assert ref.grid is not None
    x = _batch(rng, ref)
    fast, slow = NumericWindow(ref), NumericWindow(dataclasses.replace(ref, grid=None))
    fast.add(x[:2000])
    fast.add(x[2000:])
    slow.add(x.copy())
    fin = x[np.isfinite(x)]
    v = ref.points
    direct_lt = (fin[None, :] < v[:, None]).sum(axis=1)
    direct_le = (fin[None, :] <= v[:, None]).sum(axis=1)
    direct_sle = np.where(fin[None, :] <= v[:, None], fin - ref.shift, 0.0).sum(axis=1)
    np.testing.assert_array_equal(fast.lt, direct_lt)
    np.testing.assert_array_equal(fast.le, direct_le)
    np.testing.assert_array_equal(slow.le, direct_le)
    assert fast.n == slow.n == fin.size and fast.missing == slow.missing == 3
    scale = np.abs(fin - ref.shift).sum()
    np.testing.assert_allclose(fast.sle, direct_sle, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(fast.slt, slow.slt, rtol=0, atol=1e-12 * scale)
    assert fast.s1 == pytest.approx(slow.s1, abs=1e-12 * scale)
    fm, sm = fast.metrics(), slow.metrics()
    for k in ("psi", "ks", "kl", "js", "wasserstein"):
        assert fm[k] == pytest.approx(sm[k], rel=1e-9, abs=1e-12)


def test_grid_refused_for_uneven_points_and_tiny_grids():
    rng = np.random.default_rng(3)
    heavy = rng.pareto(0.5, 50_000)  # points crowd near 0, a few huge: a uniform table is useless
    assert grid_for(_ref(heavy).points) is None
    assert grid_for(np.arange(5.0)) is None
    assert grid_for(np.linspace(0, 1, 100)) is not None
