"""A churn table (numbers, categories, booleans, dates, missing values, an id and a label) goes
through signature -> drift -> agent -> repair -> label export/import -> refinement -> deploy,
through the API and the CLI, with the model receiving its columns by name."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftline.active import HumanOracle, run_active_learning
from driftline.active.label_files import export_requests, import_labels
from driftline.active.label_studio import export_label_studio
from driftline.active.queue import LabelQueue
from driftline.cli import main
from driftline.datasets import CHURN_MODEL_INPUTS
from driftline.demo.churn import TARGET, churn_tables, register_churn_lineage
from driftline.drift import DriftAgent
from driftline.errors import InvalidInputError, SchemaMismatchError
from driftline.repair import RepairPolicy, repair
from driftline.repair.model_input import model_matrix, named_input
from driftline.store import Store


@pytest.fixture(scope="module")
def tables():
    return churn_tables(0)


@pytest.fixture()
def lineage(tmp_path, tables):
    store = Store(str(tmp_path / "store"), create=True)
    models = register_churn_lineage(store, tables)
    store.deploy(models[2].id, "churn")
    return store, models


def _truth(tables) -> dict[str, int]:
    return dict(zip(tables.today["customer_id"], tables.today[TARGET].tolist(), strict=True))


def test_model_input_by_name():
    cols = {
        "b": np.array([1.0, 2.0]),
        "a": np.array([3.0, 4.0]),
        "c": np.array(["x", "y"], dtype=object),
    }
    np.testing.assert_array_equal(model_matrix(cols, ["a", "b"]), [[3.0, 1.0], [4.0, 2.0]])
    with pytest.raises(SchemaMismatchError, match="tenure"):
        model_matrix(cols, ["a", "tenure"])
    mixed = model_matrix(cols, ["a", "c"])  # text for a model that encodes it itself
    assert mixed.dtype == object and mixed[:, 1].tolist() == ["x", "y"]
    flags = {"f": np.array(["True", None, "False"], dtype=object)}
    np.testing.assert_array_equal(model_matrix(flags, ["f"])[:, 0], [1.0, np.nan, 0.0])

    class Fitted:
        feature_names_in_ = np.array(["a", "b"], dtype=object)

    df = named_input(Fitted(), np.zeros((3, 2)))
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["a", "b"]


def test_api_end_to_end(lineage, tables, tmp_path):
    store, (m1, m2, m3) = lineage
    assert m1.architecture["feature_names_in"] == list(CHURN_MODEL_INPUTS)
    schema = {f["name"]: f for f in m1.architecture["input_schema"]["features"]}
    assert schema["plan"]["categories"] == ["basic", "premium", "standard"]
    assert (
        schema["signup_date"]["dtype"].startswith("datetime64")
        and schema["autopay"]["dtype"] == "bool"
        and schema["tenure_months"]["dtype"] == "int64"
    )
    assert m1.architecture["input_schema"]["roles"] == {"customer_id": "id", "churned": "target"}
    sig = store.signature(m3.id)
    assert sig.target == TARGET and sig.roles["customer_id"].role == "id"
    window = tables.today.drop(columns=[TARGET])
    # the agent: drift in monthly_charges against churn@3, nothing about role columns
    agent = DriftAgent(sig, window=500)
    reports = agent.update(window)
    assert len(reports) == 4 and all(r.drift and not r.schema_issues for r in reports)
    assert all("monthly_charges" in r.drifted_features for r in reports)
    val = (tables.labelled.drop(columns=[TARGET]), tables.labelled[TARGET].to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "X does not have valid feature names"
        res = repair(
            store, "churn", window, val, policy=RepairPolicy(target_accuracy=0.95), approve=True
        )
    assert res.status == "needs-labels" and res.ancestor_id == m1.id and res.healthy_ancestor
    assert res.after["accuracy"] > res.before["accuracy"] + 0.1
    # routing likelihoods over every feature column (categories, booleans, dates included)
    assert "routing" in res.candidates and set(res.regime_mix) <= {m.ref for m in (m1, m2, m3)}
    assert sum(res.regime_mix.values()) == pytest.approx(1.0)
    stored = store.drift_reports(m3.id)[-1]["report"]
    assert set(stored["features"]) == set(sig.feature_names) and not stored["schema_issues"]
    # active learning queues records; the label file carries the customer's raw record
    al = run_active_learning(store, res, window, HumanOracle(), budget=20, batch=20, validation=val)
    assert al.status == "waiting-for-labels" and len(al.requested) == 20
    q = LabelQueue(store)
    export_requests(q, tmp_path / "tasks.csv", "csv")
    with (tmp_path / "tasks.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {"customer_id", "plan", "signup_date", "autopay"} <= set(rows[0])
    assert "f0" not in rows[0] and rows[0]["plan"] in ("basic", "standard", "premium", "student")
    assert export_label_studio(q, tmp_path / "tasks.json") == 20
    task = json.loads((tmp_path / "tasks.json").read_text())[0]["data"]
    assert "image" not in task and task["record"]["customer_id"].startswith("C")
    assert "customer_id=C" in task["text"] and "plan=" in task["text"]
    export_requests(q, tmp_path / "tasks.jsonl", "jsonl")
    line = json.loads((tmp_path / "tasks.jsonl").read_text().splitlines()[0])
    assert line["record"]["signup_date"].startswith("20") and "tenure_months" in line["record"]
    truth = _truth(tables)
    with (tmp_path / "ann.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "label": truth[r["customer_id"]]})
    assert import_labels(q, tmp_path / "ann.csv").labelled == 20
    # refinement with the labels, then deploy (no target accuracy in this round)
    al = run_active_learning(store, res, window, HumanOracle(), budget=20, batch=20, validation=val)
    assert al.rounds and al.rounds[0].labels == 20 and al.status == "deployed"
    assert store.resolve("deployment:churn") == al.final_id != m3.id
    # a clean window (the deployed model's own training distribution) is no drift
    res2 = repair(store, "churn", churn_tables(9).base.drop(columns=[TARGET]), None)
    assert res2.status == "no-drift", res2.message


def test_bad_windows_are_clear_errors_and_store_nothing(lineage, tables):
    store, (_, _, m3) = lineage
    before = len(store.drift_reports(m3.id))
    window = tables.today.drop(columns=[TARGET, "tenure_months"])
    with pytest.raises(SchemaMismatchError, match="tenure_months"):
        repair(store, "churn", window)
    labels = tables.labelled[TARGET].to_numpy().copy()
    labels[:3] = 5
    with pytest.raises(InvalidInputError, match="never occur"):
        repair(store, "churn", tables.today, (tables.labelled.drop(columns=[TARGET]), labels))
    bad = tables.today.assign(monthly_charges="n/a")
    with pytest.raises(InvalidInputError, match="monthly_charges"):
        repair(store, "churn", bad)
    empty = tables.today.assign(monthly_charges=np.nan)  # all empty: the model cannot take it
    with pytest.raises(InvalidInputError, match=r"monthly_charges \(2000 rows\)"):
        repair(store, "churn", empty)
    assert len(store.drift_reports(m3.id)) == before
    assert store.resolve("deployment:churn") == m3.id


@pytest.fixture()
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLINE_STORE", raising=False)

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out + err

    return run


def test_cli_bad_input_one_line_exit_2(cli, tmp_path, tables):
    assert cli("example", "churn", "ex")[0] == 0
    ex = Path("ex")
    assert cli("init")[0] == 0
    assert (
        cli(
            "register",
            str(ex / "model.safetensors"),
            "--name",
            "churn",
            "--data",
            str(ex / "train.csv"),
            "--target",
            "churned",
        )[0]
        == 0
    )
    assert cli("deploy", "churn@1", "--as", "churn")[0] == 0
    arch = Store(".driftline").get("churn@1").architecture
    assert arch["feature_names_in"] == list(CHURN_MODEL_INPUTS)  # from the .safetensors header
    assert {f["name"] for f in arch["input_schema"]["features"]} >= {"plan", "signup_date"}
    today = pd.read_csv(ex / "today.csv")
    today.drop(columns=["support_calls"]).to_csv("missing.csv", index=False)
    code, out = cli("repair", "churn", "--window", "missing.csv")
    assert code == 2 and "support_calls" in out and len(out.strip().splitlines()) == 1
    lab = pd.read_csv(ex / "labelled.csv")
    lab.assign(churned=np.where(np.arange(len(lab)) < 2, 9, lab.churned)).to_csv(
        "badlabels.csv", index=False
    )
    code, out = cli(
        "repair", "churn", "--window", str(ex / "today.csv"), "--validation", "badlabels.csv"
    )
    assert code == 2 and "9" in out and len(out.strip().splitlines()) == 1
    code, out = cli("signature", str(ex / "train.csv"), "--attach", "churn@1", "--target", "nope")
    assert code == 2 and "nope" in out
    pd.read_csv(ex / "train.csv").assign(notes=np.nan).to_csv("emptycol.csv", index=False)
    code, out = cli("signature", "emptycol.csv", "--attach", "churn@1", "--target", "churned")
    assert code == 2 and "--ignore notes" in out and len(out.strip().splitlines()) == 1
    assert (
        cli(
            "signature",
            "emptycol.csv",
            "--attach",
            "churn@1",
            "--target",
            "churned",
            "--ignore",
            "notes",
        )[0]
        == 0
    )
    # an all-empty column and a type change are schema verdicts in the drift report
    today.assign(age=np.nan).to_csv("empty.csv", index=False)
    code, out = cli("drift", "churn@1", "empty.csv")
    assert code == 1 and "age" in out
    today.assign(monthly_charges=np.nan).to_csv("nocharges.csv", index=False)
    n_reports = len(Store(".driftline").drift_reports("churn@1"))
    code, out = cli("repair", "churn", "--window", "nocharges.csv")
    assert code == 2 and "monthly_charges (" in out and len(out.strip().splitlines()) == 1
    assert len(Store(".driftline").drift_reports("churn@1")) == n_reports
    today.assign(tenure_months="many").to_csv("typed.csv", index=False)
    code, out = cli("drift", "churn@1", "typed.csv", "--no-save")
    assert code == 1 and "type_changed" in out
    assert cli("deployments")[0] == 0


def test_demo_tabular_scenario_alone(cli):
    code, out = cli("demo", "--scenario", "tabular", "--fast", "--html", "t.html")
    assert code == 0, out
    assert "tabular data" in out and "what the annotator saw" in out and "C" in out
    html = Path("t.html").read_text()
    assert "a churn table" in html and "customer_id" in html
    code, out = cli("demo", "--scenario", "nope")
    assert code == 2 and "nope" in out


def test_table_embedding_covers_every_column_type():
    from driftline.drift import Signature
    from driftline.repair.model_input import table_embedding

    train = pd.DataFrame(
        {"x": [1.0, 2.0, 3.0, 6.0], "c": ["a", "b", "a", "b"], "flag": [True, False, True, True]}
    )
    sig = Signature.from_data(train)
    pool = pd.DataFrame({"x": [2.0, np.nan], "c": ["b", "new"], "flag": [False, True]})
    emb = table_embedding(pool, sig)
    mean, sd = train.x.mean(), train.x.std(ddof=1)
    h = 1 / np.sqrt(2)
    # x: z-score, missing indicator | c: a, b, unseen | flag: False, True, unseen
    expected = np.array([[(2.0 - mean) / sd, 0, 0, h, 0, h, 0, 0], [0, 1, 0, 0, h, 0, h, 0]])
    np.testing.assert_allclose(emb, expected)
    assert table_embedding(np.zeros((2, 3)), sig) is None


def test_every_table_format_gives_the_model_the_same_inputs(tables, tmp_path):
    import polars as pl
    import pyarrow as pa

    from driftline.drift import read_table
    from driftline.drift.tabular import read_frame

    df = tables.today
    df.to_csv(tmp_path / "w.csv", index=False)
    df.to_parquet(tmp_path / "w.parquet")
    names = list(CHURN_MODEL_INPUTS)
    ref = df[names].to_numpy(dtype=float)
    for x in (
        df,
        pl.from_pandas(df),
        pa.Table.from_pandas(df),
        read_table(tmp_path / "w.csv"),
        read_table(tmp_path / "w.parquet"),
        read_frame(tmp_path / "w.csv"),
    ):
        np.testing.assert_array_equal(model_matrix(x, names), ref)


def test_a_pipeline_fitted_on_a_table_gets_its_columns_by_name(tables):
    """What a scikit-learn Pipeline with a ColumnTransformer receives from the adapter: the
    columns it was fitted on, by name, text included (its registration is another issue's)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from driftline.drift import Signature
    from driftline.repair.model_input import window_table

    cols = ["tenure_months", "monthly_charges", "plan", "autopay"]
    pipe = make_pipeline(
        ColumnTransformer(
            [("cat", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
        ),
        LogisticRegression(max_iter=2000),
    ).fit(tables.base[cols], tables.base[TARGET])
    sig = Signature.from_data(tables.base, target=TARGET)
    window = tables.today.drop(columns=[TARGET]).sample(frac=1.0, axis=1, random_state=0)
    X = model_matrix(window_table(window, sig), list(pipe.feature_names_in_))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = pipe.predict_proba(named_input(pipe, X))
    np.testing.assert_allclose(got, pipe.predict_proba(tables.today[cols]))
    with pytest.raises(InvalidInputError, match="type changed"):
        window_table(window.assign(monthly_charges="n/a"), sig)


def test_terminal_labeller_shows_the_record(cli, monkeypatch):
    import io

    assert cli("example", "churn", "ex")[0] == 0
    assert cli("init")[0] == 0
    assert (
        cli(
            "register",
            "ex/model.safetensors",
            "--name",
            "churn",
            "--data",
            "ex/train.csv",
            "--target",
            "churned",
        )[0]
        == 0
    )
    assert cli("deploy", "churn@1", "--as", "churn")[0] == 0
    code, out = cli(
        "repair",
        "churn",
        "--window",
        "ex/today.csv",
        "--force",
        "--ask",
        "3",
        "--validation",
        "ex/labelled.csv",
    )
    assert code == 0 and "3 label request(s)" in out, out
    monkeypatch.setattr("sys.stdin", io.StringIO("1\nq\n"))
    code, out = cli("label")
    assert code == 0 and "record" in out and "customer_id" in out and "signup_date" in out
    assert "premium" in out or "basic" in out or "standard" in out
    assert "saved" in out and "f0" not in out


def test_api_register_with_data_records_the_input_schema(tmp_path, tables):
    from driftline.demo.churn import fit_churn_model
    from driftline.drift import Signature
    from driftline.drift.roles import input_schema

    store = Store(str(tmp_path / "api"), create=True)
    m = store.register(fit_churn_model(tables.base), name="churn", data=tables.base)
    expected = input_schema(tables.base, Signature.from_data(tables.base))
    assert m.architecture["input_schema"] == expected  # what `register --data` records
    schema = {f["name"]: f for f in m.architecture["input_schema"]["features"]}
    assert schema["plan"]["categories"] == ["basic", "premium", "standard"]
    assert schema["autopay"]["dtype"] == "bool"
    assert m.architecture["input_schema"]["roles"]["customer_id"] == "id"


def test_monitor_hands_repair_the_window_as_named_columns(lineage, tables):
    import driftline

    store, (m1, m2, m3) = lineage
    val = (tables.labelled.drop(columns=[TARGET]), tables.labelled[TARGET].to_numpy())
    agent = driftline.monitor(
        store, "churn", window=500, repair_with=val, policy=RepairPolicy(target_accuracy=0.95)
    )
    window = tables.today.drop(columns=[TARGET])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "X does not have valid feature names"
        reports = agent.update(window.iloc[:300]) + agent.update(window.iloc[300:700])
    assert reports and reports[0].drift and len(agent.repairs) == 1
    res = agent.repairs[0]
    assert res.ancestor_id == m1.id and res.after["accuracy"] > res.before["accuracy"] + 0.1
    stored = store.drift_reports(m3.id)[-1]["report"]
    assert not stored["schema_issues"]  # no f0.. columns, no missing model inputs
