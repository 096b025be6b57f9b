"""The model's input table and a repaired model's training signature."""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftline.drift import Signature
from driftline.repair.model_input import window_signature


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
