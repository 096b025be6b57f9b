"""``driftline.monitor`` is a function of the package and the name of a submodule: both must
keep working, whatever was imported first (issue 15: a second call raised TypeError)."""

from __future__ import annotations

import importlib

import numpy as np

import driftline
from driftline.drift import Signature


def test_monitor_can_be_called_twice(tmp_path) -> None:
    store = driftline.open(tmp_path / "store")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    params = {"w": np.ones((3, 2), dtype=np.float32)}
    store.register(params, name="m", signature=Signature.from_data(X))
    first = driftline.monitor(store, "m", window=100)
    importlib.import_module("driftline.monitor")  # what driftline.serve does
    from driftline.monitor import BoundAgent

    second = driftline.monitor(store, "m", window=100)
    assert callable(driftline.monitor)
    assert isinstance(first, BoundAgent) and isinstance(second, BoundAgent)
    assert len(second.update(X[:200])) == 2
