"""Active learning: query strategies over the lineage (label queue and refinement use them)."""

from driftline.active.strategies import (
    STRATEGIES,
    Selection,
    consensus_entropy,
    entropy,
    kcenter_greedy,
    least_confidence,
    margin,
    max_kl_to_consensus,
    random_scores,
    select,
    vote_entropy,
)

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
    "select",
    "vote_entropy",
]
