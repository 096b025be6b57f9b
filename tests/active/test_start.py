"""Active learning starts from the best candidate (a lineage member too, also after a
``no-drift`` result), refines on the labels answered so far, and a repair's pending requests
can be cancelled at once."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.active import HumanOracle, LabelQueue, SimulatedOracle, run_active_learning
from driftline.cli import main
from driftline.repair import load_repair, repair


def concept(n: int, seed: int, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """The same inputs everywhere; the label follows feature ``axis``."""
    X = np.random.default_rng(seed).normal(0, 1, size=(n, 3))
    return X, (X[:, axis] > 0).astype(int)


@pytest.fixture()
def lineage(tmp_path):
    path = tmp_path / "store"
    with driftline.open(path) as store:
        Xa, ya = concept(1500, 1, 0)
        Xb, yb = concept(1500, 2, 1)
        base = store.register(LogisticRegression().fit(Xa, ya), name="clf", data=Xa)
        child = store.register(
            LogisticRegression().fit(Xb, yb), name="clf", parents=[base], data=Xb
        )
        store.deploy(child, "clf")
        Xw, yw = concept(600, 3, 0)  # today: the root's concept, on unchanged inputs
        yield store, path, base, child, (Xw, yw), concept(200, 4, 0)


def test_active_learning_after_no_drift_starts_from_the_best_lineage_member(lineage):
    store, _, base, child, (Xw, yw), (Xv, yv) = lineage
    result = repair(store, "clf", Xw)  # no labels, no input drift
    assert result.status == "no-drift" and result.ancestor_id is None
    out = run_active_learning(
        store,
        result,
        Xw,
        SimulatedOracle(Xw, yw),
        budget=10,
        batch=10,
        validation=(Xv, yv),
        strategy="margin",
        diversity=False,
    )
    root_acc = float(np.mean(store.load_estimator(base.id).predict(Xv) == yv))
    assert out.start_id == base.id  # rolling back to the root beats the served model
    assert out.before["accuracy"] == pytest.approx(root_acc) and root_acc > 0.95
    assert out.after["accuracy"] >= root_acc - 0.02
    served = store.resolve("deployment:clf")
    assert served != child.id
    assert float(np.mean(store.load_estimator(served).predict(Xv) == yv)) > 0.9


def test_refinement_uses_answered_labels_and_cancel_by_repair(lineage, capsys):
    store, path, _, _, (Xw, yw), (Xv, yv) = lineage
    result = repair(store, "clf", Xw)
    queue = LabelQueue(store)
    first = run_active_learning(
        store,
        result,
        Xw,
        HumanOracle(),
        budget=30,
        batch=10,
        validation=(Xv, yv),
        strategy="margin",
        diversity=False,
    )
    assert first.status == "waiting-for-labels" and len(first.pending) == 10
    assert load_repair(store, result.repair_id).status == "waiting-for-labels"
    truth = SimulatedOracle(Xw, yw)
    truth.answer(queue, queue.pending(result.repair_id)[:7])  # 7 of 10 answered
    again = run_active_learning(
        store,
        result,
        Xw,
        HumanOracle(),
        budget=30,
        batch=10,
        validation=(Xv, yv),
        strategy="margin",
        diversity=False,
    )
    assert again.status == "waiting-for-labels" and len(again.pending) == 3
    assert [r.labels for r in again.rounds] == [7]  # refined without waiting for the last 3
    store.close()
    assert main(["--store", str(path), "label", "cancel", "--repair", str(result.repair_id)]) == 0
    assert "cancelled 3 request(s)" in capsys.readouterr().out
    with driftline.open(path) as st:
        assert LabelQueue(st).pending(result.repair_id) == []
        assert LabelQueue(st).counts(result.repair_id)["cancelled"] == 3
