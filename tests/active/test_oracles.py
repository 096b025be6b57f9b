"""Oracles: the simulated oracle answers from held-out truth, looked up by point hash."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.active import (
    SimulatedOracle,
)
from driftline.errors import InvalidInputError


def test_simulated_oracle_looks_points_up_by_hash(filled):
    q, X, y, ids = filled
    oracle = SimulatedOracle(X, y)
    assert oracle(X[[4, 0]]).tolist() == [5, 3]
    assert oracle.label_of(X[2].astype(np.float64).copy()) == 4
    assert oracle.label_of(X[2] + 1e-12) is None
    n = oracle.answer(q, q.pending(3))
    assert n == 5
    Xl, yl = q.labelled(3)
    assert np.array_equal(Xl, X[:5]) and yl.tolist() == y[:5].tolist()
    assert q.get(ids[0]).annotator == "simulated"
    with pytest.raises(InvalidInputError):
        SimulatedOracle(X[:2], y[:2]).answer(q, q.pending(4))
    assert SimulatedOracle(X[:2], y[:2], missing="skip").answer(q, q.pending(4)) == 0
    assert q.get(ids[5]).status == "skipped"


def test_simulated_oracle_checks_its_truth(filled):
    _, X, y, _ = filled
    with pytest.raises(InvalidInputError, match="3 pool labels for 6 rows"):
        SimulatedOracle(X, y[:3])
    with pytest.raises(InvalidInputError, match="unknown missing 'ask'; use one of: skip, raise"):
        SimulatedOracle(X, y, missing="ask")
    with pytest.raises(InvalidInputError, match="n × d"):
        SimulatedOracle(X[0], y[:1])
