"""Calibrating the label-free estimate from labelled data: what is stored, what agents then
report, and the held-out check, on two generated 2-regime lineages (credit and sensor)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

import driftline
from driftline.drift import DriftAgent
from driftline.drift.likelihood import log_likelihood
from driftline.drift.performance import CBPE, LineageCBPE
from driftline.errors import InvalidInputError, SchemaMismatchError, UnknownReferenceError
from driftline.repair.calibrate import MIN_ROWS, calibrate_estimate
from driftline.repair.window_proba import model_aware_settings
from driftline.tabular_scenarios import tabular_scenario

SHARES_B = (0.0, 0.25, 0.5, 0.75, 1.0)  # today's windows: share of regime B's rows


def table(split, names, label: str = "y") -> pd.DataFrame:
    out = pd.DataFrame(split.X, columns=list(names))
    out[label] = split.y
    return out


def build_lineage(store, family: str):
    """root (regime A) -> deployed child (regime B); labelled tables drawn independently."""
    train = tabular_scenario(family, "mixed", seed=0, n_train=3000)
    names = list(train.feature_names)
    members = []
    for split in (train.regime_a, train.regime_b):
        X = pd.DataFrame(split.X, columns=names)
        clf = LogisticRegression(max_iter=2000).fit(X, split.y)
        members.append(store.register(clf, name=family, data=X, parents=members[-1:]))
    labelled = tabular_scenario(family, "mixed", seed=1, n_train=1000)
    today = tabular_scenario(family, "mixed", seed=2, n_train=2000)
    return members, names, labelled, today


@pytest.fixture(params=["credit", "sensor"])
def lineage(request, tmp_path):
    with driftline.open(tmp_path / "store") as store:
        yield (store, request.param, *build_lineage(store, request.param))


def windows(today, names, n: int = 500):
    """(window table, its labels) at each share of regime B."""
    for share in SHARES_B:
        nb = int(round(n * share))
        X = np.vstack([today.regime_a.X[: n - nb], today.regime_b.X[:nb]])
        y = np.concatenate([today.regime_a.y[: n - nb], today.regime_b.y[:nb]])
        yield pd.DataFrame(X, columns=names), y


def test_stored_metrics_round_trip_and_the_agent_reports_the_lineage_estimate(lineage):
    store, family, (root, child), names, labelled, today = lineage
    regimes = {
        root.ref: table(labelled.regime_a, names),
        child.ref: table(labelled.regime_b, names),
    }
    res = calibrate_estimate(store, child.ref, table(labelled.test, names), regimes=regimes)
    assert res.stored == ("cbpe", "lineage_cbpe") and res.target == "y"
    metrics = store.get(child.id).metrics
    assert CBPE.from_dict(metrics["cbpe"]) == res.cbpe
    assert metrics["lineage_cbpe"]["regimes"] == [root.id, child.id]
    assert LineageCBPE.from_dict(metrics["lineage_cbpe"]) == res.lineage
    assert res.regime_refs == [root.ref, child.ref]

    model = store.get(child.id)
    sig = store.signature(child.id)
    settings = model_aware_settings(store, model, sig, estimate=True, multivariate=False)
    assert settings is not None and settings.lineage_cbpe == res.lineage
    clf = store.load_estimator(child.id)
    sigs = [store.signature(r) for r in metrics["lineage_cbpe"]["regimes"]]
    err, err_cbpe, err_em = [], [], []
    for X, y in windows(today, names):
        agent = DriftAgent(sig, window=None, model_aware=settings)
        agent.update(X)
        est = agent.report().model
        realised = float(np.mean(clf.predict(X) == y))
        err.append(abs(est["estimated_accuracy"] - realised))
        err_cbpe.append(abs(est["estimated_accuracy_cbpe"] - realised))
        ll = np.column_stack([log_likelihood(s, X) for s in sigs])  # the repair gate's figure
        err_em.append(abs(res.lineage.estimate(clf.predict_proba(X), ll) - realised))
    # the windows run from all-A (the regime the child forgot) to all-B: the lineage estimate
    # follows the realised accuracy better than confidence alone; with the window's regime
    # shares fitted (EM) it meets the 0.03
    assert np.mean(err) <= 0.05 and np.mean(err) < np.mean(err_cbpe), (family, err, err_cbpe)
    assert np.mean(err_em) <= 0.03, (family, err_em)


def test_held_out_check_reports_every_regime_honestly(lineage):
    store, family, (root, child), names, labelled, _ = lineage
    regimes = {
        root.ref: table(labelled.regime_a, names),
        child.ref: table(labelled.regime_b, names),
    }
    res = calibrate_estimate(store, child.ref, table(labelled.test, names), regimes=regimes)
    assert [c.table for c in res.checks] == ["data", root.ref, child.ref]
    clf = store.load_estimator(child.id)
    for check, split in zip(res.checks[1:], (labelled.regime_a, labelled.regime_b), strict=True):
        assert check.rows == 1000 and check.held_out == 500
        whole = float(np.mean(clf.predict(pd.DataFrame(split.X, columns=names)) == split.y))
        assert abs(check.realised_accuracy - whole) < 0.05  # a half of the regime's rows
        assert check.estimated_lineage is not None and check.error <= 0.08, (family, check)
    # the regimes differ for the child: one map for both cannot fit both; the agent's lineage
    # figure (uniform regime prior, each row on its own) is closer on the worse regime
    a, b = res.checks[1], res.checks[2]
    assert abs(a.realised_accuracy - b.realised_accuracy) > 0.15
    worst_cbpe = max(abs(c.estimated_cbpe - c.realised_accuracy) for c in (a, b))
    assert worst_cbpe > 0.08 and max(a.error, b.error) < worst_cbpe
    assert res.mean_error <= 0.05
    assert res.to_dict()["lineage_cbpe"]["regimes"] == [root.id, child.id]


def test_without_regime_labels_only_cbpe_is_stored(lineage):
    store, _, (root, child), names, labelled, _ = lineage
    data = table(labelled.test, names)
    res = calibrate_estimate(store, child.ref, data)
    assert res.stored == ("cbpe",) and res.lineage is None and not res.lineage_kept
    assert "lineage_cbpe" not in store.get(child.id).metrics  # no labels invented per regime
    assert [c.table for c in res.checks] == ["data"] and res.checks[0].estimated_lineage is None
    assert res.checks[0].error < 0.05
    regimes = {
        root.ref: table(labelled.regime_a, names),
        child.ref: table(labelled.regime_b, names),
    }
    calibrate_estimate(store, child.ref, data, regimes=regimes)
    again = calibrate_estimate(store, child.ref, data)
    assert again.lineage_kept and "lineage_cbpe" in store.get(child.id).metrics


def test_labels_come_from_target_or_usual_names_and_missing_ones_are_dropped(tmp_path):
    with driftline.open(tmp_path / "store") as store:
        (_, child), names, labelled, _ = build_lineage(store, "credit")
        data = table(labelled.test, names, label="outcome")
        res = calibrate_estimate(store, child.ref, data, target="outcome")
        assert res.target == "outcome" and res.cbpe.n == len(data)
        data.loc[: len(data) // 2, "outcome"] = np.nan  # unlabelled rows are left out
        assert calibrate_estimate(store, child.ref, data, target="outcome").cbpe.n < len(data) // 2
        path = tmp_path / "labelled.csv"
        table(labelled.test, names, label="label").to_csv(path, index=False)
        assert calibrate_estimate(store, child.ref, path).target == "label"


def test_bad_input_is_a_clear_error(tmp_path):
    with driftline.open(tmp_path / "store") as store:
        (root, child), names, labelled, _ = build_lineage(store, "credit")
        data = table(labelled.test, names)
        with pytest.raises(UnknownReferenceError):
            calibrate_estimate(store, "credit@9", data)
        with pytest.raises(InvalidInputError, match="no label column 'churned'"):
            calibrate_estimate(store, child.ref, data, target="churned")
        with pytest.raises(InvalidInputError, match="no label column"):
            calibrate_estimate(store, child.ref, data.drop(columns="y"))
        with pytest.raises(InvalidInputError, match=f"at least {MIN_ROWS}"):
            calibrate_estimate(store, child.ref, data.head(MIN_ROWS - 1))
        X = pd.DataFrame(labelled.regime_a.X, columns=names)
        other = store.register(LogisticRegression().fit(X, labelled.regime_a.y), name="x", data=X)
        with pytest.raises(InvalidInputError, match="not in the lineage"):
            calibrate_estimate(store, child.ref, data, regimes={other.ref: data})
        with pytest.raises(InvalidInputError, match="name the same model"):
            calibrate_estimate(store, child.ref, data, regimes={child.ref: data, child.id: data})
        with pytest.raises(SchemaMismatchError, match="lacks the model.s feature"):
            calibrate_estimate(store, child.ref, data.drop(columns=names[0]))
        reg = store.register(LinearRegression().fit(X, labelled.regime_a.y), name="r", data=X)
        with pytest.raises(InvalidInputError, match="regressor"):
            calibrate_estimate(store, reg.ref, data)
        assert "cbpe" not in store.get(child.id).metrics  # nothing stored on failure


def test_repair_gate_uses_the_stored_lineage_estimate_on_a_model_matrix(lineage):
    """The repair gate's drop (reference accuracy − lineage estimate) on the window as the
    model's input matrix equals the estimate computed from the named table."""
    from driftline.repair.concept import estimated_drop

    store, _, (root, child), names, labelled, today = lineage
    regimes = {
        root.ref: table(labelled.regime_a, names),
        child.ref: table(labelled.regime_b, names),
    }
    res = calibrate_estimate(store, child.ref, table(labelled.test, names), regimes=regimes)
    model = store.update_metrics(child.id, {"accuracy": 0.9})
    X, _ = next(iter(windows(today, names)))
    drop = estimated_drop(store, model, X.to_numpy(), None, None)
    clf = store.load_estimator(child.id)
    sigs = [store.signature(r) for r in (root.id, child.id)]
    ll = np.column_stack([log_likelihood(s, X) for s in sigs])
    assert drop == pytest.approx(0.9 - res.lineage.estimate(clf.predict_proba(X), ll), abs=1e-9)
