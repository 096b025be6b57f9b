"""Signatures and the quantile sketch: bounds, merge vs one pass, serialisation, identity."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from driftline.drift import QuantileSketch, Signature
from driftline.drift.signature import OTHER
from driftline.errors import InvalidInputError, SchemaMismatchError


def _max_cdf_error(sk: QuantileSketch, x: np.ndarray) -> float:
    xs = np.sort(x)
    probe = np.unique(np.concatenate([sk.points()[0], xs[:: max(1, xs.size // 500)]]))
    probe = np.concatenate([probe, np.nextafter(probe, -np.inf)])
    exact = np.searchsorted(xs, probe, side="right") / xs.size
    return float(np.max(np.abs(sk.cdf(probe) - exact)))


@pytest.mark.parametrize("dist", ["normal", "t2", "atoms"])
def test_sketch_error_within_tracked_bound_and_size(dist):
    rng = np.random.default_rng(1)
    n = 400_000
    x = {
        "normal": rng.normal(size=n),
        "t2": rng.standard_t(2, n),
        "atoms": rng.integers(0, 5, n) * 1.0,
    }[dist]
    sk = QuantileSketch()
    for b in np.array_split(x, 37):
        sk.update(b)
    c = sk.compressed()
    assert _max_cdf_error(sk, x) <= sk.rank_error + 1e-12
    assert _max_cdf_error(c, x) <= c.rank_error + 1e-12
    assert c.rank_error < 0.002
    data = c.to_bytes()
    assert len(data) <= 64 * 1024
    back = QuantileSketch.from_bytes(data)
    assert back.to_bytes() == data
    assert back.n == n
    qs = np.array([0.01, 0.25, 0.5, 0.75, 0.99])
    got = back.quantiles(qs)
    # a quantile's rank is within the error bound
    ranks = np.searchsorted(np.sort(x), got, side="right") / n
    assert np.all(ranks >= qs - back.rank_error - 1e-9)


def test_sketch_rejects_garbage_and_handles_empty():
    with pytest.raises(InvalidInputError):
        QuantileSketch.from_bytes(b"nope")
    sk = QuantileSketch().update(np.array([np.nan, np.inf]))
    assert sk.n == 0 and np.isnan(sk.quantiles(0.5))
    assert QuantileSketch.from_bytes(sk.to_bytes()).n == 0


def test_sketch_keeps_extremes_exact():
    rng = np.random.default_rng(2)
    x = rng.standard_t(1, 300_000)
    sk = QuantileSketch().update(x).compressed()
    v, w = sk.points()
    top = np.sort(x)[-20:]
    np.testing.assert_array_equal(v[-20:], top)
    assert np.all(w[-20:] == 1)


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=400),
    cuts=st.lists(st.integers(0, 400), max_size=4),
)
def test_merge_equals_one_pass_moments(data, cuts):
    x = np.array(data)
    bounds = sorted({0, x.size, *[c % (x.size + 1) for c in cuts]})
    shards = [
        Signature.from_data({"x": x[a:b]}) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    ]
    merged = Signature.merge_all(shards)
    one = Signature.from_data({"x": x})
    a, b = merged["x"], one["x"]
    assert a.count == b.count and a.min == b.min and a.max == b.max
    scale = max(1.0, float(np.abs(x).max()))
    assert a.mean == pytest.approx(b.mean, rel=1e-9, abs=1e-12 * scale)
    for p in ("m2", "m3", "m4"):
        assert getattr(a, p) == pytest.approx(
            getattr(b, p), rel=1e-9, abs=1e-9 * scale ** int(p[1]) * x.size
        )
    # small inputs: sketches are exact, so quantiles agree exactly
    qs = np.linspace(0, 1, 11)
    np.testing.assert_array_equal(a.sketch.quantiles(qs), b.sketch.quantiles(qs))


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), shards=st.integers(2, 6))
def test_merge_large_quantiles_within_sketch_error(seed, shards):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=60_000)
    parts = np.array_split(x, shards)
    merged = Signature.merge_all(Signature.from_data({"x": p}, batch_rows=7_000) for p in parts)
    one = Signature.from_data({"x": x})
    sk = merged["x"].sketch
    assert _max_cdf_error(sk, x) <= sk.rank_error + 1e-12
    qs = np.linspace(0.05, 0.95, 19)
    xs = np.sort(x)
    for q_merged in (sk.quantiles(qs), one["x"].sketch.quantiles(qs)):
        ranks = np.searchsorted(xs, q_merged, side="right") / x.size
        assert np.all(np.abs(ranks - qs) <= max(sk.rank_error, 1 / x.size) + 2 / x.size)
    m, o = merged["x"], one["x"]
    assert m.mean == pytest.approx(o.mean, rel=1e-9)
    assert m.variance == pytest.approx(o.variance, rel=1e-9)
    assert m.skewness == pytest.approx(o.skewness, rel=1e-7)
    assert m.kurtosis == pytest.approx(o.kurtosis, rel=1e-7)


def test_moments_match_scipy():
    rng = np.random.default_rng(5)
    x = rng.gamma(2.0, size=50_000)
    s = Signature.from_batches([{"x": p} for p in np.array_split(x, 9)])
    f = s["x"]
    assert f.mean == pytest.approx(x.mean(), rel=1e-12)
    assert f.variance == pytest.approx(x.var(ddof=1), rel=1e-10)
    assert f.skewness == pytest.approx(stats.skew(x), rel=1e-9)
    assert f.kurtosis == pytest.approx(stats.kurtosis(x), rel=1e-9)


def _mixed(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[::17] = np.nan
    x[5] = np.inf
    return {
        "x": x,
        "k": rng.integers(0, 10, n),
        "c": np.array(rng.choice(["red", "green", "blue"], n), dtype=object),
        "b": rng.random(n) < 0.3,
    }


def test_roundtrip_id_stable_and_no_pickle():
    s = Signature.from_data(_mixed())
    data = s.to_bytes()
    assert b"pickle" not in data and not data.startswith(b"\x80")
    back = Signature.from_bytes(data)
    assert back.to_bytes() == data
    assert back.id == s.id == Signature.from_data(_mixed()).id
    assert len(s.id) == 64 and int(s.id, 16) >= 0
    assert Signature.from_data(_mixed(seed=1)).id != s.id
    d = json.loads(json.dumps(s.to_dict()))
    assert Signature.from_dict(d).id == s.id
    assert s.kinds == {"x": "numeric", "k": "numeric", "c": "categorical", "b": "categorical"}
    assert s["x"].missing == 3000 // 17 + 1 + 1 and s["b"].counts.keys() == {"True", "False"}


def test_numeric_feature_size_under_64kb():
    rng = np.random.default_rng(9)
    s = Signature.from_data(rng.normal(size=(300_000, 3)))
    assert s.feature_names == ["f0", "f1", "f2"]
    assert len(s.to_bytes()) / 3 <= 64 * 1024


def test_declared_types_and_category_cap():
    rng = np.random.default_rng(3)
    labels = np.array([f"L{i}" for i in rng.zipf(1.5, 5000) % 1000], dtype=object)
    data = {"zip": rng.integers(10000, 10020, 5000), "lab": labels}
    s = Signature.from_data(data, categorical=["zip"], max_categories=50)
    assert s.kinds["zip"] == "categorical"
    cats = s["lab"].counts
    assert len(cats) == 50 and cats[OTHER] > 0
    assert sum(cats.values()) == 5000
    with pytest.raises(InvalidInputError):
        Signature.from_data({"c": ["a", "b"]}, numeric=["c"])


def test_update_and_merge_schema_errors():
    s = Signature.from_data({"a": [1.0, 2.0]})
    with pytest.raises(SchemaMismatchError):
        s.update({"a": [1.0], "b": [2.0]})
    with pytest.raises(SchemaMismatchError):
        s.merge(Signature.from_data({"a": ["x", "y"]}))
    s.update({"a": [3.0]})
    assert s["a"].count == 3 and s.n_rows == 3
