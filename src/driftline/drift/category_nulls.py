"""Null distributions of the categorical drift tests: pooled χ² and Good–Turing unseen values.

Pure functions over count vectors (``r`` reference, ``c`` window counts over the same cells,
``N = Σ r``, ``n = Σ c``); :mod:`driftline.drift.calibration` applies them to windows.

* :func:`pooled_cells` / :func:`pooled_chi_square` — Pearson's χ² against the reference
  frequencies, cells pooled rarest first until every expected count ``n p_j >= 5``;
* :func:`chi_square_pvalue_calibrated` — ``χ²_{df}.sf(χ² / (1 + n/N))`` (two-sample variance
  correction), right for large expected counts;
* :func:`chi_square_pvalue_mc` — the exact-level Monte-Carlo p-value under the two-sample
  multinomial null, for sparse cells where the χ² tail is too light;
* :func:`unseen_pvalue`, :func:`unseen_attainable`, :func:`combine_with_unseen` — the
  Good–Turing unseen-value test and its union with the χ² test.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

MIN_EXPECTED = 5.0
#: relative variance excess of Pearson's χ² over χ²_df above which the Monte-Carlo null is used
SPARSE_EXCESS = 0.01
#: the Monte-Carlo null is used for asymptotic p-values in [MC_FROM, MC_TO)
MC_FROM, MC_TO = 1e-9, 0.05
MC_SIMS = 20_000
#: at most this many cell draws per Monte-Carlo p-value (sims = min(MC_SIMS, budget / cells))
MC_BUDGET = 2_000_000


def variance_excess(expected: np.ndarray) -> float:
    """``(Var[X²] − 2 df) / (2 df)`` of Pearson's statistic under the multinomial null.

    ``Var[X²] = 2 df + Σ_j 1/e_j − (k² + 2k − 2)/n`` (``e_j = n p_j``, ``k`` cells,
    ``df = k − 1``): how far the χ²_df tail understates the exact one (0 for large counts).
    """
    e = np.asarray(expected, np.float64)
    k, n = e.size, float(e.sum())
    if k < 2 or n <= 0:
        return 0.0
    return float((np.sum(1.0 / e) - (k * k + 2 * k - 2) / n) / (2 * (k - 1)))


def needs_mc(p_asymptotic: float, expected: np.ndarray) -> bool:
    """Use :func:`chi_square_pvalue_mc`: ``p`` near the alarm levels and sparse cells."""
    return MC_FROM <= p_asymptotic < MC_TO and variance_excess(expected) >= SPARSE_EXCESS


def pooled_cells(
    ref_counts: np.ndarray, cur_counts: np.ndarray, min_expected: float = MIN_EXPECTED
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reference's cells, rare ones pooled: ``(ref counts, window counts, expected)``.

    Cells are pooled rarest first until every expected count ``n p_j >= min_expected``;
    trailing cells of ``cur_counts`` beyond the reference's (unseen labels) are left to the
    unseen-value test. Empty arrays when the window or the reference is empty.
    """
    r = np.asarray(ref_counts, np.float64)
    c = np.asarray(cur_counts, np.float64)[: r.size]
    n, nr = c.sum(), r.sum()
    if n <= 0 or nr <= 0:
        return np.empty(0), np.empty(0), np.empty(0)
    order = np.argsort(-r, kind="stable")
    rr, e, cc = r[order], n * r[order] / nr, c[order]
    big = int(np.searchsorted(-e, -min_expected, side="right"))  # cells with e >= min_expected
    while big > 0 and 0.0 < float(e[big:].sum()) < min_expected:
        big -= 1
    if float(e[big:].sum()) > 0:
        return (
            np.append(rr[:big], rr[big:].sum()),
            np.append(cc[:big], cc[big:].sum()),
            np.append(e[:big], e[big:].sum()),
        )
    return rr[:big], cc[:big], e[:big]


def pooled_chi_square(
    ref_counts: np.ndarray, cur_counts: np.ndarray, min_expected: float = MIN_EXPECTED
) -> tuple[float, int]:
    """Pearson χ² over the reference's cells, rare cells pooled (:func:`pooled_cells`).

    Returns ``(χ², df)`` (``df = 0``: nothing to test; NaN for an empty window).
    """
    _, cc, e = pooled_cells(ref_counts, cur_counts, min_expected)
    if e.size == 0:
        return math.nan, 0
    if e.size < 2:
        return 0.0, 0
    return float(np.sum((cc - e) ** 2 / e)), int(e.size - 1)


def chi_square_pvalue_mc(
    ref_cells: np.ndarray, cur_cells: np.ndarray, sims: int = MC_SIMS, seed: int = 0
) -> float:
    """Monte-Carlo p-value of the two-sample pooled χ² under the multinomial null.

    Both samples are redrawn from the pooled proportions ``p̂ = (r + c) / (N + n)``
    (``R* ~ Mult(N, p̂)``, ``C* ~ Mult(n, p̂)``) and the statistic
    ``Σ (C*_j − n R*_j/N)² / (n R*_j/N)`` recomputed; ``p = (1 + #{T* >= T}) /
    (1 + sims)`` (exact level, no large-count approximation); ``sims`` is capped at ``MC_BUDGET``
    cell draws. A first tenth of the draws settles windows far from significance
    (``p > 0.05``). Seeded: reports are reproducible.
    """
    r = np.asarray(ref_cells, np.float64)
    c = np.asarray(cur_cells, np.float64)
    nr, n = float(r.sum()), float(c.sum())
    if r.size < 2 or n <= 0 or nr <= 0:
        return 1.0
    sims = max(min(sims, MC_BUDGET // r.size), 1000)

    def stat(rs: np.ndarray, cs: np.ndarray) -> np.ndarray:
        e = np.maximum(rs, 0.5) * (n / nr)
        return np.sum((cs - e) ** 2 / e, axis=-1)

    t_obs = float(stat(r, c)) * (1.0 - 1e-9)
    ph = (r + c) / (nr + n)
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    for size in (sims // 10, sims - sims // 10):
        rs = rng.multinomial(int(nr), ph, size=size).astype(np.float64)
        cs = rng.multinomial(int(n), ph, size=size).astype(np.float64)
        hits += int(np.count_nonzero(stat(rs, cs) >= t_obs))
        done += size
        if (1 + hits) / (1 + done) > 0.05:
            break
    return (1 + hits) / (1 + done)


def chi_square_pvalue_calibrated(stat: float, df: int, n_ref: float, n_cur: float) -> float:
    """``χ²_{df}.sf(χ² / (1 + n/N))`` (two-sample correction; 1 when nothing is testable)."""
    if df <= 0 or math.isnan(stat):
        return 1.0 if df <= 0 and not math.isnan(stat) else math.nan
    return float(stats.chi2.sf(stat / (1.0 + n_cur / n_ref), df))


def unseen_pvalue(k_unseen: float, n: float, n_ref: float, singletons: int) -> float:
    """Good–Turing null: ``Binom(n, m₀⁺).sf(k − 1)``, ``m₀⁺ = (f₁ + 2√f₁ + 1) / N``."""
    if n <= 0 or n_ref <= 0:
        return math.nan
    if k_unseen <= 0:
        return 1.0
    m0 = min((singletons + 2.0 * math.sqrt(singletons) + 1.0) / n_ref, 1.0)
    return float(stats.binom.sf(k_unseen - 1, int(n), m0))


def unseen_attainable(t: float, n: float, n_ref: float, singletons: int) -> float:
    """Null probability that the unseen-value test reaches ``p <= t``: ``Binom(n, m₀⁺).sf(k*)``
    with ``k*`` the least count whose ``p`` is ``<= t`` (``<= t``; far below ``t`` when
    ``n m₀⁺`` is small, the test being discrete)."""
    if n <= 0 or n_ref <= 0 or not t > 0:
        return 0.0
    m0 = min((singletons + 2.0 * math.sqrt(singletons) + 1.0) / n_ref, 1.0)
    k = stats.binom.isf(t, int(n), m0)
    return float(min(stats.binom.sf(k, int(n), m0), t)) if math.isfinite(k) else float(t)


def combine_with_unseen(p_shape: float, p_unseen: float, attainable: float) -> float:
    """p-value of "shape test or unseen test": ``t + F_u(t)``, ``t = min(p_shape, p_unseen)``.

    Union bound over the two tests (valid under any dependence) with the unseen test's
    *attainable* level ``F_u(t) = P₀(p_unseen <= t)`` (:func:`unseen_attainable`) instead of
    ``t``: when the unseen test cannot reach ``t`` it costs the shape test no level, where
    plain Bonferroni (``2t``) would halve its power.
    """
    t = min(p_shape, p_unseen)
    return float(min(t + (attainable if p_unseen > t else p_unseen), 1.0))
