"""A small store for the server tests: a lineage of two scikit-learn MLPs on 4 features, the
newer one deployed as ``clf``; tokens of every role; an app over it (TestClient = httpx)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier

import driftline
from driftline.store.tokens import Role, create_token

FEATURES = ["a", "b", "c", "d"]


def make_data(n: int, shift: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4)) + shift
    y = (X[:, 0] + X[:, 1] - 2 * shift > 0).astype(int)
    return X, y


def _fit(X: np.ndarray, y: np.ndarray, seed: int) -> MLPClassifier:
    return MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=seed).fit(X, y)


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "store"
    store = driftline.open(path)
    X0, y0 = make_data(600, seed=1)
    X1, y1 = make_data(600, shift=0.3, seed=2)
    cols0 = {n: X0[:, i] for i, n in enumerate(FEATURES)}
    cols1 = {n: X1[:, i] for i, n in enumerate(FEATURES)}
    m1 = store.register(_fit(X0, y0, 0), name="clf", data=cols0, metrics={"acc": 0.9})
    m2 = store.register(
        _fit(X1, y1, 1),
        name="clf",
        parents=[m1],
        transform="finetune",
        data=cols1,
        metrics={"acc": 0.91},
    )
    store.deploy(m1, "clf", reason="first")
    store.deploy(m2, "clf", reason="second")
    store.close()
    return path


@pytest.fixture(scope="module")
def tokens(store_path):
    store = driftline.open(store_path)
    out = {r.name.lower(): create_token(store.engine, r)[0] for r in Role}
    secret, _ = create_token(store.engine, Role.ADMIN, "short", ttl_seconds=0.01)
    out["expired"] = secret
    store.close()
    return out


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def client(store_path, tokens):
    from fastapi.testclient import TestClient

    from driftline.serve import ServeSettings, create_app

    settings = ServeSettings(
        store=str(store_path),
        window=200,
        refresh_seconds=0.2,
        max_body_bytes=200_000,
        max_rows=1000,
        min_feedback=10,
    )
    app = create_app(settings)
    with TestClient(app) as c:
        c.ctx = app.state.ctx  # type: ignore[attr-defined]
        yield c
