"""Concept drift in repair: P(y|x) moves while P(x) stays; the lineage is scored on labels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.repair import RepairPolicy, repair
from driftline.repair.concept import CONCEPT_DRIFT, HARMLESS

CONCEPTS = {  # decision directions: the same inputs, different labels
    "A": np.array([1.0, 0.0, 0.0]),
    "C": np.array([0.6, 0.8, 0.0]),
    "B": np.array([0.0, 1.0, 0.0]),
}


def data(concept: str, n: int, seed: int, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (n, 3)) + shift
    return X, (X @ CONCEPTS[concept] > 0).astype(int)


@pytest.fixture()
def lineage(tmp_path):
    """root (concept A) -> mid (C) -> deployed (B), all trained on the same P(x)."""
    with driftline.open(tmp_path / "store") as store:
        members = []
        for i, c in enumerate("ACB"):
            X, y = data(c, 3000, seed=i)
            m = LogisticRegression(C=100.0).fit(X, y)
            members.append(
                store.register(
                    m, name="clf", data=X, parents=members[-1:], metrics={"accuracy": m.score(X, y)}
                )
            )
        store.deploy(members[-1], "clf")
        yield store, members


def test_concept_drift_moves_to_the_member_best_on_labels(lineage):
    store, (root, mid, deployed) = lineage
    Xw, _ = data("A", 2000, seed=40)  # today's inputs: same P(x) ...
    Xv, yv = data("A", 100, seed=11)  # ... but the concept went back to A
    res = repair(store, "clf", Xw, (Xv, yv))
    assert res.concept_drift and res.message.startswith(CONCEPT_DRIFT)
    assert res.performance["accuracy"] < 0.8 and res.performance["performance_down"]
    scores = {r["id"]: r["label_score"]["accuracy"] for r in res.search["rows"]}
    assert scores[root.id] > scores[mid.id] > res.performance["accuracy"]
    assert res.ancestor_id == root.id  # 2 hops away, but it performs
    assert res.status == "deployed" and res.after["accuracy"] >= 0.9
    assert store.get("deployment:clf").id == res.repaired_id
    assert res.after["accuracy"] > res.before["accuracy"] + 0.3
    assert res.alpha > 0.9  # essentially a rollback to the root


def test_performing_model_with_unchanged_inputs_is_left_alone(lineage):
    store, (_, _, deployed) = lineage
    Xw, _ = data("B", 2000, seed=20)
    Xv, yv = data("B", 100, seed=21)
    res = repair(store, "clf", Xw, (Xv, yv))
    assert res.status == "no-drift" and not res.concept_drift
    assert not res.performance["performance_down"]
    assert store.get("deployment:clf").id == deployed.id


def test_gate_skips_harmless_input_drift(lineage):
    store, (_, _, deployed) = lineage
    Xw, _ = data("B", 2000, seed=30, shift=0.8)  # inputs move, the concept (B) holds
    Xv, yv = data("B", 100, seed=31, shift=0.8)
    gated = repair(store, "clf", Xw, (Xv, yv), policy=RepairPolicy(min_estimated_drop=0.05))
    assert gated.status == HARMLESS and "no repair" in gated.message
    assert store.get("deployment:clf").id == deployed.id
    # without labels the drop is estimated from the model's confidence on the window
    blind = repair(store, "clf", Xw, policy=RepairPolicy(min_estimated_drop=0.05))
    assert blind.status == HARMLESS
    # the same drift without the gate goes on to the ancestor search
    ungated = repair(store, "clf", Xw, (Xv, yv))
    assert ungated.status != HARMLESS and ungated.search


def test_estimated_drop_is_lineage_aware_when_the_model_names_its_regimes(lineage):
    from driftline.drift.likelihood import log_likelihood
    from driftline.drift.performance import CBPE, LineageCBPE
    from driftline.repair.concept import estimated_drop

    store, (root, _, deployed) = lineage
    model = LogisticRegression(C=100.0).fit(*data("B", 3000, seed=70))
    calib = [data(c, 1000, seed=50 + i) for i, c in enumerate("AB")]
    lc = LineageCBPE([CBPE.fit(model.predict_proba(X), y) for X, y in calib])
    regimes = [root.id, deployed.id]
    metrics = {"accuracy": 0.95, "lineage_cbpe": {**lc.to_dict(), "regimes": regimes}}
    m = store.register(model, name="clf-lineage", data=calib[1][0], metrics=metrics)
    Xw, _ = data("A", 500, seed=60)
    ll = np.column_stack([log_likelihood(store.signature(r), Xw) for r in regimes])
    want = 0.95 - lc.estimate(model.predict_proba(Xw), ll)
    assert estimated_drop(store, m, Xw, None, None) == pytest.approx(want)
