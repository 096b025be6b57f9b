"""Does the lineage explain a window, without labels?

Every EM prior is relative, so some member always "dominates" a window, even one from a regime
no member has seen. When one member dominates (prior ≥ ``policy.routing_mix_threshold``), the
rows it *claims* — those whose posterior ``π_i p_i(x) / Σ_j π_j p_j(x)`` is highest under it —
are compared with its training signature by the calibrated drift rule (the agent's default:
significance and materiality, Holm over features). A recurring regime with a few rows of
another drifts against every single member, yet passes here; a new regime fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.store import Store

__all__ = ["MIN_CLAIMED_ROWS", "dominant_member_fits"]

#: fewest window rows a member must claim before its claimed rows are tested
MIN_CLAIMED_ROWS = 30


def dominant_member_fits(
    store: Store,
    member_ids: Sequence[str],
    member_refs: Sequence[str],
    loglik: np.ndarray,
    priors: np.ndarray,
    table: Mapping[str, Any],
    agent_kwargs: Mapping[str, Any],
) -> tuple[bool, dict[str, Any]]:
    """(the rows the largest-prior member claims look like its training data, a record of
    the test); ``loglik`` is members × rows, ``table`` the window's named columns."""
    from driftline.drift import compare

    p = np.asarray(priors, dtype=np.float64)
    top = int(np.argmax(p))
    with np.errstate(divide="ignore"):
        post = np.asarray(loglik, dtype=np.float64) + np.log(p)[:, None]
    claimed = np.flatnonzero(np.argmax(post, axis=0) == top)
    info: dict[str, Any] = {"member": member_refs[top], "claimed_rows": int(claimed.size)}
    if claimed.size < MIN_CLAIMED_ROWS:
        return False, {**info, "drifted": None}
    rows = {k: np.asarray(v)[claimed] for k, v in table.items()}
    report = compare(store.signature(member_ids[top]), rows, **dict(agent_kwargs))
    return not report.drift, {**info, "drifted": bool(report.drift)}
