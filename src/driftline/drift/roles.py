"""Column roles: which columns of a table are features, the target, predictions, ids, timestamps
or ignored — declared by the user, or detected where that is safe.

Contract:

* only **feature** columns are drift-tested for the input verdict;
* **target** and **prediction** columns are summarised separately and give label / prediction
  drift when a window carries them; a window without them is fine;
* **id**, **timestamp** and **ignored** columns are carried, never tested, never schema drift.

Auto-detection (``RoleSpec.auto``, on by default) only decides what it can decide safely, and
every decision carries its reason (printed by the CLI, stored in the signature):

* target: a column named ``label`` or ``target`` (case-insensitive; not ``y``, often a
  coordinate), only when no target was declared and exactly one such column exists;
* prediction: a column named ``prediction``, ``predicted``, ``pred`` or ``score``;
* timestamp: a column named ``timestamp``, ``ts``, ``event_time`` or ``event_timestamp``;
* id: a categorical column whose non-missing values are nearly all distinct (distinct share
  ≥ ``ID_DISTINCT_SHARE`` over ≥ ``ID_MIN_ROWS`` rows), or an integer-valued numeric column
  whose values are all distinct *and* whose name looks like an id (``id``, ``*_id``, ``uuid``,
  ``key``). Such a column has a new value on every row; testing it would either always alarm
  (unseen share 1.0) or never (folded into "other") — neither says anything about the data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from driftline.drift.columns import Columns
from driftline.errors import InvalidInputError, SchemaMismatchError

ID_DISTINCT_SHARE = 0.95
ID_MIN_ROWS = 20
TARGET_NAMES = ("label", "target")
PREDICTION_NAMES = ("prediction", "predicted", "pred", "score")
TIMESTAMP_NAMES = ("timestamp", "ts", "event_time", "event_timestamp")
_ID_NAME = re.compile(r"(^|[_\-\s])(id|uuid|key)$|^id$|Id$|ID$")


class ColumnRole(StrEnum):
    """What a column is for."""

    FEATURE = "feature"
    TARGET = "target"
    PREDICTION = "prediction"
    ID = "id"
    TIMESTAMP = "timestamp"
    IGNORED = "ignored"


#: roles whose values are summarised beside the features (label / prediction drift)
SUMMARISED_ROLES = (ColumnRole.TARGET, ColumnRole.PREDICTION)


@dataclass(frozen=True)
class RoleSpec:
    """Declared roles (CLI ``--target/--prediction/--id/--timestamp/--ignore``, API keywords).

    ``auto`` lets :func:`assign_roles` detect roles of undeclared columns (see module docstring).
    """

    target: str | None = None
    prediction: tuple[str, ...] = ()
    id: tuple[str, ...] = ()
    timestamp: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    auto: bool = True

    @classmethod
    def of(
        cls,
        target: str | None = None,
        prediction: Iterable[str] | str | None = None,
        id: Iterable[str] | str | None = None,
        timestamp: Iterable[str] | str | None = None,
        ignore: Iterable[str] | str | None = None,
        auto: bool = True,
    ) -> RoleSpec:
        """Build from loose arguments (a single name or a list per role; None = none)."""
        return cls(
            target or None, _names(prediction), _names(id), _names(timestamp), _names(ignore), auto
        )

    def declared(self) -> dict[str, ColumnRole]:
        """Column -> role for every declared column; a column declared twice is an error."""
        out: dict[str, ColumnRole] = {}
        pairs: list[tuple[str, ColumnRole]] = [(n, ColumnRole.PREDICTION) for n in self.prediction]
        if self.target:
            pairs.insert(0, (self.target, ColumnRole.TARGET))
        pairs += [(n, ColumnRole.ID) for n in self.id]
        pairs += [(n, ColumnRole.TIMESTAMP) for n in self.timestamp]
        pairs += [(n, ColumnRole.IGNORED) for n in self.ignore]
        for name, role in pairs:
            if name in out and out[name] != role:
                raise InvalidInputError(
                    f"column {name!r} is declared both {out[name].value} and {role.value}; "
                    "give each column one role"
                )
            out[name] = role
        return out


def _names(v: Iterable[str] | str | None) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    return tuple(str(x) for x in v)


@dataclass(frozen=True)
class RoleDecision:
    """The role of one non-feature column and why (``declared`` or the detection rule)."""

    column: str
    role: ColumnRole
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role.value, "reason": self.reason}

    @classmethod
    def from_dict(cls, column: str, d: Mapping[str, Any]) -> RoleDecision:
        return cls(column, ColumnRole(d["role"]), str(d.get("reason", "")))


@dataclass
class RoleAssignment:
    """Roles of a table's columns: features in table order, decisions for the others."""

    features: list[str]
    decisions: dict[str, RoleDecision] = field(default_factory=dict)

    def columns_with(self, *roles: ColumnRole) -> list[str]:
        return [c for c, d in self.decisions.items() if d.role in roles]


def _id_like(name: str, col: np.ndarray) -> str | None:
    """The detection reason if ``col`` looks like an identifier, else None."""
    if col.dtype == object:
        vals = [v for v in col if v is not None]
        n = len(vals)
        if n < ID_MIN_ROWS:
            return None
        share = len(set(vals)) / n
        if share >= ID_DISTINCT_SHARE:
            return f"auto: {share:.0%} of {n} values distinct"
        return None
    x = col[np.isfinite(col)]
    if x.size < ID_MIN_ROWS or not _ID_NAME.search(name):
        return None
    if np.all(x == np.round(x)) and np.unique(x).size == x.size:
        return f"auto: id-like name, all {x.size} integer values distinct"
    return None


def _auto_by_name(names: Iterable[str], candidates: tuple[str, ...]) -> list[str]:
    want = set(candidates)
    return [n for n in names if n.lower() in want]


def assign_roles(cols: Columns, spec: RoleSpec | None = None) -> RoleAssignment:
    """Decide every column's role (declared first, then safe auto-detection).

    Raises :class:`SchemaMismatchError` when a declared column is not in the table.
    """
    spec = spec or RoleSpec()
    declared = spec.declared()
    absent = [c for c in declared if c not in cols]
    if absent:
        raise SchemaMismatchError(
            f"declared role column(s) {', '.join(absent)} not in the data; its columns are "
            f"{', '.join(list(cols)[:12])}"
        )
    decisions = {c: RoleDecision(c, r, "declared") for c, r in declared.items()}
    if spec.auto:
        free = [c for c in cols if c not in decisions]
        if spec.target is None:
            hits = _auto_by_name(free, TARGET_NAMES)
            if len(hits) == 1:
                decisions[hits[0]] = RoleDecision(hits[0], ColumnRole.TARGET, "auto: name")
        for role, cand in (
            (ColumnRole.PREDICTION, PREDICTION_NAMES),
            (ColumnRole.TIMESTAMP, TIMESTAMP_NAMES),
        ):
            for c in _auto_by_name([c for c in free if c not in decisions], cand):
                decisions[c] = RoleDecision(c, role, "auto: name")
        for c in cols:
            if c not in decisions:
                why = _id_like(c, cols[c])
                if why:
                    decisions[c] = RoleDecision(c, ColumnRole.ID, why)
    ordered = {c: decisions[c] for c in cols if c in decisions}
    return RoleAssignment([c for c in cols if c not in ordered], ordered)


def split_columns(cols: Columns, assignment: RoleAssignment) -> tuple[Columns, Columns]:
    """``(feature columns, target/prediction columns)`` of a table; other roles are dropped."""
    feats = {c: cols[c] for c in assignment.features if c in cols}
    summarised = {c: cols[c] for c in assignment.columns_with(*SUMMARISED_ROLES) if c in cols}
    return feats, summarised


def roles_from_header(d: Mapping[str, Any] | None) -> dict[str, RoleDecision]:
    """Decisions from a signature header's ``roles`` object (empty when absent)."""
    return {c: RoleDecision.from_dict(c, v) for c, v in (d or {}).items()}


def roles_to_header(decisions: Mapping[str, RoleDecision]) -> dict[str, dict[str, str]]:
    return {c: d.to_dict() for c, d in sorted(decisions.items())}


def window_roles(
    reference: Any, declared: RoleSpec | None = None, time_column: str | None = None
) -> dict[str, str]:
    """Column -> role of a window's non-feature columns: the reference signature's roles plus
    roles declared at comparison time (a declared column is never tested, never schema drift)
    and the column that times the windows (a timestamp, even if the signature summarised it).
    """
    out = {c: d.role.value for c, d in getattr(reference, "roles", {}).items()}
    if declared is not None:
        out.update({c: r.value for c, r in declared.declared().items()})
    if time_column is not None:
        out.setdefault(time_column, ColumnRole.TIMESTAMP.value)
    return out


def unseen_label_issues(label_drift: Mapping[str, Any], roles: Mapping[str, str]) -> list[Any]:
    """A schema issue ``unseen_labels`` per target column holding labels never seen in training
    (reported; the input verdict is unchanged)."""
    from driftline.drift.report import SchemaIssue

    out = []
    for name, f in label_drift.items():
        share = f.metrics.get("unseen", 0.0)
        if roles.get(name) == ColumnRole.TARGET and share == share and share > 0:
            n = int(f.metrics.get("n", 0))
            out.append(
                SchemaIssue(
                    name,
                    "unseen_labels",
                    f"{share:.1%} of labels were never seen in training",
                    round(share * n),
                )
            )
    return out


def check_labels(signature: Any, labels: Any, where: str = "the labels") -> None:
    """Raise :class:`InvalidInputError` when ``labels`` hold classes the training target never
    had (only for a categorical target recorded in ``signature``)."""
    target = getattr(signature, "target", None)
    summary = getattr(signature, "role_features", {}).get(target) if target else None
    if summary is None or summary.kind != "categorical":
        return
    from driftline.drift.columns import as_categorical

    seen = set(summary.counts)
    vals = as_categorical(np.asarray(labels))
    unseen = sorted({v for v in vals if v is not None and v not in seen})
    if unseen:
        raise InvalidInputError(
            f"{where}: label(s) {', '.join(unseen[:5])} of {target!r} never occur in the training "
            f"data (it has {', '.join(sorted(seen)[:10])}); fix the labels or retrain"
        )


def drop_role_columns(table: Any, signature: Any, spec: RoleSpec | None) -> Any:
    """``table`` (a column dict or a pandas DataFrame) without the columns ``spec`` declares
    as non-features that are not features of ``signature`` (a declared id / timestamp /
    ignored column never reaches drift tests)."""
    feats = set(getattr(signature, "feature_names", ()))
    drop = [n for n in (spec.declared() if spec is not None else {}) if n not in feats]
    if hasattr(table, "drop") and hasattr(table, "columns"):
        return table.drop(columns=[c for c in drop if c in table.columns])
    return {k: v for k, v in table.items() if k not in drop}


def input_schema(table: Any, signature: Any) -> dict[str, Any]:
    """A model's input schema as registered: every feature's name, raw dtype (as read, e.g.
    ``int64``, ``datetime64[s]``, ``bool``, ``str``), kind and, for categorical features, the
    training categories; plus the role columns (JSON-able, stored in the model's architecture).
    """
    dtypes = {}
    if hasattr(table, "dtypes") and hasattr(table, "columns"):  # pandas / polars
        dtypes = {str(c): str(t) for c, t in zip(table.columns, table.dtypes, strict=True)}
    elif isinstance(table, Mapping):
        dtypes = {str(c): str(np.asarray(v).dtype) for c, v in table.items()}
    feats = []
    for name, f in signature.features.items():
        entry: dict[str, Any] = {"name": name, "kind": f.kind, "dtype": dtypes.get(name)}
        if f.kind == "categorical":
            entry["categories"] = sorted(f.counts)
        feats.append(entry)
    return {"features": feats, "roles": {c: d.role.value for c, d in signature.roles.items()}}


def check_no_empty_features(signature: Any) -> None:
    """Raise :class:`InvalidInputError` naming feature columns that are empty in every row of
    the training data, or a table with no rows at all (nothing to compare a window with)."""
    if not signature.n_rows:
        raise InvalidInputError(
            "the training data has 0 rows: a signature of it would match any window; give the "
            "table the model was trained on"
        )
    empty = [n for n, f in signature.features.items() if f.total and f.count == 0]
    if empty:
        raise InvalidInputError(
            f"column(s) {', '.join(empty)} are empty in every row of the training data; leave "
            f"them out with --ignore {' --ignore '.join(empty)}"
        )
