"""Log-loss, written once, in scikit-learn's argument order ``(y_true, proba)``.

    log_loss = −(1/n) Σ_i ln p_i(y_i),   p clipped to [eps, 1 − eps], rows renormalised

Column ``k`` of ``proba`` is class ``classes[k]`` (default ``0..K−1``); a one-column ``proba``
is P(positive class) of a binary model. A label outside ``classes`` is an error, or (``unseen=
"zero"``) gets probability 0, which the clip turns into ``−ln eps`` (a model that never saw a
class pays the maximum for it).

>>> round(log_loss([0, 1], [[0.9, 0.1], [0.2, 0.8]]), 6)  # (−ln .9 − ln .8) / 2
0.164252
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from driftline.errors import InvalidInputError
from driftline.validation import check_same_length

__all__ = ["EPS", "log_loss", "log_loss_per_row"]

EPS = 1e-15  # scikit-learn's historical default clip


def _two_columns(proba: np.ndarray) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1 or (p.ndim == 2 and p.shape[1] == 1):
        p = p.reshape(-1, 1)
        p = np.hstack([1.0 - p, p])
    if p.ndim != 2:
        raise InvalidInputError(f"proba must be (rows, classes), got shape {p.shape}")
    return p


def log_loss_per_row(
    y_true: Sequence[object] | np.ndarray,
    proba: Sequence[Sequence[float]] | np.ndarray,
    *,
    classes: Sequence[object] | np.ndarray | None = None,
    eps: float = EPS,
    unseen: Literal["error", "zero"] = "error",
) -> np.ndarray:
    """Per-row ``−ln p_i(y_i)`` (see the module docstring)."""
    p = _two_columns(np.asarray(proba))
    y = np.asarray(y_true)
    check_same_length(y, p, per="predictions")
    cl = np.arange(p.shape[1]) if classes is None else np.asarray(classes)
    if len(cl) != p.shape[1]:
        raise InvalidInputError(f"{len(cl)} classes for {p.shape[1]} probability columns")
    lookup = {c: i for i, c in enumerate(cl.tolist())}
    idx = np.array([lookup.get(v, -1) for v in y.tolist()], dtype=np.int64)
    if unseen == "error" and np.any(idx < 0):
        bad = sorted({str(v) for v in y[idx < 0].tolist()})[:5]
        raise InvalidInputError(f"labels not among the model's classes: {bad}")
    p = np.clip(p, eps, 1.0 - eps)
    p = p / p.sum(axis=1, keepdims=True)
    picked = np.where(idx >= 0, p[np.arange(len(y)), np.clip(idx, 0, None)], eps)
    return -np.log(np.clip(picked, eps, 1.0))


def log_loss(
    y_true: Sequence[object] | np.ndarray,
    proba: Sequence[Sequence[float]] | np.ndarray,
    *,
    classes: Sequence[object] | np.ndarray | None = None,
    eps: float = EPS,
    unseen: Literal["error", "zero"] = "error",
) -> float:
    """Mean of :func:`log_loss_per_row`; NaN for zero rows."""
    per_row = log_loss_per_row(y_true, proba, classes=classes, eps=eps, unseen=unseen)
    return float(per_row.mean()) if len(per_row) else float("nan")
