"""Checks before a repair stores anything: validation labels the model cannot predict."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.errors import InvalidInputError
from driftline.repair import repair
from driftline.store import Store

lgb = pytest.importorskip("lightgbm")


def test_label_names_for_a_model_file_without_them_say_what_to_do(tmp_path):
    """A LightGBM text file knows classes 0..K−1 only; validation labels given by name get
    one error saying how to give them, before anything is stored."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    idx = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    names = np.array(["ant", "bee", "cat"])
    cfg = {"objective": "multiclass", "num_class": 3, "verbose": -1}
    for name, shift, labels in (("root", 0.0, idx), ("child", 3.0, (idx + 1) % 3)):
        lgb.train(cfg, lgb.Dataset(X + shift, labels), 5).save_model(str(tmp_path / name))
    with Store(tmp_path / "store") as store:
        root = store.register(tmp_path / "root", name="gbm", data=X)
        child = store.register(tmp_path / "child", name="gbm", parents=[root], data=X + 3)
        store.deploy(child, "gbm")
        with pytest.raises(InvalidInputError) as info:
            repair(store, "gbm", window=X, validation=(X, names[idx]))
        msg = str(info.value)
        assert "ant" in msg and "0, 1, 2" in msg and "class indices" in msg
        # the same labels as indices are accepted
        res = repair(store, "gbm", window=X, validation=(X, idx))
        assert res.status is not None
