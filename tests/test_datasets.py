from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

from driftline.datasets import (
    mixed_regime_scenario,
    new_regime_scenario,
    recurring_drift_scenario,
    rotated_digits,
)
from driftline.errors import InvalidInputError


def test_rotated_digits_basic():
    X0, y0 = rotated_digits(0)
    d = load_digits()
    assert X0.shape == (1797, 64) and np.array_equal(y0, d.target)
    np.testing.assert_allclose(X0, d.data / 16.0)
    X45, _ = rotated_digits(45)
    assert X45.min() >= 0 and X45.max() <= 1
    assert np.abs(X45 - X0).mean() > 0.05
    Xa, ya = rotated_digits(20, n=50, seed=3)
    Xb, yb = rotated_digits(20, n=50, seed=3)
    assert Xa.shape == (50, 64) and np.array_equal(Xa, Xb) and np.array_equal(ya, yb)
    # 90° rotation of the 8×8 frame is exact: compare with numpy's rot90
    X90, _ = rotated_digits(90, indices=np.arange(5))
    np.testing.assert_allclose(
        X90.reshape(5, 8, 8), np.rot90(d.images[:5] / 16.0, axes=(1, 2)), atol=1e-12
    )


def test_recurring_scenario_splits_are_disjoint_and_shaped():
    sc = recurring_drift_scenario(seed=4)
    val, test, win = set(sc.validation.index), set(sc.test.index), set(sc.window.index)
    train = set(sc.current_train.index)
    assert not (val & test) and not (val & win) and not (test & win)
    assert not (train & (val | test | win))
    for reg in sc.regimes:
        assert set(reg.index) <= train
    assert len(train | val | test | win) == 1797
    assert len(sc.validation) <= 100
    assert [r.name for r in sc.regimes] == ["rot0", "rot20", "rot40", "rot60"]
    assert np.mean(sc.test.angles == 0) == pytest.approx(0.95, abs=0.01)
    assert set(np.unique(sc.test.angles)) == {0.0, 60.0}
    assert sc.healthy == ("rot0",)
    for reg in (*sc.regimes, sc.window, sc.validation, sc.test):
        assert reg.X.shape == (len(reg.y), 64)
        # every row is its digit rendered at its angle
        X, y = rotated_digits(float(reg.angles[0]), indices=reg.index[:1])
        assert np.array_equal(X[0], reg.X[0]) and y[0] == reg.y[0]


def test_scenarios_reproducible_and_seed_dependent():
    a, b, c = recurring_drift_scenario(1), recurring_drift_scenario(1), recurring_drift_scenario(2)
    assert np.array_equal(a.test.X, b.test.X) and np.array_equal(a.lineage[1].y, b.lineage[1].y)
    assert not np.array_equal(a.test.index, c.test.index)


def test_mixed_and_new_regime():
    m = mixed_regime_scenario(0, mix=0.7)
    assert np.mean(m.validation.angles == 0) == pytest.approx(0.7)
    n = new_regime_scenario(0, kind="invert")
    assert n.healthy == ()
    assert n.test.X.mean() > 0.6  # inverted: mostly bright
    r90 = new_regime_scenario(0, kind="rot90")
    assert set(np.unique(r90.test.angles)) == {90.0}
    with pytest.raises(InvalidInputError):
        new_regime_scenario(0, kind="nope")
    with pytest.raises(InvalidInputError):
        mixed_regime_scenario(0, mix=1.5)
