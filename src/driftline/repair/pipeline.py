"""The repair pipeline: detect → search → candidates → choose → register/deploy → record.

``repair(store, "digits", window, validation=(X_val, y_val))`` repairs the model behind the
deployment ``digits`` (or any model reference). The repaired model is a new node with ``repair``
edges from the drifted model and from the ancestor. Re-running on the same inputs returns the
stored result (the repair key hashes the drifted model, the window, the validation data and the
policy). Each step is a function ``step(state) -> state`` in :mod:`driftline.repair.steps`.
"""

from __future__ import annotations

from typing import Any

from driftline.repair.ancestors import AncestorSearch
from driftline.repair.capability import Capability, plan_repair
from driftline.repair.evaluation import Families
from driftline.repair.families import Predictor
from driftline.repair.policy import RepairPolicy
from driftline.repair.records import (
    approve_repair,
    list_repairs,
    load_repair,
    save_repair,
    update_repair,
)
from driftline.repair.result import RepairResult
from driftline.repair.steps.candidates import capability_table, weight_candidates
from driftline.repair.steps.choose import choose
from driftline.repair.steps.deploy import register_and_deploy
from driftline.repair.steps.detect import detect
from driftline.repair.steps.reroute import reroute
from driftline.repair.steps.search import search_lineage
from driftline.repair.steps.state import Call, Progress, RepairState, resolve_target, start
from driftline.statuses import RepairStatus
from driftline.store import Model, Store

__all__ = [
    "AncestorSearch",
    "RepairPolicy",
    "RepairResult",
    "approve_repair",
    "list_repairs",
    "load_repair",
    "repair",
    "resolve_target",
    "update_repair",
]


def repair(
    store: Store,
    target: str | Model,
    window: Any,
    validation: tuple[Any, Any] | None = None,
    *,
    policy: RepairPolicy | None = None,
    family: Predictor | Families | None = None,
    approve: bool | None = None,
    actor: str = "driftline",
    progress: Progress | None = None,
) -> RepairResult:
    """Run the repair pipeline on the model behind ``target`` (a deployment name or a model
    reference) for the current ``window`` of inputs, choosing α on ``validation`` = (X, y)
    from the current distribution (or on the window's prediction entropy without labels).

    ``approve`` (default ``policy.auto_deploy``) lets the pipeline switch the deployment when
    the policy is met; otherwise the result waits with status ``awaiting-approval``.

    Example: v2 was trained on regime B (x ≈ 3) and serves ``prod``; today's data is regime A
    again, where its ancestor v1 is right. The repair moves to v1 and deploys it:

    >>> import tempfile, numpy as np, driftline
    >>> from driftline.repair import CallableFamily, repair
    >>> def logistic(params, X):
    ...     p = 1 / (1 + np.exp(-(X @ params["w"] + params["b"])))
    ...     return np.column_stack([1 - p, p])
    >>> rng = np.random.default_rng(0)
    >>> def regime(mean, n=400):
    ...     X = rng.normal(mean, 1.0, size=(n, 2))
    ...     return X, (X[:, 0] > mean).astype(int)
    >>> tmp = tempfile.TemporaryDirectory()
    >>> st = driftline.open(tmp.name)
    >>> v1 = st.register({"w": np.array([4.0, 0.0]), "b": np.array(0.0)}, name="m",
    ...                  data=regime(0.0)[0])
    >>> v2 = st.register({"w": np.array([4.0, 0.0]), "b": np.array(-12.0)}, name="m",
    ...                  parents=[v1], data=regime(3.0)[0])
    >>> _ = st.deploy(v2, "prod")
    >>> result = repair(st, "prod", regime(0.0)[0], validation=regime(0.0),
    ...                 family=CallableFamily(logistic))
    >>> print(result.status, result.repaired_ref)
    deployed m@1
    >>> round(result.before["accuracy"], 2), result.after["accuracy"]
    (0.51, 1.0)
    >>> st.resolve("deployment:prod") == v1.id
    True
    >>> st.close(); tmp.cleanup()
    """
    call = Call(
        target, window, validation, policy or RepairPolicy(), family, approve, actor, progress
    )
    state = start(store, call)
    previous = load_repair(store, state.key)
    if previous is not None:
        return _replay(state, previous)
    state = _run(state)
    return save_repair(store, state.key, state.result, state.started)


def _replay(state: RepairState, previous: RepairResult) -> RepairResult:
    """Same inputs as an earlier repair: its result (approved now if it waited and may)."""
    state.say("same inputs as an earlier repair: returning its result")
    waiting = previous.status == RepairStatus.AWAITING_APPROVAL
    if waiting and state.approve and previous.repaired_id and state.deployment:
        assert previous.repair_id is not None
        return approve_repair(state.store, previous.repair_id, actor=state.actor)
    return previous


def _run(state: RepairState) -> RepairState:
    """detect → search → (reroute | capability table | candidates → choose → deploy)."""
    for step in (detect, search_lineage):
        state = step(state)
        if state.done:
            return state
    if state.drifted.framework == "routed":
        return reroute(state)
    plan = plan_repair(state.store, state.drifted, state.goal.id, state.family)
    state.result.capability = plan.to_dict()
    if plan.capability is Capability.CANDIDATE_TABLE:  # trees, boosters, regressors, ...
        return capability_table(state, plan)
    for step in (weight_candidates, choose, register_and_deploy):
        state = step(state)
        if state.done:
            return state
    return state
