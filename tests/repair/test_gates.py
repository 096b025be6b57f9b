"""Routed repair math: gates, mixtures, EM priors, temperature calibration, regime mix, identity."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import norm

from driftline.errors import InvalidInputError
from driftline.losses import log_loss
from driftline.repair.gates import (
    calibrate_temperature,
    default_temperature_grid,
    em_priors,
    regime_mix,
    route_proba,
    routing_id,
    routing_weights,
)

MU = (0.0, 6.0)


def _regimes(n: int, share_a: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two well separated Gaussian regimes; returns x, true regime, loglik (2 × n)."""
    rng = np.random.default_rng(seed)
    regime = (rng.random(n) >= share_a).astype(int)
    x = rng.normal(np.asarray(MU)[regime], 1.0)
    loglik = np.stack([norm.logpdf(x, MU[0], 1.0), norm.logpdf(x, MU[1], 1.0)])
    return x, regime, loglik


def _members(x: np.ndarray) -> list[np.ndarray]:
    """Member i is right (90% confident) on its own regime: y = [x > mu_i], inverted in regime B."""
    a = np.where(x > MU[0], 0.9, 0.1)  # p(y=1) for member A: y = 1 iff x > 0
    b = np.where(x > MU[1], 0.1, 0.9)  # member B: y = 1 iff x < 6
    return [np.column_stack([1 - a, a]), np.column_stack([1 - b, b])]


def _labels(x: np.ndarray, regime: np.ndarray) -> np.ndarray:
    return np.where(regime == 0, x > MU[0], x < MU[1]).astype(int)


# ----------------------------------------------------------------------------- weights


@settings(max_examples=60, deadline=None)
@given(
    ll=arrays(
        np.float64,
        st.tuples(st.integers(1, 5), st.integers(1, 20)),
        elements=st.one_of(st.floats(-1e5, 1e3, allow_nan=False), st.just(-np.inf)),
    ),
    t=st.floats(1e-3, 1e4),
    seed=st.integers(0, 2**16),
)
def test_weights_are_a_distribution_per_column(ll: np.ndarray, t: float, seed: int) -> None:
    priors = np.random.default_rng(seed).uniform(0.01, 1.0, size=ll.shape[0])
    w = routing_weights(ll, priors, t)
    assert w.shape == ll.shape
    assert np.all(np.isfinite(w)) and np.all(w >= 0)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-12)


def test_weights_by_hand_and_stable_for_huge_logliks() -> None:
    # w_0 = 0.25 e^0 / (0.25 e^0 + 0.75 e^{ln 3}) = 0.25 / (0.25 + 2.25) = 0.1
    w = routing_weights(np.array([[0.0], [np.log(3.0)]]), [0.25, 0.75], 1.0)
    np.testing.assert_allclose(w[:, 0], [0.1, 0.9], atol=1e-12)
    # far out in the tail: exp would underflow without the log-sum-exp shift
    w = routing_weights(np.array([[-1e5], [-1e5 - 1.0]]), None, 1.0)
    np.testing.assert_allclose(w[:, 0], [1 / (1 + np.exp(-1)), 1 / (1 + np.e)], atol=1e-12)
    # T = 2 halves the log-likelihood gap
    w = routing_weights(np.array([[2.0], [0.0]]), None, 2.0)
    np.testing.assert_allclose(w[0, 0], np.e / (np.e + 1), atol=1e-12)


def test_temperature_limits() -> None:
    _, _, ll = _regimes(200, 0.7, seed=1)
    priors = np.array([0.35, 0.65])
    for t in (1e9, np.inf):
        w = routing_weights(ll, priors, t)
        np.testing.assert_allclose(w, np.broadcast_to(priors[:, None], w.shape), atol=1e-6)
    hard = np.zeros_like(ll)
    hard[ll.argmax(axis=0), np.arange(ll.shape[1])] = 1.0
    np.testing.assert_allclose(routing_weights(ll, priors, 1e-6), hard, atol=1e-9)
    np.testing.assert_array_equal(routing_weights(ll, priors, 0.0), hard)


def test_zero_prior_member_gets_no_weight_and_dead_columns_fall_back() -> None:
    ll = np.array([[0.0, -np.inf], [-50.0, -np.inf]])
    w = routing_weights(ll, [0.0, 1.0], 1.0)
    np.testing.assert_allclose(w[:, 0], [0.0, 1.0])
    np.testing.assert_allclose(w[:, 1], [0.0, 1.0])  # nothing explains the point: the priors
    np.testing.assert_allclose(routing_weights(ll, [0.0, 1.0], 0.0), w)


def test_weights_pick_the_right_member_on_separated_regimes() -> None:
    x, regime, ll = _regimes(2000, 0.7, seed=2)
    w = routing_weights(ll, None, 1.0)
    assert np.mean(w.argmax(axis=0) == regime) > 0.99
    assert np.median(w[regime, np.arange(x.size)]) > 0.999
    y = _labels(x, regime)
    routed = route_proba(_members(x), w)
    acc = np.mean(routed.argmax(axis=1) == y)
    singles = [np.mean(p.argmax(axis=1) == y) for p in _members(x)]
    assert acc > 0.99 and max(singles) < 0.9


def test_route_proba_by_hand() -> None:
    p1 = np.array([[1.0, 0.0], [0.2, 0.8]])
    p2 = np.array([[0.0, 1.0], [0.6, 0.4]])
    w = np.array([[0.25, 0.5], [0.75, 0.5]])
    np.testing.assert_allclose(route_proba([p1, p2], w), [[0.25, 0.75], [0.4, 0.6]])
    with pytest.raises(InvalidInputError, match="2 rows"):
        route_proba([p1], w)
    with pytest.raises(InvalidInputError, match="classes"):
        route_proba([p1, np.ones((2, 3)) / 3], w)


# ----------------------------------------------------------------------------- priors, regime mix


@pytest.mark.parametrize("share", [0.7, 0.3, 0.5])
def test_em_priors_recover_the_mix(share: float) -> None:
    _, _, ll = _regimes(3000, share, seed=3)
    pr = em_priors(ll)
    assert pr.sum() == pytest.approx(1.0)
    assert abs(pr[0] - share) < 0.03
    mix = regime_mix(ll)
    assert abs(mix[0] - share) < 0.03 and mix.sum() == pytest.approx(1.0)


def test_em_priors_from_skewed_start_and_limits() -> None:
    _, _, ll = _regimes(3000, 0.7, seed=4)
    assert abs(em_priors(ll, init=[0.05, 0.95])[0] - 0.7) < 0.03
    np.testing.assert_allclose(em_priors(ll, np.inf, init=[0.2, 0.8]), [0.2, 0.8])
    np.testing.assert_allclose(em_priors(ll[:, :0]), [0.5, 0.5])


def test_regime_mix_by_hand() -> None:
    ll = np.array([[0.0, -1.0, -5.0, 2.0], [-1.0, 0.0, -4.0, 1.0], [-3.0, -3.0, -1.0, 0.0]])
    np.testing.assert_allclose(regime_mix(ll), [0.5, 0.25, 0.25])
    # priors (0.05, 0.9, 0.05): log(0.9 / 0.05) = ln 18 = 2.89 outweighs the gap of 1 in rows 0
    # and 3, so member 1 takes both; in row 2 member 2 leads member 1 by 3 > 2.89 and keeps it
    np.testing.assert_allclose(regime_mix(ll, [0.05, 0.9, 0.05]), [0.0, 0.75, 0.25])
    np.testing.assert_allclose(regime_mix(np.zeros((3, 0))), [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------- calibration


def _overconfident(n: int, seed: int, dup: int = 20):
    """Overlapping regimes whose loglik counts each feature `dup` times (independence mistake)."""
    rng = np.random.default_rng(seed)
    regime = (rng.random(n) >= 0.5).astype(int)
    x = rng.normal(np.array([0.0, 1.5])[regime], 1.0)
    ll = dup * np.stack([norm.logpdf(x, 0.0, 1.0), norm.logpdf(x, 1.5, 1.0)])
    y = np.where(rng.random(n) < 0.9, regime, 1 - regime)
    members = [np.tile([0.9, 0.1], (n, 1)), np.tile([0.1, 0.9], (n, 1))]
    return ll, members, y


def test_supervised_calibration_undoes_overconfident_likelihoods() -> None:
    ll, members, y = _overconfident(4000, seed=5)
    cal = calibrate_temperature(ll, members, y, priors=[0.5, 0.5], grid=np.geomspace(0.1, 1000, 41))
    t, priors, score = cal
    assert 8.0 < t < 50.0  # the Bayes-correct temperature is 20
    np.testing.assert_allclose(priors, [0.5, 0.5])
    loss_t1 = log_loss(y, route_proba(members, routing_weights(ll, priors, 1.0)))
    assert score == pytest.approx(log_loss(y, route_proba(members, routing_weights(ll, priors, t))))
    assert score < loss_t1 - 0.05


def test_supervised_calibration_refines_between_grid_points() -> None:
    ll, members, y = _overconfident(2000, seed=6)
    coarse = calibrate_temperature(ll, members, y, grid=[1.0, 10.0, 100.0], refine=False)
    fine = calibrate_temperature(ll, members, y, grid=[1.0, 10.0, 100.0])
    assert coarse.temperature in (1.0, 10.0, 100.0)
    assert fine.score <= coarse.score
    assert abs(fine.priors.sum() - 1.0) < 1e-12


def test_supervised_prior_fit_by_hand() -> None:
    # no member's data explains any row better (equal loglik): EM keeps the priors at 0.5, so
    # p(y=0) = 0.5. With 80% of labels 0 the loss-optimal prior a solves 0.9a + 0.1(1 - a) = 0.8,
    # a = 0.875.
    n = 1000
    ll = np.zeros((2, n))
    members = [np.tile([0.9, 0.1], (n, 1)), np.tile([0.1, 0.9], (n, 1))]
    y = (np.arange(n) % 5 == 0).astype(int)
    plain = calibrate_temperature(ll, members, y, grid=[1.0])
    np.testing.assert_allclose(plain.priors, [0.5, 0.5])
    assert plain.score == pytest.approx(np.log(2))
    fitted = calibrate_temperature(ll, members, y, grid=[1.0], fit_priors=True)
    assert fitted.priors[0] == pytest.approx(0.875, abs=0.01)
    assert fitted.score == pytest.approx(-(0.8 * np.log(0.8) + 0.2 * np.log(0.2)), abs=1e-4)


def test_unsupervised_calibration_is_bayes_with_em_priors() -> None:
    x, _, ll = _regimes(3000, 0.7, seed=7)
    t, priors, score = calibrate_temperature(ll, _members(x))
    assert t == 1.0
    assert abs(priors[0] - 0.7) < 0.03
    expected = np.mean(np.log(priors[0] * np.exp(ll[0]) + priors[1] * np.exp(ll[1])))
    assert score == pytest.approx(expected, rel=1e-9)


def test_default_grid_spans_feature_scale() -> None:
    g = default_temperature_grid(64)
    assert g[0] == pytest.approx(0.1) and g[-1] == pytest.approx(6400.0) and 1.0 in g
    assert np.all(np.diff(g) > 0)


def test_calibration_validation() -> None:
    x, regime, ll = _regimes(50, 0.5, seed=8)
    with pytest.raises(InvalidInputError, match="outside"):
        calibrate_temperature(ll, _members(x), np.full(50, 3))
    with pytest.raises(InvalidInputError, match="one label per row"):
        calibrate_temperature(ll, _members(x), np.zeros(10, dtype=int))
    with pytest.raises(InvalidInputError, match="grid"):
        calibrate_temperature(ll, _members(x), _labels(x, regime), grid=[0.0, 1.0])
    with pytest.raises(InvalidInputError, match="members"):
        calibrate_temperature(ll, _members(x)[:1])


def test_input_validation() -> None:
    with pytest.raises(InvalidInputError, match="NaN"):
        routing_weights(np.array([[np.nan, 0.0]]), None, 1.0)
    with pytest.raises(InvalidInputError, match="one entry per member"):
        routing_weights(np.zeros((2, 3)), [1.0], 1.0)
    with pytest.raises(InvalidInputError, match="temperature"):
        routing_weights(np.zeros((2, 3)), None, -1.0)
    with pytest.raises(InvalidInputError, match="sum to zero"):
        routing_weights(np.zeros((2, 3)), [0.0, 0.0], 1.0)


# ----------------------------------------------------------------------------- identity


def test_routing_id_canonical_json() -> None:
    settings_ = {"temperature": 1.0, "priors": [0.7, 0.3]}
    rid = routing_id(["b", "a"], settings_)
    text = (
        '{"members":[{"id":"a","prior":0.3},{"id":"b","prior":0.7}],"settings":{"temperature":1.0}}'
    )
    assert rid == hashlib.sha256(text.encode()).hexdigest()
    # order of members (priors travel with them) and of settings keys does not matter
    assert routing_id(["a", "b"], {"priors": [0.3, 0.7], "temperature": 1.0}) == rid
    assert routing_id(["a", "b"], {"priors": {"b": 0.7, "a": 0.3}, "temperature": 1.0}) == rid
    assert routing_id(["a", "b"], {"priors": np.array([0.3, 0.7]), "temperature": np.float64(1)})
    # anything else changes it
    assert routing_id(["a", "b"], {"priors": [0.7, 0.3], "temperature": 1.0}) != rid
    assert routing_id(["a", "b"], {"priors": [0.3, 0.7], "temperature": 2.0}) != rid
    assert routing_id(["a", "c"], {"priors": [0.3, 0.7], "temperature": 1.0}) != rid
    assert len(routing_id(["a"], {"temperature": float("inf")})) == 64


def test_routing_id_validation() -> None:
    with pytest.raises(InvalidInputError, match="distinct"):
        routing_id(["a", "a"], {})
    with pytest.raises(InvalidInputError, match="align"):
        routing_id(["a", "b"], {"priors": [1.0]})
    with pytest.raises(InvalidInputError, match="at least one"):
        routing_id([], {})
    with pytest.raises(InvalidInputError, match="NaN"):
        routing_id(["a"], {"temperature": float("nan")})
