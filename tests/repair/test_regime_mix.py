"""The reported regime mix is the EM mixture proportion, not the share of rows each member
explains best (which under-reports a regime where the members' training data overlap)."""

from __future__ import annotations

import numpy as np
import pytest

import driftline
from driftline.repair.routed_model import regime_mix_report


@pytest.fixture()
def two_regimes(tmp_path):
    with driftline.open(tmp_path / "store") as store:
        rng = np.random.default_rng(0)
        a = store.register({"w": np.ones(2)}, name="m", data=rng.normal(0.0, 1.0, (4000, 2)))
        b = store.register(
            {"w": np.full(2, 2.0)}, name="m", parents=[a], data=rng.normal(1.0, 1.0, (4000, 2))
        )
        yield store, a, b, rng


def test_a_pure_window_is_reported_as_nearly_all_one_regime(two_regimes):
    store, a, b, rng = two_regimes
    window = rng.normal(0.0, 1.0, (3000, 2))
    mix = regime_mix_report(store, [b.id, a.id], window)
    # counting best-explained rows gives P(x closer to A) ≈ Φ(0.5·√2) ≈ 0.76 here; the EM share
    # recovers the truth (1.0) up to the histogram densities' error
    assert mix["m@1"] >= 0.9 and sum(mix.values()) == pytest.approx(1.0)


def test_a_mixed_window_reports_its_mixing_proportion(two_regimes):
    store, a, b, rng = two_regimes
    window = np.vstack([rng.normal(0.0, 1.0, (1800, 2)), rng.normal(1.0, 1.0, (1200, 2))])
    mix = regime_mix_report(store, [a.id, b.id], window)
    assert mix["m@1"] == pytest.approx(0.6, abs=0.08)
    assert mix["m@2"] == pytest.approx(0.4, abs=0.08)
