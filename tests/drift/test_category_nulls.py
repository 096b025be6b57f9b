"""Categorical nulls: Monte-Carlo multinomial p-values against scipy, and the unseen-test union."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from driftline.drift.category_nulls import (
    chi_square_pvalue_mc,
    combine_with_unseen,
    pooled_cells,
    unseen_attainable,
    unseen_pvalue,
    variance_excess,
)


def test_mc_p_value_matches_chi_square_when_counts_are_large():
    ref = np.array([40_000.0, 30_000.0, 20_000.0, 10_000.0])
    cur = np.array([4_150.0, 2_950.0, 1_980.0, 920.0])
    _, c, e = pooled_cells(ref, cur)
    want = stats.chi2.sf(np.sum((c - e) ** 2 / e) / (1 + cur.sum() / ref.sum()), 3)
    assert 0.001 < want < 0.05
    assert chi_square_pvalue_mc(ref, cur) == pytest.approx(want, rel=0.15)
    assert chi_square_pvalue_mc(ref, cur) == chi_square_pvalue_mc(ref, cur)  # seeded


def test_mc_p_value_has_its_level_on_sparse_zipf_cells():
    """1,000 null windows of 200 rows over 30 Zipf labels: P(p < 5 %) within binomial slack."""
    rng = np.random.default_rng(0)
    probs = 1.0 / np.arange(1, 31) ** 1.3
    probs /= probs.sum()
    ref = rng.multinomial(100_000, probs).astype(float)
    ps = []
    for _ in range(1000):
        r, c, _ = pooled_cells(ref, rng.multinomial(200, probs).astype(float))
        ps.append(chi_square_pvalue_mc(r, c, sims=2000))
    rate = float(np.mean(np.array(ps) < 0.05))
    slack = 3 * np.sqrt(0.05 * 0.95 / 1000)
    assert rate <= 0.05 + slack
    assert rate >= 0.05 - slack  # and not conservative to the point of uselessness


def test_unseen_union_costs_the_shape_test_only_the_attainable_level():
    # 500 rows, no label seen once in 200,000: an unseen row is expected 0.0025 times
    att = unseen_attainable(0.004, 500, 200_000, 0)
    want = stats.binom.sf(0, 500, 1 / 200_000)  # the test rejects at 1 unseen row
    assert att == pytest.approx(want) and att < 0.004
    assert combine_with_unseen(0.004, 1.0, att) == pytest.approx(0.004 + want)
    # the unseen test is the smaller: plain Bonferroni
    pu = unseen_pvalue(3, 500, 200_000, 0)
    assert combine_with_unseen(0.2, pu, unseen_attainable(pu, 500, 200_000, 0)) == 2 * pu
    assert combine_with_unseen(0.9, 0.8, 0.5) == 1.0


def test_variance_excess_matches_the_exact_multinomial_variance():
    rng = np.random.default_rng(1)
    probs = np.array([0.5, 0.3, 0.15, 0.05])
    n = 60
    e = n * probs
    x2 = [np.sum((c - e) ** 2 / e) for c in rng.multinomial(n, probs, size=200_000)]
    want = (np.var(x2) - 6.0) / 6.0  # 2 df = 6
    assert variance_excess(e) == pytest.approx(want, abs=0.02)
    assert variance_excess(np.full(10, 1e6)) < 1e-5  # large counts: the χ² tail is right
