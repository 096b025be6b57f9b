"""A regressor's repair asks for labels where the lineage's predictions disagree most."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge

import driftline
from driftline.active import LabelQueue, SimulatedOracle, run_active_learning
from driftline.repair import repair


def _lineage(tmp_path):
    rng = np.random.default_rng(0)

    def regime(shift, n, w):
        X = rng.normal(size=(n, 3))
        X[:, 0] += shift
        return X, X @ np.asarray(w) + rng.normal(0, 0.1, n)

    store = driftline.open(tmp_path / ".driftline")
    Xa, ya = regime(0, 800, [1.0, 2.0, 0.0])
    Xb, yb = regime(4, 800, [-1.0, 0.5, 1.0])
    base = store.register(Ridge().fit(Xa, ya), name="reg", data=Xa)
    child = store.register(Ridge().fit(Xb, yb), name="reg", parents=[base], data=Xb)
    store.deploy(child, "reg")
    Xw, yw = regime(-6, 300, [0.0, 1.0, 3.0])
    result = repair(store, "reg", Xw, regime(-6, 40, [0.0, 1.0, 3.0]))
    return store, result, Xw, yw


def test_requests_are_the_top_committee_variance_rows(tmp_path):
    store, result, Xw, _ = _lineage(tmp_path)
    out = run_active_learning(store, result, Xw, None, batch=6, budget=20, diversity=False)
    assert out.status == "waiting-for-labels" and len(out.pending) == 6
    # reference: drifted and ancestor as their own sklearn estimators (the repaired node is an
    # output-space blend that no family rebuilds, so it is not a committee member)
    assert store.get(result.repaired_id).framework == "blend"
    preds = [store.load_estimator(m).predict(Xw) for m in (result.drifted_id, result.ancestor_id)]
    var = np.vstack(preds).var(axis=0)
    pending = LabelQueue(store).pending(result.repair_id)
    got = {tuple(np.round(r.features, 9)) for r in pending}
    want = {tuple(np.round(Xw[i], 9)) for i in np.argsort(-var)[:6]}
    assert got == want
    assert all(r.strategy == "committee_variance" for r in pending)
    assert np.allclose(sorted(r.predictions["variance"] for r in pending), np.sort(var)[-6:])


def test_a_simulated_oracle_answers_and_the_budget_bounds_the_requests(tmp_path):
    store, result, Xw, yw = _lineage(tmp_path)
    out = run_active_learning(store, result, Xw, SimulatedOracle(Xw, yw), batch=8, budget=8)
    assert out.labels_used == 8 and out.status == "budget-exhausted"
    again = run_active_learning(store, result, Xw, SimulatedOracle(Xw, yw), batch=8, budget=8)
    assert again.labels_used == 8  # nothing more is asked once the budget is spent
    assert LabelQueue(store).counts(result.repair_id)["labelled"] == 8


def test_a_regressors_record_says_it_waits_for_labels(tmp_path):
    """`driftline repairs` showed a regressor's repair as needs-labels while its requests
    waited in the queue (only the classifier loop wrote the record)."""
    from driftline.repair import load_repair

    store, result, Xw, _ = _lineage(tmp_path)
    store.deploy(result.drifted_id, "reg")  # back to the drifted model
    result = repair(store, "reg", Xw)  # no validation labels: needs-labels
    assert result.status == "needs-labels"
    out = run_active_learning(store, result, Xw, None, batch=4, budget=8)
    assert out.status == "waiting-for-labels" and not out.refits
    stored = load_repair(store, result.repair_id)
    assert stored.status == "waiting-for-labels" and stored.active["pending"] == 4
    q = LabelQueue(store)
    q.label(out.pending[0], 1.5)
    again = run_active_learning(store, result, Xw, None, batch=4, budget=8)
    assert again.labels_used == 1 and "1 answered" in again.message
