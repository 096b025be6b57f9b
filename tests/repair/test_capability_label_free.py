"""Zero labels in the capability path: the lineage's Bayes routing is proposed for approval,
scored here against the models' own predictions on a test set the repair never saw."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.repair import RepairPolicy, approve_repair, list_repairs, repair
from driftline.repair.routed_model import load_predictor
from driftline.statuses import RepairStatus
from driftline.store import Store
from driftline.tabular_scenarios import tabular_scenario

pytest.importorskip("skops")


def _lineage(store: Store, sc, make):
    root, child = make().fit(sc.regime_a.X, sc.regime_a.y), make().fit(sc.regime_b.X, sc.regime_b.y)
    a = store.register(root, name="m", data=sc.regime_a.X)
    d = store.register(child, name="m", parents=[a], data=sc.regime_b.X)
    store.deploy(d, "m")
    return root, child, d


def _served(store: Store) -> str:
    return {d.name: d.model_id for d in store.deployments()}["m"]


def test_regressor_without_labels_proposes_the_bayes_gate_and_waits_for_approval(tmp_path):
    from sklearn.ensemble import HistGradientBoostingRegressor

    sc = tabular_scenario("demand", "recurring", seed=1, n_train=1500, n_window=800, n_test=800)
    with Store(tmp_path / "s") as store:
        root, child, d = _lineage(store, sc, lambda: HistGradientBoostingRegressor(max_iter=60))
        res = repair(store, "m", window=sc.window.X)
        assert res.status is RepairStatus.AWAITING_APPROVAL
        assert res.chosen == "routing T=1" and res.repaired_id not in (None, d.id)
        assert _served(store) == d.id  # nothing deployed without approval

        def mse(pred: np.ndarray) -> float:
            return float(np.mean((pred - sc.test.y) ** 2))

        repaired = mse(load_predictor(store, res.repaired_id).predict(sc.test.X))
        # the window is 95 % regime A: the gate follows the root, far from the drifted child
        assert repaired < 0.2 * mse(child.predict(sc.test.X))
        assert repaired < 1.5 * mse(root.predict(sc.test.X))
        approve_repair(store, res.repair_id)
        assert _served(store) == res.repaired_id
        assert [r.status for r in list_repairs(store)] == [RepairStatus.DEPLOYED]


def test_classifier_without_labels_ranks_members_by_agreement_with_the_committee(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    sc = tabular_scenario("sensor", "mixed", seed=2, n_train=1500, n_window=800, n_test=800)
    with Store(tmp_path / "s") as store:
        root, child, d = _lineage(
            store, sc, lambda: RandomForestClassifier(30, max_depth=8, random_state=0)
        )
        res = repair(store, "m", window=sc.window.X)
        assert res.status is RepairStatus.AWAITING_APPROVAL and res.chosen == "routing T=1"
        routed = load_predictor(store, res.repaired_id)
        committee = routed.predict(sc.window.X)
        # the proxy is the share of window rows on which each member agrees with the committee
        assert res.proxy["routing T=1"] == 1.0
        assert res.proxy["drifted"] == pytest.approx(
            np.mean(child.predict(sc.window.X) == committee)
        )
        assert res.proxy["rollback"] == pytest.approx(
            np.mean(root.predict(sc.window.X) == committee)
        )
        accuracy = np.mean(routed.predict(sc.test.X) == sc.test.y)
        assert accuracy > np.mean(child.predict(sc.test.X) == sc.test.y) + 0.05


def test_no_proposal_when_the_window_is_the_drifted_models_own_regime(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    sc = tabular_scenario("sensor", "mixed", seed=4, n_train=1500, n_window=800, n_test=100)
    with Store(tmp_path / "s") as store:
        _, _, d = _lineage(
            store, sc, lambda: RandomForestClassifier(30, max_depth=8, random_state=0)
        )
        own = sc.regime_b.X[:800]  # the child's own training rows
        res = repair(store, "m", window=own, policy=RepairPolicy(force=True))
        assert res.status is RepairStatus.NEEDS_LABELS and res.repaired_id is None
        assert res.proxy["drifted"] >= 0.99
        assert _served(store) == d.id


def test_no_proposal_for_a_regime_no_member_has_seen(tmp_path):
    from sklearn.ensemble import RandomForestClassifier

    sc = tabular_scenario("sensor", "mixed", seed=5, n_train=1500, n_window=800, n_test=100)
    with Store(tmp_path / "s") as store:
        _, _, d = _lineage(
            store, sc, lambda: RandomForestClassifier(30, max_depth=8, random_state=0)
        )
        novel = sc.regime_a.X[:800].copy()
        novel[:, :4] = novel[:, :4] * 3.0 - 8.0  # every numeric input far outside training
        res = repair(store, "m", window=novel)
        assert res.status is RepairStatus.NEEDS_LABELS and res.repaired_id is None
        assert res.routing["explains_window"]["drifted"] is True
        assert _served(store) == d.id
