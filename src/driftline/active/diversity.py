"""Diversity: batches that cover the pool instead of crowding one region.

- :func:`kcenter_greedy`: repeatedly the point farthest from every chosen center,
  ``argmax_x min_c ‖x − c‖₂`` (optionally among the top-scored candidates);
- :func:`representative`: k-means medoids of the free points, for cold starts.

Both are Euclidean on ``features`` (scale them first if units differ) and deterministic.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from driftline.errors import InvalidInputError

__all__ = ["as_features", "as_indices", "kcenter_greedy", "representative"]

_CHUNK = 4096


def as_features(features: object) -> np.ndarray:
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


def as_indices(idx: object, n: int, name: str) -> np.ndarray:
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
    x = as_features(features)
    n = x.shape[0]
    if int(k) != k or k < 0:
        raise InvalidInputError(f"k must be a non-negative integer, got {k!r}.")
    k = int(k)
    if pool_factor < 1:
        raise InvalidInputError(f"pool_factor must be >= 1, got {pool_factor}.")
    seed_idx = as_indices(already, n, "already")
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
    x = as_features(features)
    n = x.shape[0]
    if int(k) != k or k < 0:
        raise InvalidInputError(f"k must be a non-negative integer, got {k!r}.")
    free = np.ones(n, dtype=bool)
    free[as_indices(already, n, "already")] = False
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
