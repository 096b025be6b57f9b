"""What a refinement run reads and does not change: the drifted model and its family, the pool
as the model's input matrix (plus an embedding of every column for distances), validation data,
the classes, the lineage's parameters, the start model (:func:`~driftline.active.start.
best_start`) and the static committee (:func:`~driftline.active.members.static_committee`) with
its probabilities on the pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.active.members import Member, static_committee
from driftline.active.queue import LabelQueue
from driftline.active.settings import RefineSettings
from driftline.active.start import best_start
from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.repair.evaluation import Families, as_matrix, classes_of, family_for, score
from driftline.repair.families import Predictor
from driftline.repair.model_input import input_names, table_embedding
from driftline.repair.pipeline import RepairResult
from driftline.repair.vector import Params
from driftline.store import Store
from driftline.validation import check_same_length

__all__ = ["RunInputs", "add_committee", "prepare", "prepare_classifier"]


@dataclass
class RunInputs:
    """Everything a run reads and does not change (filled by :func:`prepare`, then for a
    classifier by :func:`prepare_classifier` and :func:`add_committee`)."""

    store: Store
    result: RepairResult
    rid: int
    pool: Any
    drifted: Any
    drifted_sig: Any
    fam: Predictor
    X_pool: np.ndarray
    X_div: np.ndarray
    val: tuple[np.ndarray, np.ndarray] | None = None
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0))
    theta_d: Params = field(default_factory=dict)
    theta_a: Params | None = None
    start: Member | None = None
    statics: list[Member] = field(default_factory=list)
    static_pool: list[np.ndarray] = field(default_factory=list)

    @property
    def queue(self) -> LabelQueue:
        return LabelQueue(self.store)

    def val_scores(self, params: Params) -> dict[str, float]:
        if self.val is None:
            return {}
        return score(
            self.fam.predict_proba(params, self.val[0]), self.val[1], self.classes
        ).to_dict()


def prepare(
    store: Store, result: RepairResult, pool: Any, family: Predictor | Families | None
) -> RunInputs:
    """The repair's drifted model, its family and the pool as the model's input matrix."""
    if result.repair_id is None:
        raise InvalidInputError("the repair result has no id: run repair(...) first (it stores it)")
    drifted = store.get(result.drifted_id)
    fam = family_for(drifted, family)
    try:
        drifted_sig = store.signature(drifted.id)
    except UnknownReferenceError:  # no signature: take the pool as a plain array
        drifted_sig = None
    X_pool = as_matrix(pool, input_names(drifted, drifted_sig))
    # distances for diversity / cold start over every column of a named pool, not only the
    # model's inputs (categories, booleans and dates included)
    X_div = table_embedding(pool, drifted_sig)
    X_div = X_pool if X_div is None else X_div
    if len(X_pool) == 0:
        raise InvalidInputError("the pool of unlabelled points is empty")
    rid = int(result.repair_id)
    return RunInputs(store, result, rid, pool, drifted, drifted_sig, fam, X_pool, X_div)


def prepare_classifier(
    run: RunInputs, validation: tuple[Any, Any] | None, settings: RefineSettings
) -> None:
    """Validation matrix, classes, the start model (best of the candidate table) and the
    static committee with its probabilities on the pool."""
    store, result = run.store, run.result
    if validation is not None:
        X_val = as_matrix(validation[0], input_names(run.drifted, run.drifted_sig))
        y_val = np.asarray(validation[1])
        check_same_length(y_val, X_val, what="validation labels")
        run.val = (X_val, y_val)
    run.theta_d = store.load(run.drifted.id)
    run.theta_a = store.load(result.ancestor_id) if result.ancestor_id else None
    start_id = result.repaired_id or run.drifted.id
    theta_s = store.load(start_id) if start_id != run.drifted.id else run.theta_d
    if set(theta_s) != set(run.theta_d):
        # a routed (composite) repair has no single parameter set to refine: start from the
        # drifted model; the α re-fit moves it toward the ancestor again
        start_id, theta_s = run.drifted.id, run.theta_d
    run.classes = classes_of(run.fam, run.fam.predict_proba(theta_s, run.X_pool[:1]).shape[1])
    hops = settings.committee_hops
    best = best_start(store, result, run.fam, set(run.theta_d), run.val, run.classes, hops)
    if best is not None:  # the best of the table: repair, drifted, ancestor or a lineage member
        start_id, theta_s = best[0], best[1]
    role = {result.repaired_id: "repaired", run.drifted.id: "drifted"}.get(start_id, "lineage")
    run.start = Member(role, store.get(start_id).ref, start_id, theta_s)


def add_committee(run: RunInputs, settings: RefineSettings) -> None:
    """The static committee and its probabilities on the pool."""
    assert run.start is not None
    run.statics = static_committee(
        run.store,
        run.result,
        run.fam,
        run.start,
        run.X_pool[:1],
        settings.committee_hops,
        settings.committee_size,
    )
    run.static_pool = [run.fam.predict_proba(m.params, run.X_pool) for m in run.statics]
