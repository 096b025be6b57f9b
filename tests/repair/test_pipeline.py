"""Healthy-ancestor selection, the repair pipeline and deployments, on small hand-built lineages."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.repair import RepairPolicy, find_healthy_ancestor, load_repair, repair
from driftline.repair.routed_model import load_predictor


def gaussian(mean: float, n: int = 3000, seed: int = 0, d: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(mean, 1.0, size=(n, d))


def params(i: float) -> dict[str, np.ndarray]:
    return {"w": np.full(4, float(i))}


@pytest.fixture()
def store(tmp_path):
    with driftline.open(tmp_path / "store") as st:
        yield st


def test_nearest_healthy_ancestor_skips_drifted_ones(store):
    a = store.register(params(1), name="m", data=gaussian(0.0, seed=1))
    b = store.register(params(2), name="m", parents=[a], data=gaussian(1.0, seed=2))
    c = store.register(params(3), name="m", parents=[b], data=gaussian(2.0, seed=3))
    search = find_healthy_ancestor(store, c.id, gaussian(0.0, seed=4))
    assert [r.ref for r in search.rows] == ["m@2", "m@1"]
    assert [r.healthy for r in search.rows] == [False, True]
    assert search.chosen is not None and search.chosen.id == a.id
    assert search.rows[1].hops == 2 and search.rows[1].path_kinds == ["finetune", "finetune"]


def test_nearest_wins_over_less_drifted_further_one(store):
    a = store.register(params(1), name="m", data=gaussian(0.0, seed=1))
    b = store.register(params(2), name="m", parents=[a], data=gaussian(0.05, seed=2))
    c = store.register(params(3), name="m", parents=[b], data=gaussian(2.0, seed=3))
    search = find_healthy_ancestor(store, c.id, gaussian(0.0, seed=4))
    assert all(r.healthy for r in search.rows)
    assert search.chosen.id == b.id  # 1 hop beats 2 hops even though a matches better


def test_tie_on_hops_goes_to_lower_drift(store):
    p1 = store.register(params(1), name="p", data=gaussian(0.15, seed=1))
    p2 = store.register(params(2), name="q", data=gaussian(0.0, seed=2))
    child = store.register(
        params(3), name="m", parents=[p1, p2], transform="merge", data=gaussian(3.0, seed=3)
    )
    # the effect rule: a 0.15 sigma shift counts as healthy (the calibrated rule flags it)
    search = find_healthy_ancestor(
        store, child.id, gaussian(0.0, seed=4), agent_kwargs={"rule": "effect"}
    )
    assert {r.hops for r in search.rows} == {1}
    assert all(r.healthy for r in search.rows)
    assert search.chosen.id == p2.id
    psi = {r.id: r.drift["psi"] for r in search.rows}
    assert psi[p2.id] < psi[p1.id]


def test_no_healthy_ancestor_gives_least_drifted_fallback(store):
    a = store.register(params(1), name="m", data=gaussian(3.0, seed=1))
    b = store.register(params(2), name="m", parents=[a], data=gaussian(5.0, seed=2))
    c = store.register(params(3), name="m", parents=[b], data=gaussian(8.0, seed=3))
    search = find_healthy_ancestor(store, c.id, gaussian(0.0, seed=4))
    assert search.chosen is None and not search.healthy
    assert search.fallback.id == a.id


def blobs(shift: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two classes whose boundary moves with ``shift`` (a concept that rotates)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, size=(n, 2)) + np.array([shift, 0.0])
    angle = shift
    direction = np.array([np.cos(angle), np.sin(angle)])
    y = ((X - np.array([shift, 0.0])) @ direction > 0).astype(int)
    return X, y


@pytest.fixture()
def drifted_lineage(store):
    X0, y0 = blobs(0.0, 2000, 1)
    X1, y1 = blobs(1.5, 2000, 2)
    m0 = LogisticRegression().fit(X0, y0)
    base = store.register(m0, name="clf", data=X0, metrics={"accuracy": m0.score(X0, y0)})
    m1 = LogisticRegression().fit(X1, y1)
    child = store.register(m1, name="clf", parents=[base], data=X1)
    store.deploy(child, "clf")
    return store, base, child


def test_pipeline_repairs_toward_healthy_ancestor_and_deploys(drifted_lineage):
    store, base, child = drifted_lineage
    Xw, _ = blobs(0.0, 1500, 3)
    Xv, yv = blobs(0.0, 100, 4)
    result = repair(store, "clf", Xw, (Xv, yv))
    assert result.status == "deployed" and result.deployed
    assert result.ancestor_id == base.id and result.healthy_ancestor
    assert len(result.alpha_evaluations) <= 12
    assert result.after["accuracy"] > result.before["accuracy"] + 0.1
    assert result.alpha > 0.5
    repaired = store.get("deployment:clf")
    assert repaired.id == result.repaired_id and repaired.ref == "clf@3"
    parents = {e.parent: e for e in store.parents(repaired)}
    assert set(parents) == {base.id, child.id}
    assert all(e.kind == "repair" for e in parents.values())
    edge = parents[child.id]
    assert edge.params["alpha"] == pytest.approx(result.alpha)
    assert edge.params["drift_report_id"] == result.drift_report_id
    assert edge.metrics["after"]["accuracy"] == result.after["accuracy"]
    history = store.deployment_history("clf")
    assert [h.action for h in history] == ["deploy", "deploy"]
    assert store.drift_reports(child)[0]["drift"] is True


def test_pipeline_rerun_is_idempotent(drifted_lineage):
    store, _, child = drifted_lineage
    Xw, _ = blobs(0.0, 1500, 3)
    Xv, yv = blobs(0.0, 100, 4)
    first = repair(store, child.ref, Xw, (Xv, yv))
    n_models = len(store.list_models())
    again = repair(store, child.ref, Xw, (Xv, yv))
    assert again.repair_id == first.repair_id and again.repaired_id == first.repaired_id
    assert len(store.list_models()) == n_models
    assert load_repair(store, first.repair_id).alpha == first.alpha


def test_pipeline_without_labels_waits_for_approval(store):
    X0, y0 = blobs(0.0, 2000, 1)
    X1, y1 = blobs(1.5, 2000, 2)
    flip = np.random.default_rng(0).random(len(y1)) < 0.35  # a noisy, unconfident descendant
    y1 = np.where(flip, 1 - y1, y1)
    base = store.register(LogisticRegression(C=10.0).fit(X0, y0), name="clf", data=X0)
    child = store.register(LogisticRegression().fit(X1, y1), name="clf", parents=[base], data=X1)
    store.deploy(child, "clf")
    Xw, _ = blobs(0.0, 1500, 3)
    result = repair(store, "clf", Xw)
    assert result.alpha_objective == "entropy" and result.alpha > 0.5
    assert result.status == "awaiting-approval"
    assert store.get("deployment:clf").id == child.id
    approved = driftline.repair.approve_repair(store, result.repair_id)
    assert approved.status == "deployed"
    assert store.get("deployment:clf").id == result.repaired_id


def test_alpha_zero_registers_nothing(drifted_lineage):
    store, _, child = drifted_lineage
    Xw, _ = blobs(0.0, 1500, 3)
    n = len(store.list_models())
    # without routing, entropy prefers the confident drifted model: alpha 0
    result = repair(store, "clf", Xw, policy=RepairPolicy(routing=False))
    assert result.alpha == 0.0 and result.status == "needs-labels"
    assert result.repaired_id is None and len(store.list_models()) == n
    assert store.get("deployment:clf").id == child.id


def test_window_of_the_roots_regime_without_labels_proposes_the_routed_lineage(drifted_lineage):
    store, base, child = drifted_lineage
    Xw, _ = blobs(0.0, 1500, 3)
    result = repair(store, "clf", Xw)  # the root claims the window and its rows match its data
    assert result.status == "awaiting-approval" and result.chosen == "routing"
    assert result.routing["explains_window"] == {
        "member": base.ref,
        "claimed_rows": result.routing["explains_window"]["claimed_rows"],
        "drifted": False,
    }
    assert store.get("deployment:clf").id == child.id  # waits for approval
    Xt, yt = blobs(0.0, 2000, 9)
    routed = load_predictor(store, result.repaired_id)
    drifted = load_predictor(store, child.id)
    assert np.mean(routed.predict(Xt) == yt) > np.mean(drifted.predict(Xt) == yt) + 0.2


def test_pipeline_no_drift_does_nothing(drifted_lineage):
    store, _, child = drifted_lineage
    Xw, _ = blobs(1.5, 1500, 5)
    result = repair(store, "clf", Xw)
    assert result.status == "no-drift" and result.repaired_id is None
    assert store.get("deployment:clf").id == child.id


def test_target_accuracy_not_met_hands_over_to_active_learning(drifted_lineage):
    store, _, child = drifted_lineage
    Xw, _ = blobs(0.0, 1500, 3)
    Xv, yv = blobs(0.0, 100, 4)
    result = repair(store, "clf", Xw, (Xv, yv), policy=RepairPolicy(target_accuracy=1.01))
    assert result.status == "needs-labels" and result.needs_labels
    assert store.get("deployment:clf").id == child.id


def test_pipeline_errors(drifted_lineage):
    store, _, _ = drifted_lineage
    Xv, yv = blobs(0.0, 100, 4)
    with pytest.raises(InvalidInputError):
        repair(store, "clf", Xv, (Xv, yv[:10]))
    with pytest.raises(UnknownReferenceError):
        repair(store, "nope", Xv, (Xv, yv))


def test_deploy_switch_and_rollback(store):
    ms = [store.register(params(i), name="m") for i in range(3)]
    for m in ms:
        store.deploy(m, "prod", reason=f"v{m.version}", actor="tester")
    assert store.get("deployment:prod").id == ms[2].id
    store.rollback("prod")
    assert store.get("deployment:prod").id == ms[1].id
    store.rollback("prod")
    assert store.get("deployment:prod").id == ms[0].id
    with pytest.raises(InvalidInputError):
        store.rollback("prod")
    assert store.get("deployment:prod").id == ms[0].id
    hist = store.deployment_history("prod")
    assert [h.action for h in hist] == ["deploy"] * 3 + ["rollback"] * 2
    assert hist[0].actor == "tester" and hist[1].previous_model_id == ms[0].id
    with pytest.raises(UnknownReferenceError):
        store.rollback("missing")


def test_mixed_window_routes_and_a_drifted_routed_model_is_rerouted(store):
    # two regimes whose class boundaries differ: x0 > 0 in A, x1 > 0 in B (B sits at x0 = 6)
    rng = np.random.default_rng(0)

    def regime(kind: str, n: int) -> tuple[np.ndarray, np.ndarray]:
        X = rng.normal(0, 1, size=(n, 2))
        if kind == "A":
            return X, (X[:, 0] > 0).astype(int)
        X[:, 0] += 6.0
        return X, (X[:, 1] > 0).astype(int)

    def mix(share_a: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        na = int(share_a * n)
        (Xa, ya), (Xb, yb) = regime("A", na), regime("B", n - na)
        return np.vstack([Xa, Xb]), np.concatenate([ya, yb])

    Xa, ya = regime("A", 2000)
    Xb, yb = regime("B", 2000)
    base = store.register(LogisticRegression().fit(Xa, ya), name="clf", data=Xa)
    child = store.register(LogisticRegression().fit(Xb, yb), name="clf", parents=[base], data=Xb)
    store.deploy(child, "clf")
    Xw, _ = mix(0.5, 2000)
    Xv, yv = mix(0.5, 200)
    first = repair(store, "clf", Xw, (Xv, yv))
    assert first.chosen == "routing" and first.status == "deployed"
    assert (
        first.candidates["routing"]["accuracy"]
        > first.candidates["interpolation"]["accuracy"] + 0.2
    )
    assert first.regime_mix == pytest.approx({"clf@2": 0.5, "clf@1": 0.5}, abs=0.05)
    routed = store.get("deployment:clf")
    assert routed.framework == "routed" and {e.kind for e in store.parents(routed)} == {"route"}

    # today's data moves to 90% A: the routed model drifts against its window and is re-routed
    Xw2, _ = mix(0.9, 2000)
    Xv2, yv2 = mix(0.9, 200)
    second = repair(store, "clf", Xw2, (Xv2, yv2))
    assert second.drifted_id == routed.id and second.chosen == "routing"
    assert sorted(second.routing["members"]) == ["clf@1", "clf@2"]
    priors = dict(zip(second.routing["members"], second.routing["priors"], strict=True))
    assert priors["clf@1"] == pytest.approx(0.9, abs=0.05)
    assert second.repaired_id is not None and second.repaired_id != routed.id


def test_bound_agent_saves_reports_fires_callback_and_repairs(drifted_lineage):
    store, base, child = drifted_lineage
    fired = []
    agent = driftline.monitor(
        store, "clf", window=1000, on_drift=fired.append, repair_with=blobs(0.0, 100, 4)
    )
    quiet, _ = blobs(1.5, 2000, 7)  # the deployed model's own regime
    today, _ = blobs(0.0, 3000, 8)  # back to the ancestor's regime
    reports = agent.update(quiet) + agent.update(today[:1500])
    reports += agent.update(today[1500:2000]) + agent.update(today[2000:])
    assert [r.drift for r in reports] == [False, False, True, False, False]
    assert len(fired) == 1  # later windows are judged against the repaired model
    assert len(agent.repairs) == 1 and agent.repairs[0].deployed
    assert agent.repairs[0].ancestor_id == base.id
    assert store.get("deployment:clf").id == agent.repairs[0].repaired_id
    assert len(store.drift_reports(child)) == 3 + 1  # three windows + the pipeline's own check
