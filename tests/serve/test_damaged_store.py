"""The server over a store whose blobs were damaged after registration: a damaged model is
never recorded as deployed, and a damaged served model is a JSON 503 naming the blob."""

from __future__ import annotations

import numpy as np
import pytest

import driftline


def _params(seed: int) -> dict[str, np.ndarray]:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    return LogisticRegression().fit(X, (X[:, 0] > 0).astype(int))


def _rot(store, ref: str) -> str:
    info = store.manifest(store.get(ref).id)[0]
    path = store.blobs.path(info.blob)
    data = bytearray(path.read_bytes())
    data[0] ^= 1
    path.write_bytes(bytes(data))
    return info.blob[:12]


@pytest.fixture()
def damaged(tmp_path):
    store = driftline.open(tmp_path / "store")
    store.register(_params(1), name="m")
    store.register(_params(2), name="m", parents=["m@1"])
    store.deploy("m@1", "d", reason="first")
    blob = _rot(store, "m@2")
    return store, blob


def _client(store):
    from fastapi.testclient import TestClient

    from driftline.serve import ServeSettings, create_app

    return TestClient(create_app(ServeSettings(store=str(store.root), public_read=True)))


def test_deploying_a_damaged_model_is_refused_and_nothing_is_recorded(damaged):
    from driftline.store.tokens import Role, create_token

    store, blob = damaged
    token = create_token(store.engine, Role.WRITE)[0]
    with _client(store) as c:
        c.headers["Authorization"] = f"Bearer {token}"
        assert c.post("/v1/deployments/d/predict", json={"rows": [[0, 1, 2]]}).is_success
        r = c.post("/v1/deployments/d/deploy", json={"model": "m@2"})
        assert r.status_code == 503 and blob in r.json()["detail"]
        assert [e.action for e in store.deployment_history("d")] == ["deploy"]
        assert store.get("deployment:d").ref == "m@1"
        r = c.post("/v1/deployments/d/predict", json={"rows": [[0, 1, 2]]})
        assert r.is_success and r.json()["model_ref"] == "m@1"


def test_a_damaged_served_model_is_a_503_naming_the_blob(damaged):
    store, blob = damaged
    store.deploy("m@2", "d2")
    with _client(store) as c:
        r = c.post("/v1/deployments/d2/predict", json={"rows": [[0, 1, 2]]})
        assert r.status_code == 503 and blob in r.json()["detail"]
