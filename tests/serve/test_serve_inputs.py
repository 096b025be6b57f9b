"""Serving a model fitted on a DataFrame that uses only some of its signature's columns (the
churn example's shape)."""

from __future__ import annotations

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
    df = _table(600, seed=1)
    y = (df["tenure"] + df["charges"] > 0).astype(int)
    model = LogisticRegression().fit(df[USED], y)
    m = store.register(model, name="churn", data=df)
    store.deploy(m, "churn", reason="first")
    token = create_token(store.engine, Role.WRITE)[0]
    store.close()
    app = create_app(ServeSettings(store=str(path), window=100, auto_repair=False))
    with TestClient(app) as c:
        c.ctx = app.state.ctx  # type: ignore[attr-defined]
        c.headers["Authorization"] = f"Bearer {token}"
        yield c


def test_agent_watches_a_model_that_takes_some_of_its_signature_columns(subset_client):
    c = subset_client
    df = _table(250, seed=3)
    for part in np.array_split(np.arange(len(df)), 5):
        rows = df.iloc[part].to_dict(orient="records")
        assert c.post("/v1/deployments/churn/predict", json={"rows": rows}).status_code == 200
        arrays = df.iloc[part][USED].to_numpy().tolist()
        assert c.post("/v1/deployments/churn/predict", json={"rows": arrays}).status_code == 200
    assert c.ctx.hub.wait_idle()
    assert c.ctx.hub.errors == []
    st = c.get("/v1/deployments/churn/agent").json()
    assert st["rows_seen"] == 500 and len(st["reports"]) == 5
    # served rows from the training distribution: the model's inputs do not drift, and the
    # signature columns the model never receives are not reported missing
    assert st["last_report"]["drift"] is False
    rep = c.get(f"/v1/drift-reports/{st['reports'][0]}").json()
    assert {f["name"] for f in rep["features"]} == set(USED)
