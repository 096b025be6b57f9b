"""Step 3, search: the healthy ancestor to repair toward (with labels: the best-performing
one, :func:`driftline.repair.concept.rescore_on_labels`). Ends the repair when the lineage has
no signed ancestor."""

from __future__ import annotations

from driftline.repair.ancestors import find_healthy_ancestor
from driftline.repair.concept import rescore_on_labels
from driftline.repair.steps.state import RepairState
from driftline.statuses import RepairStatus

__all__ = ["search_lineage"]


def search_lineage(state: RepairState) -> RepairState:
    """Fill ``state.search`` and ``result.search/ancestor_id/healthy_ancestor``."""
    policy = state.policy
    state.say("searching the lineage for a healthy ancestor")
    search = find_healthy_ancestor(
        state.store,
        state.drifted.id,
        state.table,
        max_hops=policy.max_hops,
        agent_kwargs={**policy.agent_kwargs(), "rule": policy.ancestor_rule},
    )
    if state.check is not None and state.val is not None:
        search = rescore_on_labels(
            state.store,
            search,
            state.X_win,
            state.val.X,
            state.val.y,
            state.family,
            state.check.reference_accuracy,
            policy.min_performance_drop,
        )
    state.search = search
    state.result.search = search.to_dict()
    if search.target is None:
        return state.finish(
            RepairStatus.NEEDS_LABELS,
            "no ancestor with a training signature: active learning must take over",
        )
    state.result.ancestor_id = search.target.id
    state.result.healthy_ancestor = search.healthy
    return state
