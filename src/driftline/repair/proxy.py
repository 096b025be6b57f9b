"""A label-free ranking of the candidate table: agreement with the routed committee.

Without labels, the routed model of the lineage (every signed member, gates from the likelihood
of each input under each member's training signature, EM priors on the window; see
:mod:`driftline.repair.routed_model`) is the best available guess of P(y | x) on today's window.
Each other candidate is scored by how often it agrees with it on the window:

    proxy(c) = (1/n) Σ_x [argmax_k p_c(k|x) = argmax_k p_committee(k|x)]

(ties broken by the soft agreement (1/n) Σ_x Σ_k q_k(x) ln p_c(k|x), q = the committee). The
ranking is reported (``RepairResult.proxy``); a label-free repair still waits for approval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["align_columns", "committee_agreement", "proxy_choice"]

_EPS = 1e-12


def committee_agreement(committee: np.ndarray, proba: np.ndarray) -> tuple[float, float]:
    """(hard agreement, soft agreement) of ``proba`` with ``committee`` (rows × classes, the
    same column order); both higher is better."""
    q = np.asarray(committee, dtype=np.float64)
    p = np.asarray(proba, dtype=np.float64)
    if len(q) == 0:
        return float("nan"), float("nan")
    hard = float(np.mean(q.argmax(1) == p.argmax(1)))
    soft = float(np.mean(np.sum(q * np.log(np.clip(p, _EPS, 1.0)), axis=1)))
    return hard, soft


def align_columns(
    proba: np.ndarray, classes: Sequence[Any] | np.ndarray, order: Sequence[Any] | np.ndarray
) -> np.ndarray:
    """``proba``'s columns (labelled ``classes``) in the class order ``order``; unchanged when
    the two label sets differ (the caller compares what it can)."""
    have, want = list(np.asarray(classes).tolist()), list(np.asarray(order).tolist())
    if have == want or len(have) != len(want) or set(have) != set(want):
        return proba
    return proba[:, [have.index(c) for c in want]]


def proxy_choice(scores: Mapping[str, tuple[float, float]]) -> str | None:
    """The candidate with the highest (hard, soft) agreement; None for an empty table."""
    return max(scores, key=lambda k: scores[k]) if scores else None
