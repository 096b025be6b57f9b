"""Query strategies against hand-computed values, and the select entry point."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import rel_entr
from scipy.stats import entropy as scipy_entropy

from driftline.active import (
    STRATEGIES,
    Selection,
    consensus_entropy,
    entropy,
    least_confidence,
    margin,
    max_kl_to_consensus,
    random_scores,
    select,
    vote_entropy,
)
from driftline.errors import InvalidInputError

PROBA = np.array(
    [
        [0.7, 0.2, 0.1],
        [0.4, 0.4, 0.2],
        [1.0, 0.0, 0.0],
        [0.1, 0.3, 0.6],
    ]
)

# Three members, three points, three classes.
A = np.array([[0.6, 0.3, 0.1], [0.1, 0.3, 0.6], [0.8, 0.1, 0.1]])
B = np.array([[0.5, 0.4, 0.1], [0.2, 0.3, 0.5], [0.1, 0.8, 0.1]])
C = np.array([[0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.1, 0.1, 0.8]])


# ----------------------------------------------------------------------------- uncertainty


def test_least_confidence_by_hand() -> None:
    np.testing.assert_allclose(least_confidence(PROBA), [0.3, 0.6, 0.0, 0.4], atol=1e-12)


def test_margin_by_hand() -> None:
    # 1 - (p1 - p2): 1-(0.7-0.2), 1-(0.4-0.4), 1-(1-0), 1-(0.6-0.3)
    np.testing.assert_allclose(margin(PROBA), [0.5, 1.0, 0.0, 0.7], atol=1e-12)


def test_entropy_by_hand_with_zeros() -> None:
    # row 0: 0.7*0.356675 + 0.2*1.609438 + 0.1*2.302585 = 0.801819
    # row 1: 2*0.4*0.916291 + 0.2*1.609438              = 1.054920
    # row 2: 0 ln 0 = 0                                   = 0
    # row 3: 0.1*2.302585 + 0.3*1.203973 + 0.6*0.510826  = 0.897946
    got = entropy(PROBA)
    np.testing.assert_allclose(got, [0.801819, 1.054920, 0.0, 0.897946], atol=1e-6)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, scipy_entropy(PROBA, axis=1), atol=1e-12)


def test_uniform_rows_are_most_informative() -> None:
    p = np.array([[0.25] * 4, [0.97, 0.01, 0.01, 0.01]])
    for fn in (least_confidence, margin, entropy):
        s = fn(p)
        assert s[0] > s[1], fn.__name__
    assert entropy(p)[0] == pytest.approx(np.log(4))


def test_single_class_column() -> None:
    p = np.ones((3, 1))
    np.testing.assert_allclose(least_confidence(p), 0.0)
    np.testing.assert_allclose(margin(p), 0.0)
    np.testing.assert_allclose(entropy(p), 0.0)


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (np.array([0.2, 0.8]), "2-D"),
        (np.array([[0.5, 0.6]]), "sum to 1"),
        (np.array([[1.2, -0.2]]), "negative"),
        (np.array([[np.nan, 1.0]]), "NaN"),
        (np.zeros((2, 0)), "no class"),
    ],
)
def test_proba_validation(bad: np.ndarray, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        entropy(bad)


# ----------------------------------------------------------------------------- committee


def test_vote_entropy_three_members_by_hand() -> None:
    # point 0 votes 0,0,1 -> shares (2/3, 1/3): -(2/3 ln 2/3 + 1/3 ln 1/3) = 0.636514
    # point 1 votes 2,2,2 -> unanimous: 0
    # point 2 votes 0,1,2 -> ln 3 = 1.098612
    np.testing.assert_allclose(vote_entropy([A, B, C]), [0.636514, 0.0, 1.098612], atol=1e-6)


def test_vote_entropy_weighted_by_hand() -> None:
    # weights (2,1,1) -> (0.5, 0.25, 0.25); point 0 shares (0.75, 0.25):
    # -(0.75 ln 0.75 + 0.25 ln 0.25) = 0.215762 + 0.346574 = 0.562335
    # point 2 shares (0.5, 0.25, 0.25): 0.346574 + 2*0.346574 = 1.039721
    got = vote_entropy([A, B, C], weights=[2.0, 1.0, 1.0])
    np.testing.assert_allclose(got, [0.562335, 0.0, 1.039721], atol=1e-6)


def test_consensus_entropy_by_hand() -> None:
    # point 0 consensus: ((0.6+0.5+0.2)/3, (0.3+0.4+0.7)/3, 0.1) = (0.433333, 0.466667, 0.1)
    # H = 0.433333*0.836248 + 0.466667*0.762140 + 0.1*2.302585 = 0.362374 + 0.355665 + 0.230259
    got = consensus_entropy([A, B, C])
    assert got[0] == pytest.approx(0.948298, abs=1e-6)
    cons = (A + B + C) / 3
    np.testing.assert_allclose(got, scipy_entropy(cons, axis=1), atol=1e-12)


def test_max_kl_to_consensus_by_hand() -> None:
    p1 = np.array([[1.0, 0.0], [0.5, 0.5]])
    p2 = np.array([[0.5, 0.5], [0.5, 0.5]])
    # point 0: consensus (0.75, 0.25)
    #   KL(p1||c) = ln(1/0.75) = 0.287682   (0 ln 0 term is 0)
    #   KL(p2||c) = 0.5 ln(0.5/0.75) + 0.5 ln(0.5/0.25) = -0.202733 + 0.346574 = 0.143841
    # point 1: members agree -> 0
    got = max_kl_to_consensus([p1, p2])
    np.testing.assert_allclose(got, [0.287682, 0.0], atol=1e-6)


def test_max_kl_weighted_matches_scipy() -> None:
    w = np.array([0.2, 0.5, 0.3])
    cons = w[0] * A + w[1] * B + w[2] * C
    expected = np.max([rel_entr(m, cons).sum(axis=1) for m in (A, B, C)], axis=0)
    np.testing.assert_allclose(max_kl_to_consensus([A, B, C], weights=w * 7), expected, atol=1e-12)


def test_zero_weight_member_is_ignored_by_kl() -> None:
    odd = np.array([[0.0, 0.0, 1.0]] * 3)
    got = max_kl_to_consensus([A, B, odd], weights=[1.0, 1.0, 0.0])
    np.testing.assert_allclose(got, max_kl_to_consensus([A, B]), atol=1e-12)
    assert np.all(np.isfinite(got))


def test_committee_validation() -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        vote_entropy([])
    with pytest.raises(InvalidInputError, match="member 1 has shape"):
        consensus_entropy([A, B[:2]])
    with pytest.raises(InvalidInputError, match="one entry per committee member"):
        max_kl_to_consensus([A, B], weights=[1.0])
    with pytest.raises(InvalidInputError, match="sum to zero"):
        vote_entropy([A, B], weights=[0.0, 0.0])
    with pytest.raises(InvalidInputError, match="non-negative"):
        vote_entropy([A, B], weights=[1.0, -1.0])


# ----------------------------------------------------------------------------- select


def test_random_scores_reproducible() -> None:
    a = random_scores(50, np.random.default_rng(3))
    b = random_scores(50, 3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (50,) and np.all((a >= 0) & (a < 1))


def test_select_uncertainty_top_k_and_exclude() -> None:
    sel = select("least_confidence", 2, proba=PROBA)
    assert isinstance(sel, Selection) and sel.strategy == "least_confidence"
    np.testing.assert_array_equal(sel.indices, [1, 3])
    np.testing.assert_allclose(sel.scores, [0.6, 0.4])
    sel = select("margin", 2, proba=PROBA, exclude=[1])
    np.testing.assert_array_equal(sel.indices, [3, 0])
    mask = np.array([True, False, False, True])
    sel = select("entropy", 5, proba=PROBA, exclude=mask)
    np.testing.assert_array_equal(sel.indices, [1, 2])


def test_select_committee_strategies() -> None:
    sel = select("qbc_vote", 1, committee=[A, B, C])
    np.testing.assert_array_equal(sel.indices, [2])
    sel = select("qbc_kl", 3, committee=[A, B, C], weights=[1, 1, 1])
    assert np.all(np.diff(sel.scores) <= 0)
    # consensus entropies: point 2 is uniform (ln 3), point 0 0.948298, point 1 0.927617
    assert select("qbc_consensus", 3, committee=[A, B, C]).indices.tolist() == [2, 0, 1]


def test_select_random_depends_on_seed_only() -> None:
    a = select("random", 5, features=np.zeros((100, 2)), seed=1)
    b = select("random", 5, proba=np.full((100, 2), 0.5), seed=1)
    c = select("random", 5, features=np.zeros((100, 2)), seed=2)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.indices.tolist() != c.indices.tolist()


def test_select_with_diversity_covers_clusters(clusters) -> None:
    x, scores, labels = clusters
    # probabilities whose entropy ranks like `scores`: more uniform = higher score
    p_top = 0.5 + 0.5 * (1 - scores)
    proba = np.column_stack([p_top, 1 - p_top])
    plain = select("entropy", 3, proba=proba)
    assert set(labels[plain.indices]) == {0}
    div = select("entropy", 3, proba=proba, features=x, diversity=True)
    assert set(labels[div.indices]) == {0, 1, 2}
    np.testing.assert_allclose(div.scores, entropy(proba)[div.indices])
    excl = np.flatnonzero(labels == 1)
    div = select("entropy", 2, proba=proba, features=x, diversity=True, exclude=excl)
    assert set(labels[div.indices]) == {0, 2}


def test_select_cold_start_ignores_scores(blobs) -> None:
    # margin prefers points 0-3 (ties); the cold start picks the blob medoids regardless
    p = np.tile([0.9, 0.1], (11, 1))
    p[:4] = [0.5, 0.5]
    sel = select("margin", 2, proba=p, features=blobs, cold_start=True)
    np.testing.assert_array_equal(sel.indices, [9, 4])
    np.testing.assert_allclose(sel.scores, margin(p)[[9, 4]])
    with pytest.raises(InvalidInputError, match="needs features"):
        select("margin", 2, proba=p, cold_start=True)


def test_select_errors() -> None:
    with pytest.raises(InvalidInputError, match="unknown strategy"):
        select("bald", 2, proba=PROBA)
    with pytest.raises(InvalidInputError, match="needs proba"):
        select("entropy", 2)
    with pytest.raises(InvalidInputError, match="needs committee"):
        select("qbc_vote", 2, proba=PROBA)
    with pytest.raises(InvalidInputError, match="needs features"):
        select("entropy", 2, proba=PROBA, diversity=True)
    with pytest.raises(InvalidInputError, match="rows"):
        select("entropy", 2, proba=PROBA, features=np.zeros((3, 2)), diversity=True)
    with pytest.raises(InvalidInputError, match="pool size"):
        select("random", 2)
    assert set(STRATEGIES) == {
        "random",
        "least_confidence",
        "margin",
        "entropy",
        "qbc_vote",
        "qbc_consensus",
        "qbc_kl",
    }
