"""Capability-table selection: held-out rows, cross-fitted choice, scores checked against an
independent recomputation on the same rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from driftline.repair import RepairPolicy, repair
from driftline.repair.capability_rows import Candidate, choose
from driftline.repair.capability_select import pooled
from driftline.repair.routed_model import load_predictor
from driftline.repair.selection import split_rows
from driftline.store import Store
from driftline.tabular_scenarios import tabular_scenario

pytest.importorskip("skops")


def test_pooled_is_the_metric_over_the_union_of_the_folds():
    a = [Candidate("x", {"accuracy": 0.5, "log_loss": 1.0, "n": 10})]
    b = [Candidate("x", {"accuracy": 0.8, "log_loss": 0.4, "n": 30}), Candidate("y", {"n": 3})]
    got = pooled([a, b])
    assert set(got) == {"x"}  # a row missing from a fold cannot be compared
    assert got["x"]["accuracy"] == pytest.approx((0.5 * 10 + 0.8 * 30) / 40)
    assert got["x"]["log_loss"] == pytest.approx((1.0 * 10 + 0.4 * 30) / 40)
    assert got["x"]["n"] == 40


def _row(name: str, acc: float, ll: float = 0.5, n: int = 100) -> Candidate:
    return Candidate(name, {"accuracy": acc, "log_loss": ll, "n": n})


def test_one_se_rule_takes_the_simplest_tier_and_the_best_row_within_it():
    # best: continued training 0.80 on 100 rows; one SE = sqrt(0.8 * 0.2 / 100) = 0.04
    rows = [
        _row("drifted", 0.60),
        _row("output-interpolation", 0.77),
        _row("routing", 0.78),  # same tier as output interpolation (one scalar fitted), better
        _row("continued-training", 0.80),
    ]
    assert choose("classifier", rows).name == "routing"
    # a zero-parameter row within one SE wins over every one-parameter row
    assert choose("classifier", [*rows, _row("routing T=1", 0.765)]).name == "routing T=1"
    # outside one SE (0.80 - 0.04 = 0.76): the best stands
    far = [_row("drifted", 0.6), _row("routing", 0.75), _row("continued-training", 0.80)]
    assert choose("classifier", far).name == "continued-training"
    # inside a tier, the higher score; equal accuracy falls to the lower log-loss
    tied = [_row("output-interpolation", 0.7, 0.6), _row("routing", 0.7, 0.5)]
    assert choose("classifier", tied).name == "routing"


def test_rows_that_fit_nothing_score_exactly_on_the_choose_and_held_out_rows(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    sc = tabular_scenario("sensor", "mixed", seed=3, n_train=600, n_window=600, n_test=100)
    with Store(tmp_path / "s") as store:
        forest = [
            RandomForestClassifier(10, max_depth=6, random_state=k).fit(r.X, r.y)
            for k, r in enumerate((sc.regime_a, sc.regime_b))
        ]
        a = store.register(forest[0], name="rf", data=sc.regime_a.X)
        b = store.register(forest[1], name="rf", parents=[a], data=sc.regime_b.X)
        store.deploy(b, "rf")
        X, y = sc.validation.X, sc.validation.y
        policy = RepairPolicy()
        res = repair(store, "rf", window=sc.window.X, validation=(X, y), policy=policy)
        choose, held = split_rows(y, policy.held_out_fraction, policy.min_held_out_labels)
        assert res.selection == {
            "choose_rows": len(choose),
            "held_out_rows": len(held),
            "cross_fitted": 2,
        }
        assert len(choose) + len(held) == 100 and 30 <= len(held) <= 36  # a third, by class
        for name, model in (("drifted", b), ("rollback", a)):
            pred = load_predictor(store, model.id).predict(X)
            assert res.candidates[name]["accuracy"] == pytest.approx(
                np.mean(pred[choose] == y[choose])
            )
            assert res.candidates[name]["n"] == len(choose)
            assert res.held_out[name]["accuracy"] == pytest.approx(np.mean(pred[held] == y[held]))
        assert {"continued-training", "routing", "output-interpolation"} <= set(res.held_out)
        # the gain test: rollback fits nothing, so its cross-fitted choose rows and held-out
        # rows are all 100 rows scored as the model serves; scipy's sem of the paired difference
        hits = {k: load_predictor(store, m.id).predict(X) == y for k, m in (("a", a), ("b", b))}
        d = hits["a"].astype(float) - hits["b"].astype(float)
        row = res.held_out["rollback"]
        assert row["gain"] == pytest.approx(d.mean())
        assert row["gain_se"] == pytest.approx(stats.sem(d))
        assert row["held_gain"] == pytest.approx(d[held].mean())
        # the deployed row shows its gain: not worse held out, ≥ one paired SE overall
        if res.status == "deployed":
            won = res.held_out[res.chosen]
            assert won["held_gain"] >= 0 and won["gain"] >= won["gain_se"]


def test_a_regressor_gain_is_the_paired_drop_in_squared_error(tmp_path):
    """Regressors: ``gain`` is the mean of (drifted's squared error − the row's) over the
    cross-fitted choose rows and the held-out rows, ``gain_se`` scipy's sem of it."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    sc = tabular_scenario("demand", "recurring", seed=1, n_train=600, n_window=600, n_test=100)
    with Store(tmp_path / "s") as store:
        fits = [
            HistGradientBoostingRegressor(max_iter=40).fit(r.X, r.y)
            for r in (sc.regime_a, sc.regime_b)
        ]
        a = store.register(fits[0], name="d", data=sc.regime_a.X)
        b = store.register(fits[1], name="d", parents=[a], data=sc.regime_b.X)
        store.deploy(b, "d")
        X, y = sc.validation.X, sc.validation.y
        res = repair(store, "d", window=sc.window.X, validation=(X, y))
        err = {
            k: (load_predictor(store, m.id).predict(X) - y) ** 2 for k, m in (("a", a), ("b", b))
        }
        d = err["b"] - err["a"]  # positive: the rollback's squared error is smaller
        row = res.held_out["rollback"]
        assert row["gain"] == pytest.approx(d.mean())
        assert row["gain_se"] == pytest.approx(stats.sem(d))
        if res.status == "deployed":
            won = res.held_out[res.chosen]
            assert won["held_gain"] >= 0 and won["gain"] >= won["gain_se"]
