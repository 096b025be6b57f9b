"""The repair decision: an honest baseline (the drifted model as it serves), BatchNorm
re-estimation as its own candidate, and the best candidate that clears the policy."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.params import ModelParams
from driftline.repair import RepairPolicy, repair
from driftline.repair.decide import choose_candidate, clears_policy
from driftline.repair.selection import split_rows


@pytest.fixture()
def store(tmp_path):
    with driftline.open(tmp_path / "store") as st:
        yield st


def test_choose_candidate_skips_an_ineligible_winner_and_never_a_worse_model():
    # the numbers: interpolation wins but its ancestor is only a fallback
    rows = {
        "drifted": {"accuracy": 0.52, "log_loss": 0.9},
        "interpolation": {"accuracy": 0.86, "log_loss": 0.4},
        "routing": {"accuracy": 0.84, "log_loss": 0.45},
    }
    assert choose_candidate(rows, RepairPolicy(), {"interpolation": False}) == "routing"
    assert choose_candidate(rows, RepairPolicy()) == "interpolation"
    assert (
        choose_candidate(rows, RepairPolicy(target_accuracy=0.85), {"interpolation": False}) is None
    )
    # a negative min_gain still never deploys a model no better than the drifted one
    worse = {"drifted": {"accuracy": 0.8}, "routing": {"accuracy": 0.79}}
    assert choose_candidate(worse, RepairPolicy(min_gain=-0.5)) is None
    assert not clears_policy({"accuracy": 0.8}, {"accuracy": 0.8}, RepairPolicy(min_gain=0.0))


def _regime(rng, kind: str, n: int, shift: float = 0.0):
    X = rng.normal(0, 1, size=(n, 2))
    if kind == "A":
        X[:, 0] += shift
        return X, (X[:, 0] > 0).astype(int)
    X[:, 0] += 6.0
    return X, (X[:, 1] > 0).astype(int)


def test_routing_is_deployed_when_interpolation_wins_toward_a_fallback_ancestor(store):
    rng = np.random.default_rng(0)
    Xa, ya = _regime(rng, "A", 2000)
    Xb, yb = _regime(rng, "B", 2000)
    base = store.register(LogisticRegression().fit(Xa, ya), name="clf", data=Xa)
    child = store.register(LogisticRegression().fit(Xb, yb), name="clf", parents=[base], data=Xb)
    store.deploy(child, "clf")
    Xw, _ = _regime(rng, "A", 2000, 1.0)  # A moved by one sigma: the root is only a fallback
    Xv, yv = _regime(rng, "A", 300, 1.0)
    # interpolation against routing alone: with 300 labels a continued-training row (which
    # LogisticRegression has) would win and hide the eligibility rule this test is about
    result = repair(store, "clf", Xw, (Xv, yv), policy=RepairPolicy(continued_steps=0))
    assert not result.healthy_ancestor
    acc = {k: v["accuracy"] for k, v in result.candidates.items()}
    assert acc["interpolation"] >= acc["routing"] > acc["drifted"] + 0.3
    assert result.chosen == "routing" and result.status == "deployed"
    deployed = store.get("deployment:clf")
    assert deployed.id == result.repaired_id and deployed.framework == "routed"
    assert result.after == result.candidates["routing"]


def _bn_net():
    import torch

    torch.manual_seed(0)
    nn = torch.nn
    return nn.Sequential(
        OrderedDict(
            fc1=nn.Linear(2, 16), bn1=nn.BatchNorm1d(16), relu=nn.ReLU(), fc2=nn.Linear(16, 2)
        )
    )


def _train(module, X, y, epochs: int = 40):
    import torch

    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    module.train()
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(module(xt[idx]), yt[idx]).backward()
            opt.step()
    return module.eval()


def _shifted(rng, mean: float, n: int):
    X = rng.normal(mean, 1.0, size=(n, 2))
    return X, (X[:, 0] > mean).astype(np.int64)  # the same concept relative to the regime


def test_batchnorm_model_is_judged_as_it_serves_and_reestimation_is_a_candidate(store):
    torch = pytest.importorskip("torch")
    from driftline.params.torch_adapter import module_to_params
    from driftline.repair.evaluation import score
    from driftline.repair.families import TorchFamily, prepare_params

    torch.set_num_threads(1)
    rng = np.random.default_rng(1)
    net = _bn_net()
    X0, y0 = _shifted(rng, 0.0, 1500)
    _train(net, X0, y0)
    root = store.register(ModelParams(module_to_params(net), "torch", {}), name="bn", data=X0)
    X1, y1 = _shifted(rng, 3.0, 1500)
    _train(net, X1, y1, epochs=10)
    child = store.register(
        ModelParams(module_to_params(net), "torch", {}), name="bn", parents=[root], data=X1
    )
    store.deploy(child, "bn")
    Xw, _ = _shifted(rng, -3.0, 1500)  # today: the regime moved; BatchNorm stats are stale
    Xv, yv = _shifted(rng, -3.0, 300)
    fam = TorchFamily(_bn_net, classes=np.arange(2))
    policy = RepairPolicy(routing=False)
    # candidates are compared on the choose rows; the held-out rows only report
    c, h = split_rows(yv, policy.held_out_fraction, policy.min_held_out_labels)
    served = fam.predict_proba(store.load(child.id), Xv)
    served_acc = float(np.mean(served[c].argmax(1) == yv[c]))
    bn_proba = fam.predict_proba(prepare_params(fam, store.load(child.id), Xw), Xv)
    bn = score(bn_proba[c], yv[c], np.arange(2))
    assert bn.accuracy > served_acc + 0.2  # the scenario: re-estimation alone repairs it

    result = repair(store, "bn", Xw, (Xv, yv), family=fam, policy=policy)
    assert result.before["accuracy"] == pytest.approx(served_acc)
    assert result.candidates["drifted"]["accuracy"] == pytest.approx(served_acc)
    assert result.candidates["batchnorm"]["accuracy"] == pytest.approx(bn.accuracy)
    held_bn = score(bn_proba[h], yv[h], np.arange(2)).accuracy
    assert result.held_out["batchnorm"]["accuracy"] == pytest.approx(held_bn)
    assert result.held_out["drifted"]["accuracy"] == pytest.approx(
        float(np.mean(served[h].argmax(1) == yv[h]))
    )
    assert result.status == "deployed"
    assert result.after["accuracy"] >= bn.accuracy
    assert store.get("deployment:bn").id == result.repaired_id


def _blobs(shift: float, n: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, size=(n, 2)) + np.array([shift, 0.0])
    direction = np.array([np.cos(shift), np.sin(shift)])
    return X, ((X - np.array([shift, 0.0])) @ direction > 0).astype(int)


def test_every_lineage_member_is_a_rollback_row_scored_as_it_serves(store):
    X0, y0 = _blobs(0.0, 2000, 1)
    X1, y1 = _blobs(1.5, 2000, 2)
    X2, y2 = _blobs(3.0, 2000, 5)
    m0 = LogisticRegression().fit(X0, y0)
    base = store.register(m0, name="clf", data=X0)
    mid = store.register(LogisticRegression().fit(X1, y1), name="clf", parents=[base], data=X1)
    top = store.register(LogisticRegression().fit(X2, y2), name="clf", parents=[mid], data=X2)
    store.deploy(top, "clf")
    Xw, _ = _blobs(0.0, 1500, 3)
    Xv, yv = _blobs(0.0, 200, 4)
    policy = RepairPolicy(routing=False)
    result = repair(store, "clf", Xw, (Xv, yv), policy=policy)
    c, h = split_rows(yv, policy.held_out_fraction, policy.min_held_out_labels)
    assert abs(len(h) - len(yv) / 3) <= 1 and len(np.intersect1d(c, h)) == 0
    rows = result.candidates
    assert {"rollback clf@1", "rollback clf@2"} <= set(rows)
    assert rows["rollback clf@1"]["accuracy"] == pytest.approx(m0.score(Xv[c], yv[c]))
    assert rows["rollback clf@2"]["accuracy"] == pytest.approx(
        store.load_estimator(mid.id).score(Xv[c], yv[c])
    )
    # the held-out column: the same members on rows that neither fitted nor chose anything
    assert result.held_out["rollback clf@1"]["accuracy"] == pytest.approx(m0.score(Xv[h], yv[h]))
    assert set(result.held_out) == set(rows)
    assert result.status == "deployed"
    best = max(
        (k for k in rows if k != "drifted"),
        key=lambda k: (rows[k]["accuracy"], -rows[k]["log_loss"]),
    )
    assert rows[result.chosen]["accuracy"] == rows[best]["accuracy"]
    if result.chosen.startswith("rollback"):  # the member itself serves, no new node
        assert store.resolve("deployment:clf") == base.id


def test_repairs_listing_shows_the_whole_candidate_table():
    from driftline.cli.repair import candidate_cell

    rows = {
        "drifted": {"accuracy": 0.5},
        "interpolation": {"accuracy": 0.861},
        "rollback m@1": {"accuracy": 0.9},
        "routing": {"window_entropy": 0.3},
    }
    assert candidate_cell(rows, "rollback m@1").splitlines() == [
        "drifted 0.500",
        "interpolation 0.861",
        "*rollback m@1 0.900",
    ]
    assert candidate_cell({}, None) == "–"
    held = {"drifted": {"accuracy": 0.48}, "rollback m@1": {"accuracy": 0.875}}
    assert candidate_cell(rows, "rollback m@1", held).splitlines() == [
        "drifted 0.500 (held 0.480)",
        "interpolation 0.861",
        "*rollback m@1 0.900 (held 0.875)",
    ]


def test_result_view_shows_held_out_and_proxy_columns():
    from io import StringIO

    from rich.console import Console

    from driftline.present.terminal import print_repair_result
    from driftline.repair import RepairResult

    res = RepairResult(status="deployed", drifted_id="d" * 64)
    res.candidates = {"drifted": {"accuracy": 0.5, "log_loss": 0.9}, "routing": {"accuracy": 0.9}}
    res.held_out = {"drifted": {"accuracy": 0.45}, "routing": {"accuracy": 0.8}}
    res.proxy = {"drifted": 0.3, "routing": 0.7}
    res.selection = {"choose_rows": 40, "held_out_rows": 20}
    res.chosen = "routing"
    out = StringIO()
    print_repair_result(res, Console(file=out, width=160))
    text = out.getvalue()
    assert "40 rows chose, 20 held out" in text
    line = next(li for li in text.splitlines() if "*routing" in li)
    assert "0.9000" in line and "0.8000" in line and "0.7000" in line


def _mlp_lineage(store):
    """An MLP trained on regime 0, fine-tuned on regime 3 (rotated concept), deployed."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    X0, y0 = _blobs(0.0, 1500, 11)
    X1, y1 = _blobs(3.0, 1500, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        m = MLPClassifier((8,), max_iter=300, random_state=0).fit(X0, y0)
        root = store.register(m, name="mlp", data=X0)
        for _ in range(40):
            m.partial_fit(X1, y1)
    child = store.register(m, name="mlp", parents=[root], data=X1)
    store.deploy(child, "mlp")
    return root, child


def test_continued_training_row_is_cross_fitted_and_held_out(store):
    """The continued-training row: its choose score comes from models that never saw the rows
    they score (5 folds), its held-out score from the model trained on all choose rows."""
    from driftline.repair.evaluation import family_for, score
    from driftline.repair.families import fine_tune
    from driftline.repair.vector import interpolate, repair_vector

    root, child = _mlp_lineage(store)
    Xw, _ = _blobs(1.5, 1500, 13)  # a regime between the two: no member fits it
    Xv, yv = _blobs(1.5, 120, 14)
    policy = RepairPolicy(routing=False)
    result = repair(store, "mlp", Xw, (Xv, yv), policy=policy)
    assert "continued-training" in result.candidates
    start = result.selection["continued_from"]
    # an independent recomputation with the public pieces
    c, h = split_rows(yv, policy.held_out_fraction, policy.min_held_out_labels)
    fam = family_for(store.get(child.id))
    theta_d = store.load(child.id)
    if start == "drifted":
        theta0 = theta_d
    elif start.startswith("rollback "):
        theta0 = store.load(root.id)
    else:  # interpolation at the chosen alpha toward the ancestor
        assert start == "interpolation"
        vector = repair_vector(theta_d, store.load(result.ancestor_id))
        theta0 = interpolate(theta_d, vector, result.alpha)

    def train(rows):
        return fine_tune(
            fam,
            theta0,
            Xv[rows],
            yv[rows],
            policy.continued_steps,
            l2_pull_to=theta0,
            lr=policy.continued_lr,
            l2=policy.continued_l2,
        )

    # 5 folds of the choose rows: each scored by a model trained on the other four
    order = np.random.default_rng(0).permutation(len(c))
    proba = np.zeros((len(c), 2))
    for test in np.array_split(order, 5):
        fit = np.setdiff1d(np.arange(len(c)), test)
        proba[test] = fam.predict_proba(train(c[fit]), Xv[c][test])
    expected = score(proba, yv[c], fam.classes).accuracy
    assert result.candidates["continued-training"]["accuracy"] == pytest.approx(expected)
    held = score(fam.predict_proba(train(c), Xv[h]), yv[h], fam.classes).accuracy
    assert result.held_out["continued-training"]["accuracy"] == pytest.approx(held)


def test_no_continued_training_row_when_switched_off(store):
    _mlp_lineage(store)
    Xw, _ = _blobs(1.5, 1500, 13)
    Xv, yv = _blobs(1.5, 120, 14)
    off = repair(store, "mlp", Xw, (Xv, yv), policy=RepairPolicy(routing=False, continued_steps=0))
    assert "continued-training" not in off.candidates


def test_committee_agreement_against_a_hand_count():
    from driftline.repair.proxy import committee_agreement, proxy_choice

    q = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    p = np.array([[0.7, 0.3], [0.6, 0.4], [0.1, 0.9], [0.4, 0.6]])
    hard, soft = committee_agreement(q, p)
    assert hard == pytest.approx(2 / 4)  # rows 0 and 3 agree
    expected = np.mean([(q[i] * np.log(p[i])).sum() for i in range(4)])
    assert soft == pytest.approx(expected)
    assert proxy_choice({"a": (0.5, -1.0), "b": (0.5, -0.5), "c": (0.25, 0.0)}) == "b"


def test_zero_label_repair_ranks_candidates_by_committee_agreement_and_waits(store):
    """Recurring regime, no labels: the proxy ranks the rollback to the root (trained on
    today's regime) above the drifted model, and the result still waits for approval."""
    X0, y0 = _blobs(0.0, 2000, 1)
    X1, y1 = _blobs(3.0, 2000, 2)
    base = store.register(LogisticRegression().fit(X0, y0), name="clf", data=X0)
    top = store.register(LogisticRegression().fit(X1, y1), name="clf", parents=[base], data=X1)
    store.deploy(top, "clf")
    Xw, yw = _blobs(0.0, 1500, 3)
    result = repair(store, "clf", Xw)
    assert str(result.status) in ("awaiting-approval", "needs-labels")
    assert result.status != "deployed"
    assert {"drifted", "interpolation", "rollback clf@1"} <= set(result.proxy)
    assert result.proxy["rollback clf@1"] > result.proxy["drifted"]
    # the proxy agrees with what labels (never given to the repair) would say here
    acc = {
        "drifted": store.load_estimator(top.id).score(Xw, yw),
        "rollback clf@1": store.load_estimator(base.id).score(Xw, yw),
    }
    assert (acc["rollback clf@1"] > acc["drifted"]) == (
        result.proxy["rollback clf@1"] > result.proxy["drifted"]
    )
    assert result.selection["proxy_choice"] in result.proxy


def _flip_logistic(params, X):
    """Logistic on x·w + b whose answer flips where x₁ > 0 when params["k"] = 1."""
    z = X @ params["w"] + params["b"]
    z = z * (1.0 - 2.0 * params["k"] * (X[:, 1] > 0))
    p = 1.0 / (1.0 + np.exp(-z))
    return np.column_stack([1.0 - p, p])


def test_a_row_that_wins_on_the_choose_rows_but_loses_held_out_is_not_deployed(store):
    """The held-out rows guard the choice: member v2 is perfect (and sharpest) on the choose rows
    but inverted on the held-out rows; it must not be deployed."""
    from driftline.repair import CallableFamily

    rng = np.random.default_rng(0)

    def regime(mean, n):
        X = rng.normal(mean, 1.0, size=(n, 2))
        X[:, 1] = -np.abs(X[:, 1])  # training and window rows: x₁ ≤ 0
        return X, (X[:, 0] > mean).astype(int)

    def p(w, b, k):
        return {"w": np.array([w, 0.0]), "b": np.array(b), "k": np.array(k)}

    v1 = store.register(p(1.0, 0.0, 0.0), name="m", data=regime(0.0, 500)[0])
    v2 = store.register(p(4.0, 0.0, 1.0), name="m", parents=[v1], data=regime(0.0, 500)[0])
    # a modest reference accuracy: v2 (2/3 right on all labels) still counts as performing
    v3 = store.register(
        p(4.0, -12.0, 0.0),
        name="m",
        parents=[v2],
        data=regime(3.0, 500)[0],
        metrics={"val_accuracy": 0.6},
    )
    store.deploy(v3, "m")
    Xv, yv = regime(0.0, 90)
    policy = RepairPolicy(routing=False)
    _, held = split_rows(yv, policy.held_out_fraction, policy.min_held_out_labels)
    Xv[held, 1] = 1.0 + np.abs(Xv[held, 1])  # v2 answers these the wrong way round
    fam = CallableFamily(_flip_logistic)
    result = repair(store, "m", regime(0.0, 500)[0], (Xv, yv), family=fam, policy=policy)
    rows = result.candidates
    assert rows["rollback m@2"]["accuracy"] == 1.0
    assert any(r["ref"] == "m@2" and r["healthy"] for r in result.search["rows"])  # eligible
    assert result.held_out["rollback m@2"]["accuracy"] < result.held_out["drifted"]["accuracy"]
    assert result.chosen != "rollback m@2"
    assert store.resolve("deployment:m") != v2.id


def test_paired_gain_is_the_standard_error_of_the_paired_difference():
    from scipy import stats

    from driftline.repair.selection import paired_gain

    rng = np.random.default_rng(3)
    a, b = rng.random(40) < 0.6, rng.random(40) < 0.5
    d = a.astype(float) - b.astype(float)
    assert paired_gain(a, b)[1] == pytest.approx(stats.sem(d))
    # the paired t statistic of scipy's ttest_rel is the mean difference over this SE
    assert stats.ttest_rel(a.astype(float), b.astype(float)).statistic == pytest.approx(
        d.mean() / paired_gain(a, b)[1]
    )
    assert paired_gain(a, b)[0] == pytest.approx(d.mean())
    assert paired_gain(a, b, larger_is_better=False)[0] == pytest.approx(-d.mean())
    assert paired_gain(a, a)[1] == 0.0
    assert paired_gain(a[:1], b[:1])[1] == 0.0


def test_a_held_out_gain_smaller_than_one_paired_standard_error_is_not_enough():
    """Hand-made held-out rows (30). ``better`` is right on 8 rows where the drifted model is
    wrong and wrong on 1 where it is right: gain 7/30 = 0.233, paired SE
    √((9/30 − 0.233²)·30/29)/√30 = 0.092, so it clears the rule. ``slightly`` is right on 2 more
    and wrong on 1: gain 1/30 = 0.033 below its SE 0.058, so it does not."""
    from driftline.repair.selection import held_out_scores, no_worse_held_out

    classes = np.array([0, 1])
    y = np.zeros(30, dtype=int)
    drifted = np.zeros(30, dtype=int)
    drifted[:10] = 1  # wrong on rows 0..9
    better = drifted.copy()
    better[:8] = 0
    better[20] = 1
    slightly = drifted.copy()
    slightly[:2] = 0
    slightly[20] = 1

    def onehot(pred: np.ndarray):
        return lambda: np.eye(2)[pred]

    held = held_out_scores(
        {
            "drifted": onehot(drifted),
            "better": onehot(better),
            "slightly": onehot(slightly),
            "same": onehot(drifted.copy()),
        },
        y,
        classes,
    )
    assert held["better"]["accuracy"] - held["drifted"]["accuracy"] == pytest.approx(7 / 30)
    assert held["better"]["gain_se"] == pytest.approx(
        np.sqrt((9 / 30 - (7 / 30) ** 2) * 30 / 29) / np.sqrt(30)
    )
    assert no_worse_held_out(held, "better")
    assert held["slightly"]["accuracy"] - held["drifted"]["accuracy"] == pytest.approx(1 / 30)
    assert held["slightly"]["gain_se"] == pytest.approx(0.058, abs=1e-3)
    assert not no_worse_held_out(held, "slightly")
    assert no_worse_held_out(held, "same")  # identical predictions: no gain, no noise
    assert no_worse_held_out(held, "drifted")
