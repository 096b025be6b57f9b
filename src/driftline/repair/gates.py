"""Routed repair: per-input mixtures of lineage members, weighted by training-data likelihood.

Member ``i`` has a training signature giving each input a log density ``ℓ_i(x)``. The routed
prediction is ``p(y|x) = Σ_i w_i(x) p_i(y|x)`` with gates

    w_i(x) = prior_i · exp(ℓ_i(x) / T) / Σ_j prior_j · exp(ℓ_j(x) / T).

At ``T = 1`` and with priors equal to the regime proportions, ``w_i(x)`` is the Bayes posterior that
``x`` came from member ``i``'s training distribution. ``T → ∞`` gives the priors, ``T → 0`` hard
routing to the most likely member. Pure numpy (scipy only for the 1-D temperature refinement).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from driftline.errors import InvalidInputError
from driftline.repair.routing_identity import routing_id

__all__ = [
    "Calibration",
    "calibrate_temperature",
    "default_temperature_grid",
    "em_priors",
    "regime_mix",
    "route_proba",
    "routing_id",
    "routing_weights",
]

_EPS = 1e-15


# ----------------------------------------------------------------------------- validation


def _as_loglik(loglik: object) -> np.ndarray:
    try:
        ll = np.asarray(loglik, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"loglik must be a numeric members × n array ({exc}).") from exc
    if ll.ndim == 1:
        ll = ll[None, :]
    if ll.ndim != 2 or ll.shape[0] < 1:
        raise InvalidInputError(
            f"loglik must be 2-D (members × n points), got shape {ll.shape}; "
            "stack one row of per-input log densities per lineage member."
        )
    if np.any(np.isnan(ll)) or np.any(ll == np.inf):
        raise InvalidInputError(
            "loglik contains NaN or +inf; log densities must be finite or -inf."
        )
    return ll


def _as_priors(priors: object, m: int) -> np.ndarray:
    if priors is None:
        return np.full(m, 1.0 / m)
    p = np.asarray(priors, dtype=np.float64).reshape(-1)
    if p.shape != (m,):
        raise InvalidInputError(f"priors must have one entry per member ({m}), got {p.shape}.")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise InvalidInputError("priors must be finite and non-negative.")
    total = p.sum()
    if total <= 0:
        raise InvalidInputError("priors sum to zero; give at least one member a positive prior.")
    return p / total


def _check_temperature(temperature: float) -> float:
    t = float(temperature)
    if math.isnan(t) or t < 0:
        raise InvalidInputError(
            f"temperature must be > 0 (or 0 for hard routing, inf for the priors), got {t}."
        )
    return t


def _as_member_probas(member_probas: Sequence[object], m: int, n: int) -> np.ndarray:
    if isinstance(member_probas, np.ndarray) and member_probas.ndim == 3:
        members = [member_probas[i] for i in range(member_probas.shape[0])]
    else:
        members = list(member_probas)
    if len(members) != m:
        raise InvalidInputError(
            f"got {len(members)} members' probabilities but {m} rows of routing weights/loglik."
        )
    arrays: list[np.ndarray] = []
    for i, p in enumerate(members):
        a = np.asarray(p, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != n:
            raise InvalidInputError(
                f"member {i} probabilities must be n × classes with n = {n}, got {a.shape}."
            )
        if arrays and a.shape != arrays[0].shape:
            raise InvalidInputError(
                f"member {i} has {a.shape[1]} classes but member 0 has {arrays[0].shape[1]}; "
                "align every member's predict_proba columns to the same class order."
            )
        if not np.all(np.isfinite(a)) or np.any(a < 0):
            raise InvalidInputError(f"member {i} probabilities must be finite and non-negative.")
        arrays.append(a)
    return np.stack(arrays)


# ----------------------------------------------------------------------------- core math


def _log_gates(ll: np.ndarray, log_prior: np.ndarray, t: float) -> np.ndarray:
    """Unnormalised log gates ``log prior_i + ℓ_i / T`` (members × n)."""
    if math.isinf(t):
        return np.broadcast_to(log_prior[:, None], ll.shape).copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        return log_prior[:, None] + ll / t


def _softmax0(z: np.ndarray, fallback: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column softmax of ``z`` and its log-sum-exp; all ``-inf`` columns get ``fallback``."""
    top = z.max(axis=0)
    dead = ~np.isfinite(top)
    safe_top = np.where(dead, 0.0, top)
    e = np.exp(z - safe_top[None, :])
    s = e.sum(axis=0)
    s_safe = np.where(dead, 1.0, s)
    w = e / s_safe[None, :]
    if np.any(dead):
        w[:, dead] = fallback[:, None]
    with np.errstate(divide="ignore"):
        lse = np.where(dead, -np.inf, safe_top + np.log(s_safe))
    return w, lse


def routing_weights(
    loglik: np.ndarray, priors: np.ndarray | Sequence[float] | None = None, temperature: float = 1.0
) -> np.ndarray:
    """Gates ``w_i(x) ∝ prior_i · exp(ℓ_i(x) / T)`` (members × n), each column summing to 1.

    Computed as a softmax over ``log prior_i + ℓ_i / T`` (log-sum-exp shift, no overflow).
    ``priors`` default to uniform and are normalised. ``T = inf`` returns the priors, ``T = 0`` hard
    routing (one-hot on the most likely member with positive prior; ties to the lower index). A
    column where every member has ``ℓ = -inf`` (no member explains the point) falls back to priors.
    """
    ll = _as_loglik(loglik)
    m = ll.shape[0]
    pr = _as_priors(priors, m)
    t = _check_temperature(temperature)
    with np.errstate(divide="ignore"):
        log_prior = np.log(pr)
    if t == 0.0:
        masked = np.where(pr[:, None] > 0, ll, -np.inf)
        w = np.zeros_like(ll)
        best = masked.argmax(axis=0)
        w[best, np.arange(ll.shape[1])] = 1.0
        dead = ~np.isfinite(masked.max(axis=0)) if ll.shape[1] else np.zeros(0, dtype=bool)
        if np.any(dead):
            w[:, dead] = pr[:, None]
        return w
    w, _ = _softmax0(_log_gates(ll, log_prior, t), pr)
    return w


def route_proba(member_probas: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """Routed prediction ``p(y|x) = Σ_i w_i(x) · p_i(y|x)`` (n × classes).

    ``member_probas`` holds one ``n × classes`` array per member (same class order), ``weights`` the
    ``members × n`` gates from :func:`routing_weights`.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2:
        raise InvalidInputError(f"weights must be members × n, got shape {w.shape}.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInputError("weights must be finite and non-negative.")
    stack = _as_member_probas(member_probas, w.shape[0], w.shape[1])
    return np.einsum("mn,mnc->nc", w, stack)


def regime_mix(
    loglik: np.ndarray, priors: np.ndarray | Sequence[float] | None = None
) -> np.ndarray:
    """Share of rows each member explains best: ``mix_i = mean_x [argmax_j z_j(x) = i]``.

    ``z_j(x) = log prior_j + ℓ_j(x)`` (uniform priors by default).

    Ties go to the lower member index; rows where no member has a finite likelihood are left out.
    Returns zeros for an empty window.
    """
    ll = _as_loglik(loglik)
    m, n = ll.shape
    with np.errstate(divide="ignore"):
        z = np.log(_as_priors(priors, m))[:, None] + ll
    alive = np.isfinite(z.max(axis=0)) if n else np.zeros(0, dtype=bool)
    counts = np.bincount(z[:, alive].argmax(axis=0), minlength=m).astype(np.float64)
    total = counts.sum()
    return counts / total if total > 0 else np.zeros(m)


def em_priors(
    loglik: np.ndarray,
    temperature: float = 1.0,
    init: np.ndarray | Sequence[float] | None = None,
    *,
    max_iter: int = 500,
    tol: float = 1e-7,
) -> np.ndarray:
    """Mixture proportions by EM with fixed component densities: ``prior_i ← mean_x w_i(x)``.

    At ``T = 1`` this maximises the window's log-likelihood ``Σ_x log Σ_i prior_i exp(ℓ_i(x))``
    under the lineage mixture (unsupervised). Starts from ``init`` (default uniform); stops when no
    prior moves by more than ``tol``. ``T = inf`` has every prior as a fixed point and returns ``init``.
    """
    ll = _as_loglik(loglik)
    m, n = ll.shape
    pr = _as_priors(init, m)
    t = _check_temperature(temperature)
    if n == 0 or math.isinf(t) or m == 1:
        return pr
    if t == 0.0:
        return regime_mix(ll)
    scaled = ll / t
    for _ in range(max_iter):
        with np.errstate(divide="ignore"):
            w, _ = _softmax0(np.log(pr)[:, None] + scaled, pr)
        new = w.mean(axis=1)
        new = new / new.sum()
        done = np.max(np.abs(new - pr)) < tol
        pr = new
        if done:
            break
    return pr


def _routed_nll(w: np.ndarray, picked: np.ndarray) -> float:
    """Routed log-loss from the gates ``w`` and each member's p_i(y_x | x) (members × n):
    ``−mean_x ln Σ_i w_i(x)·p_i(y_x|x)`` — :func:`driftline.losses.log_loss` of the routed
    probabilities, computed on the picked column only (it runs inside the optimisers)."""
    return float(-np.mean(np.log(np.clip((w * picked).sum(axis=0), _EPS, None))))


def _as_labels(y: object, n: int, c: int) -> np.ndarray:
    a = np.asarray(y)
    if a.shape != (n,):
        raise InvalidInputError(f"y must hold one label per row ({n}), got shape {a.shape}.")
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or np.any(a != np.round(a)):
            raise InvalidInputError("y must hold integer class indices (columns of predict_proba).")
        a = a.astype(np.int64)
    elif a.dtype.kind not in "iu":
        raise InvalidInputError(
            "y must hold integer class indices (columns of predict_proba); encode labels first."
        )
    if n and (a.min() < 0 or a.max() >= c):
        raise InvalidInputError(f"y holds class indices outside 0..{c - 1}.")
    return a.astype(np.int64)


# ----------------------------------------------------------------------------- calibration


#: sd of the normal prior on ln T in supervised calibration (T = e^±1.5 ≈ 0.22..4.5 at 1 sd)
TEMPERATURE_PRIOR_SD = 1.5


class Calibration(NamedTuple):
    """Result of :func:`calibrate_temperature`: ``(temperature, priors, score)``."""

    temperature: float
    priors: np.ndarray
    score: float


def default_temperature_grid(n_features: int | None = None, num_per_decade: int = 6) -> np.ndarray:
    """Log-spaced temperatures from 0.1 to ``100 · max(1, n_features)``, always including 1.

    ``ℓ`` sums log densities over features, so evidence (and any over-confidence from treating
    features as independent) grows with the number of features; the grid's top end follows it.
    """
    top = 100.0 * max(1, int(n_features or 1))
    num = int(round(math.log10(top / 0.1) * num_per_decade)) + 1
    return np.unique(np.concatenate([np.geomspace(0.1, top, num), [1.0]]))


def calibrate_temperature(
    loglik: np.ndarray,
    member_probas: Sequence[np.ndarray],
    y: np.ndarray | None = None,
    priors: np.ndarray | Sequence[float] | None = None,
    grid: Sequence[float] | np.ndarray | None = None,
    *,
    n_features: int | None = None,
    refine: bool = True,
    fit_priors: bool = False,
    prior_sd: float | None = TEMPERATURE_PRIOR_SD,
) -> Calibration:
    """Choose the routing temperature ``T`` and priors for a window.

    **With labels** ``y`` (validation rows): for each ``T`` in ``grid`` (default
    :func:`default_temperature_grid`) the priors are the given ``priors`` or, when ``None``, the
    EM mixture proportions (at ``T = 1``, where ``ℓ`` are proper log densities) on these rows; the
    ``T`` minimising the routed log-loss wins, then ``log T`` is refined between its grid
    neighbours by bounded Brent (golden-section) search. With ``prior_sd`` the choice is the
    MAP estimate under a normal prior on ``ln T`` centred at 0 (``T = 1``, the Bayes gate when
    the ``ℓ_i`` are right): minimise ``n·loss(T) + (ln T)² / (2·prior_sd²)``, so a few labels do
    not drag ``T`` far on noise while many labels still move it where the likelihoods are
    over-confident. ``score`` is the unpenalised log-loss at the chosen ``T``.
    With ``fit_priors`` (and no fixed ``priors``) the priors are then fitted to the labels too,
    minimising the log-loss over softmax prior logits at the chosen ``T`` (L-BFGS); they are kept
    only if the loss improves.

    **Without labels**: ``T = 1`` and priors by EM (given ``priors`` are kept as they are). Since
    the ``ℓ_i`` are log densities, ``T = 1`` makes the gates the Bayes posterior of the mixture
    ``Σ_i prior_i p_i(x)``, and EM maximises that mixture's likelihood of the window. Label-free
    criteria over ``T`` are degenerate: low prediction entropy rewards ever sharper gates and
    drifts to hard routing (``T → 0``), and the tempered evidence ``log Σ_i prior_i exp(ℓ_i / T)``
    is not a normalised density in ``T``, so it prefers an extreme. ``score`` is the mean mixture log-evidence per row,
    ``mean_x log Σ_i prior_i exp(ℓ_i(x))`` (higher is better). ``member_probas`` is only validated.
    """
    ll = _as_loglik(loglik)
    m, n = ll.shape
    stack = _as_member_probas(member_probas, m, n)
    fixed = None if priors is None else _as_priors(priors, m)

    if y is None:
        return _calibrate_unlabelled(ll, fixed)

    if n == 0:
        raise InvalidInputError("calibration with labels needs at least one labelled row.")
    yy = _as_labels(y, n, stack.shape[2])
    picked = stack[:, np.arange(n), yy]  # members × n: p_i(y_x | x)

    base = fixed if fixed is not None else em_priors(ll, 1.0)

    def objective(t: float) -> float:
        penalty = 0.0 if prior_sd is None else math.log(t) ** 2 / (2.0 * prior_sd**2 * n)
        return _routed_nll(routing_weights(ll, base, t), picked) + penalty

    temps = np.asarray(
        default_temperature_grid(n_features) if grid is None else grid, dtype=np.float64
    ).reshape(-1)
    if temps.size == 0 or not np.all(np.isfinite(temps)) or np.any(temps <= 0):
        raise InvalidInputError("grid must be a non-empty list of finite temperatures > 0.")
    best_t = _minimise_over_log_t(objective, np.unique(temps), refine)
    best_pr, best_loss = base, _routed_nll(routing_weights(ll, base, best_t), picked)
    if fit_priors and fixed is None and m > 1:
        best_pr, best_loss = _fit_priors(ll, picked, best_t, best_pr, best_loss)
    return Calibration(best_t, best_pr, best_loss)


def _minimise_over_log_t(objective: Any, temps: np.ndarray, refine: bool) -> float:
    """The grid point minimising ``objective``, then bounded Brent on ``log T`` between its
    grid neighbours (kept only when it improves on the grid point)."""
    values = np.array([objective(float(t)) for t in temps])
    best = int(np.argmin(values))
    best_t = float(temps[best])
    if refine and temps.size >= 2:
        from scipy.optimize import minimize_scalar

        lo = math.log(temps[max(best - 1, 0)])
        hi = math.log(temps[min(best + 1, temps.size - 1)])
        res = minimize_scalar(
            lambda u: objective(math.exp(u)),
            bounds=(lo, hi),
            method="bounded",
            options={"xatol": 1e-3},
        )
        if res.success and float(res.fun) < float(values[best]):
            best_t = math.exp(float(res.x))
    return best_t


def _calibrate_unlabelled(ll: np.ndarray, fixed: np.ndarray | None) -> Calibration:
    """T = 1, priors given or by EM; score = mean mixture log-evidence per row."""
    pr = fixed if fixed is not None else em_priors(ll, 1.0)
    with np.errstate(divide="ignore"):
        _, lse = _softmax0(np.log(pr)[:, None] + ll, pr)
    finite = lse[np.isfinite(lse)]
    return Calibration(1.0, pr, float(finite.mean()) if finite.size else float("-inf"))


def _fit_priors(
    ll: np.ndarray, picked: np.ndarray, t: float, start: np.ndarray, start_loss: float
) -> tuple[np.ndarray, float]:
    """Supervised priors: minimise the routed log-loss over prior logits at fixed ``T``."""
    from scipy.optimize import minimize

    def loss(z: np.ndarray) -> float:
        pr = np.exp(z - z.max())
        return _routed_nll(routing_weights(ll, pr / pr.sum(), t), picked)

    z0 = np.log(np.clip(start, 1e-6, None))
    res = minimize(loss, z0, method="L-BFGS-B", bounds=[(z0.max() - 30, z0.max() + 30)] * len(z0))
    if float(res.fun) < start_loss:
        pr = np.exp(res.x - res.x.max())
        return pr / pr.sum(), float(res.fun)
    return start, start_loss
