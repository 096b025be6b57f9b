from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import log_loss as sk_log_loss

from driftline.errors import InvalidInputError
from driftline.losses import log_loss
from driftline.repair.alpha import (
    calibrated_log_loss,
    golden_section,
    mean_entropy,
    per_tensor_alpha,
    search_alpha,
)


class Counting:
    def __init__(self, f):
        self.f = f
        self.calls: list[float] = []

    def __call__(self, x):
        self.calls.append(x)
        return self.f(x)


@pytest.mark.parametrize(
    ("f", "xmin"),
    [
        (lambda x: (x - 0.3) ** 2, 0.3),
        (lambda x: abs(x - 0.77), 0.77),
        (lambda x: x, 0.0),
        (lambda x: (x - 1.3) ** 2, 1.0),  # minimum outside: boundary 1
        (lambda x: math.exp(-x) + math.exp(3 * (x - 0.55)), None),
        (lambda x: -math.log(x + 1e-9) + 4 * x, 0.25),
    ],
)
def test_golden_section_finds_minimum(f, xmin):
    if xmin is None:  # d/dx: -e^-x + 3 e^{3(x-0.55)} = 0
        from scipy.optimize import brentq

        xmin = brentq(lambda x: -math.exp(-x) + 3 * math.exp(3 * (x - 0.55)), 0, 1)
    g = Counting(f)
    res = golden_section(g, 0.0, 1.0)
    assert abs(res.alpha - xmin) <= 0.02
    assert len(g.calls) <= 12 and res.n_evals == len(g.calls)
    assert len(set(g.calls)) == len(g.calls)  # cached: no point evaluated twice
    assert res.value == pytest.approx(f(res.alpha))
    assert res.value == min(v for _, v in res.evaluations)


def test_golden_section_sweep_of_minimisers_and_custom_range():
    for t in np.linspace(-2, 3, 37):
        res = golden_section(lambda x, t=t: abs(x - t), -2.0, 3.0)
        assert abs(res.alpha - t) <= 0.02 * 5 and res.n_evals <= 12
    res = golden_section(lambda x: (x - 0.42) ** 2, 0, 1, max_evals=6)
    assert res.n_evals <= 6


def test_golden_section_rejects_bad_range():
    with pytest.raises(InvalidInputError):
        golden_section(lambda x: x, 1.0, 0.0)
    with pytest.raises(InvalidInputError):
        golden_section(lambda x: x, 0.0, 1.0, max_evals=0)


def test_log_loss_matches_sklearn_with_labels():
    rng = np.random.default_rng(0)
    labels = np.array(["cat", "dog", "emu"])
    p = rng.dirichlet(np.ones(3), size=50)
    y = rng.choice(["dog", "emu"], size=50)  # one class absent: labels argument needed
    assert log_loss(y, p, classes=labels) == pytest.approx(
        sk_log_loss(y, p, labels=labels), rel=1e-9
    )
    with pytest.raises(InvalidInputError, match="yak"):
        log_loss(np.array(["yak"] + ["dog"] * 49), p, classes=labels)


def test_calibrated_log_loss_and_entropy():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, size=200)
    logits = rng.normal(size=(200, 4))
    logits[np.arange(200), y] += 1.0
    over = np.exp(8 * logits)
    over /= over.sum(1, keepdims=True)  # over-confident
    assert calibrated_log_loss(y, over) < log_loss(y, over) - 0.5
    assert calibrated_log_loss(y, over) <= log_loss(y, over)
    assert mean_entropy(np.full((5, 4), 0.25)) == pytest.approx(math.log(4))
    assert mean_entropy(np.eye(3)) == pytest.approx(0.0)


def _mixture_model(y, n_classes=3):
    """P_α: the correct class gets probability peaked at α = 0.7."""

    def at(alpha, X):
        a = alpha if isinstance(alpha, float) else float(np.mean(list(alpha.values())))
        q = 0.98 * math.exp(-8 * (a - 0.7) ** 2)
        p = np.full((len(X), n_classes), (1 - q) / (n_classes - 1))
        p[np.arange(len(X)), y] = q
        return p

    return at


def test_search_alpha_supervised_and_unsupervised():
    y = np.array([0, 1, 2, 1, 0, 2, 2])
    X = np.zeros((7, 2))
    res = search_alpha(_mixture_model(y), X, y, labels=[0, 1, 2], calibrate=False)
    assert res.objective == "log_loss" and abs(res.alpha - 0.7) <= 0.02 and res.n_evals <= 12
    cal = search_alpha(_mixture_model(y), X, y, labels=[0, 1, 2])
    # every α ranks all rows right, so temperature scaling drives all losses to ~0
    assert cal.objective == "calibrated_log_loss" and cal.value <= res.value + 1e-12
    res = search_alpha(_mixture_model(y), X, None)
    assert res.objective == "entropy" and abs(res.alpha - 0.7) <= 0.02
    with pytest.raises(InvalidInputError):
        search_alpha(_mixture_model(y), X, y[:3])


def test_per_tensor_alpha_improves_with_few_evals():
    y = np.array([0, 1, 1, 0])
    X = np.zeros((4, 1))
    targets = {"l0": 0.25, "l1": 0.75}
    groups = {"l0": ["l0.weight", "l0.bias"], "l1": ["l1.weight"]}

    def at(alpha, X):
        assert isinstance(alpha, dict) and set(alpha) == {"l0.weight", "l0.bias", "l1.weight"}
        assert alpha["l0.weight"] == alpha["l0.bias"]  # a layer moves as one
        d2 = (alpha["l0.weight"] - targets["l0"]) ** 2 + (alpha["l1.weight"] - targets["l1"]) ** 2
        q = 0.99 * math.exp(-d2)
        p = np.column_stack([np.full(len(X), 1 - q), np.full(len(X), q)])
        p[y == 0] = p[y == 0][:, ::-1]
        return p

    res = per_tensor_alpha(at, X, y, groups, 0.5, calibrate=False, max_evals=10)
    assert res.group_alphas == pytest.approx(targets)
    assert res.value < res.start_value and res.n_evals <= 10
    assert res.alphas["l0.bias"] == pytest.approx(0.25)
