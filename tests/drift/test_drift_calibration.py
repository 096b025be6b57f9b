"""Calibrated alarms: nulls against scipy / closed forms, false-alarm rates, unseen values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from driftline.drift import DriftAgent, Signature, compare
from driftline.drift.calibration import (
    CalibrationSettings,
    bridge_quantile,
    calibration_of,
    holm,
    pooled_chi_square,
)
from driftline.drift.sketch import LabelSample
from driftline.errors import InvalidInputError


def test_bridge_quantile_matches_closed_forms():
    # a fine grid: the sup of the bridge tends to Kolmogorov's distribution
    fine = bridge_quantile(np.linspace(0, 1, 1025)[1:-1], sims=4000)
    assert fine == pytest.approx(special.kolmogi(0.01), rel=0.04)
    # one atom boundary at p: |B(p)| ~ |N(0, p(1-p))|, 99% quantile z_.995 sqrt(p(1-p))
    p = 0.3
    one = bridge_quantile(np.array([p]), sims=20000)
    assert one == pytest.approx(stats.norm.ppf(0.995) * math.sqrt(p * (1 - p)), rel=0.04)


def test_pooled_chi_square_equals_scipy_when_cells_are_large():
    ref = np.array([500.0, 300.0, 200.0])
    cur = np.array([60.0, 25.0, 15.0])
    stat, df = pooled_chi_square(ref, cur)
    want = stats.chisquare(cur, cur.sum() * ref / ref.sum())
    assert stat == pytest.approx(want.statistic) and df == 2
    # rare cells are pooled until every expected count is >= 5
    ref2 = np.array([900.0, 50.0, 30.0, 20.0, 0.0])  # expected 90, 5, 3, 2, 0 of 100
    stat2, df2 = pooled_chi_square(ref2, np.array([80.0, 10.0, 6.0, 4.0, 0.0]))
    exp = np.array([90.0, 5.0, 5.0])  # 3 + 2 pooled
    assert df2 == 2 and stat2 == pytest.approx(
        np.sum((np.array([80.0, 10.0, 10.0]) - exp) ** 2 / exp)
    )
    # a pooled cell short of 5 joins the next rarest cell
    stat3, df3 = pooled_chi_square(np.array([900.0, 60.0, 40.0]), np.array([85.0, 10.0, 5.0]))
    exp3 = np.array([90.0, 10.0])
    assert df3 == 1 and stat3 == pytest.approx(np.sum((np.array([85.0, 15.0]) - exp3) ** 2 / exp3))


def test_holm_matches_hand_computation():
    p = np.array([0.01, 0.04, 0.03, 0.005])
    # sorted 0.005, 0.01, 0.03, 0.04 -> 0.02, 0.03, 0.06, 0.06 (monotone)
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])


def test_continuous_p_value_tracks_scipy_ks():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=50_000)
    sig = Signature.from_data({"x": ref})
    for shift in (0.0, 0.05, 0.1):
        cur = rng.normal(shift, 1.0, 2000)
        f = compare(sig, {"x": cur}).features["x"]
        want = stats.ks_2samp(ref, cur, method="asymp").pvalue
        # the calibrated p only subtracts the sketch's rank error: never smaller than scipy's
        assert f.metrics["p_cal"] >= want * 0.9
        assert f.metrics["ks_all"] == pytest.approx(stats.ks_2samp(ref, cur).statistic, abs=2e-3)


def test_calibrated_ks_distance_brackets_scipy_exact_distance():
    """Small windows against a 200k-row reference: ``D − rank_error`` (what the p-value uses)
    never exceeds scipy's exact two-sample D (the false-alarm guarantee) and trails it by at
    most ``2 · rank_error`` (all the power the sketch gives up)."""
    rng = np.random.default_rng(5)
    ref = rng.normal(size=200_000)
    sig = Signature.from_data({"x": ref})
    eps = calibration_of(sig)["x"].rank_error
    assert 0 < eps <= 5e-4  # the default sketch (2048 points) at this reference size
    ref_sorted = np.sort(ref)
    for shift in np.linspace(0.0, 0.2, 30):
        cur = rng.normal(shift, 1.0, 500)
        d = compare(sig, {"x": cur}).features["x"].metrics["ks_all"]
        exact = stats.ks_2samp(ref_sorted, cur).statistic
        assert d - eps <= exact + 1e-12
        assert exact - (d - eps) <= 2 * eps + 1e-12


def _shapes(rng, n):
    return {
        "normal": rng.normal(size=n),
        "pareto": (1 - rng.random(n)) ** (-1 / 1.5),
        "binary": (rng.random(n) < 0.1).astype(float),
        "poisson": rng.poisson(2.0, n).astype(float),
        "zeros": np.where(rng.random(n) < 0.5, 0.0, rng.lognormal(size=n)),
        "missing": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
        "zipf": np.array([f"c{k}" for k in rng.zipf(1.6, n) % 400], dtype=object),
    }


def test_false_alarm_rate_is_calibrated_on_many_shapes():
    """200 stationary windows of 500 rows: p-values neither anti-conservative nor useless."""
    rng = np.random.default_rng(1)
    sig = Signature.from_data(_shapes(rng, 40_000), categorical=["zipf"])
    ps: dict[str, list[float]] = {}
    alarms = 0
    for _ in range(200):
        agent = DriftAgent(sig, window=None)
        agent.update(_shapes(rng, 500))
        rep = agent.report()
        alarms += int(rep.drift)
        for k, f in rep.features.items():
            ps.setdefault(k, []).append(f.metrics["p_cal"])
    for k, v in ps.items():
        p = np.array(v)
        assert np.mean(p < 0.01) <= 0.03, k  # stated level 1% (3% allows sampling noise)
        assert np.mean(p < 0.1) <= 0.16, k
        if k in ("normal", "pareto"):  # continuous: the Kolmogorov null is exact, p ~ uniform
            assert 0.35 <= np.mean(p < 0.5) <= 0.65, k
    assert alarms <= 4  # data-set verdict: FWER 1% over 200 windows


def test_calibrated_rule_detects_changes_above_the_floor():
    rng = np.random.default_rng(2)
    sig = Signature.from_data(_shapes(rng, 40_000), categorical=["zipf"])
    cur = _shapes(rng, 5000)
    cur["poisson"] = rng.poisson(2.2, 5000).astype(float)
    cur["missing"] = np.where(rng.random(5000) < 0.26, np.nan, rng.normal(size=5000))
    rep = compare(sig, cur)
    assert set(rep.drifted_features) == {"poisson", "missing"}
    assert rep.fired["missing"] == ["missing_change"]
    # ... but not below the materiality floor on a huge window
    big = _shapes(rng, 200_000)
    big["normal"] = big["normal"] + 0.01
    floor = CalibrationSettings(materiality={"ks_all": 0.02})
    rep = compare(sig, big, calibration=floor)
    assert "normal" not in rep.drifted_features
    assert rep.features["normal"].metrics["ks_all"] < 0.02


def test_high_cardinality_stable_is_silent_and_unseen_ids_alarm():
    rng = np.random.default_rng(3)
    vocab = np.array([f"id{k}" for k in range(5000)], dtype=object)

    def ids(n, new=0.0):
        x = vocab[rng.integers(0, vocab.size, n)]
        fresh = rng.random(n) < new
        x[fresh] = np.array(
            [f"new{k}" for k in rng.integers(0, 10**9, int(fresh.sum()))], dtype=object
        )
        return {"id": x}

    sig = Signature.from_data(ids(100_000), categorical=["id"])
    assert sig["id"].sample is not None and sig["id"].sample.tau < 1.0  # capped: hash sample
    quiet = [compare(sig, ids(2000)).drift for _ in range(20)]
    assert not any(quiet)
    rep = compare(sig, ids(2000, new=0.1))
    assert rep.drift and rep.fired["id"] == ["unseen_excess"]
    assert rep.features["id"].metrics["unseen_excess"] == pytest.approx(0.1, abs=0.05)


def test_label_sample_merge_equals_sample_of_union():
    rng = np.random.default_rng(4)
    a = [f"u{k}" for k in rng.integers(0, 5000, 3000)]
    b = [f"u{k}" for k in rng.integers(2000, 9000, 3000)]

    def sample(labels):
        s = LabelSample(capacity=200)
        u, c = np.unique(np.array(labels, dtype=object).astype(str), return_counts=True)
        s.update(u.tolist(), c.tolist())
        return s

    merged = sample(a).merge(sample(b))
    whole = sample(a + b)
    assert merged.tau == whole.tau and merged.counts == whole.counts


def test_calibration_is_stored_in_the_signature_and_recomputed_on_merge():
    rng = np.random.default_rng(5)
    data = {"n": rng.poisson(3, 20_000).astype(float), "c": rng.choice(list("abc"), 20_000)}
    sig = Signature.from_data(data)
    b = sig.to_bytes()
    back = Signature.from_bytes(b)
    assert back._calibration == calibration_of(sig) and back.to_bytes() == b
    assert calibration_of(sig)["n"].discrete and calibration_of(sig)["n"].kappa > 1.0
    half = [
        Signature.from_data({k: v[:10_000] for k, v in data.items()}),
        Signature.from_data({k: v[10_000:] for k, v in data.items()}),
    ]
    merged = half[0].merge(half[1])
    assert calibration_of(merged)["n"].kappa == pytest.approx(
        calibration_of(sig)["n"].kappa, rel=0.02
    )
    assert Signature.from_dict(sig.to_dict())._calibration == calibration_of(sig)


def test_bad_settings_and_empty_windows_are_refused():
    sig = Signature.from_data({"x": np.arange(100.0)})
    for bad in (0.0, 1.5, -0.1, math.nan):
        with pytest.raises(InvalidInputError, match="drift_share"):
            DriftAgent(sig, drift_share=bad)
    for bad in (math.nan, math.inf):
        with pytest.raises(InvalidInputError, match="finite"):
            DriftAgent(sig, thresholds={"psi": bad})
        with pytest.raises(InvalidInputError, match="finite"):
            DriftAgent(sig, per_feature_thresholds={"x": {"ks": bad}})
    with pytest.raises(InvalidInputError, match="alpha"):
        CalibrationSettings(alpha=0.0)
    with pytest.raises(InvalidInputError, match="0 rows"):
        compare(sig, {"x": np.empty(0)})


def test_sparse_categories_keep_their_level():
    """1,000 null windows of 300 rows over 60 Zipf labels: p_cal keeps its level (2 %)."""
    rng = np.random.default_rng(6)
    labels = np.array([f"z{k}" for k in range(60)], dtype=object)
    probs = 1.0 / np.arange(1, 61) ** 1.3
    probs /= probs.sum()
    sig = Signature.from_data({"z": labels[rng.choice(60, 200_000, p=probs)]}, categorical=["z"])
    p = np.array(
        [
            compare(sig, {"z": labels[rng.choice(60, 300, p=probs)]}).features["z"].metrics["p_cal"]
            for _ in range(1000)
        ]
    )
    assert np.mean(p < 0.02) <= 0.02 + 2.5 * math.sqrt(0.02 * 0.98 / 1000)
    assert np.mean(p < 0.2) >= 0.2 - 0.04  # exact, not merely conservative
