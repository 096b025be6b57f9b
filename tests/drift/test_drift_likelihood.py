"""Per-row log-likelihood under a signature, against a hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from driftline.drift import Signature, log_likelihood
from driftline.errors import SchemaMismatchError


def test_hand_computed_density():
    # x: 0,1,1,2,4 (one missing); c: a,a,b (two missing); bins=2 -> edges at rank 0, 1/2, 1
    x = np.array([0.0, 1.0, 1.0, 2.0, 4.0, np.nan])
    c = np.array(["a", "a", "b", None, None, "a"], dtype=object)
    sig = Signature.from_data({"x": x, "c": c})
    floor = 1e-3
    got = log_likelihood(
        sig,
        {
            "x": np.array([0.5, 3.0, 10.0, np.nan]),
            "c": np.array(["a", "b", "zzz", None], dtype=object),
        },
        bins=2,
        floor=floor,
    )
    # quantile edges: q0=0, q0.5=1 (3rd smallest of 5 is 1; lower quantile), q1=4; integer
    # values: bin [0,1): mass F(1-)=1/5, width 1 -> 0.2; bin [1,4): mass F(4-) - F(1-) = 3/5,
    # width 3 -> 0.2; the top level 4 on its own: 1/5
    mu, sd = np.mean(x[:5]), np.std(x[:5], ddof=1)

    def g(v):
        return math.exp(-0.5 * ((v - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))

    def f(v, h):
        return (1 - floor) * h + floor * g(v)

    mx = (1 + 0.5) / (6 + 1)  # x: 1 missing of 6
    mc = (2 + 0.5) / (6 + 1)  # c: 2 missing of 6
    denom = 4 + 0.5 * (2 + 1)  # 4 labels, 2 categories
    pa, pb, pu = (3 + 0.5) / denom, (1 + 0.5) / denom, 0.5 / denom
    want = [
        math.log(1 - mx) + math.log(f(0.5, 0.2)) + math.log(1 - mc) + math.log(pa),
        math.log(1 - mx) + math.log(f(3.0, 0.6 / 3)) + math.log(1 - mc) + math.log(pb),
        math.log(1 - mx) + math.log(f(10.0, 0.0)) + math.log(1 - mc) + math.log(pu),
        math.log(mx) + math.log(mc),
    ]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_prefers_matching_regime():
    rng = np.random.default_rng(0)
    a = Signature.from_data(rng.normal(0, 1, (50_000, 20)))
    b = Signature.from_data(rng.normal(3, 1, (50_000, 20)))
    x = rng.normal(0, 1, (100_000, 20))
    la = log_likelihood(a, x)
    lb = log_likelihood(b, x)
    assert la.shape == (100_000,) and np.all(np.isfinite(la)) and np.all(np.isfinite(lb))
    assert np.mean(la > lb) > 0.99
    # roughly the true N(0,1) log density summed over 20 features
    assert np.mean(la) == pytest.approx(20 * (-0.5 * math.log(2 * math.pi) - 0.5), abs=0.5)


def test_missing_feature_is_an_error():
    sig = Signature.from_data({"x": [1.0, 2.0], "y": [1.0, 3.0]})
    with pytest.raises(SchemaMismatchError):
        log_likelihood(sig, {"x": [1.0]})


def test_multivariate_score_is_calibrated_and_pools_small_changes():
    from scipy import stats as st

    from driftline.drift import Signature, compare
    from driftline.drift.likelihood import (
        expected_log_likelihood,
        log_likelihood,
        multivariate_drift,
    )

    rng = np.random.default_rng(7)
    ref = rng.normal(size=(100_000, 20))
    ref[:, 0] = rng.poisson(3, 100_000)
    sig = Signature.from_data(ref)
    # E_ref[l] from the summaries is the in-sample mean log-likelihood of the reference rows,
    # and within sampling noise (sd(l) sqrt(2/N) ~ 0.014) of fresh rows' mean
    assert expected_log_likelihood(sig) == pytest.approx(log_likelihood(sig, ref).mean(), abs=2e-3)
    fresh = rng.normal(size=(100_000, 20))
    fresh[:, 0] = rng.poisson(3, 100_000)
    assert expected_log_likelihood(sig) == pytest.approx(
        log_likelihood(sig, fresh).mean(), abs=0.06
    )
    ps = []
    for _ in range(40):
        w = rng.normal(size=(2000, 20))
        w[:, 0] = rng.poisson(3, 2000)
        ps.append(multivariate_drift(sig, w).p_value)
    assert st.kstest(ps, "uniform").pvalue > 0.01  # p-values ~ U(0, 1) on stationary windows
    wide = rng.normal(0.0, 1.05, size=(5000, 20))  # every spread +5%: small per column
    wide[:, 0] = rng.poisson(3, 5000)
    mv = multivariate_drift(sig, wide)
    assert mv.p_value < 1e-6 and mv.score > 0
    assert len(compare(sig, wide).drifted_features) <= 2  # the columns barely move one by one


def _floored(values, h, x, floor):
    """ln(1 − m̃) + ln((1 − λ) h + λ φ) for a column with no missing values (module doc)."""
    mu, sd = np.mean(values), np.std(values, ddof=1)
    g = np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))
    present = math.log1p(-0.5 / (len(values) + 1))
    return present + np.log((1 - floor) * np.asarray(h) + floor * g)


def test_integer_levels_carry_their_probability():
    """A binary flag: P(0) = 0.7, P(1) = 0.3 (in the older form both levels share one closed bin
    and get density 1). Counts 0×6, 1, 2, 2, 5 with bins=4 (edges 0, 2, 5): [0, 2) holds 0.7
    over 2 levels, [2, 5) 0.2 over 3, the top level 5 holds 0.1. A non-integer feature keeps
    plain bins (no point masses)."""
    floor = 1e-3
    flag = np.array([0.0] * 7 + [1.0] * 3)
    sig = Signature.from_data({"flag": flag})
    got = log_likelihood(sig, {"flag": np.array([0.0, 1.0])}, floor=floor)
    np.testing.assert_allclose(got, _floored(flag, [0.7, 0.3], np.array([0.0, 1.0]), floor))
    old = log_likelihood(sig, {"flag": np.array([0.0, 1.0])}, floor=floor, atoms=False)
    assert old[0] == pytest.approx(old[1], abs=1e-3)  # the older form: no information

    counts = np.array([0.0] * 6 + [1.0, 2.0, 2.0, 5.0])
    sig = Signature.from_data({"k": counts})
    x = np.array([0.0, 1.0, 2.0, 4.0, 5.0, 7.0])
    got = log_likelihood(sig, {"k": x}, bins=4, floor=floor)
    h = [0.35, 0.35, 0.2 / 3, 0.2 / 3, 0.1, 0.0]
    np.testing.assert_allclose(got, _floored(counts, h, x, floor), rtol=1e-9)

    scaled = counts / 16  # a lattice of 1/16: plain bins, as atoms=False
    sig = Signature.from_data({"k": scaled})
    np.testing.assert_array_equal(
        log_likelihood(sig, {"k": x / 16}, bins=4),
        log_likelihood(sig, {"k": x / 16}, bins=4, atoms=False),
    )


def test_expected_log_likelihood_of_integer_levels_is_the_mean_over_the_reference():
    """With the sketch exact (small n) E_ref[ℓ] equals the mean of ℓ over the reference rows
    for an integer-valued feature."""
    from driftline.drift.likelihood import expected_log_likelihood

    rng = np.random.default_rng(2)
    counts = rng.poisson(2.0, 2000).astype(np.float64)
    sig = Signature.from_data({"k": counts})
    ll = log_likelihood(sig, {"k": counts})
    # levels rarer than 1/bins are not atoms: they sit in bins, hence the small tolerance
    assert expected_log_likelihood(sig) == pytest.approx(float(ll.mean()), abs=1e-4)
