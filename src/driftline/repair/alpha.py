"""Choosing α: a coarse grid, then golden-section search in the best bracket.

The objective is validation log-loss  L(α) = −(1/n) Σ_i log p_α(y_i | x_i)  when labels exist, and
otherwise the unsupervised proxy  H(α) = −(1/n) Σ_i Σ_k p_α(k | x_i) log p_α(k | x_i)  (mean
prediction entropy on the window; it rewards confident predictions, so it is only a fallback).

By default the log-loss is *temperature-calibrated*: L_cal(α) = min_T L(softmax(log p_α / T)),
one scalar T fitted on the same validation rows (no extra model evaluations). Raw log-loss
punishes an over-confident ancestor's few confident mistakes so hard that it picks a much smaller
α than accuracy would; calibrated log-likelihood compares models by how well they rank classes,
not by how well their confidence happens to be scaled (Ashukha et al., ICLR 2020).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError
from driftline.losses import log_loss
from driftline.validation import check_choice, check_same_length

__all__ = [
    "AlphaSearchResult",
    "PerTensorAlphaResult",
    "golden_section",
    "calibrated_log_loss",
    "mean_entropy",
    "per_tensor_alpha",
    "regression_loss",
    "search_alpha",
    "search_alpha_regression",
]

_MACHINE_EPS = float(np.finfo(np.float64).eps)  # α objectives clip at machine epsilon
_INV_PHI = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...

AlphaLike = float | Mapping[str, float]
ProbaAtAlpha = Callable[[AlphaLike, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class AlphaSearchResult:
    """Best ``alpha`` and its objective ``value``; ``evaluations`` lists every distinct
    (α, value) evaluated, in order; ``objective`` is "log_loss", "entropy" or "custom"."""

    alpha: float
    value: float
    evaluations: list[tuple[float, float]] = field(default_factory=list)
    objective: str = "custom"

    @property
    def n_evals(self) -> int:
        return len(self.evaluations)


@dataclass(frozen=True)
class PerTensorAlphaResult:
    """α per tensor name (``alphas``) and per layer group (``group_alphas``), the objective value
    reached, the starting (global-α) value, and the number of objective evaluations spent."""

    alphas: dict[str, float]
    group_alphas: dict[str, float]
    value: float
    start_value: float
    n_evals: int
    objective: str


def golden_section(
    f: Callable[[float], float],
    lo: float = 0.0,
    hi: float = 1.0,
    *,
    grid: int | Sequence[float] = 5,
    max_evals: int = 12,
    tol: float = 1e-3,
) -> AlphaSearchResult:
    """Minimise ``f`` on [lo, hi]: evaluate a coarse grid (default 5 evenly spaced points incl.
    both ends), bracket the best grid point by its neighbours, then golden-section search inside
    that bracket until it is narrower than ``tol`` or ``max_evals`` distinct evaluations are used.

    Repeated points are served from a cache. Returns the best point evaluated (ties go to the
    earliest evaluation). For unimodal f the answer is within the final bracket width of the
    minimiser (≈ 0.5·0.618^(max_evals − grid − 1)·(hi − lo) when the grid has 5 points).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
        raise InvalidInputError(f"alpha range must satisfy lo <= hi, got [{lo}, {hi}]")
    if max_evals < 1:
        raise InvalidInputError(f"max_evals must be >= 1, got {max_evals}")
    if isinstance(grid, int):
        if grid < 2:
            raise InvalidInputError(f"grid must have at least 2 points, got {grid}")
        points = [float(x) for x in np.linspace(lo, hi, grid)]
    else:
        points = sorted({float(x) for x in grid})
        if not points or points[0] < lo or points[-1] > hi:
            raise InvalidInputError(f"grid points must lie in [{lo}, {hi}]")
    cache: dict[float, float] = {}
    evaluations: list[tuple[float, float]] = []

    def ev(x: float) -> float | None:
        x = float(x)
        key = round(x, 12)
        if key in cache:
            return cache[key]
        if len(evaluations) >= max_evals:
            return None
        v = float(f(x))
        if math.isnan(v):
            v = math.inf
        cache[key] = v
        evaluations.append((x, v))
        return v

    for x in points:
        if ev(x) is None:
            break
    evaluated = [p for p in points if round(p, 12) in cache]
    best_i = min(range(len(evaluated)), key=lambda i: cache[round(evaluated[i], 12)])
    a = evaluated[max(best_i - 1, 0)]
    b = evaluated[min(best_i + 1, len(evaluated) - 1)]

    if b - a > tol:
        c = b - _INV_PHI * (b - a)
        d = a + _INV_PHI * (b - a)
        fc, fd = ev(c), ev(d)
        while fc is not None and fd is not None and (b - a) > tol:
            if fc <= fd:
                b, d, fd = d, c, fc
                c = b - _INV_PHI * (b - a)
                fc = ev(c)
            else:
                a, c, fc = c, d, fd
                d = a + _INV_PHI * (b - a)
                fd = ev(d)

    best_x, best_v = min(evaluations, key=lambda e: e[1])
    return AlphaSearchResult(alpha=best_x, value=best_v, evaluations=evaluations)


def calibrated_log_loss(
    y: np.ndarray, proba: np.ndarray, labels: Sequence | np.ndarray | None = None
) -> float:
    """min over T in [0.05, 50] of log_loss(y, softmax(log p / T)): the log-loss after fitting
    one temperature on these rows (bounded 1-D search on log T)."""
    from scipy.optimize import minimize_scalar

    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 1:
        p = p.reshape(-1, 1)
        p = np.hstack([1.0 - p, p])
    lp = np.log(np.clip(p, np.finfo(np.float64).eps, 1.0))

    def at(log_t: float) -> float:
        z = lp / math.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        q = np.exp(z)
        return log_loss(y, q / q.sum(axis=1, keepdims=True), classes=labels, eps=_MACHINE_EPS)

    res = minimize_scalar(
        at, bounds=(math.log(0.05), math.log(50.0)), method="bounded", options={"xatol": 1e-3}
    )
    return float(min(res.fun, at(0.0)))


def mean_entropy(proba: np.ndarray) -> float:
    """Mean prediction entropy −(1/n) Σ_i Σ_k p_ik log p_ik (nats); 0·log 0 = 0."""
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 1:
        p = p.reshape(-1, 1)
        p = np.hstack([1.0 - p, p])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return float(-np.mean(terms.sum(axis=1)))


def _objective(y: np.ndarray | None, labels: Any, calibrate: bool) -> tuple[Callable, str]:
    if y is None:
        return (lambda proba: mean_entropy(proba)), "entropy"
    if calibrate:
        return (lambda proba: calibrated_log_loss(y, proba, labels)), "calibrated_log_loss"
    return (lambda proba: log_loss(y, proba, classes=labels, eps=_MACHINE_EPS)), "log_loss"


def search_alpha(
    predict_proba_at_alpha: ProbaAtAlpha,
    X_val: np.ndarray,
    y_val: np.ndarray | None,
    *,
    labels: Sequence | np.ndarray | None = None,
    lo: float = 0.0,
    hi: float = 1.0,
    grid: int | Sequence[float] = 5,
    max_evals: int = 12,
    tol: float = 1e-3,
    calibrate: bool = True,
) -> AlphaSearchResult:
    """Global α minimising validation log-loss of ``predict_proba_at_alpha(α, X_val)`` (labels
    ``labels`` for the probability columns; temperature-calibrated unless ``calibrate=False``),
    or mean prediction entropy when ``y_val`` is None. ``result.objective`` says which
    ("calibrated_log_loss", "log_loss" or "entropy")."""
    X_val = np.asarray(X_val)
    if y_val is not None:
        check_same_length(y_val, X_val, what="validation labels")
    if len(X_val) == 0:
        raise InvalidInputError("alpha search needs at least one validation row")
    score, name = _objective(None if y_val is None else np.asarray(y_val), labels, calibrate)
    res = golden_section(
        lambda a: score(predict_proba_at_alpha(a, X_val)),
        lo,
        hi,
        grid=grid,
        max_evals=max_evals,
        tol=tol,
    )
    return AlphaSearchResult(res.alpha, res.value, res.evaluations, objective=name)


def per_tensor_alpha(
    predict_proba_at_alpha: ProbaAtAlpha,
    X_val: np.ndarray,
    y_val: np.ndarray | None,
    groups: Mapping[str, Sequence[str]],
    global_alpha: float,
    *,
    labels: Sequence | np.ndarray | None = None,
    lo: float = 0.0,
    hi: float = 1.0,
    step: float = 0.25,
    sweeps: int = 2,
    max_evals: int = 16,
    min_improvement: float = 1e-4,
    start_value: float | None = None,
    calibrate: bool = True,
) -> PerTensorAlphaResult:
    """Refine α per layer group by coordinate search starting from ``global_alpha``.

    ``groups`` maps a group name to its tensor names (e.g. :func:`vector.layer_groups`). Sweep s
    tries α_g ± step/2^s for each group in turn (clipped to [lo, hi]) and keeps a move only if it
    lowers the objective by more than ``min_improvement`` (guards against fitting noise in a small
    validation set). At most ``max_evals`` evaluations (``start_value``, if given, saves one).
    ``predict_proba_at_alpha`` receives a ``{tensor name: α}`` mapping.
    """
    X_val = np.asarray(X_val)
    score, name = _objective(None if y_val is None else np.asarray(y_val), labels, calibrate)
    group_alpha = {g: float(global_alpha) for g in groups}
    n_evals = 0
    cache: dict[tuple, float] = {}

    def to_tensors(ga: Mapping[str, float]) -> dict[str, float]:
        return {t: ga[g] for g, names in groups.items() for t in names}

    def ev(ga: Mapping[str, float]) -> float | None:
        nonlocal n_evals
        key = tuple(round(ga[g], 12) for g in groups)
        if key in cache:
            return cache[key]
        if n_evals >= max_evals:
            return None
        n_evals += 1
        v = float(score(predict_proba_at_alpha(to_tensors(ga), X_val)))
        cache[key] = math.inf if math.isnan(v) else v
        return cache[key]

    if start_value is not None:  # saves an evaluation
        cache[tuple(round(group_alpha[g], 12) for g in groups)] = float(start_value)
    first = ev(group_alpha)
    current = math.inf if first is None else first
    start = current
    done = False
    for s in range(sweeps):
        delta = step / (2**s)
        for g in groups:
            best_move: tuple[float, float] | None = None
            for cand in (group_alpha[g] - delta, group_alpha[g] + delta):
                cand = min(hi, max(lo, cand))
                if cand == group_alpha[g]:
                    continue
                v = ev({**group_alpha, g: cand})
                if v is None:
                    done = True
                    break
                if v < current - min_improvement and (best_move is None or v < best_move[1]):
                    best_move = (cand, v)
            if best_move is not None:
                group_alpha[g], current = best_move
            if done:
                break
        if done:
            break
    return PerTensorAlphaResult(
        alphas=to_tensors(group_alpha),
        group_alphas=dict(group_alpha),
        value=current,
        start_value=start,
        n_evals=n_evals,
        objective=name,
    )


REGRESSION_LOSSES = ("mse", "mae")


def regression_loss(y: np.ndarray, pred: np.ndarray, loss: str = "mse") -> float:
    """MSE = (1/n) Σ (y_i − ŷ_i)²  or  MAE = (1/n) Σ |y_i − ŷ_i|."""
    check_choice("regression loss", loss, REGRESSION_LOSSES)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    pred = np.asarray(pred, dtype=np.float64).reshape(-1)
    check_same_length(y, pred, what="targets", per="predictions")
    if len(y) == 0:
        raise InvalidInputError("regression loss needs at least one target")
    err = y - pred
    return float(np.mean(err * err)) if loss == "mse" else float(np.mean(np.abs(err)))


def search_alpha_regression(
    predict_at_alpha: Callable[[float, np.ndarray], np.ndarray],
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    loss: str = "mse",
    lo: float = 0.0,
    hi: float = 1.0,
    max_evals: int = 12,
) -> AlphaSearchResult:
    """Global α minimising validation ``loss`` (MSE or MAE) of ``predict_at_alpha(α, X_val)``:
    the same grid + golden-section search as :func:`search_alpha`."""
    if len(y_val) != len(X_val) or len(X_val) == 0:
        raise InvalidInputError(f"{len(y_val)} validation targets for {len(X_val)} rows")
    res = golden_section(
        lambda a: regression_loss(y_val, predict_at_alpha(a, X_val), loss),
        lo,
        hi,
        max_evals=max_evals,
    )
    return AlphaSearchResult(res.alpha, res.value, res.evaluations, objective=loss)
