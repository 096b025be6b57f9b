"""Refinement: turn human labels into a better repair, round by round, in the store.

:func:`run_active_learning` prepares the run (:mod:`~driftline.active.run_inputs`: pool matrix,
validation data, start model, lineage committee), resumes from the label queue, then repeats
until it stops:

1. **Answer**: a simulated oracle answers the pending requests at once; with a human oracle
   (or None) the loop refines on the labels given so far and returns ``waiting-for-labels``
   (call again to resume).
2. **Re-fit** on all labels so far (+ validation) when there are new ones
   (:func:`~driftline.active.refit`: α, fine-tuning, a fresh start) and **record** the round's
   model as a lineage node with a ``repair`` edge from the previous round's model (params:
   round, strategy, labels used, α, fine-tuning; metrics: validation before/after).
3. **Ask**: one :func:`~driftline.active.labelling.labelling_round` over the lineage committee
   (current model, previous round's model, then :func:`~driftline.active.members.
   static_committee`); the chosen points go to the :class:`LabelQueue` with every member's
   prediction.

The loop ends when the validation accuracy reaches ``target_accuracy``, the label budget is
spent, or the pool is exhausted; the final model is deployed when the policy is met (validation
accuracy ≥ target, or without a target ≥ the drifted model's and the start's) and the repair had
a deployment. Settings: :class:`~driftline.active.RefineSettings`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.active.labelling import RoundView, labelling_round
from driftline.active.members import (
    Member,
    RoundNode,
    register_round,
    request_predictions,
)
from driftline.active.oracles import Oracle
from driftline.active.queue import LabelRequest, point_hash
from driftline.active.records import attach_records
from driftline.active.refit import refit
from driftline.active.repair_record import record_active
from driftline.active.results import ActiveLearningResult, RoundRecord
from driftline.active.run_inputs import RunInputs, add_committee, prepare, prepare_classifier
from driftline.active.settings import Progress, RefineSettings, single_thread
from driftline.active.strategies import Selection
from driftline.errors import UnknownReferenceError
from driftline.repair.evaluation import Families
from driftline.repair.families import Predictor
from driftline.repair.model_input import (
    window_signature,
    window_table,
)
from driftline.repair.pipeline import RepairResult
from driftline.statuses import LabelStatus, RefinementStatus, RepairStatus
from driftline.store import Store

__all__ = ["run_active_learning"]

Status = RefinementStatus


@dataclass
class _State:
    """What changes from round to round."""

    out: ActiveLearningResult
    current: Member
    previous: Member | None
    rnd: int
    fitted_n: int = 0
    window_sig: Any = None


def _resume(run: RunInputs) -> _State:
    """Start where the queue left off: the model that chose the newest round's requests."""
    assert run.start is not None
    existing = run.queue.requests(run.rid)
    last_round = max((r.round for r in existing), default=0)
    current = run.start
    latest = [r for r in existing if r.round == last_round and r.predictions.get("model_id")]
    if latest:
        mid = latest[0].predictions["model_id"]
        try:
            current = Member("current", run.store.get(mid).ref, mid, run.store.load(mid))
        except UnknownReferenceError:  # the round's model is gone: resume from the start
            current = run.start
    out = ActiveLearningResult(
        status=Status.BUDGET_EXHAUSTED,
        repair_id=run.rid,
        start_id=run.start.id,
        final_id=current.id,
        final_ref=current.ref,
        deployment=run.result.deployment,
        before=run.val_scores(run.start.params),
    )
    return _State(out, current, None, last_round)


def _answer(
    run: RunInputs, state: _State, oracle: Oracle | None, say: Progress
) -> list[LabelRequest] | None:
    """Step 1: a simulated oracle answers the pending requests; returns the requests that
    wait for a human (None when nothing waits). Sets the status when the oracle answered none."""
    pend = run.queue.pending(run.rid)
    human = oracle is None or getattr(oracle, "interactive", True)
    if pend and human:
        return pend
    if pend and oracle is not None:
        say(f"round {state.rnd}: asking the oracle for {len(pend)} label(s)")
        oracle.answer(run.queue, pend)
        left = run.queue.pending(run.rid)
        if left and len(left) == len(pend):
            state.out.status = Status.WAITING_FOR_LABELS
            state.out.pending = [r.id for r in left]
            state.out.message = "the oracle answered none of the pending requests"
    return None


def _refit_round(
    run: RunInputs,
    state: _State,
    X_lab: np.ndarray,
    y_lab: np.ndarray,
    s: RefineSettings,
    say: Progress,
) -> None:
    """Step 2: re-fit on every label so far and record the round's model."""
    assert run.start is not None
    t0 = time.perf_counter()
    n_lab = len(y_lab)
    say(f"round {state.rnd}: re-fitting on {n_lab} label(s)")
    fit = refit(
        run.fam,
        run.start.params,
        X_lab,
        y_lab,
        classes=run.classes,
        drifted=run.theta_d,
        ancestor=run.theta_a,
        validation=run.val,
        window=run.X_pool,
        settings=s,
        seed=s.seed + state.rnd,
    )
    state.fitted_n = n_lab
    before = run.val_scores(state.current.params)
    after = fit.scores or run.val_scores(fit.params)
    if state.window_sig is None:  # named columns and roles, as the drifted model's
        table = window_table(run.pool, run.drifted_sig)
        state.window_sig = window_signature(table, run.drifted_sig)
    node = RoundNode(run.rid, state.rnd, s.strategy, s.diversity, n_lab, before, after)
    node_id, node_ref = register_round(
        run.store, run.drifted, state.current.id, fit, node, state.window_sig, run.start.ref
    )
    state.previous, state.current = state.current, Member("current", node_ref, node_id, fit.params)
    record = RoundRecord(
        state.rnd,
        n_lab,
        s.strategy,
        node_id,
        node_ref,
        fit.alpha,
        fit.per_tensor_alpha,
        fit.fine_tuned,
        fit.lr,
        before,
        after,
        time.perf_counter() - t0,
        fit.origin,
    )
    state.out.rounds.append(record)
    state.out.after = after


def _committee_now(run: RunInputs, state: _State) -> list[tuple[Member, np.ndarray]]:
    """The round's committee with its probabilities on the pool, the current model first."""
    cur, prev = state.current, state.previous
    members = [
        (dataclasses.replace(cur, role="current"), run.fam.predict_proba(cur.params, run.X_pool))
    ]
    if prev is not None and prev.id != cur.id:
        prev_pool = run.fam.predict_proba(prev.params, run.X_pool)
        members.append((dataclasses.replace(prev, role="previous"), prev_pool))
    members += [(m, p) for m, p in zip(run.statics, run.static_pool, strict=True) if m.id != cur.id]
    return members


def _ask_round(
    run: RunInputs,
    state: _State,
    X_lab: np.ndarray,
    y_lab: np.ndarray,
    k: int,
    s: RefineSettings,
    say: Progress,
) -> bool:
    """Step 3: choose ``k`` points with the lineage committee and queue them; False when the
    pool has no point left."""
    asked = {r.point_hash for r in run.queue.requests(run.rid)}
    exclude = np.array(
        [i for i, row in enumerate(run.X_pool) if point_hash(row) in asked], dtype=np.int64
    )
    members = _committee_now(run, state)

    def weighing() -> tuple[list[np.ndarray], np.ndarray] | None:
        parts: list[tuple[np.ndarray, np.ndarray]] = [(X_lab, y_lab)] if len(y_lab) else []
        if run.val is not None and len(run.val[1]):
            parts.append(run.val)
        if not parts:
            return None
        Xw = np.vstack([X for X, _ in parts])
        yw = np.concatenate([y for _, y in parts])
        return [run.fam.predict_proba(m.params, Xw) for m, _ in members], yw

    state.rnd += 1
    view = RoundView(
        state.rnd,
        k,
        [p for _, p in members],
        run.X_div,
        exclude,
        len(y_lab),
        run.val_scores(state.current.params).get("accuracy"),
        run.classes,
        weighing,
    )

    def queue_them(sel: Selection, cold: bool) -> list[int]:
        how = (
            "a representative cold start"
            if cold
            else s.strategy + (" + diversity" if s.diversity else "")
        )
        say(f"round {state.rnd}: queueing {len(sel)} point(s) chosen by {how}")
        info = request_predictions(members, sel.indices, run.classes, state.current)
        return run.queue.request(
            run.X_pool[sel.indices],
            sel.scores,
            strategy=s.strategy,
            round=state.rnd,
            repair_id=run.rid,
            predictions=attach_records(info, run.pool, sel.indices, s.image_shape),
        )

    asked_now = labelling_round(view, s, queue_them)
    if asked_now is None:
        return False
    state.out.requested.extend(asked_now.answer)
    return True


def _loop(
    run: RunInputs, state: _State, oracle: Oracle | None, s: RefineSettings, say: Progress
) -> None:
    """Answer → re-fit → ask, until a stop condition sets ``state.out.status``."""
    out = state.out
    while True:
        waiting = _answer(run, state, oracle, say)
        if out.status == Status.WAITING_FOR_LABELS:
            return
        X_lab, y_lab = run.queue.labelled(run.rid)
        if len(y_lab) > state.fitted_n:
            _refit_round(run, state, X_lab, y_lab, s, say)
            if s.target_accuracy is not None and _meets(out.after, s.target_accuracy, None):
                out.status = Status.TARGET_MET
                return
        if waiting:
            out.status = Status.WAITING_FOR_LABELS
            out.pending = [r.id for r in waiting]
            out.message = (
                f"{len(waiting)} label request(s) for repair #{run.rid} wait for a "
                "human: run 'driftline label' (or export them), then resume; "
                f"{len(y_lab)} answered label(s) are in use"
            )
            return
        counts = run.queue.counts(run.rid)
        used = counts[LabelStatus.PENDING] + counts[LabelStatus.LABELLED]
        out.labels_used = counts[LabelStatus.LABELLED]
        if used >= s.budget:
            out.status = Status.BUDGET_EXHAUSTED
            return
        k = min(s.batch_size(used), s.budget - used)
        if not _ask_round(run, state, X_lab, y_lab, k, s, say):
            out.status = Status.POOL_EXHAUSTED
            return


def _meets(after: dict[str, float], target: float | None, floor: float | None) -> bool:
    if not after:
        return False
    acc = after["accuracy"]
    if target is not None:
        return acc >= target
    return floor is None or acc >= floor


def _finish(run: RunInputs, state: _State, s: RefineSettings, actor: str) -> ActiveLearningResult:
    """Deploy the final model when the policy is met; otherwise the repair record says what
    the run waits for or why it stopped (budget or pool spent below the policy)."""
    out, current, result = state.out, state.current, run.result
    out.final_id, out.final_ref = current.id, current.ref
    out.labels_used = run.queue.counts(run.rid)[LabelStatus.LABELLED]
    if out.status != Status.WAITING_FOR_LABELS and out.rounds:
        _decide(run, state, s, actor)
    elif out.status != Status.WAITING_FOR_LABELS and not out.message:
        out.message = f"{out.status}: {out.labels_used} label(s), nothing to refine with"
    waits = out.status == Status.WAITING_FOR_LABELS and result.status != RepairStatus.DEPLOYED
    if waits or (not out.deployed and result.needs_labels):
        record_active(run.store, result, out, None, None, actor)  # what it waits for / why not
    return out


def _decide(run: RunInputs, state: _State, s: RefineSettings, actor: str) -> None:
    """Deploy the final round's model when it meets the policy; say so in ``out.message``."""
    out, current, result = state.out, state.current, run.result
    drifted_acc = run.val_scores(run.theta_d).get("accuracy", -1.0)
    floor = max([drifted_acc, out.before.get("accuracy", -1.0)])
    meets = run.val is not None and _meets(out.after, s.target_accuracy, floor)
    if meets and s.deploy and result.deployment:
        out.status, out.deployed = Status.DEPLOYED, True
        record_active(run.store, result, out, current.id, current.ref, actor)
    acc = out.after.get("accuracy")
    out.message = (
        f"{len(out.rounds)} round(s), {out.labels_used} label(s): {current.ref}"
        + (f" validation accuracy {acc:.3f}" if acc is not None else "")
        + (
            f", deployed as {result.deployment}"
            if out.deployed
            else ("" if meets else ", below the policy: not deployed")
        )
    )


def run_active_learning(
    store: Store,
    result: RepairResult,
    pool: Any,
    oracle: Oracle | None,
    settings: RefineSettings | None = None,
    *,
    validation: tuple[Any, Any] | None = None,
    family: Predictor | Families | None = None,
    actor: str = "driftline",
    progress: Progress | None = None,
    **changes: Any,
) -> ActiveLearningResult:
    """Refine a stored repair with labels on ``pool`` (the current window's unlabelled rows).

    ``oracle``: a :class:`SimulatedOracle` answers inside the loop; an interactive one (or None)
    makes the loop queue one batch and return ``waiting-for-labels``. Calling again after the
    humans answered resumes: labels already in the queue for this repair are used first, and
    ``budget`` counts every label requested for the repair (pending + labelled). ``settings``
    (plus keyword ``changes`` of its fields: ``budget=``, ``batch=``, ``strategy=``, ...) say
    how to choose, ask and re-fit. Rounds, models and deployment follow the module docstring.
    Deterministic for a given seed. When it deploys, ``result`` becomes ``status="deployed"``
    and its stored repair record is updated (``active["deployed_ref"]``/``after`` name the
    deployed round model; switch and record are one transaction). While labels wait for a
    human the record's status is ``waiting-for-labels``.

    Example: the deployed model meets a regime none of its ancestors knew; a simulated
    annotator gives 20 labels, 10 a round, and the refined model is deployed:

    >>> import tempfile, numpy as np, driftline
    >>> from sklearn.linear_model import SGDClassifier
    >>> from driftline.active import SimulatedOracle
    >>> from driftline.repair import repair
    >>> rng = np.random.default_rng(0)
    >>> def regime(shift, n):
    ...     X = rng.normal(size=(n, 2)) + shift
    ...     return X, (X[:, 0] + X[:, 1] > 2 * shift).astype(int)
    >>> def fit(X, y):
    ...     return SGDClassifier(loss="log_loss", random_state=0).fit(X, y)
    >>> store = driftline.open(tempfile.mkdtemp())
    >>> (Xa, ya), (Xb, yb) = regime(0.0, 300), regime(3.0, 300)
    >>> base = store.register(fit(Xa, ya), name="clf", data=Xa)
    >>> child = store.register(fit(Xb, yb), name="clf", parents=[base], data=Xb)
    >>> _ = store.deploy(child, "clf")
    >>> (X_today, y_today), validation = regime(-3.0, 200), regime(-3.0, 50)
    >>> result = repair(store, "clf", X_today, validation)
    >>> print(result.status)
    needs-labels
    >>> oracle = SimulatedOracle(X_today, y_today)
    >>> out = run_active_learning(
    ...     store, result, X_today, oracle, batch=10, budget=20, validation=validation
    ... )
    >>> print(out.status, [r.labels for r in out.rounds], out.after["accuracy"] > 0.75)
    deployed [10, 20] True
    """
    s = (settings or RefineSettings()).with_changes(**changes)
    say: Progress = progress or (lambda _m: None)
    run = prepare(store, result, pool, family)
    if getattr(run.fam, "task", "classifier") == "regressor":  # committee variance, no refit
        from driftline.active.regression_round import queue_regression_round

        fields = queue_regression_round(store, result, pool, run.X_pool, run.X_div, oracle, s, say)
        out = ActiveLearningResult(
            repair_id=run.rid,
            start_id=run.drifted.id,
            final_id=run.drifted.id,
            final_ref=run.drifted.ref,
            deployment=result.deployment,
            refits=False,
            **fields,
        )
        if out.status == Status.WAITING_FOR_LABELS and result.status != RepairStatus.DEPLOYED:
            record_active(store, result, out, None, None, actor)  # as for a classifier
        return out
    prepare_classifier(run, validation, s)
    with single_thread():
        add_committee(run, s)
        state = _resume(run)
        _loop(run, state, oracle, s, say)
        return _finish(run, state, s, actor)
