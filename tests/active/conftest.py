"""Shared fixtures of the active-learning tests: a queue with pending digit requests, and a
digits lineage facing a new regime (inverted digits) with its repair."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from driftline.active import LabelQueue
from driftline.repair import RepairPolicy, repair
from driftline.store import Store

CLASSES = list(range(10))


@pytest.fixture()
def filled(tmp_path):
    """A queue with 5 pending 64-feature requests for repair 3 (truth: y) + 1 for repair 4."""
    q = LabelQueue(Store(tmp_path / "store"))
    rng = np.random.default_rng(1)
    X = rng.random((6, 64))
    y = np.array([3, 1, 4, 1, 5, 9])
    preds = [
        {
            "label": int((v + 1) % 10),
            "confidence": 0.4 + 0.1 * i,
            "ref": "digits@5",
            "classes": CLASSES,
            "image_shape": [8, 8],  # asked as 8×8 digits (RefineSettings.image_shape)
        }
        for i, v in enumerate(y)
    ]
    ids = q.request(
        X[:5],
        np.linspace(1, 0.5, 5),
        strategy="qbc_vote",
        round=1,
        repair_id=3,
        predictions=preds[:5],
    )
    ids += q.request(X[5:], [0.1], strategy="margin", round=1, repair_id=4, predictions=preds[5:])
    return q, X, y, ids


def _digits_lineage(tmp_path, seed: int):
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from driftline.datasets import new_regime_scenario

    sc = new_regime_scenario(seed)
    store = Store(tmp_path / f"store{seed}")
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MLPClassifier((32,), max_iter=80, random_state=seed).fit(sc.base.X, sc.base.y)
        prev = store.register(m, name="digits", data=sc.base.X)
        for r in sc.lineage:
            m.set_params(warm_start=True, max_iter=15)
            m.fit(r.X, r.y)
            prev = store.register(m, name="digits", parents=[prev], data=r.X)
    store.deploy(prev, "digits")
    res = repair(
        store,
        "digits",
        sc.window.X,
        (sc.validation.X, sc.validation.y),
        policy=RepairPolicy(drift_share=0.4, continued_steps=0),  # AL takes over
    )
    return store, sc, res


@pytest.fixture(scope="session")
def make_lineage(tmp_path_factory):
    """``make_lineage(seed)`` -> (store, scenario, repair result), each in a fresh store."""
    return lambda seed: _digits_lineage(tmp_path_factory.mktemp("al"), seed)


@pytest.fixture(scope="session")
def lineage(make_lineage):
    """The seed-0 lineage, shared (read-mostly) by the tests that only refit or simulate."""
    return make_lineage(0)


@pytest.fixture()
def clusters() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three tight clusters of 10; cluster 0 holds every high score."""
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = np.repeat([0, 1, 2], 10)
    x = centers[labels] + rng.normal(scale=0.1, size=(30, 2))
    scores = np.where(labels == 0, 0.9, 0.5) + rng.uniform(0, 0.01, size=30)
    return x, scores, labels


@pytest.fixture()
def blobs() -> np.ndarray:
    # Two blobs: A = the unit square's corners and centre (indices 0-4), B = six points near
    # (10.5, 10.5) (indices 5-10). Centroids: A (0.5, 0.5) -> point 4 exactly; B (10.5, 10.517)
    # -> point 9 (10.5, 10.5) at distance 0.017 (point 10 is at 0.083).
    return np.array(
        [
            [0, 0],
            [0, 1],
            [1, 0],
            [1, 1],
            [0.5, 0.5],
            [10, 10],
            [10, 11],
            [11, 10],
            [11, 11],
            [10.5, 10.5],
            [10.5, 10.6],
        ]
    )
