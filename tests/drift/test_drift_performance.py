"""Performance drift, DDM and CBPE against scipy / scikit-learn references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from driftline.drift.performance import (
    ADWIN,
    CBPE,
    DDM,
    DDMState,
    PerformanceMetric,
    PerformanceReference,
    per_row_scores,
    performance_drift,
)
from driftline.errors import InvalidInputError


def test_accuracy_drift_is_the_exact_binomial_test():
    ref = PerformanceReference(PerformanceMetric.ACCURACY, 0.9)
    rows = np.array([1.0] * 80 + [0.0] * 20)
    v = performance_drift(ref, rows)
    assert v.p_value == pytest.approx(stats.binomtest(80, 100, 0.9, alternative="less").pvalue)
    assert v.drift and v.drop == pytest.approx(0.1)
    # significant but below the floor: no alarm
    big = np.array([1.0] * 35_600 + [0.0] * 4_400)  # 0.89 on 40,000 rows
    w = performance_drift(ref, big, min_drop=0.02)
    assert w.p_value < 0.01 and not w.drift


def test_log_loss_drift_is_welch():
    rng = np.random.default_rng(0)
    a, b = rng.exponential(0.3, 4000), rng.exponential(0.36, 3000)
    ref = PerformanceReference.from_rows("log_loss", a)
    v = performance_drift(ref, b)
    want = stats.ttest_ind(b, a, equal_var=False, alternative="greater").pvalue
    assert v.p_value == pytest.approx(want, rel=0.05, abs=1e-12) and v.drift
    with pytest.raises(InvalidInputError, match="0 labelled rows"):
        performance_drift(ref, np.empty(0))


def test_per_row_scores():
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    y = np.array([0, 0, 1])
    np.testing.assert_allclose(per_row_scores("accuracy", y, proba), [1, 0, 0])
    np.testing.assert_allclose(per_row_scores("log_loss", y, proba), -np.log([0.9, 0.2, 0.4]))
    np.testing.assert_allclose(
        per_row_scores("mse", np.array([1.0, 2.0]), np.array([1.5, 2.0])), [0.25, 0.0]
    )


def test_adwin_quiet_on_stable_streams_and_fires_soon_after_a_jump():
    rng = np.random.default_rng(1)
    quiet = 0
    for _ in range(10):
        quiet += len(ADWIN().update_many(rng.random(5000) < 0.1))
    assert quiet == 0
    a = ADWIN()
    a.update_many(rng.random(5000) < 0.1)
    fired = a.update_many(rng.random(2000) < 0.3)
    assert fired and fired[0] - 5000 <= 300
    assert a.mean == pytest.approx(0.3, abs=0.05)  # the window now holds the new regime


def test_ddm_fires_after_a_jump():
    rng = np.random.default_rng(1)
    d = DDM()
    d.update_many(rng.random(3000) < 0.1)
    before = len(d.detections)
    fired = d.update_many(rng.random(3000) < 0.4)
    assert len(d.detections) > before and fired[0] - 3000 <= 1500
    assert DDM(min_samples=5).update(1) is DDMState.STABLE


def _blobs(rng, n, shift):
    x = rng.normal(shift, 1.0, (n, 2))
    p = 1 / (1 + np.exp(-(1.5 * x[:, 0] - x[:, 1])))  # P(y|x) never changes
    return x, (rng.random(n) < p).astype(int)


def test_cbpe_follows_accuracy_under_covariate_shift():
    rng = np.random.default_rng(2)
    x, y = _blobs(rng, 4000, 0.0)
    model = LogisticRegression().fit(x, y)
    xv, yv = _blobs(rng, 2000, 0.0)
    est = CBPE.fit(model.predict_proba(xv), yv)
    errs = []
    for shift in (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5):
        xw, yw = _blobs(rng, 3000, shift)
        realised = float(np.mean(model.predict(xw) == yw))
        errs.append(abs(est.estimate(model.predict_proba(xw)) - realised))
    assert np.mean(errs) < 0.03
    back = CBPE.from_dict(est.to_dict())
    assert back.estimate(model.predict_proba(xv)) == est.estimate(model.predict_proba(xv))


def test_lineage_cbpe_follows_regime_mix_where_plain_cbpe_cannot():
    """A model right on regime A and over-confidently wrong on regime B (labels flipped)."""
    from driftline.drift import Signature
    from driftline.drift.likelihood import log_likelihood
    from driftline.drift.performance import LineageCBPE

    rng = np.random.default_rng(3)

    def regime(shift, n, flip):
        x = rng.normal(shift, 1.0, (n, 2))
        y = (x[:, 0] - shift > 0).astype(int)
        return x, (1 - y) if flip else y

    xa, ya = regime(0.0, 3000, False)
    xb, yb = regime(6.0, 3000, True)
    model = LogisticRegression().fit(np.vstack([xa - 0.0, xb - 6.0]), np.concatenate([ya, 1 - yb]))

    def proba(x, shift):  # the model sees centred inputs (a stand-in for any fixed model)
        return model.predict_proba(x - shift)

    sigs = [Signature.from_data(xa), Signature.from_data(xb)]
    va, vya = regime(0.0, 1000, False)
    vb, vyb = regime(6.0, 1000, True)
    lc = LineageCBPE.fit([(proba(va, 0.0), vya), (proba(vb, 6.0), vyb)])
    plain = CBPE.fit(proba(va, 0.0), vya)
    for share_b in (0.05, 0.3, 0.7):
        nb = int(2000 * share_b)
        wa, wya = regime(0.0, 2000 - nb, False)
        wb, wyb = regime(6.0, nb, True)
        p = np.vstack([proba(wa, 0.0), proba(wb, 6.0)])
        y = np.concatenate([wya, wyb])
        x = np.vstack([wa, wb])
        realised = float(np.mean(p.argmax(axis=1) == y))
        ll = np.column_stack([log_likelihood(s, x) for s in sigs])
        assert abs(lc.estimate(p, ll) - realised) < 0.03
        if share_b >= 0.3:
            assert abs(plain.estimate(p) - realised) > 0.2  # confidence alone is fooled
