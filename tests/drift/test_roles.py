"""Column roles: declaration, safe auto-detection, signatures, and what windows report."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from driftline.datasets import churn_table
from driftline.drift import Signature, compare, psi, read_table
from driftline.drift.roles import ColumnRole, RoleSpec, assign_roles, check_labels
from driftline.drift.tabular import read_frame, to_columns
from driftline.errors import InvalidInputError, SchemaMismatchError


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return churn_table(1500, seed=0)


@pytest.fixture(scope="module")
def sig(train) -> Signature:
    return Signature.from_data(train, target="churned")


def test_auto_detection_is_safe_and_explained():
    rng = np.random.default_rng(0)
    n = 200
    cols = to_columns(
        {
            "customer_id": [f"C{i}" for i in range(n)],  # text, all distinct -> id
            "order_id": np.arange(n),  # integer, id-like name -> id
            "count": np.arange(n),  # integer, all distinct, no id name
            "x": rng.normal(size=n),  # continuous: all distinct, a feature
            "city": rng.choice(["a", "b", "c"], n),
            "label": rng.integers(0, 2, n),
            "score": rng.random(n),
            "event_time": np.arange(n) * 60.0,
            "y": rng.normal(size=n),  # "y" is often a coordinate: feature
        }
    )
    a = assign_roles(cols)
    roles = {c: d.role for c, d in a.decisions.items()}
    assert roles == {
        "customer_id": ColumnRole.ID,
        "order_id": ColumnRole.ID,
        "label": ColumnRole.TARGET,
        "score": ColumnRole.PREDICTION,
        "event_time": ColumnRole.TIMESTAMP,
    }
    assert a.features == ["count", "x", "city", "y"]
    assert "100% of 200 values distinct" in a.decisions["customer_id"].reason
    assert all(d.reason.startswith("auto") for d in a.decisions.values())
    # declarations win and switch auto off where asked
    b = assign_roles(cols, RoleSpec.of(target="y", ignore=["city"], auto=False))
    assert {c: d.role.value for c, d in b.decisions.items()} == {"city": "ignored", "y": "target"}


def test_bad_declarations_are_clear_errors():
    cols = to_columns({"a": [1.0, 2.0], "b": ["x", "y"]})
    with pytest.raises(SchemaMismatchError, match="nope"):
        assign_roles(cols, RoleSpec.of(id="nope"))
    with pytest.raises(InvalidInputError, match="both"):
        assign_roles(cols, RoleSpec.of(target="a", ignore="a"))


def test_signature_records_roles_and_keeps_old_ids(sig, train):
    assert sig.feature_names == [
        "signup_date",
        "tenure_months",
        "monthly_charges",
        "support_calls",
        "age",
        "plan",
        "region",
        "autopay",
    ]
    assert sig.target == "churned" and sig.roles["customer_id"].role == ColumnRole.ID
    counts = sig.role_features["churned"].counts  # a 0/1 target is kept as class counts
    assert counts == {"0": int((train.churned == 0).sum()), "1": int((train.churned == 1).sum())}
    again = Signature.from_bytes(sig.to_bytes())
    assert again.id == sig.id and again.target == "churned"
    assert Signature.from_dict(sig.to_dict()).id == sig.id
    # a signature without role columns serialises exactly as before (no "roles" key)
    plain = Signature.from_data({"a": np.arange(50.0)})
    assert b'"roles"' not in plain.to_bytes()
    # merging keeps the roles and adds the target counts
    half = Signature.from_data(train.iloc[:700], target="churned").merge(
        Signature.from_data(train.iloc[700:], target="churned")
    )
    assert half.target == "churned" and half.role_features["churned"].counts == counts


def test_every_input_format_gives_the_same_signature_and_verdict(sig, train, tmp_path):
    today = churn_table(800, regime="today", seed=4)
    train.to_csv(tmp_path / "t.csv", index=False)
    train.to_parquet(tmp_path / "t.parquet")
    inputs = [
        train,
        pl.from_pandas(train),
        pa.Table.from_pandas(train),
        read_table(tmp_path / "t.csv"),
        read_table(tmp_path / "t.parquet"),
        read_frame(tmp_path / "t.csv"),
    ]
    ids = {Signature.from_data(x, target="churned").id for x in inputs}
    assert ids == {sig.id}
    today.to_csv(tmp_path / "w.csv", index=False)
    verdicts = {
        (r.drift, tuple(r.drifted_features))
        for r in (
            compare(sig, w) for w in (today, pl.from_pandas(today), read_table(tmp_path / "w.csv"))
        )
    }
    assert len(verdicts) == 1


def test_windows_never_report_role_columns_as_schema_drift(sig):
    today = churn_table(1000, regime="today", seed=5)
    for window in (
        today,
        today.drop(columns=["churned"]),
        today.drop(columns=["churned", "customer_id"]),
    ):
        r = compare(sig, window)
        assert not r.schema_issues, r.schema_issues
        assert "churned" not in r.features and "customer_id" not in r.features
        assert r.roles["customer_id"] == "id" and r.roles["churned"] == "target"


def test_unseen_share_and_label_drift_match_hand_computation(sig, train):
    today = churn_table(1000, regime="today", seed=6)
    r = compare(sig, today)
    share = float((today.plan == "student").mean())
    assert share > 0 and r.features["plan"].metrics["unseen"] == pytest.approx(share)
    # label drift: PSI over the class cells, against the training target counts
    ref = np.array([(train.churned == 0).sum(), (train.churned == 1).sum()], dtype=float)
    cur = np.array([(today.churned == 0).sum(), (today.churned == 1).sum()], dtype=float)
    ld = r.label_drift["churned"]
    assert ld.metrics["psi"] == pytest.approx(psi(ref, cur))
    assert ld.metrics["n"] == 1000
    # the id column is not tested (PSI would be ~0 and chi-square p = 1: meaningless)
    assert "customer_id" not in r.features
    # a round trip through the stored dict keeps label drift and roles
    back = type(r).from_dict(r.to_dict())
    assert back.label_drift["churned"].metrics["psi"] == pytest.approx(ld.metrics["psi"])
    assert back.roles == r.roles


def test_bad_windows_are_schema_issues_in_the_report(sig):
    w = churn_table(600, regime="base", seed=7)
    r = compare(sig, w.drop(columns=["tenure_months"]))
    assert r.drift and [(i.feature, i.issue) for i in r.schema_issues] == [
        ("tenure_months", "missing_column")
    ]
    r = compare(sig, w.assign(monthly_charges=["n/a"] * len(w)))
    assert r.drift and ("monthly_charges", "type_changed") in [
        (i.feature, i.issue) for i in r.schema_issues
    ]
    r = compare(sig, w.assign(age=np.nan))
    assert r.drift and "missing_change" in r.features["age"].fired
    assert r.features["age"].metrics["missing_change"] == pytest.approx(
        1 - sig.features["age"].missing_rate
    )
    r = compare(sig, w.assign(churned=np.where(np.arange(len(w)) < 30, 7, w.churned)))
    issue = [i for i in r.schema_issues if i.issue == "unseen_labels"]
    assert issue and issue[0].rows == 30 and not r.schema_drift


def test_check_labels_names_unseen_classes(sig):
    check_labels(sig, np.array([0, 1, 1]))
    with pytest.raises(InvalidInputError, match="7"):
        check_labels(sig, np.array([0, 7]))


def test_declared_roles_at_compare_time_are_not_tested(sig):
    w = churn_table(500, regime="base", seed=8).assign(batch_no=np.arange(500) % 3)
    r = compare(sig, w)
    assert ("batch_no", "extra_column") in [(i.feature, i.issue) for i in r.schema_issues]
    r = compare(sig, w, roles=RoleSpec.of(ignore="batch_no"))
    assert not r.schema_issues and r.roles["batch_no"] == "ignored"
    assert not math.isnan(r.features["plan"].metrics["psi"])


def test_prediction_drift_is_reported_beside_the_input_verdict():
    rng = np.random.default_rng(3)
    n = 2000
    train = {"x": rng.normal(size=n), "score": rng.beta(2, 5, n)}
    s = Signature.from_data(train)  # "score" is detected as a prediction column
    assert s.roles["score"].role == ColumnRole.PREDICTION and s.feature_names == ["x"]
    same = compare(s, {"x": rng.normal(size=n), "score": rng.beta(2, 5, n)})
    moved = compare(s, {"x": rng.normal(size=n), "score": rng.beta(5, 2, n)})
    assert not same.label_drift["score"].drift and moved.label_drift["score"].drift
    assert not moved.drift  # the input verdict is about features only
    assert (
        moved.label_drift["score"].metrics["psi"]
        > 1.0
        > 0.1
        > same.label_drift["score"].metrics["psi"]
    )
