"""Zero labels on the weight-space path: a window that is mostly one ancestor's regime with a
few rows of another drifts against every member, yet the routed lineage explains it; a regime
no member has seen is not proposed."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.repair import repair
from driftline.repair.routed_model import load_predictor
from driftline.statuses import RepairStatus


def _regime(rng: np.random.Generator, n: int, shift: float, flip: bool):
    X = rng.normal(shift, 1.0, size=(n, 4))
    y = ((X[:, 0] - shift) * (-1 if flip else 1) + 0.3 * (X[:, 1] - shift) > 0).astype(int)
    return X, y


def _mix(rng: np.random.Generator, n: int, share_b: float):
    nb = int(round(n * share_b))
    Xa, ya = _regime(rng, n - nb, 0.0, False)
    Xb, yb = _regime(rng, nb, 6.0, True)
    return np.vstack([Xa, Xb]), np.concatenate([ya, yb])


@pytest.fixture()
def lineage(tmp_path):
    rng = np.random.default_rng(7)
    Xa, ya = _regime(rng, 3000, 0.0, False)
    Xb, yb = _regime(rng, 3000, 6.0, True)
    with driftline.open(tmp_path / "s") as store:
        root = LogisticRegression().fit(Xa, ya)
        child = LogisticRegression().fit(Xb, yb)
        a = store.register(root, name="m", data=Xa)
        d = store.register(child, name="m", parents=[a], data=Xb)
        store.deploy(d, "m")
        yield store, root, child, d, rng


def test_recurring_window_with_a_few_other_rows_gets_routing_for_approval(lineage):
    store, root, child, d, rng = lineage
    window, _ = _mix(rng, 1500, 0.06)
    res = repair(store, "m", window=window)
    assert res.search is not None and not any(r["healthy"] for r in res.search["rows"])
    assert res.status is RepairStatus.AWAITING_APPROVAL and res.chosen == "routing"
    assert res.routing["explains_window"]["drifted"] is False
    X_test, y_test = _mix(rng, 4000, 0.06)
    served = np.mean(load_predictor(store, res.repaired_id).predict(X_test) == y_test)
    assert served > np.mean(child.predict(X_test) == y_test) + 0.4
    assert served >= np.mean(root.predict(X_test) == y_test) - 0.01


def test_a_regime_no_member_has_seen_is_not_proposed(lineage):
    store, *_, rng = lineage
    novel = rng.normal(-4.0, 2.0, size=(1500, 4))
    res = repair(store, "m", window=novel)
    assert res.status is RepairStatus.NEEDS_LABELS and res.chosen != "routing"
