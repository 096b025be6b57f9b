"""Metrics against independent references (scipy, plain numpy on the same bins)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from driftline.drift import Signature, compare
from driftline.drift.metrics import (
    PSI_EPSILON,
    chi_square,
    js_distance,
    kl_divergence,
    ks_pvalue,
    psi,
)
from driftline.drift.windows import prepare_reference

RNG = np.random.default_rng(12345)


def _gen(kind: str, n: int, shift: float, rng: np.random.Generator) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1.0, n)
    if kind == "student_t2":
        return rng.standard_t(2, n) + shift
    if kind == "zero_inflated":
        return np.where(rng.random(n) < 0.6, 0.0, rng.exponential(1.0 + shift, n))
    if kind == "integer":
        return rng.poisson(3.0 + shift, n).astype(float)
    raise AssertionError(kind)


KINDS = ["normal", "student_t2", "zero_inflated", "integer"]


@pytest.fixture(scope="module")
def references() -> dict[str, tuple[np.ndarray, Signature]]:
    out = {}
    for k in KINDS:
        x = _gen(k, 300_000, 0.0, RNG)
        out[k] = (x, Signature.from_data({"x": x}))
    return out


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("shift", [0.0, 0.05, 0.3])
def test_ks_matches_scipy_within_0005(references, kind, shift):
    ref, sig = references[kind]
    cur = _gen(kind, 20_000, shift, np.random.default_rng(7))
    m = compare(sig, {"x": cur}).features["x"].metrics
    exact = stats.ks_2samp(ref, cur)
    assert abs(m["ks"] - exact.statistic) <= 0.005
    # the documented bound is tighter: the sketch's rank error
    bound = prepare_reference(sig["x"]).rank_error
    assert abs(m["ks"] - exact.statistic) <= bound + 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_wasserstein_within_documented_tolerance(references, kind):
    ref, sig = references[kind]
    cur = _gen(kind, 20_000, 0.2, np.random.default_rng(8))
    r = prepare_reference(sig["x"])
    m = compare(sig, {"x": cur}).features["x"].metrics
    exact = stats.wasserstein_distance(ref, cur) / r.scale
    assert abs(m["wasserstein"] - exact) <= 0.01


def test_ks_pvalue_matches_scipy_asymptotic():
    a = RNG.normal(size=3000)
    b = RNG.normal(0.1, 1, size=2000)
    res = stats.ks_2samp(a, b, method="asymp")
    assert ks_pvalue(res.statistic, a.size, b.size) == pytest.approx(res.pvalue, rel=1e-9)


@pytest.mark.parametrize("n_cur, d", [(5000, 0.02), (20_000, 0.012), (100_000, 0.006)])
def test_ks_pvalue_large_n_close_to_kstwo(n_cur, d):
    n_ref = 1_000_000
    en = round(n_ref * n_cur / (n_ref + n_cur))
    exact = stats.kstwo.sf(d, en)
    assert exact > 1e-6
    assert ks_pvalue(d, n_ref, n_cur) == pytest.approx(exact, rel=0.01)


def _numpy_psi_kl(edges, ref, cur):
    """Independent reference: right-closed bins (e_{i-1}, e_i], smoothed proportions."""

    def props(x):
        idx = np.searchsorted(edges, x, side="left")  # x <= e_i  -> bin i
        c = np.bincount(idx, minlength=edges.size + 1).astype(float)
        p = c / c.sum()
        return (p + PSI_EPSILON) / (1 + c.size * PSI_EPSILON)

    p, q = props(ref), props(cur)
    return float(np.sum((q - p) * np.log(q / p))), float(np.sum(q * np.log(q / p)))


@pytest.mark.parametrize("kind", KINDS)
def test_psi_kl_match_numpy_on_same_bins(kind):
    # a reference small enough for the sketch to be exact, so bins and counts are identical
    rng = np.random.default_rng(3)
    ref = _gen(kind, 2000, 0.0, rng)
    cur = _gen(kind, 5000, 0.4, rng)
    sig = Signature.from_data({"x": ref})
    r = prepare_reference(sig["x"])
    edges = r.psi_edges
    assert np.all(np.diff(edges) > 0), "edges must be strictly increasing (deduplicated)"
    m = compare(sig, {"x": cur}).features["x"].metrics
    want_psi, want_kl = _numpy_psi_kl(edges, ref, cur)
    assert m["psi"] == pytest.approx(want_psi, abs=1e-9)
    assert m["kl"] == pytest.approx(want_kl, abs=1e-9)
    assert np.isfinite(m["psi"]) and np.isfinite(m["kl"])


def test_psi_edges_deduplicated_for_ties():
    zi = np.where(RNG.random(10_000) < 0.7, 0.0, RNG.exponential(size=10_000))
    r = prepare_reference(Signature.from_data({"x": zi})["x"])
    assert r.psi_edges[0] == 0.0
    assert np.all(np.diff(r.psi_edges) > 0)
    ints = RNG.integers(0, 3, 10_000).astype(float)
    r = prepare_reference(Signature.from_data({"x": ints})["x"])
    assert list(r.psi_edges) == [0.0, 1.0, 2.0][: r.psi_edges.size]
    assert np.all(np.isfinite(r.psi_ref))
    # an empty current bin stays finite thanks to the smoothing
    assert np.isfinite(psi(np.array([5.0, 5.0]), np.array([10.0, 0.0])))


def test_psi_kl_pure_functions():
    r = np.array([10.0, 20.0, 30.0, 0.0])
    c = np.array([5.0, 25.0, 30.0, 4.0])
    p = (r / r.sum() + PSI_EPSILON) / (1 + 4 * PSI_EPSILON)
    q = (c / c.sum() + PSI_EPSILON) / (1 + 4 * PSI_EPSILON)
    assert psi(r, c) == pytest.approx(np.sum((q - p) * np.log(q / p)), abs=1e-12)
    assert kl_divergence(c, r) == pytest.approx(np.sum(q * np.log(q / p)), abs=1e-12)
    assert psi(r, r) == pytest.approx(0.0, abs=1e-15)


def test_js_matches_scipy():
    r = np.array([10.0, 20.0, 30.0, 0.0])
    c = np.array([5.0, 25.0, 30.0, 4.0])
    assert js_distance(r, c) == pytest.approx(jensenshannon(r, c), abs=1e-12)


def test_chi_square_matches_scipy_and_counts_unseen():
    r = np.array([100.0, 50.0, 25.0, 0.0])  # last cell: unseen in the reference
    c = np.array([40.0, 30.0, 10.0, 20.0])
    stat, p = chi_square(r, c)
    e = c.sum() * (r + 0.5) / (r.sum() + 0.5 * r.size)
    ref = stats.chisquare(c, e)
    assert stat == pytest.approx(ref.statistic, rel=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9)


def test_categorical_unseen_category_counted_end_to_end():
    ref = {"c": np.array(["a"] * 600 + ["b"] * 400, dtype=object)}
    sig = Signature.from_data(ref)
    cur = {"c": np.array(["a"] * 300 + ["b"] * 200 + ["zzz"] * 100, dtype=object)}
    f = compare(sig, cur).features["c"]
    assert f.metrics["unseen"] == pytest.approx(100 / 600)
    r = np.array([600.0, 400.0, 0.0])
    c = np.array([300.0, 200.0, 100.0])
    assert f.metrics["chi2"] == pytest.approx(chi_square(r, c)[0], rel=1e-12)
    assert f.drift


def test_missing_rate_change():
    x = RNG.normal(size=10_000)
    x[:500] = np.nan
    sig = Signature.from_data({"x": x})
    cur = RNG.normal(size=4000)
    cur[:400] = np.nan
    cur[400:420] = np.inf  # ±inf counts as missing
    m = compare(sig, {"x": cur}).features["x"].metrics
    assert m["missing_change"] == pytest.approx(420 / 4000 - 0.05)
