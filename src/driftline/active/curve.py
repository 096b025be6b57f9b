"""Accuracy versus labels without a store: the benchmark curve of active learning.

Each round is :func:`~driftline.active.labelling.labelling_round` (the same round as the store
loop) with a simulated oracle answering at once, followed by :func:`~driftline.active.refit` on
all labels so far. Rounds follow :func:`schedule`; test accuracy is recorded at every checkpoint
and at 0 labels for the start model.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from driftline.active.labelling import RoundView, labelling_round
from driftline.active.oracles import SimulatedOracle
from driftline.active.refit import refit
from driftline.active.settings import RefineSettings, single_thread
from driftline.active.strategies import Selection
from driftline.repair.evaluation import classes_of, score
from driftline.repair.families import Predictor
from driftline.repair.vector import Params

__all__ = ["CURVE_SETTINGS", "LabelCurve", "accuracy_vs_labels", "schedule"]

#: The curve's defaults: no diversity step, no cold start, growing batches ``max(10, n/2)``.
CURVE_SETTINGS = RefineSettings(diversity=False, cold_start=None, batch=None)


@dataclass(frozen=True)
class LabelCurve:
    """Test accuracy after each checkpoint's number of labels (``labels[0] = 0``: the start
    model), with the validation accuracy and the mean seconds per round."""

    strategy: str
    diversity: bool
    labels: list[int]
    accuracy: list[float]
    val_accuracy: list[float]
    seconds_per_round: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def schedule(checkpoints: Sequence[int], settings: RefineSettings) -> list[int]:
    """Label counts after each round: batches of ``settings.batch_size(n)`` that land on every
    checkpoint."""
    out: list[int] = []
    n = 0
    for cp in sorted(set(int(c) for c in checkpoints if c > 0)):
        while n < cp:
            n = min(cp, n + max(1, int(settings.batch_size(n))))
            out.append(n)
    return out


@dataclass
class _Sim:
    """The simulation's state: committee probabilities on pool and validation, labels so far."""

    family: Predictor
    pool: np.ndarray
    validation: tuple[np.ndarray, np.ndarray] | None
    classes: np.ndarray
    static_pool: list[np.ndarray]
    static_val: list[np.ndarray]
    cur_pool: np.ndarray
    cur_val: np.ndarray | None
    labelled: np.ndarray
    y_lab: np.ndarray
    prev_pool: np.ndarray | None = None
    prev_val: np.ndarray | None = None
    times: list[float] = field(default_factory=list)

    def val_accuracy(self, proba: np.ndarray | None) -> float | None:
        if proba is None or self.validation is None:
            return None
        return score(proba, self.validation[1], self.classes).accuracy

    def members(self) -> list[np.ndarray]:
        prev = [self.prev_pool] if self.prev_pool is not None else []
        return [self.cur_pool, *prev, *self.static_pool]

    def weighing(self) -> tuple[list[np.ndarray], np.ndarray] | None:
        """Members' probabilities on labelled ∪ validation rows, with their labels."""
        if not len(self.labelled) and self.validation is None:
            return None
        rows = [[p[self.labelled]] for p in self.members()]
        y = [self.y_lab]
        if self.validation is not None:
            prev = [self.prev_val] if self.prev_val is not None else []
            vals = [self.cur_val, *prev, *self.static_val]
            for acc, v in zip(rows, vals, strict=True):
                acc.append(v)
            y.append(np.asarray(self.validation[1]))
        return [np.vstack(r) for r in rows], np.concatenate(y)

    def label(self, oracle: Callable[[np.ndarray], np.ndarray], sel: Selection) -> None:
        new_y = np.asarray(oracle(self.pool[sel.indices]))
        self.labelled = np.concatenate([self.labelled, sel.indices])
        self.y_lab = np.concatenate([self.y_lab, new_y]) if len(self.y_lab) else new_y

    def advance(self, params: Params) -> None:
        self.prev_pool, self.cur_pool = self.cur_pool, self.family.predict_proba(params, self.pool)
        if self.validation is not None:
            self.prev_val = self.cur_val
            self.cur_val = self.family.predict_proba(params, self.validation[0])


def _simulation(
    family: Predictor,
    start: Params,
    pool: np.ndarray,
    statics: Sequence[Params],
    validation: tuple[np.ndarray, np.ndarray] | None,
    label_dtype: np.dtype,
) -> _Sim:
    classes = classes_of(family, family.predict_proba(start, pool[:1]).shape[1])
    static_pool = [family.predict_proba(p, pool) for p in statics]
    static_val = (
        [family.predict_proba(p, validation[0]) for p in statics] if validation is not None else []
    )
    return _Sim(
        family,
        pool,
        validation,
        classes,
        static_pool,
        static_val,
        static_pool[0],
        static_val[0] if validation is not None else None,
        np.zeros(0, dtype=np.int64),
        np.zeros(0, dtype=label_dtype),
    )


def accuracy_vs_labels(
    family: Predictor,
    start: Params,
    pool: np.ndarray,
    oracle: SimulatedOracle | Callable[[np.ndarray], np.ndarray],
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    checkpoints: Sequence[int] = (10, 20, 50, 100, 200),
    drifted: Params | None = None,
    ancestor: Params | None = None,
    committee: Sequence[Params] = (),
    validation: tuple[np.ndarray, np.ndarray] | None = None,
    settings: RefineSettings = CURVE_SETTINGS,
    **changes: Any,
) -> LabelCurve:
    """Simulate active learning without a store: test accuracy versus the number of labels.

    The committee is the current model, the previous round's model, ``start``, ``drifted``,
    ``ancestor`` and ``committee``; ``oracle(X) -> y`` labels at once. ``settings`` (default
    :data:`CURVE_SETTINGS`, plus keyword ``changes`` of its fields such as ``strategy=``,
    ``cold_start=``, ``fine_tune_steps=``) choose the strategy, batches and re-fitting.
    """
    s = settings.with_changes(**changes)
    pool = np.asarray(pool, dtype=np.float64)
    X_test = np.asarray(X_test, dtype=np.float64)
    y_test = np.asarray(y_test)
    statics = [start, *(p for p in (drifted, ancestor) if p is not None), *committee]
    targets = set(int(c) for c in checkpoints)
    with single_thread():
        sim = _simulation(family, start, pool, statics, validation, y_test.dtype)

        def test_accuracy(params: Params) -> float:
            return score(family.predict_proba(params, X_test), y_test, sim.classes).accuracy

        labels_out, acc_out = [0], [test_accuracy(start)]
        val_out = [_nan_if_none(sim.val_accuracy(sim.cur_val))]
        for r, n_after in enumerate(schedule(checkpoints, s), start=1):
            t0 = time.perf_counter()
            view = RoundView(
                r,
                n_after - len(sim.labelled),
                sim.members(),
                pool,
                sim.labelled,
                len(sim.labelled),
                sim.val_accuracy(sim.cur_val),
                sim.classes,
                sim.weighing,
            )
            if labelling_round(view, s, lambda sel, _cold: sim.label(oracle, sel)) is None:
                break
            fit = refit(
                family,
                start,
                pool[sim.labelled],
                sim.y_lab,
                classes=sim.classes,
                drifted=drifted,
                ancestor=ancestor,
                validation=validation,
                window=pool,
                settings=s,
                seed=s.seed + r,
            )
            sim.advance(fit.params)
            sim.times.append(time.perf_counter() - t0)
            if len(sim.labelled) in targets:
                labels_out.append(int(len(sim.labelled)))
                acc_out.append(test_accuracy(fit.params))
                val_out.append(_nan_if_none(sim.val_accuracy(sim.cur_val)))
    per_round = float(np.mean(sim.times)) if sim.times else 0.0
    return LabelCurve(s.strategy, s.diversity, labels_out, acc_out, val_out, per_round)


def _nan_if_none(v: float | None) -> float:
    return float("nan") if v is None else v
