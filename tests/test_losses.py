"""The one log-loss against scikit-learn, and the shared input checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import log_loss as sk_log_loss

from driftline.errors import InvalidInputError
from driftline.losses import log_loss, log_loss_per_row
from driftline.validation import check_choice, check_same_length


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.integers(1, 40), st.integers(0, 10_000))
def test_matches_sklearn(k: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.ones(k), size=n)
    y = rng.integers(0, k, size=n)
    ref = sk_log_loss(y, proba, labels=np.arange(k))
    assert log_loss(y, proba) == pytest.approx(ref, rel=1e-9, abs=1e-12)


def test_string_classes_binary_column_and_unseen() -> None:
    proba = np.array([[0.7, 0.3], [0.1, 0.9]])
    assert log_loss(["no", "yes"], proba, classes=["no", "yes"]) == pytest.approx(
        -(np.log(0.7) + np.log(0.9)) / 2
    )
    assert log_loss([1, 0], np.array([0.8, 0.4])) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    with pytest.raises(InvalidInputError, match="not among"):
        log_loss([2], [[0.5, 0.5]])
    assert log_loss_per_row([2], [[0.5, 0.5]], unseen="zero")[0] == pytest.approx(-np.log(1e-15))
    with pytest.raises(InvalidInputError, match="1 labels for 2 predictions"):
        log_loss([0], proba)


def test_checks() -> None:
    assert check_choice("mode", "a", ["a", "b"]) == "a"
    with pytest.raises(InvalidInputError, match="unknown mode 'c'; use one of: a, b"):
        check_choice("mode", "c", ["a", "b"])
    check_same_length([1], [2])
    with pytest.raises(InvalidInputError, match="3 labels for 1 rows"):
        check_same_length([1, 2, 3], [0])
