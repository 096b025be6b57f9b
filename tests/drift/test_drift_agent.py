"""DriftAgent windows, schema handling, rules, reports and their serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from driftline.drift import DriftAgent, DriftReport, Signature, compare, drift_score, report_table
from driftline.drift.verdict import adjust_pvalues
from driftline.errors import InvalidInputError


@pytest.fixture(scope="module")
def ref():
    rng = np.random.default_rng(0)
    n = 20_000
    return Signature.from_data(
        {
            "a": rng.normal(size=n),
            "b": rng.exponential(size=n),
            "c": rng.choice(np.array(["x", "y"], dtype=object), n),
        }
    )


def _batch(rng, n, shift=0.0):
    return {
        "a": rng.normal(shift, 1, n),
        "b": rng.exponential(size=n),
        "c": rng.choice(np.array(["x", "y"], dtype=object), n),
    }


def test_tumbling_windows_callback_and_empty_batch(ref):
    rng = np.random.default_rng(1)
    seen = []
    agent = DriftAgent(ref, window=1000, on_report=seen.append)
    assert agent.update(_batch(rng, 0)) == []
    assert agent.update({}) == []
    out = agent.update(_batch(rng, 2500))
    assert [(r.start_row, r.end_row) for r in out] == [(0, 1000), (1000, 2000)]
    assert seen == out
    partial = agent.report()
    assert (partial.start_row, partial.end_row, partial.complete) == (2000, 2500, False)
    out = agent.update(_batch(rng, 600, shift=2.0))
    assert len(out) == 1 and out[0].window_index == 2 and out[0].drift
    assert agent.report().n_rows == 100
    last = agent.flush()
    assert last is not None and last.n_rows == 100 and seen[-1] is last


def test_sliding_windows(ref):
    rng = np.random.default_rng(2)
    agent = DriftAgent(ref, window=1000, mode="sliding", step=250)
    out = agent.update(_batch(rng, 2000))
    assert [(r.start_row, r.end_row) for r in out] == [
        (0, 1000),
        (250, 1250),
        (500, 1500),
        (750, 1750),
        (1000, 2000),
    ]
    assert all(r.n_rows == 1000 for r in out)
    # sliding state equals a one-shot comparison of the same rows
    rng = np.random.default_rng(3)
    rows = _batch(rng, 2000)
    agent = DriftAgent(ref, window=1000, mode="sliding", step=500)
    last = agent.update(rows)[-1]
    one = compare(ref, {k: v[1000:] for k, v in rows.items()})
    assert last.features["a"].metrics["ks"] == pytest.approx(one.features["a"].metrics["ks"])
    assert last.features["c"].metrics["chi2"] == pytest.approx(one.features["c"].metrics["chi2"])
    with pytest.raises(InvalidInputError):
        DriftAgent(ref, window=1000, mode="sliding", step=300)


def test_time_windows(ref):
    rng = np.random.default_rng(4)
    agent = DriftAgent(ref, window=None, time_column="ts", window_seconds=60.0)
    b = _batch(rng, 300)
    b["ts"] = np.sort(rng.uniform(0, 150, 300))
    out = agent.update(b)
    assert len(out) == 2
    assert out[0].start_time >= 0 and out[0].end_time < 60
    assert 60 <= out[1].start_time and out[1].end_time < 120
    assert sum(r.n_rows for r in out) + agent.report().n_rows == 300
    assert not any(i.issue == "extra_column" for r in out for i in r.schema_issues)
    dt = np.datetime64("2024-01-01T00:00:00") + (b["ts"] * 1e3).astype("timedelta64[ms]")
    b2 = {**b, "ts": dt}
    out2 = DriftAgent(ref, window=None, time_column="ts", window_seconds=60.0).update(b2)
    assert [r.n_rows for r in out2] == [r.n_rows for r in out]


def test_schema_mismatch_is_reported_not_raised(ref):
    rng = np.random.default_rng(5)
    b = _batch(rng, 500)
    del b["b"]
    b["extra"] = np.zeros(500)
    b["a"] = np.array(["oops"] * 500, dtype=object)  # numeric turned categorical
    r = compare(ref, b)
    issues = {(i.feature, i.issue) for i in r.schema_issues}
    assert issues == {("b", "missing_column"), ("extra", "extra_column"), ("a", "type_changed")}
    assert r.drift and r.schema_drift and drift_score(r) == math.inf
    # numbers that arrive as strings are fine
    b = _batch(rng, 500)
    b["a"] = np.array([str(v) for v in b["a"]], dtype=object)
    r = compare(ref, b)
    assert r.schema_issues == [] and not r.drift


def test_thresholds_per_feature_and_share(ref):
    rng = np.random.default_rng(6)
    b = _batch(rng, 5000, shift=0.5)
    assert compare(ref, b).drifted_features == ["a"]
    r = compare(
        ref,
        b,
        rule="effect",
        per_feature_thresholds={
            "a": {"psi": None, "ks": None, "kl": None, "js": None, "wasserstein": None}
        },
    )
    assert not r.drift and "psi" not in r.features["a"].thresholds
    r = compare(ref, b, drift_share=0.5)
    assert r.n_drifted == 1 and r.required == 2 and not r.drift
    r = compare(
        ref,
        b,
        rule="effect",
        thresholds={"psi": 10.0, "ks": 10.0, "kl": 10.0, "js": 10.0, "wasserstein": 10.0},
    )
    assert not r.drift
    with pytest.raises(InvalidInputError):
        DriftAgent(ref, thresholds={"bogus": 1.0})


def test_bonferroni_and_bh_adjustment():
    p = np.array([0.01, 0.04, 0.03, 0.5])
    np.testing.assert_allclose(adjust_pvalues(p, "bonferroni"), [0.04, 0.16, 0.12, 1.0])
    # BH: sorted p 0.01,0.03,0.04,0.5 -> 0.04, 0.0533, 0.0533, 0.5
    np.testing.assert_allclose(adjust_pvalues(p, "bh"), [0.04, 0.16 / 3, 0.16 / 3, 0.5])


def test_report_roundtrip_and_table(ref):
    rng = np.random.default_rng(7)
    b = _batch(rng, 3000, shift=1.0)
    b["a"][:10] = np.nan
    del b["c"]
    r = compare(ref, b, rule="bonferroni")
    assert r.rule == "bonferroni" and "ks_p" in r.features["a"].fired
    d = json.loads(json.dumps(r.to_dict()))
    back = DriftReport.from_dict(d)
    assert back.to_dict() == r.to_dict()
    assert back.fired == r.fired and back.schema_issues == r.schema_issues
    t = report_table(r)
    assert isinstance(t, Table) and t.row_count == 4
    console = Console(record=True, width=200)
    console.print(t)
    text = console.export_text()
    assert "DRIFT" in text and "missing_column" in text


def test_compare_any_input_and_score(ref):
    rng = np.random.default_rng(8)
    rows = [{"a": float(v), "b": 1.0, "c": "x"} for v in rng.normal(size=300)]
    r = compare(ref, rows)
    assert r.n_rows == 300 and r.features["a"].metrics["n"] == 300
    assert drift_score(r) == pytest.approx(max(r.metric("psi").values()))
    none = {"a": np.empty(0), "b": np.empty(0), "c": np.empty(0, object)}
    with pytest.raises(InvalidInputError, match="0 rows"):  # never "no drift" for no rows
        compare(ref, none)
    agent = DriftAgent(ref, window=None)
    agent.update(none)
    empty = agent.report()
    assert empty.n_rows == 0 and math.isnan(empty.features["a"].metrics["ks"])


def test_agent_never_mutates_caller_arrays():
    rng = np.random.default_rng(9)
    sig = Signature.from_data(rng.normal(size=(5000, 3)))
    for order in ("C", "F"):
        x = np.asarray(rng.normal(size=(2000, 3)), order=order)
        keep = x.copy()
        cols = {f"f{j}": x[:, j].copy() for j in range(3)}
        keep_cols = {k: v.copy() for k, v in cols.items()}
        agent = DriftAgent(sig, window=500)
        a = agent.update(x)
        b = DriftAgent(sig, window=500).update(cols)
        np.testing.assert_array_equal(x, keep)
        for k in cols:
            np.testing.assert_array_equal(cols[k], keep_cols[k])
        assert [r.features["f0"].metrics["ks"] for r in a] == [
            r.features["f0"].metrics["ks"] for r in b
        ]


def test_numpy_window_against_a_signature_built_from_named_columns():
    # a model fitted on a DataFrame is fed X.to_numpy(): its columns are the signature's
    # features in order, not f0, f1, ... reported as 'missing every feature' (schema DRIFT)
    pytest.importorskip("pandas")
    from sklearn.datasets import load_wine

    from driftline.drift import log_likelihood

    wine = load_wine(as_frame=True).frame
    sig = Signature.from_data(wine)  # 'target' is detected as the label, 13 features remain
    X = wine[sig.feature_names]
    by_array, by_frame = compare(sig, X.to_numpy()), compare(sig, X)
    assert by_array.schema_issues == [] and not by_array.drift
    assert by_array.to_dict()["features"] == by_frame.to_dict()["features"]
    np.testing.assert_array_equal(log_likelihood(sig, X.to_numpy()), log_likelihood(sig, X))
    merged = Signature.from_data(X).update(X.to_numpy())
    assert merged.n_rows == 2 * len(X) and merged["alcohol"].mean == pytest.approx(X.alcohol.mean())
    # a width that matches nothing is one clear error, not fourteen schema issues
    with pytest.raises(InvalidInputError, match="no column names.*13 features.*feature_names"):
        compare(sig, wine.to_numpy())
    # arrays against an array-built signature keep their f0, f1, ... names
    arr_sig = Signature.from_data(X.to_numpy())
    assert compare(arr_sig, X.to_numpy()[:, :12]).schema_issues[0].issue == "missing_column"


def test_booleans_and_their_0_1_encoding_are_the_same_values():
    # one source writes a flag as True/False, another as 0/1 (CSV exports, JSON true/false
    # against an integer column): the values are equal for any model, so the window's
    # distribution is compared, not reported 100% unseen or 'type_changed'
    rng = np.random.default_rng(11)
    flags = rng.random(4000) < 0.3
    as_bool = Signature.from_data({"flag": flags, "x": rng.normal(size=4000)})
    as_int = Signature.from_data({"flag": flags.astype(int), "x": rng.normal(size=4000)})
    win = rng.random(1000) < 0.3
    x = rng.normal(size=1000)
    for sig, other in ((as_bool, win.astype(int)), (as_int, win)):
        same = compare(sig, {"flag": win if sig is as_bool else win.astype(int), "x": x})
        got = compare(sig, {"flag": other, "x": x})
        assert got.schema_issues == [] and not got.drift
        assert got.features["flag"].metrics == pytest.approx(same.features["flag"].metrics)
    rows = [{"flag": bool(v), "x": float(u)} for v, u in zip(win, x, strict=True)]
    assert compare(as_int, rows).schema_issues == []  # JSON true / false
    # a code that is no boolean stays what it is: unseen against True / False
    codes = np.where(win, 2, 0)
    assert compare(as_bool, {"flag": codes, "x": x}).features["flag"].metrics["unseen"] > 0.2


def test_time_column_that_the_signature_holds_as_a_feature():
    # the training table's event time was summarised as a feature; using it for time windows
    # took it out of every batch, so each window reported it 'missing' (schema DRIFT)
    rng = np.random.default_rng(12)
    t0 = 1.7e9
    train = {"x": rng.normal(size=3000), "when": t0 + np.sort(rng.uniform(0, 3000, 3000))}
    sig = Signature.from_data(train)
    assert "when" in sig.feature_names
    agent = DriftAgent(sig, window=None, time_column="when", window_seconds=500.0)
    out = agent.update({"x": rng.normal(size=600), "when": t0 + np.sort(rng.uniform(0, 1500, 600))})
    assert len(out) == 2 and all(r.schema_issues == [] and not r.drift for r in out)
    assert "when" not in out[0].features and out[0].roles["when"] == "timestamp"
