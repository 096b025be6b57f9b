"""Step 5, choose: which row of the weight-space candidate table becomes the repair.

With labels: the best eligible row that clears the policy (:func:`driftline.repair.decide.
choose_candidate`; interpolation or rollback toward a member that is only a fallback is not
eligible); when none clears it, the better of BatchNorm/interpolation, where active learning
starts. A winner must also be at least as accurate as the drifted model on the held-out rows
(:mod:`driftline.repair.selection`). Without labels: routing when the window mixes regimes, or
when one ancestor dominates it and the rows it claims look like its training data
(:func:`~driftline.repair.steps.routing.routing_explains_window`); else interpolation.
"""

from __future__ import annotations

from driftline.repair.decide import best_candidate, choose_candidate
from driftline.repair.selection import no_worse_held_out
from driftline.repair.steps.routing import routing_explains_window, routing_wins_unlabelled
from driftline.repair.steps.state import RepairState

__all__ = ["choose"]


def choose(state: RepairState) -> RepairState:
    """Set ``result.chosen`` (and ``weights.pick``: the row that clears the policy)."""
    ws, result, search = state.weights, state.result, state.search
    assert ws is not None and search is not None
    if state.val is not None:
        eligible = {
            "interpolation": search.healthy,
            "routing": ws.routed is not None,
            **{f"rollback {r.ref}": r.healthy for r in search.rows},
        }
        for name in result.candidates:  # never worse than the drifted model on held-out rows
            ok = no_worse_held_out(result.held_out, name)
            eligible[name] = eligible.get(name, True) and ok
        ws.pick = choose_candidate(result.candidates, state.policy, eligible)
        weight_rows = {
            k: v for k, v in result.candidates.items() if k in ("batchnorm", "interpolation")
        }
        chosen = ws.pick or best_candidate(weight_rows) or "interpolation"
    else:
        use_routing = ws.routed is not None and (
            routing_wins_unlabelled(state) or routing_explains_window(state)
        )
        chosen = "routing" if use_routing else "interpolation"
    result.chosen = chosen
    if chosen == "batchnorm":
        ws.theta_r = ws.theta_bn
        result.alpha = 0.0
    if state.val is not None and chosen != "routing":
        result.after = dict(result.candidates[chosen])
    return state
