"""Checks before a repair stores anything (validation labels the model cannot predict), and a
repaired model's training signature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftline.drift import Signature
from driftline.errors import InvalidInputError
from driftline.repair import repair
from driftline.repair.model_input import window_signature
from driftline.store import Store


def test_label_names_for_a_model_file_without_them_say_what_to_do(tmp_path):
    """A LightGBM text file knows classes 0..K−1 only; validation labels given by name get
    one error saying how to give them, before anything is stored."""
    lgb = pytest.importorskip("lightgbm")
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


def test_a_repaired_models_signature_keeps_the_target_name():
    """A repaired (or refined) model's signature is its window's, which has no label column;
    the target role was dropped with it, so 'driftline repair DEPLOYMENT --validation
    val.csv' on the repaired model failed with 'val.csv has no label column'."""
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    train["cultivar"] = np.where(train.a > 0, "barolo", "barbera")
    reference = Signature.from_data(train, target="cultivar")
    window = train.drop(columns=["cultivar"]) + 1.0
    sig = window_signature(window, reference)
    assert sig.target == "cultivar"
    assert list(sig.feature_names) == ["a", "b"]
    assert Signature.from_bytes(sig.to_bytes()).target == "cultivar"
