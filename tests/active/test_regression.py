"""Regression query strategies against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.active.regression import (
    committee_variance,
    lineage_disagreement,
    select_regression,
)
from driftline.errors import InvalidInputError


def test_committee_variance_matches_numpy():
    rng = np.random.default_rng(0)
    preds = [rng.normal(size=50) for _ in range(3)]
    np.testing.assert_allclose(committee_variance(preds), np.var(np.stack(preds), axis=0))
    # weighted: two members, weights 0.25/0.75 -> w1 w2 (a - b)^2
    a, b = preds[0], preds[1]
    np.testing.assert_allclose(committee_variance([a, b], [1, 3]), 0.25 * 0.75 * (a - b) ** 2)
    np.testing.assert_allclose(lineage_disagreement(preds), np.ptp(np.stack(preds), axis=0))


def test_select_regression_picks_disagreement_and_skips_labelled():
    a = np.zeros(10)
    b = np.arange(10, dtype=float)  # disagreement grows with the index
    assert select_regression([a, b], 3).tolist() == [9, 8, 7]
    assert select_regression([a, b], 2, already=[9]).tolist() == [8, 7]
    X = np.column_stack([np.arange(10.0), np.zeros(10)])
    picked = select_regression([a, b], 2, features=X)
    assert len(set(picked.tolist())) == 2 and 9 in picked.tolist()
    with pytest.raises(InvalidInputError):
        committee_variance([a])
