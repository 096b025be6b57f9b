"""Query strategies: which unlabelled points are most worth a human label.

Pure functions over predicted-probability arrays (``n × classes``, rows sum to one). Every score is
"higher = more informative". Committees are lists of such arrays, one per lineage member, with
optional non-negative member weights (for example validation scores); weights are normalised to
sum to one. ``0 · ln 0`` is taken as 0 throughout, logarithms are natural.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from driftline.active.diversity import as_features, as_indices, kcenter_greedy, representative
from driftline.errors import InvalidInputError
from driftline.validation import check_choice

__all__ = [
    "STRATEGIES",
    "Selection",
    "consensus_entropy",
    "entropy",
    "least_confidence",
    "margin",
    "max_kl_to_consensus",
    "random_scores",
    "select",
    "vote_entropy",
]

#: Strategy names accepted by :func:`select`.
STRATEGIES: tuple[str, ...] = (
    "random",
    "least_confidence",
    "margin",
    "entropy",
    "qbc_vote",
    "qbc_consensus",
    "qbc_kl",
)

_ROW_SUM_ATOL = 1e-4


# ----------------------------------------------------------------------------- validation


def _as_proba(proba: object, name: str = "proba") -> np.ndarray:
    """Validate an ``n × classes`` probability array; return it as float64, rows renormalised."""
    try:
        p = np.asarray(proba, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a numeric n × classes array ({exc}).") from exc
    if p.ndim != 2:
        raise InvalidInputError(
            f"{name} must be 2-D (n points × classes), got shape {p.shape}; "
            "for a binary model pass both columns, e.g. predict_proba(X)."
        )
    if p.shape[1] < 1:
        raise InvalidInputError(f"{name} has no class columns (shape {p.shape}).")
    if not np.all(np.isfinite(p)):
        raise InvalidInputError(f"{name} contains NaN or infinite values; check the model output.")
    if np.any(p < 0):
        raise InvalidInputError(f"{name} contains negative probabilities (min {p.min():.3g}).")
    sums = p.sum(axis=1)
    bad = np.abs(sums - 1.0) > _ROW_SUM_ATOL
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{name} rows must sum to 1 (row {i} sums to {sums[i]:.6g}); "
            "pass predicted probabilities (predict_proba), not logits or decision scores."
        )
    return p / sums[:, None] if p.shape[0] else p


def _as_committee(
    probas: Sequence[object], weights: Sequence[float] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Stack member probabilities to ``members × n × classes`` and normalise the weights."""
    if isinstance(probas, np.ndarray) and probas.ndim == 3:
        members = [probas[i] for i in range(probas.shape[0])]
    else:
        members = list(probas)
    if not members:
        raise InvalidInputError("the committee is empty; pass at least one member's probabilities.")
    arrays = [_as_proba(p, f"committee member {i}") for i, p in enumerate(members)]
    shape = arrays[0].shape
    for i, a in enumerate(arrays[1:], start=1):
        if a.shape != shape:
            raise InvalidInputError(
                f"committee member {i} has shape {a.shape} but member 0 has {shape}; every member "
                "must score the same points over the same classes (same column order)."
            )
    stack = np.stack(arrays)
    return stack, _as_weights(weights, len(arrays))


def _as_weights(weights: Sequence[float] | np.ndarray | None, m: int) -> np.ndarray:
    if weights is None:
        return np.full(m, 1.0 / m)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (m,):
        raise InvalidInputError(
            f"weights must have one entry per committee member ({m}), got shape {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInputError("weights must be finite and non-negative.")
    total = w.sum()
    if total <= 0:
        raise InvalidInputError("weights sum to zero; give at least one member a positive weight.")
    return w / total


def _xlogx(p: np.ndarray) -> np.ndarray:
    """Elementwise ``p ln p`` with ``0 ln 0 = 0``."""
    return p * np.log(np.where(p > 0, p, 1.0))


def _entropy_rows(p: np.ndarray) -> np.ndarray:
    return np.maximum(-_xlogx(p).sum(axis=-1), 0.0)


# ----------------------------------------------------------------------------- uncertainty


def least_confidence(proba: np.ndarray) -> np.ndarray:
    """Least-confidence score ``LC(x) = 1 − max_c p(c|x)``, in ``[0, 1 − 1/C]``."""
    p = _as_proba(proba)
    return 1.0 - p.max(axis=1)


def margin(proba: np.ndarray) -> np.ndarray:
    """Margin score ``1 − (p₁ − p₂)`` with ``p₁ ≥ p₂`` the two largest probabilities.

    With a single class ``p₂ = 0``. Range ``[0, 1]``: 1 means a tie between the top two classes.
    """
    p = _as_proba(proba)
    if p.shape[1] == 1:
        return 1.0 - p[:, 0]
    top2 = np.partition(p, p.shape[1] - 2, axis=1)[:, -2:]
    return 1.0 - (top2[:, 1] - top2[:, 0])


def entropy(proba: np.ndarray) -> np.ndarray:
    """Predictive entropy ``H(x) = −Σ_c p(c|x) ln p(c|x)`` (nats, ``0 ln 0 = 0``), in [0, ln C]."""
    return _entropy_rows(_as_proba(proba))


# ----------------------------------------------------------------------------- committee


def vote_entropy(
    probas: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Vote entropy ``−Σ_c V(c|x) ln V(c|x)``, ``V(c|x) = Σ_m w_m [argmax p_m(·|x) = c]``.

    Each member casts a hard vote (ties go to the lowest class index); ``V`` are the weighted vote
    shares. Not normalised: the maximum is ``ln min(M, C)`` for equal weights.
    """
    stack, w = _as_committee(probas, weights)
    m, n, c = stack.shape
    votes = stack.argmax(axis=2)  # m × n
    shares = np.zeros((n, c))
    for i in range(m):
        np.add.at(shares, (np.arange(n), votes[i]), w[i])
    return _entropy_rows(shares)


def _consensus(stack: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.tensordot(w, stack, axes=(0, 0))  # n × classes


def consensus_entropy(
    probas: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Consensus entropy ``H(p̄(·|x))`` of the weighted average ``p̄ = Σ_m w_m p_m``."""
    stack, w = _as_committee(probas, weights)
    return _entropy_rows(_consensus(stack, w))


def max_kl_to_consensus(
    probas: Sequence[np.ndarray], weights: Sequence[float] | np.ndarray | None = None
) -> np.ndarray:
    """Largest disagreement with the consensus: ``max_m KL(p_m ‖ p̄)``.

    ``KL(p ‖ q) = Σ_c p_c ln(p_c / q_c)`` and ``p̄ = Σ_m w_m p_m``. The maximum runs over members
    with positive weight (for those, ``p̄ > 0`` wherever ``p_m > 0``, so every term is finite).
    """
    stack, w = _as_committee(probas, weights)
    cons = _consensus(stack, w)
    log_cons = np.log(np.where(cons > 0, cons, 1.0))
    active = stack[w > 0]
    kl = _xlogx(active).sum(axis=2) - (active * log_cons[None]).sum(axis=2)
    return np.maximum(kl.max(axis=0), 0.0)


# ----------------------------------------------------------------------------- selection


def random_scores(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """Uniform ``[0, 1)`` scores: the random-sampling baseline (top-k of these is a random k)."""
    if int(n) != n or n < 0:
        raise InvalidInputError(f"n must be a non-negative integer, got {n!r}.")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return gen.random(int(n))


@dataclass(frozen=True)
class Selection:
    """Chosen point indices (into the pool, in pick order), their scores and the strategy name."""

    indices: np.ndarray
    scores: np.ndarray
    strategy: str

    def __len__(self) -> int:
        return int(self.indices.size)


_UNCERTAINTY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "least_confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}
_COMMITTEE: dict[
    str, Callable[[Sequence[np.ndarray], Sequence[float] | np.ndarray | None], np.ndarray]
] = {
    "qbc_vote": vote_entropy,
    "qbc_consensus": consensus_entropy,
    "qbc_kl": max_kl_to_consensus,
}


def _pool_size(
    proba: np.ndarray | None, committee: Sequence[np.ndarray] | None, features: np.ndarray | None
) -> int:
    for obj in (proba, features):
        if obj is not None:
            return int(np.shape(obj)[0])
    if committee is not None and len(committee) > 0:
        return int(np.shape(committee[0])[0])
    raise InvalidInputError(
        "strategy 'random' needs the pool size: pass proba, committee or features."
    )


def select(
    strategy: str,
    k: int,
    *,
    proba: np.ndarray | None = None,
    committee: Sequence[np.ndarray] | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
    features: np.ndarray | None = None,
    diversity: bool = False,
    seed: int = 0,
    exclude: np.ndarray | Sequence[int] | None = None,
    pool_factor: int = 10,
    cold_start: bool = False,
) -> Selection:
    """Choose ``k`` pool points to label with one of :data:`STRATEGIES`.

    Uncertainty strategies (``least_confidence``, ``margin``, ``entropy``) read ``proba``; committee
    strategies (``qbc_vote``, ``qbc_consensus``, ``qbc_kl``) read ``committee`` and ``weights``;
    ``random`` uses ``seed``. ``exclude`` (indices or a boolean mask: already labelled or pending
    points) is never returned. Without ``diversity`` the result is the top-k by score (ties: lower
    index first). With ``diversity`` the top ``pool_factor · k`` candidates by score go through
    :func:`kcenter_greedy` on ``features``, seeded with the excluded points as existing centers.
    With ``cold_start`` the strategy's scores are ignored for the choice (they are still
    returned) and :func:`representative` picks a covering batch of typical points on
    ``features``: for rounds where the model is not yet reliable (no labels yet, or low
    validation accuracy) and its uncertainty would point at poor, atypical points.
    """
    check_choice("strategy", strategy, STRATEGIES)
    if int(k) != k or k < 0:
        raise InvalidInputError(f"k must be a non-negative integer, got {k!r}.")
    k = int(k)
    scores = _strategy_scores(strategy, proba, committee, weights, features, seed)
    n = scores.shape[0]
    excl = as_indices(exclude, n, "exclude")
    if cold_start or diversity:
        if features is None:
            raise InvalidInputError(
                "diversity=True (or cold_start=True) needs features (n × d) to cover the pool."
            )
        x = as_features(features)
        if x.shape[0] != n:
            raise InvalidInputError(
                f"features have {x.shape[0]} rows but the strategy scored {n} points."
            )
        if cold_start:
            idx = representative(x, k, already=excl, seed=seed)
        else:
            idx = kcenter_greedy(x, k, scores=scores, already=excl, pool_factor=pool_factor)
    else:
        free = np.ones(n, dtype=bool)
        free[excl] = False
        cand = np.flatnonzero(free)
        idx = cand[np.argsort(-scores[cand], kind="stable")[:k]]
    idx = idx.astype(np.int64)
    return Selection(indices=idx, scores=scores[idx], strategy=strategy)


def _strategy_scores(
    strategy: str,
    proba: np.ndarray | None,
    committee: Sequence[np.ndarray] | None,
    weights: Sequence[float] | np.ndarray | None,
    features: np.ndarray | None,
    seed: int,
) -> np.ndarray:
    """Every pool point's score under ``strategy`` (higher = more informative)."""
    if strategy == "random":
        return random_scores(_pool_size(proba, committee, features), np.random.default_rng(seed))
    if strategy in _UNCERTAINTY:
        if proba is None:
            raise InvalidInputError(
                f"strategy {strategy!r} needs proba (the model's probabilities)."
            )
        return _UNCERTAINTY[strategy](proba)
    if committee is None:
        raise InvalidInputError(
            f"strategy {strategy!r} needs committee (a list of members' probability arrays)."
        )
    return _COMMITTEE[strategy](committee, weights)
