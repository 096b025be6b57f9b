"""Calibrate a stored model's label-free accuracy estimate from labelled data.

``driftline agent --estimate-accuracy`` (and the repair gate) read two model metrics; this
module writes them:

* ``cbpe`` — :class:`~driftline.drift.performance.CBPE` fitted on the model's probabilities for
  labelled ``data``: an isotonic map ``g`` from top-class probability to P(correct), and the
  reference accuracy (the realised accuracy on ``data``);
* ``lineage_cbpe`` — only when labelled rows of each regime are given (``regimes``: lineage
  member reference → a labelled table drawn from that member's training regime; labels are
  never invented): one map ``g_r`` per regime, fitted on *this* model's probabilities for that
  regime's rows, and the members' ids, whose training signatures give each row's regime
  posterior ``π_r(x) ∝ exp ℓ_r(x)`` (``{"parts": [CBPE dicts], "regimes": [model ids]}``).

The held-out check is honest: each table's rows are split in two halves at random (``seed``);
the calibrations are fitted on the first halves only, and on every second half the estimate
is compared with the realised accuracy ``(1/n) Σ 1{argmax_k p_ik = y_i}``. The lineage figure is
the one an agent reports (uniform regime prior, each row on its own). The stored calibrations
are then fitted on all rows.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.drift.performance import CBPE, LineageCBPE, PerformanceMetric, per_row_scores
from driftline.drift.tabular import Columns, read_table, to_columns
from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.repair.evaluation import classes_of, family_for
from driftline.repair.model_input import input_names, model_matrix, window_table
from driftline.store import Model, Store

#: label columns looked for when neither ``target`` nor the training signature names one
#: (the same names ``driftline repair`` looks for)
LABEL_NAMES = ("label", "y", "target", "class")
#: fewest labelled rows per table: each half must hold enough rows for an isotonic map
MIN_ROWS = 20


@dataclass(frozen=True)
class HeldOutCheck:
    """One table's second half: realised accuracy against the estimates fitted on first halves."""

    table: str  # "data" or the regime member's reference
    rows: int  # labelled rows in the table
    held_out: int  # rows in its second half
    realised_accuracy: float
    estimated_cbpe: float  # confidence-only estimate
    estimated_lineage: float | None = None  # lineage-aware estimate (when regimes were given)

    @property
    def estimate(self) -> float:
        """What the agent reports: the lineage figure when there is one, else CBPE's."""
        return self.estimated_cbpe if self.estimated_lineage is None else self.estimated_lineage

    @property
    def error(self) -> float:
        """``|estimate − realised accuracy|``."""
        return abs(self.estimate - self.realised_accuracy)

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "rows": self.rows,
            "held_out": self.held_out,
            "realised_accuracy": self.realised_accuracy,
            "estimated_cbpe": self.estimated_cbpe,
            "estimated_lineage": self.estimated_lineage,
            "estimate": self.estimate,
            "error": self.error,
        }


@dataclass
class CalibrationResult:
    """What :func:`calibrate_estimate` fitted and stored, with its held-out check."""

    model_id: str
    model_ref: str
    target: str
    cbpe: CBPE
    lineage: LineageCBPE | None = None
    regime_ids: list[str] = field(default_factory=list)
    regime_refs: list[str] = field(default_factory=list)
    checks: list[HeldOutCheck] = field(default_factory=list)
    stored: tuple[str, ...] = ()
    #: a ``lineage_cbpe`` from an earlier calibration stays (no regimes were given this time)
    lineage_kept: bool = False

    @property
    def mean_error(self) -> float:
        """Mean ``|estimate − realised|`` over the held-out halves of every table."""
        return float(np.mean([c.error for c in self.checks])) if self.checks else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "model": self.model_ref,
            "target": self.target,
            "stored": list(self.stored),
            "lineage_kept": self.lineage_kept,
            "cbpe": self.cbpe.to_dict(),
            "lineage_cbpe": None
            if self.lineage is None
            else {**self.lineage.to_dict(), "regimes": self.regime_ids},
            "regime_refs": self.regime_refs,
            "checks": [c.to_dict() for c in self.checks],
            "mean_error": self.mean_error,
        }


@dataclass
class _Labelled:
    """One labelled table with the model's probabilities for its rows."""

    name: str
    label: str  # the label column it was read from
    cols: Columns
    y: np.ndarray
    proba: np.ndarray
    correct: np.ndarray  # 1.0 where the model's top class is the label
    loglik: np.ndarray | None = None  # (rows, regimes): ℓ_r of each row


@dataclass
class _Predictor:
    """The stored model as ``table -> probabilities`` with its training signature."""

    model: Model
    signature: Any
    family: Any
    params: Any
    names: list[str] | None

    def proba(self, cols: Columns) -> np.ndarray:
        return np.asarray(
            self.family.predict_proba(self.params, model_matrix(cols, self.names)), np.float64
        )


def calibrate_estimate(
    store: Store,
    model_ref: str | Model,
    data: Any,
    *,
    target: str | None = None,
    regimes: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> CalibrationResult:
    """Fit and store the model metrics ``cbpe`` (and ``lineage_cbpe`` with ``regimes``).

    ``data`` and each regime table: a table (pandas / polars / arrow / column dict) or a path
    to a CSV / Parquet / JSON-lines file, holding the model's input columns and the label
    column ``target`` (default: the training signature's target, else label/y/target/class).
    Raises :class:`InvalidInputError` / :class:`UnknownReferenceError` for bad input."""
    from driftline.repair.pipeline import resolve_target

    model = store.get(resolve_target(store, model_ref)[0])
    pred = _predictor(store, model)
    main = _labelled(pred, "data", data, target)
    label = main.label
    members = _regime_members(store, model, regimes or {})
    tables = [_labelled(pred, ref, tab, label) for ref, (_, tab) in members.items()]
    sigs = [store.signature(mid) for mid, _ in members.values()]
    for t in (main, *tables) if sigs else ():
        t.loglik = _loglik(sigs, t)
    classes = classes_of(pred.family, main.proba.shape[1])
    checks = _held_out(main, tables, classes, seed)
    cbpe = CBPE.fit(main.proba, main.y, classes)
    lineage = LineageCBPE.fit([(t.proba, t.y) for t in tables], classes) if tables else None
    ids = [mid for mid, _ in members.values()]
    metrics: dict[str, Any] = {"cbpe": cbpe.to_dict()}
    if lineage is not None:
        metrics["lineage_cbpe"] = {**lineage.to_dict(), "regimes": ids}
    store.update_metrics(model.id, metrics)
    return CalibrationResult(
        model.id,
        model.ref,
        label,
        cbpe,
        lineage,
        ids,
        [store.get(mid).ref for mid in ids],
        checks,
        tuple(metrics),
        lineage is None and isinstance((model.metrics or {}).get("lineage_cbpe"), dict),
    )


def _predictor(store: Store, model: Model) -> _Predictor:
    signature = store.signature(model.id)
    fam = family_for(model)
    if str(getattr(fam, "task", "classifier")) != "classifier":
        raise InvalidInputError(
            f"model {model.ref} is a regressor: the label-free estimate is an accuracy "
            "(CBPE), for classifiers only"
        )
    return _Predictor(model, signature, fam, store.load(model.id), input_names(model, signature))


def _read(data: Any) -> Columns:
    if isinstance(data, str | os.PathLike):
        return read_table(data)
    return to_columns(data)


def _target_name(signature: Any, cols: Columns, target: str | None, where: str) -> str:
    """The label column: ``target``, else the signature's target, else a usual label name."""
    name = target or getattr(signature, "target", None)
    name = name or next((c for c in LABEL_NAMES if c in cols), None)
    if name is None:
        raise InvalidInputError(
            f"{where} has no label column; name it with --target (looked for the training "
            f"signature's target and {', '.join(LABEL_NAMES)})"
        )
    if name not in cols:
        raise InvalidInputError(
            f"{where} has no label column {name!r}; it has {', '.join(list(cols)[:12])}"
        )
    return name


def _labels(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(labels, mask of labelled rows): missing labels are left out, never guessed; whole
    floats become integers (as a CSV reads 0/1 labels)."""
    if raw.dtype.kind == "f":
        ok = np.isfinite(raw)
        y = raw[ok]
        return (y.astype(np.int64) if np.all(y == np.round(y)) else y), ok
    ok = np.array([v is not None for v in raw], dtype=bool) if raw.dtype == object else None
    return (raw, np.ones(len(raw), bool)) if ok is None else (raw[ok], ok)


def _labelled(pred: _Predictor, name: str, data: Any, target: str | None) -> _Labelled:
    """Read a table, split off its labels and predict its labelled rows."""
    from driftline.drift.roles import check_labels

    cols = _read(data)
    label = _target_name(pred.signature, cols, target, name)
    y, ok = _labels(np.asarray(cols.pop(label)))
    if len(y) < MIN_ROWS:
        raise InvalidInputError(
            f"{name}: {len(y)} labelled rows; calibration needs at least {MIN_ROWS}"
        )
    check_labels(pred.signature, y, name)
    cols = window_table({k: v[ok] for k, v in cols.items()}, pred.signature)
    proba = pred.proba(cols)
    classes = classes_of(pred.family, proba.shape[1])
    correct = per_row_scores(PerformanceMetric.ACCURACY, y, proba, classes)
    return _Labelled(name, label, cols, y, proba, correct)


def _regime_members(
    store: Store, model: Model, regimes: Mapping[str, Any]
) -> dict[str, tuple[str, Any]]:
    """``{reference: (member id, table)}``, each member of the model's lineage with a training
    signature (an error naming the reference otherwise)."""
    if not regimes:
        return {}
    family = {m.id for m in store.family(model.id)[0]}
    out: dict[str, tuple[str, Any]] = {}
    seen: dict[str, str] = {}
    for ref, table in regimes.items():
        mid = store.resolve(ref)
        if mid not in family:
            raise InvalidInputError(
                f"regime {ref!r} is not in the lineage of {model.ref}; give a member of its "
                "family tree (see 'driftline lineage')"
            )
        if mid in seen:
            raise InvalidInputError(f"regimes {seen[mid]!r} and {ref!r} name the same model")
        try:
            store.signature(mid)
        except UnknownReferenceError as exc:
            raise InvalidInputError(f"regime {ref!r}: {exc}") from None
        seen[mid] = ref
        out[ref] = (mid, table)
    return out


def _loglik(signatures: list[Any], table: _Labelled) -> np.ndarray:
    """``ℓ_r(x_i)`` of the table's rows under each regime's training signature."""
    from driftline.drift.likelihood import log_likelihood
    from driftline.errors import SchemaMismatchError

    try:
        return np.column_stack([log_likelihood(s, table.cols) for s in signatures])
    except SchemaMismatchError as exc:
        raise InvalidInputError(f"{table.name}: {exc}") from None


def _halves(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    return order[: n // 2], order[n // 2 :]


def _held_out(
    main: _Labelled, regimes: list[_Labelled], classes: np.ndarray, seed: int
) -> list[HeldOutCheck]:
    """Fit on every table's first half, check on its second half (module docstring)."""
    rng = np.random.default_rng(seed)
    tables = [main, *regimes]
    halves = [_halves(len(t.y), rng) for t in tables]
    fit = halves[0][0]
    cbpe = CBPE.fit(main.proba[fit], main.y[fit], classes)
    parts = [(t.proba[h[0]], t.y[h[0]]) for t, h in zip(regimes, halves[1:], strict=True)]
    lineage = LineageCBPE.fit(parts, classes) if parts else None
    checks = []
    for t, (_, held) in zip(tables, halves, strict=True):
        lin = None
        if lineage is not None and t.loglik is not None:
            lin = lineage.estimate(t.proba[held], t.loglik[held], iterations=0)
        checks.append(
            HeldOutCheck(
                t.name,
                len(t.y),
                len(held),
                float(t.correct[held].mean()),
                cbpe.estimate(t.proba[held]),
                lin,
            )
        )
    return checks
