"""Repair by capability on generated tabular drift: every family's repaired model beats the
drifted one on held-out data from today's distribution."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from driftline.repair import RepairPolicy, repair
from driftline.repair.capability import Capability, plan_repair
from driftline.repair.continued import continue_training
from driftline.repair.evaluation import family_for
from driftline.repair.routed_model import load_predictor
from driftline.store import Store
from driftline.tabular_scenarios import tabular_scenario

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("skops")


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store") as s:
        yield s


def _lineage(store, name, root, child, sc):
    a = store.register(root, name=name, data=sc.regime_a.X)
    b = store.register(child, name=name, parents=[a], data=sc.regime_b.X)
    store.deploy(b, name)
    return a, b


def _test_score(store, ref, sc):
    model = load_predictor(store, ref)
    if sc.task == "classifier":
        return float(np.mean(model.predict(sc.test.X) == sc.test.y))
    return -float(np.mean((model.predict(sc.test.X) - sc.test.y) ** 2))


def _repair_and_check(store, name, sc, drifted):
    res = repair(store, name, window=sc.window.X, validation=(sc.validation.X, sc.validation.y))
    assert res.capability["capability"] == Capability.CANDIDATE_TABLE.value
    assert {"drifted", "rollback", "output-interpolation"} <= set(res.candidates)
    assert res.status == "deployed", res.message
    assert res.repaired_id and res.repaired_id != drifted.id
    assert store.resolve(f"deployment:{name}") == res.repaired_id
    before, after = _test_score(store, drifted.id, sc), _test_score(store, res.repaired_id, sc)
    assert after > before + (0.1 if sc.task == "classifier" else 10.0), (before, after)
    return res


def _small(family, kind="recurring"):
    return tabular_scenario(family, kind, seed=1, n_train=800, n_window=800, n_test=1000)


def test_tree_ensemble(store):
    from sklearn.ensemble import RandomForestClassifier

    sc = _small("sensor")
    root = RandomForestClassifier(20, max_depth=8, random_state=0).fit(sc.regime_a.X, sc.regime_a.y)
    child = RandomForestClassifier(20, max_depth=8, random_state=1).fit(
        sc.regime_b.X, sc.regime_b.y
    )
    _, drifted = _lineage(store, "rf", root, child, sc)
    plan = plan_repair(store, drifted, store.resolve("rf@1"))
    assert not plan.parametric and plan.capability is Capability.CANDIDATE_TABLE
    res = _repair_and_check(store, "rf", sc, drifted)
    assert "weight-interpolation" not in res.candidates  # trees have no weight space
    assert "continued-training" in res.candidates and "routing" in res.candidates


def test_lightgbm_continued_booster(store):
    sc = _small("credit")
    root = lgb.LGBMClassifier(n_estimators=30, verbose=-1).fit(sc.regime_a.X, sc.regime_a.y)
    child = lgb.train(
        {"objective": "binary", "verbose": -1},
        lgb.Dataset(sc.regime_b.X, sc.regime_b.y),
        30,
        init_model=root.booster_,
    )
    _, drifted = _lineage(store, "gbm", root, child, sc)
    _repair_and_check(store, "gbm", sc, drifted)


def test_pipeline_with_column_transformer(store):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    def pipe():
        ct = ColumnTransformer(
            [
                ("num", StandardScaler(), [0, 1, 2, 3, 4]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), [5]),
            ]
        )
        return make_pipeline(ct, LogisticRegression(max_iter=500))

    sc = _small("credit")
    _, drifted = _lineage(
        store,
        "pipe",
        pipe().fit(sc.regime_a.X, sc.regime_a.y),
        pipe().fit(sc.regime_b.X, sc.regime_b.y),
        sc,
    )
    res = _repair_and_check(store, "pipe", sc, drifted)
    # scaler statistics and coefficients are interpolated together
    assert "weight-interpolation" in res.candidates


def test_onnx_mlp(store):
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    def onnx_mlp(X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = MLPClassifier((16,), max_iter=300, random_state=0).fit(X.astype(np.float32), y)
        return to_onnx(m, X[:1].astype(np.float32), options={id(m): {"zipmap": False}})

    sc = _small("sensor")
    _, drifted = _lineage(
        store,
        "onnx",
        onnx_mlp(sc.regime_a.X, sc.regime_a.y),
        onnx_mlp(sc.regime_b.X, sc.regime_b.y),
        sc,
    )
    res = _repair_and_check(store, "onnx", sc, drifted)
    assert "weight-interpolation" in res.candidates  # float initializers are tensors


@pytest.mark.parametrize("kind", ["hist", "ridge"])
def test_regressor_repair_on_mse(store, kind):
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    sc = _small("demand")

    def make():
        return HistGradientBoostingRegressor(max_iter=40) if kind == "hist" else Ridge()

    _, drifted = _lineage(
        store,
        f"reg-{kind}",
        make().fit(sc.regime_a.X, sc.regime_a.y),
        make().fit(sc.regime_b.X, sc.regime_b.y),
        sc,
    )
    res = _repair_and_check(store, f"reg-{kind}", sc, drifted)
    assert res.capability["task"] == "regressor"
    assert set(res.after) >= {"mse", "mae"} and res.after["mse"] < res.before["mse"]


def test_mae_policy_and_mixed_regressor_blend(store):
    from sklearn.ensemble import HistGradientBoostingRegressor

    sc = tabular_scenario("demand", "mixed", seed=2, n_train=800, n_window=800, n_test=1000)
    _, drifted = _lineage(
        store,
        "mix",
        HistGradientBoostingRegressor(max_iter=40).fit(sc.regime_a.X, sc.regime_a.y),
        HistGradientBoostingRegressor(max_iter=40).fit(sc.regime_b.X, sc.regime_b.y),
        sc,
    )
    res = repair(
        store,
        "mix",
        window=sc.window.X,
        validation=(sc.validation.X, sc.validation.y),
        policy=RepairPolicy(regression_loss="mae"),
    )
    assert res.alpha_objective in (None, "mae")
    # on a 50/50 mix the drifted model is wrong on half the rows; the blend serves both
    assert res.repaired_id and res.status == "deployed", res.message
    assert _test_score(store, res.repaired_id, sc) > _test_score(store, drifted.id, sc)
    # regression routing: a gated mixture of the two members' predictions
    assert res.chosen == "routing", res.candidates
    model = load_predictor(store, res.repaired_id)
    w = model.gate.weights(sc.test.X)
    np.testing.assert_allclose(w.sum(axis=0), 1.0)
    expected = w[0] * model.members[0].predict(sc.test.X) + w[1] * model.members[1].predict(
        sc.test.X
    )
    np.testing.assert_allclose(model.predict(sc.test.X), expected)


def test_distilled_child_with_other_shapes_is_repaired_in_output_space(store):
    from sklearn.neural_network import MLPClassifier

    sc = _small("sensor")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = MLPClassifier((32,), max_iter=300, random_state=0).fit(sc.regime_a.X, sc.regime_a.y)
        child = MLPClassifier((8,), max_iter=300, random_state=0).fit(sc.regime_b.X, sc.regime_b.y)
    a = store.register(root, name="dist", data=sc.regime_a.X)
    b = store.register(child, name="dist", parents=[a], transform="distill", data=sc.regime_b.X)
    store.deploy(b, "dist")
    assert plan_repair(store, store.get(b.id), a.id).same_shapes is False
    res = _repair_and_check(store, "dist", sc, store.get(b.id))
    assert "weight-interpolation" not in res.candidates


def test_output_blend_is_a_lineage_node_with_exact_formula(store):
    from driftline.repair.output_space import register_blend

    sc = _small("sensor")
    from sklearn.tree import DecisionTreeClassifier

    a, b = _lineage(
        store,
        "bl",
        DecisionTreeClassifier(max_depth=4).fit(sc.regime_a.X, sc.regime_a.y),
        DecisionTreeClassifier(max_depth=4).fit(sc.regime_b.X, sc.regime_b.y),
        sc,
    )
    node = register_blend(
        store, b, a, 0.3, task="classifier", metrics={}, edge_metrics={}, edge_params={}
    )
    assert {e.parent for e in store.parents(node)} == {a.id, b.id}
    pd_, pa = (
        load_predictor(store, b.id).predict_proba(sc.test.X),
        load_predictor(store, a.id).predict_proba(sc.test.X),
    )
    np.testing.assert_allclose(
        load_predictor(store, node.id).predict_proba(sc.test.X), 0.7 * pd_ + 0.3 * pa
    )
    # same members and alpha: same node
    again = register_blend(
        store, b, a, 0.3, task="classifier", metrics={}, edge_metrics={}, edge_params={}
    )
    assert again.id == node.id


def test_continued_training_keeps_first_trees(store):
    sc = _small("credit")
    root = lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(sc.regime_a.X, sc.regime_a.y)
    m = store.register(root, name="ct", data=sc.regime_a.X)
    fam = family_for(m)
    params = store.load(m.id)
    new = continue_training(fam, params, sc.regime_b.X[:200], sc.regime_b.y[:200])
    trees = sorted(k for k in params if ".tree." in k)
    assert len([k for k in new if ".tree." in k]) == len(trees) + 20
    assert all(np.array_equal(new[k], params[k]) for k in trees)
    # the continued booster fits regime B better than the root
    before = np.mean(fam.predict(params, sc.regime_b.X[200:]) == sc.regime_b.y[200:])
    after = np.mean(fam.predict(new, sc.regime_b.X[200:]) == sc.regime_b.y[200:])
    assert after > before


def test_xgboost_continued_training_and_repair(store):
    xgb = pytest.importorskip("xgboost")
    sc = _small("sensor")
    root = xgb.XGBClassifier(n_estimators=30, max_depth=3).fit(sc.regime_a.X, sc.regime_a.y)
    child = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3},
        xgb.DMatrix(sc.regime_b.X, sc.regime_b.y),
        30,
        xgb_model=root.get_booster(),
    )
    a, drifted = _lineage(store, "xgb", root, child, sc)
    fam, params = family_for(a), store.load(a.id)
    new = continue_training(fam, params, sc.regime_b.X[:300], sc.regime_b.y[:300])
    trees = sorted(k for k in params if ".tree." in k)
    assert len([k for k in new if ".tree." in k]) == len(trees) + 20
    assert all(np.array_equal(new[k], params[k]) for k in trees)
    _repair_and_check(store, "xgb", sc, drifted)


def _fault_table(rng, n, regime):
    """Named columns: a text category ``site``, ``hours`` with 15% missing, ``temp``, and the
    label ``fault`` (P(y|x) flips with the regime on ``temp``)."""
    import pandas as pd

    p = [0.5, 0.3, 0.2] if regime == "a" else [0.2, 0.3, 0.5]
    site = rng.choice(["east", "west", "north"], n, p=p)
    hours = rng.normal(8 if regime == "a" else 11, 2, n)
    temp = rng.normal(0, 1, n)
    logit = (hours - 9) + 1.5 * temp * (1 if regime == "a" else -1) + (site == "east") * 1.0
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * logit))).astype(int)
    hours[rng.random(n) < 0.15] = np.nan
    return pd.DataFrame({"site": site, "hours": hours, "temp": temp, "fault": y})


def test_pipeline_on_a_named_table_with_text_and_a_label_column(store):
    """Continued training gets the table (text categories, by name) and routing's likelihood
    uses the model's inputs, though the training data was registered with its label column."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    def pipe(frame):
        ct = ColumnTransformer(
            [
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["site"]),
                ("num", SimpleImputer(), ["temp", "hours"]),
            ]
        )
        model = make_pipeline(ct, HistGradientBoostingClassifier(max_iter=40, random_state=0))
        return model.fit(frame[["temp", "site", "hours"]], frame["fault"])

    rng = np.random.default_rng(0)
    A, B = _fault_table(rng, 1500, "a"), _fault_table(rng, 1500, "b")
    a = store.register(pipe(A), name="fault", data=A)
    b = store.register(pipe(B), name="fault", parents=[a], data=B)
    store.deploy(b, "fault")
    V, T = _fault_table(rng, 160, "a"), _fault_table(rng, 2000, "a")
    said: list[str] = []
    res = repair(
        store,
        "fault",
        window=_fault_table(rng, 800, "a"),
        validation=(V.drop(columns="fault"), V["fault"].to_numpy()),
        progress=said.append,
    )
    assert not [s for s in said if "skipped" in s], said
    assert {"continued-training", "routing"} <= set(res.candidates)
    assert res.status == "deployed", res.message
    model = load_predictor(store, res.repaired_id)
    before = np.mean(load_predictor(store, b.id).predict(T) == T["fault"])
    after = np.mean(model.predict(T) == T["fault"])
    assert after > before + 0.1, (before, after)
