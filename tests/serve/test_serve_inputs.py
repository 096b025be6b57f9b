"""Serving a model fitted on a DataFrame that uses only some of its signature's columns (the
churn example's shape), and columnar bodies whose columns the model cannot take."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.store.tokens import Role, create_token

USED = ["tenure", "charges"]


def _table(n: int, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.normal(size=n) + shift,
            "charges": rng.normal(size=n) + shift,
            "age": rng.normal(40, 5, size=n),
            "plan": rng.choice(["basic", "pro"], size=n),
        }
    )


@pytest.fixture(scope="module")
def subset_client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from driftline.serve import ServeSettings, create_app

    path = tmp_path_factory.mktemp("subset") / "store"
    store = driftline.open(path)
    m = None
    for seed, shift in ((1, 0.0), (2, 1.5)):
        df = _table(600, shift=shift, seed=seed)
        y = (df["tenure"] + df["charges"] > 2 * shift).astype(int)
        model = LogisticRegression().fit(df[USED], y)
        m = store.register(model, name="churn", data=df, parents=[m] if m else ())
    for name in ("churn", "named"):
        store.deploy(m, name, reason="first")
    token = create_token(store.engine, Role.WRITE)[0]
    store.close()
    app = create_app(ServeSettings(store=str(path), window=100))
    with TestClient(app) as c:
        c.ctx = app.state.ctx  # type: ignore[attr-defined]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def _agent(c, name):
    assert c.ctx.hub.wait_idle()
    assert not c.ctx.hub.errors
    return c.get(f"/v1/deployments/{name}/agent").json()


def test_agent_watches_the_model_inputs_of_rows_sent_as_arrays(subset_client):
    c = subset_client
    df = _table(250, shift=1.5, seed=3)
    for part in np.array_split(df[USED].to_numpy(), 5):
        assert c.post("/v1/deployments/churn/predict", json={"rows": part.tolist()}).is_success
    st = _agent(c, "churn")
    assert st["rows_seen"] == 250 and len(st["reports"]) == 2
    # rows from the training distribution: the model's inputs do not drift, and the signature
    # columns the model never receives are not reported missing
    assert st["last_report"]["drift"] is False and st["unwatched"] == ["age", "plan"]
    rep = c.get(f"/v1/drift-reports/{st['reports'][0]}").json()
    assert {f["name"] for f in rep["features"]} == set(USED)


def test_agent_sees_every_column_of_named_rows_and_repairs_from_them(subset_client):
    c = subset_client
    df = _table(300, shift=0.0, seed=4)  # today looks like churn@1's data: drift from churn@2
    for part in np.array_split(np.arange(len(df)), 3):
        rows = df.iloc[part].to_dict(orient="records")
        assert c.post("/v1/deployments/named/predict", json={"rows": rows}).is_success
    st = _agent(c, "named")
    assert st["unwatched"] == [] and st["last_report"]["drift"] is True
    rep = c.get(f"/v1/drift-reports/{st['reports'][0]}").json()
    assert {f["name"] for f in rep["features"]} == {"tenure", "charges", "age", "plan"}
    assert rep["has_window"]
    # the drifted window reached the repair policy with every training feature
    assert st["repairs"] and st["repairs"][0]["repair_id"] is not None


def _arrow(table) -> bytes:
    import pyarrow as pa

    s = io.BytesIO()
    with pa.ipc.new_stream(s, table.schema) as w:
        w.write_table(table)
    return s.getvalue()


def _columns_cases():
    import pyarrow as pa

    other = {"charges": [3.0, 4.0]}
    return {
        "text": pa.table({"tenure": ["a", "b"], **other}),
        "list": pa.table({"tenure": [[1], [2]], **other}),
        "struct": pa.table({"tenure": pa.array([{"a": 1}, {"a": 2}]), **other}),
        "binary": pa.table({"tenure": pa.array([b"a", b"b"]), **other}),
        "duplicate": pa.Table.from_arrays(
            [pa.array([1.0, 2.0]), pa.array([1.0, 2.0]), pa.array([3.0, 4.0])],
            names=["tenure", "tenure", "charges"],
        ),
    }


@pytest.mark.parametrize("case", ["text", "list", "struct", "binary", "duplicate"])
def test_columnar_bodies_the_model_cannot_take_get_422(subset_client, case):
    body = _arrow(_columns_cases()[case])
    r = subset_client.post(
        "/v1/deployments/churn/predict",
        content=body,
        headers={"Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert r.status_code == 422, r.text
    assert "tenure" in r.json()["detail"]


def test_decimal_and_numeric_text_columns_are_numbers(subset_client):
    import pyarrow as pa

    t = pa.table({"tenure": pa.array([1, 2], pa.decimal128(5, 2)), "charges": ["3.5", "4"]})
    r = subset_client.post(
        "/v1/deployments/churn/predict",
        content=_arrow(t),
        headers={"Content-Type": "application/vnd.apache.arrow.stream"},
    )
    assert r.status_code == 200, r.text


def test_a_model_without_training_signature_is_served_and_left_unwatched(tmp_path):
    from fastapi.testclient import TestClient

    from driftline.serve import ServeSettings, create_app

    store = driftline.open(tmp_path / "store")
    df = _table(200, seed=5)
    model = LogisticRegression().fit(df[USED], (df["tenure"] > 0).astype(int))
    store.deploy(store.register(model, name="bare"), "bare")
    settings = ServeSettings(
        store=str(tmp_path / "store"), public_read=True, agent_batch_rows=1, window=10
    )
    app = create_app(settings)
    with TestClient(app) as c:
        hub = app.state.ctx.hub
        for _ in range(5):
            rows = df[USED].iloc[:20].to_dict(orient="records")
            assert c.post("/v1/deployments/bare/predict", json={"rows": rows}).is_success
            assert hub.wait_idle()
        # not an agent failure per batch: one note, shown where the agent would be
        assert not hub.errors
        st = c.get("/v1/deployments/bare/agent").json()
        assert "no training signature" in st["unwatched_reason"]
        assert c.get("/v1/health").json()["agent_errors"] == 0


def test_a_repair_on_served_rows_that_lack_training_columns_says_to_send_the_window(
    subset_client,
):
    c = subset_client
    rows = _table(50, seed=6)[USED].to_numpy().tolist()
    assert c.post("/v1/deployments/churn/predict", json={"rows": rows}).is_success
    r = c.post("/v1/repairs", json={"deployment": "churn"})
    assert r.status_code == 422 and "window" in r.json()["detail"]
    assert "age" in r.json()["detail"]
