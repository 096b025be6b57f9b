"""Diversity: k-center greedy covers the clusters, representative picks their medoids."""

from __future__ import annotations

import numpy as np
import pytest

from driftline.active.diversity import kcenter_greedy, representative
from driftline.errors import InvalidInputError


def test_kcenter_batch_hits_every_cluster_while_topk_does_not(clusters) -> None:
    x, scores, labels = clusters
    top = np.argsort(-scores)[:3]
    assert set(labels[top]) == {0}
    picked = kcenter_greedy(x, 3, scores=scores)
    assert len(picked) == 3 and len(set(picked.tolist())) == 3
    assert set(labels[picked]) == {0, 1, 2}
    assert picked[0] == np.argmax(scores)  # starts from the most informative point


def test_kcenter_without_scores_spreads_and_is_deterministic(clusters) -> None:
    x, _, labels = clusters
    a = kcenter_greedy(x, 3)
    b = kcenter_greedy(x, 3)
    np.testing.assert_array_equal(a, b)
    assert set(labels[a]) == {0, 1, 2}


def test_kcenter_prefilter_restricts_candidates(clusters) -> None:
    x, scores, labels = clusters
    picked = kcenter_greedy(x, 3, scores=scores, pool_factor=1)
    assert set(labels[picked]) == {0}


def test_kcenter_already_seeds_centers(clusters) -> None:
    x, scores, labels = clusters
    already = np.flatnonzero(labels == 0)[:1]
    picked = kcenter_greedy(x, 2, scores=scores, already=already)
    assert set(labels[picked]) == {1, 2}
    assert already[0] not in picked


def test_kcenter_k_larger_than_pool_and_duplicates() -> None:
    x = np.zeros((4, 2))
    picked = kcenter_greedy(x, 10)
    assert sorted(picked.tolist()) == [0, 1, 2, 3]
    assert kcenter_greedy(x, 0).size == 0
    with pytest.raises(InvalidInputError, match="non-negative"):
        kcenter_greedy(x, -1)
    with pytest.raises(InvalidInputError, match="one entry per point"):
        kcenter_greedy(x, 2, scores=np.ones(3))
    with pytest.raises(InvalidInputError, match="outside"):
        kcenter_greedy(x, 2, already=[7])


def test_representative_by_hand(blobs) -> None:
    # one medoid per cluster, the larger cluster (B, 6 points) first; any seed
    for seed in range(5):
        np.testing.assert_array_equal(representative(blobs, 2, seed=seed), [9, 4])
    # medoids 4 and 9 taken: B's free centroid (10.5, 10.52) is nearest 10 (B is larger, first);
    # A's is still (0.5, 0.5), where the four corners tie and the lowest index wins
    np.testing.assert_array_equal(representative(blobs, 2, already=[4, 9], seed=1), [10, 0])
    # k = 1: the global centroid (6.05, 6.06) is nearest (10, 10) (5.6 vs 7.1 for (1, 1))
    np.testing.assert_array_equal(representative(blobs, 1, already=[4]), [5])
    assert representative(blobs, 0).size == 0
    assert sorted(representative(blobs, 50)) == list(range(11))  # k > pool: every point once
