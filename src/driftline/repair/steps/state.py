"""The typed state the repair steps pass along, and the step that builds it (:func:`start`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.drift import Signature
from driftline.drift.roles import check_labels
from driftline.params.identity import le_bytes
from driftline.repair.ancestors import AncestorRow, AncestorSearch
from driftline.repair.evaluation import Families, as_matrix
from driftline.repair.families import Predictor
from driftline.repair.model_input import (
    check_label_vocabulary,
    input_names,
    preflight,
    window_table,
)
from driftline.repair.policy import RepairPolicy
from driftline.repair.result import RepairResult
from driftline.statuses import RepairStatus
from driftline.store import Model, Store
from driftline.validation import check_same_length

Progress = Callable[[str], None]

__all__ = ["Labelled", "Progress", "RepairState", "WeightSpace", "resolve_target", "start"]


@dataclass(frozen=True)
class Labelled:
    """Validation data: named columns (``table``), the model's matrix ``X`` and labels ``y``."""

    table: Any
    X: np.ndarray
    y: np.ndarray

    def take(self, rows: np.ndarray) -> Labelled:
        """These rows only."""
        table = {k: np.asarray(v)[rows] for k, v in self.table.items()}
        return Labelled(table, self.X[rows], self.y[rows])


@dataclass
class WeightSpace:
    """The weight-space candidates of one repair (filled by ``weight_candidates``)."""

    family: Predictor
    theta_d: dict[str, np.ndarray]  # the drifted model as it serves
    theta_r: dict[str, np.ndarray]  # interpolated toward the ancestor at the chosen α
    theta_bn: dict[str, np.ndarray]  # statistics (BatchNorm) re-estimated on the window
    classes: np.ndarray
    rollback_ids: dict[str, str] = field(default_factory=dict)
    routed: Any = None  # a RoutedModel candidate, or None
    pick: str | None = None  # the row that clears the policy (labels only)
    #: candidate name -> its probabilities on labelled rows (held-out scoring, benchmarks)
    predictors: dict[str, Callable[[Labelled], np.ndarray]] = field(default_factory=dict)
    #: continued training: its parameters and the model it started from
    continued: dict[str, np.ndarray] | None = None
    continued_from: str | None = None


@dataclass
class RepairState:
    """Everything one repair knows so far; ``done`` ends the pipeline early."""

    store: Store
    policy: RepairPolicy
    family: Predictor | Families | None
    approve: bool
    actor: str
    say: Progress
    started: float
    drifted: Model
    deployment: str | None
    sig: Signature
    table: Any  # the window as named columns (drift checks)
    X_win: np.ndarray  # the window as the model's input matrix
    val: Labelled | None
    key: str
    result: RepairResult
    check: Any = None  # repair.concept.PerformanceCheck with labels
    search: AncestorSearch | None = None
    weights: WeightSpace | None = None
    choose_rows: Labelled | None = None  # labels that fit and choose (repair.selection)
    held: Labelled | None = None  # labels that only report (None: too few to hold out)
    done: bool = False

    @property
    def goal(self) -> AncestorRow:
        """The ancestor the repair moves toward (set by ``search_lineage``)."""
        assert self.search is not None and self.search.target is not None
        return self.search.target

    def finish(self, status: RepairStatus, message: str) -> RepairState:
        """End the pipeline here with ``status`` and ``message``."""
        self.result.status, self.result.message, self.done = status, message, True
        return self


def resolve_target(store: Store, target: str | Model) -> tuple[str, str | None]:
    """(model id, deployment name or None) for a deployment name or a model reference."""
    if isinstance(target, str) and not target.startswith("deployment:"):
        names = {d.name for d in store.deployments()}
        if target in names:
            return store.resolve(f"deployment:{target}"), target
    if isinstance(target, str) and target.startswith("deployment:"):
        return store.resolve(target), target.split(":", 1)[1]
    return store.resolve(target), None


def _digest(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.asarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(le_bytes(a) if a.dtype.kind != "O" else json.dumps(a.tolist()).encode())
    return h.hexdigest()


def repair_key(
    drifted_id: str, X_win: np.ndarray, val: Labelled | None, policy: RepairPolicy
) -> str:
    """sha256 of the drifted model, the window, the validation data and the policy."""
    X_val, y_val = (val.X, val.y) if val is not None else (None, None)
    payload = [drifted_id, _digest(X_win, X_val, y_val), policy.to_dict()]
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class Call:
    """The arguments of one ``repair()`` call (see its docstring)."""

    target: str | Model
    window: Any
    validation: tuple[Any, Any] | None
    policy: RepairPolicy
    family: Predictor | Families | None
    approve: bool | None
    actor: str
    progress: Progress | None


def start(store: Store, call: Call) -> RepairState:
    """Resolve the target, read window and validation data (a clear error before anything is
    stored), and compute the repair key."""
    started = time.perf_counter()
    policy = call.policy
    drifted_id, deployment = resolve_target(store, call.target)
    drifted = store.get(drifted_id)
    sig = store.signature(drifted_id)
    table = window_table(call.window, sig)  # drift checks see named columns, the model its inputs
    names = input_names(drifted, sig)
    X_win = as_matrix(table, names)
    val = None
    if call.validation is not None:
        val_table = window_table(call.validation[0], sig)
        X_val = as_matrix(val_table, names)
        y_val = np.asarray(call.validation[1])
        check_labels(sig, y_val, "validation")
        check_same_length(y_val, X_val, what="validation labels")
        val = Labelled(val_table, X_val, y_val)
    for X in (X_win, None if val is None else val.X):
        preflight(store, drifted, call.family, X)
    if val is not None:
        check_label_vocabulary(store, drifted, call.family, val.X, val.y)
    return RepairState(
        store=store,
        policy=policy,
        family=call.family,
        approve=policy.auto_deploy if call.approve is None else call.approve,
        actor=call.actor,
        say=call.progress or (lambda _msg: None),
        started=started,
        drifted=drifted,
        deployment=deployment,
        sig=sig,
        table=table,
        X_win=X_win,
        val=val,
        key=repair_key(drifted_id, X_win, val, policy),
        result=RepairResult(RepairStatus.NO_DRIFT, drifted_id, deployment=deployment),
    )
