"""Edge statistics of training data: moments and drift against parents, without a store."""

from __future__ import annotations

import numpy as np

from driftline.drift import Signature, compare, drift_score
from driftline.drift.lineage_stats import DriftStatistics, parent_drift, training_stats


def _x(loc: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(loc, 1.0, size=(800, 3))


def test_parent_drift_is_compare_per_parent():
    near, far = Signature.from_data(_x(0.0, 1)), Signature.from_data(_x(2.0, 2))
    data = _x(0.0, 3)
    out = parent_drift(data, {"near": near, "far": far})
    for key, sig in (("near", near), ("far", far)):
        report = compare(sig, data)
        assert out[key]["parent_signature_id"] == sig.id
        assert out[key]["drift"] == report.drift
        assert out[key]["score"] == drift_score(report)
        assert out[key]["drifted_features"] == report.drifted_features
        assert out[key]["max"]["psi"] == max(report.metric("psi").values())
    assert out["near"]["drift"] is False and out["far"]["drift"] is True


def test_edge_stats_without_data_or_parents_have_no_drift_entry():
    sig = Signature.from_data(_x(0.0, 1))
    stats = DriftStatistics()
    assert stats.edge_stats(sig, None, {"p": sig}) == training_stats(sig)
    assert "drift_vs_parent" not in stats.edge_stats(sig, _x(0.0, 2), {})
    assert training_stats(sig)["n_rows"] == 800
    assert set(training_stats(sig)["moments"]) == set(sig.features)
