"""Gradient fine-tuning of a stored logistic regression (``coef``, ``intercept``), in numpy.

scikit-learn's ``LogisticRegression`` has no ``partial_fit`` and its L2 penalty pulls toward 0,
not toward a starting model, so continued training is done here on the model's own form:

    z = X·Wᵀ + b;   p = softmax(z) (K ≥ 3 classes),   p₁ = σ(z) (binary: one row of W)
    minimise  CE(W, b; X, y) + l2 · (‖W − W₀‖² + ‖b − b₀‖²)

with ``steps`` full-batch Adam steps (learning rate ``lr``; the data are a few labelled rows,
so one batch). Before any step the probabilities of this form are checked against the
family's own ``predict_proba`` on the rows; a model whose probabilities differ (one-vs-rest)
is refused with :class:`~driftline.errors.UnsupportedModelError` rather than trained as
something it is not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.params.identity import Params

__all__ = ["fine_tune_logistic"]

_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


def _proba(W: np.ndarray, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    z = X @ W.T + b
    if W.shape[0] == 1:
        p1 = 1.0 / (1.0 + np.exp(-z[:, 0]))
        return np.column_stack([1.0 - p1, p1])
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _targets(classes: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One-hot rows of ``y`` over ``classes`` (labels outside them are an error)."""
    lookup = {c: i for i, c in enumerate(np.asarray(classes).tolist())}
    idx = np.array([lookup.get(v, -1) for v in np.asarray(y).tolist()])
    if (idx < 0).any():
        raise InvalidInputError("labels outside the model's classes cannot fine-tune it")
    return np.eye(len(classes))[idx]


def fine_tune_logistic(
    family: Any,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    steps: int,
    anchor: Params | None,
    lr: float,
    l2: float,
) -> Params:
    """New ``coef`` / ``intercept`` after ``steps`` Adam steps (module docstring); other
    entries of ``params`` are copied unchanged, dtypes kept."""
    X = np.asarray(X, dtype=np.float64)
    W = np.array(params["coef"], dtype=np.float64).reshape(-1, X.shape[1])
    b = np.array(params["intercept"], dtype=np.float64).reshape(-1)
    own = np.asarray(family.predict_proba(params, X), dtype=np.float64)
    if own.shape != (len(X), max(W.shape[0], 2)) or not np.allclose(
        own, _proba(W, b, X), atol=1e-6
    ):
        raise UnsupportedModelError(
            "this LogisticRegression is not a softmax/sigmoid model (one-vs-rest?); "
            "repair it by interpolation or routing instead"
        )
    Y = _targets(family.classes, y)
    W0 = W.copy() if anchor is None else np.asarray(anchor["coef"], np.float64).reshape(W.shape)
    b0 = b.copy() if anchor is None else np.asarray(anchor["intercept"], np.float64).reshape(-1)
    pull = 0.0 if anchor is None else l2
    state = [np.zeros_like(W), np.zeros_like(W), np.zeros_like(b), np.zeros_like(b)]
    n = len(X)
    for t in range(1, steps + 1):
        err = _proba(W, b, X) - Y  # dCE/dz for softmax; for sigmoid its second column
        if W.shape[0] == 1:
            err = err[:, 1:]
        gW = err.T @ X / n + 2.0 * pull * (W - W0)
        gb = err.mean(axis=0) + 2.0 * pull * (b - b0)
        for k, (theta, g) in enumerate(((W, gW), (b, gb))):
            m, v = state[2 * k], state[2 * k + 1]
            m[...] = _BETA1 * m + (1 - _BETA1) * g
            v[...] = _BETA2 * v + (1 - _BETA2) * g * g
            mhat, vhat = m / (1 - _BETA1**t), v / (1 - _BETA2**t)
            theta -= lr * mhat / (np.sqrt(vhat) + _EPS)
    out = {k: np.array(v, copy=True) for k, v in params.items()}
    out["coef"] = W.reshape(np.shape(params["coef"])).astype(np.asarray(params["coef"]).dtype)
    out["intercept"] = b.reshape(np.shape(params["intercept"])).astype(
        np.asarray(params["intercept"]).dtype
    )
    return out
