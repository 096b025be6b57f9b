"""Accuracy versus labels: the simulated curve rises with labels; settings are checked."""

from __future__ import annotations

import pytest

from driftline.active import SimulatedOracle, accuracy_vs_labels
from driftline.active.curve import CURVE_SETTINGS, schedule
from driftline.errors import InvalidInputError
from driftline.repair import SklearnFamily


def test_accuracy_rises_with_labels(lineage):
    store, sc, res = lineage
    fam = SklearnFamily(store.get(res.drifted_id).architecture)
    start = store.load(res.repaired_id)
    oracle = SimulatedOracle(sc.current_train.X, sc.current_train.y)
    curve = accuracy_vs_labels(
        fam,
        start,
        sc.current_train.X,
        oracle,
        sc.test.X,
        sc.test.y,
        strategy="margin",
        checkpoints=(10, 30),
        seed=0,
        validation=(sc.validation.X, sc.validation.y),
    )
    assert curve.labels == [0, 10, 30] and len(curve.accuracy) == 3
    assert curve.accuracy[-1] > curve.accuracy[0]
    with pytest.raises(InvalidInputError):
        accuracy_vs_labels(
            fam, start, sc.current_train.X, oracle, sc.test.X, sc.test.y, strategy="nope"
        )


def test_schedule_lands_on_every_checkpoint():
    assert schedule((10, 30, 50), CURVE_SETTINGS) == [10, 20, 30, 45, 50]  # max(10, n/2)
    assert schedule((25,), CURVE_SETTINGS.with_changes(batch=10)) == [10, 20, 25]
