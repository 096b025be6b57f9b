"""Training-data signatures: mergeable per-feature summaries with a stable content hash.

Per-feature summaries (moments + quantile sketch, or category counts) are in
:mod:`driftline.drift.summaries`; a signature adds column roles, the null calibration, merging
and the byte format.

Bytes (no pickle): ``b"DLSIG1"``, a little-endian u32 header length, a canonical JSON header
(sorted keys, exact float reprs), then each numeric feature's sketch bytes. ``id`` is the SHA-256
hex digest of those bytes; ``to_bytes(from_bytes(b)) == b``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from driftline.drift.columns import (
    Columns,
    array_names,
    as_categorical,
    as_numeric,
    column_kind,
    n_rows,
    to_columns,
)
from driftline.drift.roles import (
    RoleAssignment,
    RoleDecision,
    RoleSpec,
    assign_roles,
    roles_from_header,
    roles_to_header,
    split_columns,
)
from driftline.drift.sketch import QuantileSketch
from driftline.drift.summaries import (
    DEFAULT_MAX_CATEGORIES,
    OTHER,
    CategoricalSummary,
    FeatureSummary,
    NumericSummary,
    merge_summaries,
    summaries_from_bytes,
    summary_headers,
)
from driftline.errors import InvalidInputError, SchemaMismatchError

_MAGIC = b"DLSIG1"
#: the summary types and constants are re-exported: ``driftline.drift.signature`` stays their
#: documented home for callers
__all__ = [
    "DEFAULT_MAX_CATEGORIES",
    "OTHER",
    "CategoricalSummary",
    "FeatureSummary",
    "NumericSummary",
    "Signature",
]


# --------------------------------------------------------------------------- signature
class Signature:
    """Per-feature summary of a table; mergeable, serialisable, content-addressed.

    >>> sig = Signature.from_data({"age": [31, 45, 27, 52], "city": ["Oslo", "Rome", "Oslo", None]})
    >>> sig.n_rows, sig.feature_names, sig.kinds
    (4, ['age', 'city'], {'age': 'numeric', 'city': 'categorical'})
    >>> sig["age"].mean, sig["city"].counts, sig["city"].missing
    (38.75, {'Oslo': 2, 'Rome': 1}, 1)
    >>> Signature.from_bytes(sig.to_bytes()).id == sig.id
    True
    """

    def __init__(
        self,
        features: Mapping[str, FeatureSummary] | None = None,
        n_rows: int = 0,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
    ) -> None:
        self.features: dict[str, FeatureSummary] = dict(features or {})
        self.n_rows = int(n_rows)
        self.max_categories = int(max_categories)
        self._declared: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        #: non-feature columns (target, prediction, id, timestamp, ignored) and why
        self.roles: dict[str, RoleDecision] = {}
        #: summaries of the target / prediction columns (label and prediction drift)
        self.role_features: dict[str, FeatureSummary] = {}
        self._calibration: dict[str, Any] | None = None  # drift.calibration; None = compute

    # ------------------------------------------------------------------ building
    @classmethod
    def from_data(
        cls,
        data: Any,
        *,
        feature_names: list[str] | None = None,
        categorical: Iterable[str] | None = None,
        numeric: Iterable[str] | None = None,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
        batch_rows: int = 262_144,
        roles: RoleSpec | None = None,
        target: str | None = None,
        prediction: Iterable[str] | str | None = None,
        id: Iterable[str] | str | None = None,
        timestamp: Iterable[str] | str | None = None,
        ignore: Iterable[str] | str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Signature:
        """Summarise a whole table (any input :func:`to_columns` accepts).

        Column roles come from ``roles`` or the ``target`` / ``prediction`` / ``id`` /
        ``timestamp`` / ``ignore`` keywords, plus safe auto-detection
        (:func:`driftline.drift.roles.assign_roles`); only feature columns are drift-tested.
        ``progress(rows_done, rows_total)`` is called after each batch of ``batch_rows`` rows.
        """
        sig = cls(max_categories=max_categories)
        sig._declared = (frozenset(categorical or ()), frozenset(numeric or ()))
        cols = to_columns(data, feature_names, categorical=categorical, numeric=numeric)
        _check_declared(cols, sig._declared)
        spec = roles or RoleSpec.of(target, prediction, id, timestamp, ignore)
        sig.set_roles(assign_roles(cols, spec))
        n = n_rows(cols)
        if n == 0:
            sig._add_columns(cols)
        for start in range(0, n, batch_rows):
            sig._add_columns({k: v[start : start + batch_rows] for k, v in cols.items()})
            if progress is not None:
                progress(min(start + batch_rows, n), n)
        return sig

    @classmethod
    def from_batches(
        cls,
        batches: Iterable[Any],
        *,
        feature_names: list[str] | None = None,
        categorical: Iterable[str] | None = None,
        numeric: Iterable[str] | None = None,
        max_categories: int = DEFAULT_MAX_CATEGORIES,
    ) -> Signature:
        """Build in one pass over batches (each batch: any input :func:`to_columns` accepts)."""
        sig = cls(max_categories=max_categories)
        sig._declared = (frozenset(categorical or ()), frozenset(numeric or ()))
        for b in batches:
            sig.update(b, feature_names=feature_names)
        return sig

    @classmethod
    def from_dask(cls, ddf: Any, **kwargs: Any) -> Signature:
        """One signature per Dask partition, merged in partition order: bit-identical to the
        one-pass :func:`driftline.drift.dask_engine.from_partitions` over the same partitions."""
        from driftline.drift.dask_engine import signature_from_dask

        return signature_from_dask(ddf, **kwargs)

    def update(self, batch: Any, *, feature_names: list[str] | None = None) -> Signature:
        """Add a batch in place; its columns must match the features seen so far."""
        cat, num = self._declared
        if not cat and not num and self.features:
            cat = frozenset(k for k, f in self.features.items() if f.kind == "categorical")
            num = frozenset(k for k, f in self.features.items() if f.kind == "numeric")
        names = feature_names or array_names(batch, list(self.features))
        cols = to_columns(batch, names, categorical=cat, numeric=num)
        self._add_columns(cols)
        return self

    def set_roles(self, assignment: RoleAssignment) -> None:
        """Record the non-feature columns (before any rows are added)."""
        if self.n_rows:
            raise InvalidInputError("set column roles before adding rows")
        self.roles = dict(assignment.decisions)

    @property
    def target(self) -> str | None:
        """Name of the target (label) column recorded at training, if any."""
        return next((c for c, d in self.roles.items() if d.role == "target"), None)

    def _add_columns(self, cols: Columns) -> None:
        self._calibration = None  # the null calibration follows the data
        if self.roles:
            feats = [c for c in cols if c not in self.roles]
            cols, summarised = split_columns(cols, RoleAssignment(feats, self.roles))
            self._add_role_columns(summarised)
        if self.features:
            missing = [k for k in self.features if k not in cols]
            extra = [k for k in cols if k not in self.features]
            if missing or extra:
                raise SchemaMismatchError(
                    f"batch columns differ from the signature: missing {missing}, extra {extra}; "
                    "build one signature per schema"
                )
        for name, col in cols.items():
            feat = self.features.get(name)
            kind = column_kind(col)
            if feat is None:
                feat = (
                    NumericSummary()
                    if kind == "numeric"
                    else CategoricalSummary(max_categories=self.max_categories)
                )
                self.features[name] = feat
            elif feat.kind != kind:
                raise SchemaMismatchError(
                    f"feature {name!r} is {feat.kind} in the signature but {kind} in this batch; "
                    "declare its type with numeric=[...] or categorical=[...]"
                )
            feat.update(col)
        self.n_rows += n_rows(cols)

    def _add_role_columns(self, cols: Columns) -> None:
        for name, col in cols.items():
            feat = self.role_features.get(name)
            if feat is None and _is_class_label(self.roles[name].role, col):
                col = as_categorical(col)  # class labels: counts per class, unseen labels show
            if feat is None:
                feat = (
                    NumericSummary()
                    if column_kind(col) == "numeric"
                    else CategoricalSummary(max_categories=self.max_categories)
                )
                self.role_features[name] = feat
            elif feat.kind != column_kind(col):
                col = as_categorical(col) if feat.kind == "categorical" else as_numeric(col, name)
            feat.update(col)

    def merge(self, other: Signature) -> Signature:
        """Signature of the union of both tables (same features and kinds required)."""
        if not self.features:
            return Signature.from_bytes(other.to_bytes()) if other.features else Signature()
        if not other.features:
            return Signature.from_bytes(self.to_bytes())
        if list(self.features) != list(other.features):
            raise SchemaMismatchError(
                f"cannot merge signatures with different features: {list(self.features)} vs "
                f"{list(other.features)}"
            )
        feats: dict[str, FeatureSummary] = {}
        for name, a in self.features.items():
            b = other.features[name]
            if a.kind != b.kind:
                raise SchemaMismatchError(
                    f"cannot merge: feature {name!r} is {a.kind} in one signature and {b.kind} "
                    "in the other"
                )
            feats[name] = a.merge(b)  # type: ignore[arg-type]
        out = Signature(
            feats, self.n_rows + other.n_rows, max(self.max_categories, other.max_categories)
        )
        out.roles = {**other.roles, **self.roles}
        out.role_features = merge_summaries(self.role_features, other.role_features)
        return out

    @classmethod
    def merge_all(cls, signatures: Iterable[Signature]) -> Signature:
        """Merge many signatures left to right (pairwise)."""
        out: Signature | None = None
        for s in signatures:
            out = s if out is None else out.merge(s)
        if out is None:
            raise InvalidInputError("merge_all needs at least one signature")
        return out

    # ------------------------------------------------------------------ reading
    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    @property
    def kinds(self) -> dict[str, str]:
        return {k: f.kind for k, f in self.features.items()}

    def __getitem__(self, name: str) -> FeatureSummary:
        return self.features[name]

    def __repr__(self) -> str:
        return f"Signature(id={self.id[:12]}, rows={self.n_rows}, features={len(self.features)})"

    # ------------------------------------------------------------------ serialisation
    def _header_and_blobs(self) -> tuple[dict[str, Any], list[bytes]]:
        blobs: list[bytes] = []
        feats = summary_headers(self.features, blobs)
        head = {
            "format": 1,
            "n_rows": self.n_rows,
            "max_categories": self.max_categories,
            "features": feats,
        }
        if self.roles:  # absent for role-less signatures, so their ids do not change
            head["roles"] = roles_to_header(self.roles)
            head["role_features"] = summary_headers(self.role_features, blobs)
        from driftline.drift.calibration import calibration_header

        head.update(calibration_header(self))
        return head, blobs

    def to_bytes(self) -> bytes:
        """Canonical bytes (see module docstring)."""
        head, blobs = self._header_and_blobs()
        hb = json.dumps(head, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
        return b"".join([_MAGIC, struct.pack("<I", len(hb)), hb, *blobs])

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        if not isinstance(data, bytes | bytearray | memoryview) or not bytes(data[:6]) == _MAGIC:
            raise InvalidInputError("not a driftline signature (bad magic bytes)")
        data = bytes(data)
        (hl,) = struct.unpack_from("<I", data, len(_MAGIC))
        p = len(_MAGIC) + 4
        try:
            head = json.loads(data[p : p + hl])
        except ValueError as exc:
            raise InvalidInputError(f"corrupt signature header: {exc}") from exc
        p += hl
        feats, p = summaries_from_bytes(head["features"], data, p)
        role_feats, p = summaries_from_bytes(head.get("role_features", []), data, p)
        if p != len(data):
            raise InvalidInputError("corrupt signature: trailing or missing bytes")
        sig = cls(feats, int(head["n_rows"]), int(head["max_categories"]))
        sig.roles = roles_from_header(head.get("roles"))
        sig.role_features = role_feats
        return _with_calibration(sig, head)

    @property
    def id(self) -> str:
        """SHA-256 hex digest of :meth:`to_bytes` (the content address)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict; sketches are base64 of their bytes."""
        head, _ = self._header_and_blobs()
        for key, summaries in (("features", self.features), ("role_features", self.role_features)):
            for h, (name, f) in zip(head.get(key, []), summaries.items(), strict=True):
                h.pop("sketch_bytes", None)
                if isinstance(f, NumericSummary):
                    h["sketch"] = base64.b64encode(f.sketch.to_bytes()).decode()
                assert h["name"] == name
        head["id"] = self.id
        return head

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Signature:
        def summaries(hs: list[Mapping[str, Any]]) -> dict[str, FeatureSummary]:
            out: dict[str, FeatureSummary] = {}
            for h in hs:
                if h["kind"] == "numeric":
                    sk = QuantileSketch.from_bytes(base64.b64decode(h["sketch"]))
                    out[h["name"]] = NumericSummary.from_header(h, sk)
                else:
                    out[h["name"]] = CategoricalSummary.from_header(h)
            return out

        sig = cls(
            summaries(d["features"]),
            int(d["n_rows"]),
            int(d.get("max_categories", DEFAULT_MAX_CATEGORIES)),
        )
        sig.roles = roles_from_header(d.get("roles"))
        sig.role_features = summaries(d.get("role_features", []))
        return _with_calibration(sig, d)

    def summary(self) -> dict[str, dict[str, float]]:
        """Per-feature scalar statistics (for tables, edge ``data_stats`` and reports)."""
        out: dict[str, dict[str, float]] = {}
        for name, f in self.features.items():
            if isinstance(f, NumericSummary):
                q = f.sketch.quantiles([0.25, 0.5, 0.75]) if f.count else [math.nan] * 3
                out[name] = {
                    "count": f.count,
                    "missing": f.missing,
                    "mean": f.mean if f.count else math.nan,
                    "variance": f.variance,
                    "skewness": f.skewness,
                    "kurtosis": f.kurtosis,
                    "min": f.min,
                    "max": f.max,
                    "q25": float(q[0]),
                    "median": float(q[1]),
                    "q75": float(q[2]),
                }
            else:
                out[name] = {"count": f.count, "missing": f.missing, "categories": len(f.counts)}
        return out


def _check_declared(cols: Columns, declared: tuple[frozenset[str], frozenset[str]]) -> None:
    """Raise when a column declared categorical / numeric is not in the table (a typo would
    otherwise leave the real column with its inferred type)."""
    for kind, names in zip(("categorical", "numeric"), declared, strict=True):
        absent = sorted(n for n in names if n not in cols)
        if absent:
            have = ", ".join(list(cols)[:12]) + (", ..." if len(cols) > 12 else "")
            raise InvalidInputError(
                f"column(s) declared {kind} {', '.join(map(repr, absent))} not in the data; "
                f"its columns are {have}"
            )


def _is_class_label(role: str, col: np.ndarray) -> bool:
    """A numeric target whose values are all integers is a class label (kept as categories)."""
    if role != "target" or col.dtype.kind != "f":
        return False
    x = col[np.isfinite(col)]
    return bool(x.size) and bool(np.all(x == np.round(x))) and np.unique(x).size <= 100


def _with_calibration(sig: Signature, head: Mapping[str, Any]) -> Signature:
    """Attach the stored null calibration (see :mod:`driftline.drift.calibration`)."""
    from driftline.drift.calibration import read_calibration

    sig._calibration = read_calibration(head)
    return sig
