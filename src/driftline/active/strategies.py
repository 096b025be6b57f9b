"""Query strategies: which unlabelled points are most worth a human label.

Pure functions over predicted-probability arrays (``n × classes``, rows sum to one). Every score is
"higher = more informative". Committees are lists of such arrays, one per lineage member, with
optional non-negative member weights (for example validation scores); weights are normalised to
sum to one. ``0 · ln 0`` is taken as 0 throughout, logarithms are natural.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from driftline.errors import InvalidInputError

__all__ = [
    "STRATEGIES",
    "Selection",
    "consensus_entropy",
    "entropy",
    "kcenter_greedy",
    "least_confidence",
    "margin",
    "max_kl_to_consensus",
    "random_scores",
    "representative",
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
_CHUNK = 4096


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


# ----------------------------------------------------------------------------- diversity


def _as_features(features: object) -> np.ndarray:
    try:
        x = np.asarray(features, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"features must be a numeric n × d array ({exc}).") from exc
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise InvalidInputError(f"features must be 2-D (n points × d features), got {x.shape}.")
    if not np.all(np.isfinite(x)):
        raise InvalidInputError("features contain NaN or infinite values; impute them first.")
    return x


def _as_indices(idx: object, n: int, name: str) -> np.ndarray:
    if idx is None:
        return np.zeros(0, dtype=np.int64)
    a = np.asarray(idx)
    if a.size == 0:
        return np.zeros(0, dtype=np.int64)
    if a.dtype == bool:
        if a.shape != (n,):
            raise InvalidInputError(
                f"{name} as a boolean mask must have shape ({n},), got {a.shape}."
            )
        return np.flatnonzero(a)
    if not np.issubdtype(a.dtype, np.integer):
        raise InvalidInputError(f"{name} must be integer point indices or a boolean mask.")
    a = a.reshape(-1).astype(np.int64)
    if np.any(a < 0) or np.any(a >= n):
        raise InvalidInputError(f"{name} holds indices outside 0..{n - 1}.")
    return np.unique(a)


def _sq_dist_to(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared distance from each row of ``x`` to its nearest row of ``centers`` (chunked)."""
    best = np.full(x.shape[0], np.inf)
    xx = (x * x).sum(axis=1)
    for s in range(0, centers.shape[0], _CHUNK):
        c = centers[s : s + _CHUNK]
        d = xx[:, None] - 2.0 * x @ c.T + (c * c).sum(axis=1)[None, :]
        best = np.minimum(best, d.min(axis=1))
    return np.maximum(best, 0.0)


def kcenter_greedy(
    features: np.ndarray,
    k: int,
    scores: np.ndarray | None = None,
    already: np.ndarray | Sequence[int] | None = None,
    *,
    pool_factor: int = 10,
) -> np.ndarray:
    """Greedy k-center selection: repeatedly add the point farthest from every chosen center.

    Picks ``argmax_x min_{c ∈ centers} ‖x − c‖₂`` ``k`` times (Euclidean on ``features``; scale them
    first if units differ). ``already`` (indices, e.g. labelled points) seed the centers and are
    never returned. With ``scores`` the candidates are first restricted to the top
    ``m = pool_factor · k`` by score, the first pick (when nothing is ``already`` chosen) is the
    best-scoring candidate, and distance ties go to the higher score; without scores the first pick
    is the point nearest the candidates' mean. Deterministic. Returns at most ``k`` indices into
    ``features``, in pick order (fewer when fewer candidates remain).
    """
    x = _as_features(features)
    n = x.shape[0]
    if int(k) != k or k < 0:
        raise InvalidInputError(f"k must be a non-negative integer, got {k!r}.")
    k = int(k)
    if pool_factor < 1:
        raise InvalidInputError(f"pool_factor must be >= 1, got {pool_factor}.")
    seed_idx = _as_indices(already, n, "already")
    free = np.ones(n, dtype=bool)
    free[seed_idx] = False
    cand = np.flatnonzero(free)
    if scores is not None:
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if s.shape != (n,):
            raise InvalidInputError(f"scores must have one entry per point ({n}), got {s.shape}.")
        if np.any(np.isnan(s)):
            raise InvalidInputError("scores contain NaN.")
        order = np.argsort(-s[cand], kind="stable")
        cand = cand[order][: pool_factor * k]
    k = min(k, cand.size)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    xc = x[cand]
    if seed_idx.size:
        mind = _sq_dist_to(xc, x[seed_idx])
        first = int(np.argmax(mind))
    elif scores is not None:
        first = 0  # candidates are sorted by score
        mind = np.full(cand.size, np.inf)
    else:
        first = int(np.argmin(((xc - xc.mean(axis=0)) ** 2).sum(axis=1)))
        mind = np.full(cand.size, np.inf)
    picked = [first]
    for _ in range(k - 1):
        c = xc[picked[-1]]
        mind = np.minimum(mind, ((xc - c) ** 2).sum(axis=1))
        mind[picked[-1]] = -1.0
        picked.append(int(np.argmax(mind)))
    return cand[np.asarray(picked, dtype=np.int64)]


def representative(
    features: np.ndarray,
    k: int,
    already: np.ndarray | Sequence[int] | None = None,
    *,
    seed: int = 0,
    iters: int = 20,
) -> np.ndarray:
    """A representative batch for a cold start: k-means on the free points, one medoid each.

    The points not in ``already`` are clustered into ``k`` groups (k-means++ seeding from
    ``seed``, then at most ``iters`` Lloyd steps, Euclidean on ``features``); from each cluster
    the point nearest its centroid is returned, largest clusters first. Unlike k-center greedy,
    which reaches for the outliers, this picks typical points that cover the data's modes (and
    so, usually, its classes) — what a model that cannot yet be trusted should be taught first.
    Deterministic for a given seed. Returns at most ``k`` distinct indices into ``features``.
    """
    x = _as_features(features)
    n = x.shape[0]
    if int(k) != k or k < 0:
        raise InvalidInputError(f"k must be a non-negative integer, got {k!r}.")
    free = np.ones(n, dtype=bool)
    free[_as_indices(already, n, "already")] = False
    cand = np.flatnonzero(free)
    k = min(int(k), cand.size)
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    xc = x[cand]
    rng = np.random.default_rng(seed)
    centers = [xc[int(rng.integers(cand.size))]]
    mind = ((xc - centers[0]) ** 2).sum(axis=1)
    for _ in range(k - 1):  # k-means++: next center with probability ∝ squared distance
        total = mind.sum()
        j = int(rng.choice(cand.size, p=mind / total)) if total > 0 else int(np.argmax(mind))
        centers.append(xc[j])
        mind = np.minimum(mind, ((xc - xc[j]) ** 2).sum(axis=1))
    c = np.asarray(centers)
    assign = np.zeros(cand.size, dtype=np.int64)
    for it in range(iters):
        d = (xc * xc).sum(axis=1)[:, None] - 2.0 * xc @ c.T + (c * c).sum(axis=1)[None, :]
        new = d.argmin(axis=1)
        if it and np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = assign == j
            if members.any():
                c[j] = xc[members].mean(axis=0)
    sizes = np.bincount(assign, minlength=k)
    picked: list[int] = []
    taken = np.zeros(cand.size, dtype=bool)
    for j in np.argsort(-sizes, kind="stable"):
        members = np.flatnonzero((assign == j) & ~taken)
        if members.size == 0:
            continue
        m = members[int(np.argmin(((xc[members] - c[j]) ** 2).sum(axis=1)))]
        taken[m] = True
        picked.append(int(m))
    return cand[np.asarray(picked, dtype=np.int64)]


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
    if strategy not in STRATEGIES:
        raise InvalidInputError(
            f"unknown strategy {strategy!r}; choose one of: {', '.join(STRATEGIES)}."
        )
    if int(k) != k or k < 0:
        raise InvalidInputError(f"k must be a non-negative integer, got {k!r}.")
    k = int(k)
    if strategy == "random":
        n = _pool_size(proba, committee, features)
        scores = random_scores(n, np.random.default_rng(seed))
    elif strategy in ("least_confidence", "margin", "entropy"):
        if proba is None:
            raise InvalidInputError(
                f"strategy {strategy!r} needs proba (the model's probabilities)."
            )
        fn = {"least_confidence": least_confidence, "margin": margin, "entropy": entropy}[strategy]
        scores = fn(proba)
    else:
        if committee is None:
            raise InvalidInputError(
                f"strategy {strategy!r} needs committee (a list of members' probability arrays)."
            )
        fn_c = {
            "qbc_vote": vote_entropy,
            "qbc_consensus": consensus_entropy,
            "qbc_kl": max_kl_to_consensus,
        }[strategy]
        scores = fn_c(committee, weights)
    n = scores.shape[0]
    excl = _as_indices(exclude, n, "exclude")
    if (diversity or cold_start) and features is None:
        raise InvalidInputError(
            "diversity=True (or cold_start=True) needs features (n × d) to cover the pool."
        )
    if cold_start:
        x = _as_features(features)
        if x.shape[0] != n:
            raise InvalidInputError(
                f"features have {x.shape[0]} rows but the strategy scored {n} points."
            )
        idx = representative(x, k, already=excl, seed=seed)
    elif diversity:
        if features is None:
            raise InvalidInputError("diversity=True needs features (n × d) for k-center greedy.")
        x = _as_features(features)
        if x.shape[0] != n:
            raise InvalidInputError(
                f"features have {x.shape[0]} rows but the strategy scored {n} points."
            )
        idx = kcenter_greedy(x, k, scores=scores, already=excl, pool_factor=pool_factor)
    else:
        free = np.ones(n, dtype=bool)
        free[excl] = False
        cand = np.flatnonzero(free)
        idx = cand[np.argsort(-scores[cand], kind="stable")[:k]]
    idx = idx.astype(np.int64)
    return Selection(indices=idx, scores=scores[idx], strategy=strategy)
