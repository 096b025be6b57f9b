"""``driftline calibrate``: the table, the stored metrics the agent then uses, one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.tabular_scenarios import tabular_scenario


def write(split, names, path, label: str = "y"):
    out = pd.DataFrame(split.X, columns=names)
    out[label] = split.y
    out.to_csv(path, index=False)
    return path


@pytest.fixture()
def lineage(cli, tmp_path):
    """credit@1 (regime A) -> credit@2 (regime B) in ./.driftline; labelled CSVs beside it."""
    cli("init")
    train = tabular_scenario("credit", "mixed", seed=0, n_train=3000)
    names = list(train.feature_names)
    with driftline.open(tmp_path / ".driftline") as store:
        members: list = []
        for split in (train.regime_a, train.regime_b):
            X = pd.DataFrame(split.X, columns=names)
            clf = LogisticRegression(max_iter=2000).fit(X, split.y)
            members.append(store.register(clf, name="credit", data=X, parents=members[-1:]))
    labelled = tabular_scenario("credit", "mixed", seed=1, n_train=1000)
    write(labelled.test, names, tmp_path / "today.csv")
    write(labelled.regime_a, names, tmp_path / "a.csv")
    write(labelled.regime_b, names, tmp_path / "b.csv")
    return names


def test_calibrate_prints_the_check_and_the_agent_reports_the_lineage_estimate(cli, lineage):
    code, out, err = cli(
        "calibrate", "credit@2", "--data", "today.csv", "--regime", "credit@1=a.csv",
        "--regime", "credit@2=b.csv",
    )  # fmt: skip
    assert code == 0, err
    for text in ("realised acc", "lineage est", "credit@1", "1,000", "stored on credit@2"):
        assert text in out
    assert "lineage_cbpe (2 regimes: credit@1, credit@2)" in out
    code, out, _ = cli("show", "credit@2", "--json")
    metrics = json.loads(out)["metrics"]
    assert set(metrics) >= {"cbpe", "lineage_cbpe"} and len(metrics["lineage_cbpe"]["regimes"]) == 2
    code, out, _ = cli(
        "agent", "credit@2", "--source", "today.csv", "--window", "1000", "--estimate-accuracy",
        "--json", "--no-save",
    )  # fmt: skip
    reports = [json.loads(line) for line in out.splitlines()]
    assert len(reports) == 2 and code in (0, 1)
    today = pd.read_csv("today.csv")
    with driftline.open(".driftline") as store:
        clf = store.load_estimator("credit@2")
    correct = clf.predict(today[lineage]) == today["y"].to_numpy()
    for i, rep in enumerate(reports):
        assert "estimated_accuracy_cbpe" in rep["model"]  # the lineage figure is the reported one
        realised = float(np.mean(correct[i * 1000 : (i + 1) * 1000]))
        assert abs(rep["model"]["estimated_accuracy"] - realised) < 0.05


def test_calibrate_json_and_without_regimes(cli, lineage):
    code, out, _ = cli("calibrate", "credit@2", "--data", "today.csv", "--json")
    res = json.loads(out)
    assert code == 0 and res["stored"] == ["cbpe"] and res["lineage_cbpe"] is None
    assert [c["table"] for c in res["checks"]] == ["data"] and res["target"] == "y"
    assert res["checks"][0]["held_out"] == 1000 and res["mean_error"] < 0.05


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("credit@9", "--data", "today.csv"), "no model 'credit@9'"),
        (("credit@2", "--data", "today.csv", "--target", "churned"), "no label column 'churned'"),
        (("credit@2", "--data", "today.csv", "--regime", "credit@1"), "must look like REF=FILE"),
        (("credit@2", "--data", "today.csv", "--regime", "=a.csv"), "must look like REF=FILE"),
        (("credit@2", "--data", "today.csv", "--regime", "nope=a.csv"), "no model matches 'nope'"),
        (("credit@2", "--data", "missing.csv"), "missing.csv"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, lineage, args, message):
    code, out, err = cli("calibrate", *args)
    assert code == 2 and message in err and out == ""
    assert len(err.strip().splitlines()) == 1, err
