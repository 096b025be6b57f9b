"""The store loop's lineage committee and the lineage nodes its rounds register.

The static committee is the start model (usually the repair), the drifted model, the ancestor,
then the drifted model's ancestors within ``hops`` hops with the same tensors, at most ``limit``
members; each round adds the current and the previous round's models in front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.active.refit import Refit
from driftline.errors import CycleError, InvalidInputError, UnsupportedModelError
from driftline.params import ModelParams, model_id
from driftline.repair.families import Predictor
from driftline.repair.pipeline import RepairResult
from driftline.repair.vector import Params
from driftline.store import Store

__all__ = ["Member", "RoundNode", "register_round", "request_predictions", "static_committee"]


@dataclass(frozen=True)
class Member:
    """A committee member: its role (current, previous, repaired, drifted, ancestor-2, ...),
    reference, id and parameters."""

    role: str
    ref: str
    id: str
    params: Params


def static_committee(
    store: Store,
    result: RepairResult,
    family: Predictor,
    start: Member,
    probe: np.ndarray,
    hops: int,
    limit: int,
) -> list[Member]:
    """Static committee (module docstring). A member whose parameters this family cannot
    read (another architecture, a composite node) is left out; a corrupt blob or a database
    error propagates."""
    members = [start]
    seen = {start.id}
    names = set(start.params)

    def add(mid: str, role: str) -> None:
        if mid in seen or len(members) >= limit:
            return
        seen.add(mid)
        try:
            params = store.load(mid)
            if set(params) != names:
                return
            family.predict_proba(params, probe)
        except (UnsupportedModelError, InvalidInputError, ValueError, KeyError):
            return
        members.append(Member(role, store.get(mid).ref, mid, params))

    add(result.drifted_id, "drifted")
    if result.ancestor_id:
        add(result.ancestor_id, "ancestor")
    for rel in store.ancestors(result.drifted_id, max_hops=hops):
        add(rel.id, f"ancestor-{rel.hops}")
    return members


def request_predictions(
    members: Sequence[tuple[Member, np.ndarray]],
    idx: np.ndarray,
    classes: np.ndarray,
    model: Member,
) -> list[dict[str, Any]]:
    """Per chosen point: the requesting ``model``'s label/confidence and every member's
    (``members``: each with its probabilities on the pool, the current model first)."""
    out = []
    cls = [c.item() if isinstance(c, np.generic) else c for c in classes.tolist()]
    for i in idx:
        mem = []
        for m, p in members:
            j = int(np.argmax(p[i]))
            mem.append(
                {"role": m.role, "ref": m.ref, "label": cls[j], "confidence": float(p[i, j])}
            )
        first = mem[0]
        out.append(
            {
                "model_id": model.id,
                "ref": model.ref,
                "label": first["label"],
                "confidence": first["confidence"],
                "classes": cls,
                "members": mem,
            }
        )
    return out


@dataclass(frozen=True)
class RoundNode:
    """What a round's lineage node records: repair id, round, strategy, labels used, and the
    validation scores of the previous round's model (``before``) and this one (``after``)."""

    repair_id: int
    round: int
    strategy: str
    diversity: bool
    labels: int
    before: dict[str, float]
    after: dict[str, float]


def register_round(
    store: Store,
    drifted: Any,
    parent_id: str,
    fit: Refit,
    node: RoundNode,
    signature: Any,
    start_ref: str,
) -> tuple[str, str]:
    """Register the round's model with a ``repair`` edge from ``parent_id``; identical
    parameters (or parameters equal to an ancestor) reuse the existing node."""
    mid = model_id(fit.params)
    if mid == parent_id:
        return mid, store.get(mid).ref
    edge = {
        "active_learning": True,
        "repair_id": node.repair_id,
        "round": node.round,
        "strategy": node.strategy,
        "diversity": node.diversity,
        "labels_used": node.labels,
        "alpha": fit.alpha,
        "per_tensor_alpha": fit.per_tensor_alpha,
        "fine_tuned": fit.fine_tuned,
        "lr": fit.lr,
        "origin": fit.origin,
    }
    try:
        registered = store.register(
            ModelParams(fit.params, drifted.framework, drifted.architecture),
            name=drifted.name,
            parents=[parent_id],
            transform="repair",
            params=edge,
            metrics={f"val_{k}": v for k, v in node.after.items() if k != "n"},
            edge_metrics={"before": node.before, "after": node.after},
            signature=signature,
            tags={"active_learning_of": start_ref, "repair_id": node.repair_id},
        )
    except CycleError:  # the parameters are an ancestor's (e.g. α = 0, no fine-tuning)
        return mid, store.get(mid).ref
    return registered.id, registered.ref
