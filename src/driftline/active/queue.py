"""The persistent label queue: requests for human labels and the answers, kept in the store.

A request is one pool point that a strategy found informative, for one repair:
``(point_hash, repair_id)`` is unique, where ``point_hash = SHA-256(row as float64
little-endian bytes)``. The row itself is stored as a JSON list of floats (JSON floats round-trip
float64 exactly, so the hash can be recomputed from the stored features). Status moves
``pending → labelled | skipped | cancelled``; a skipped request may still be labelled later, a
labelled one may be labelled again (the newest label wins; labels are append-only rows with value,
annotator and time). Every call commits its own transaction, so each answer survives a crash or a
restart the moment the call returns.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.jsonutil import jsonable as _jsonable
from driftline.store import Store
from driftline.store.schema import label_requests, labels

__all__ = ["STATUSES", "LabelQueue", "LabelRequest", "point_hash"]

#: Request statuses.
STATUSES: tuple[str, ...] = ("pending", "labelled", "skipped", "cancelled")


def point_hash(row: np.ndarray | Sequence[float]) -> str:
    """SHA-256 hex digest of a point's features as contiguous float64 little-endian bytes."""
    a = np.ascontiguousarray(np.asarray(row, dtype="<f8").reshape(-1))
    return hashlib.sha256(a.tobytes()).hexdigest()


@dataclass(frozen=True)
class LabelRequest:
    """One queued request, with its newest label (``label``/``annotator``/``labelled_at`` are
    None until it is labelled)."""

    id: int
    point_hash: str
    repair_id: int | None
    features: np.ndarray
    score: float
    strategy: str
    round: int
    status: str
    predictions: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    label: Any = None
    annotator: str | None = None
    labelled_at: float | None = None

    @property
    def predicted(self) -> Any:
        """The requesting model's predicted label, if it was recorded."""
        return self.predictions.get("label")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "point_hash": self.point_hash,
            "repair_id": self.repair_id,
            "features": self.features.tolist(),
            "score": self.score,
            "strategy": self.strategy,
            "round": self.round,
            "status": self.status,
            "predictions": self.predictions,
            "created_at": self.created_at,
            "label": self.label,
            "annotator": self.annotator,
            "labelled_at": self.labelled_at,
        }


def _repair_filter(col: sa.Column, repair_id: int | None) -> Any:
    return col.is_(None) if repair_id is None else col == int(repair_id)


def _check_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInputError("a label cannot be empty; use skip to pass on a point")
    if isinstance(value, float) and not np.isfinite(value):
        raise InvalidInputError(f"a label must be finite, got {value!r}")
    if not isinstance(value, str | int | float | bool):
        raise InvalidInputError(f"a label must be a string or a number, got {type(value).__name__}")
    return value


class LabelQueue:
    """Label requests and labels in a :class:`~driftline.store.Store` (tables
    ``label_requests`` and ``labels``)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- asking -------------------------------------------------------------------------------
    def request(
        self,
        points: np.ndarray,
        scores: Sequence[float] | np.ndarray,
        *,
        strategy: str,
        round: int,
        repair_id: int | None,
        predictions: Sequence[dict[str, Any]] | None = None,
    ) -> list[int]:
        """Queue ``points`` (``n × d``) for labelling; return one request id per row.

        A point already requested for the same repair is not queued again: its existing id is
        returned (a cancelled request is re-opened as pending; its score/strategy/round are kept).
        Repeated rows within ``points`` map to one request. One transaction for the batch.
        """
        X = np.asarray(points, dtype=np.float64)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2:
            raise InvalidInputError(f"points must be n × d, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise InvalidInputError("points contain NaN or infinite values; impute them first")
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        if s.shape[0] != X.shape[0]:
            raise InvalidInputError(f"{s.shape[0]} scores for {X.shape[0]} points")
        if predictions is not None and len(predictions) != X.shape[0]:
            raise InvalidInputError(f"{len(predictions)} predictions for {X.shape[0]} points")
        if not strategy or len(strategy) > 32:
            raise InvalidInputError("strategy must be a non-empty name of at most 32 characters")
        rid = None if repair_id is None else int(repair_id)
        ids: list[int] = []
        now = time.time()
        with self.store.write() as conn:
            for i, row in enumerate(X):
                h = point_hash(row)
                existing = conn.execute(
                    sa.select(label_requests.c.id, label_requests.c.status).where(
                        label_requests.c.point_hash == h,
                        _repair_filter(label_requests.c.repair_id, rid),
                    )
                ).first()
                if existing is not None:
                    if existing.status == "cancelled":
                        conn.execute(
                            sa.update(label_requests)
                            .where(label_requests.c.id == existing.id)
                            .values(status="pending")
                        )
                    ids.append(int(existing.id))
                    continue
                score = float(s[i]) if np.isfinite(s[i]) else 0.0
                res = conn.execute(
                    sa.insert(label_requests).values(
                        point_hash=h,
                        repair_id=rid,
                        features=row.tolist(),
                        score=score,
                        strategy=strategy,
                        round=int(round),
                        status="pending",
                        predictions=_jsonable(dict(predictions[i])) if predictions else {},
                        created_at=now,
                    )
                )
                ids.append(int(res.inserted_primary_key[0]))
        return ids

    # -- reading ------------------------------------------------------------------------------
    def _rows(self, where: list[Any]) -> list[LabelRequest]:
        latest = (
            sa.select(labels.c.request_id, sa.func.max(labels.c.id).label("label_id"))
            .where(labels.c.request_id.is_not(None))
            .group_by(labels.c.request_id)
            .subquery()
        )
        q = (
            sa.select(
                label_requests,
                labels.c.value.label("label_value"),
                labels.c.annotator.label("label_annotator"),
                labels.c.at.label("label_at"),
            )
            .select_from(
                label_requests.outerjoin(
                    latest, latest.c.request_id == label_requests.c.id
                ).outerjoin(labels, labels.c.id == latest.c.label_id)
            )
            .where(*where)
            .order_by(label_requests.c.id)
        )
        with self.store.read() as conn:
            rows = conn.execute(q).all()
        return [
            LabelRequest(
                id=int(r.id),
                point_hash=r.point_hash,
                repair_id=r.repair_id,
                features=np.asarray(r.features, dtype=np.float64),
                score=float(r.score),
                strategy=r.strategy,
                round=int(r.round),
                status=r.status,
                predictions=dict(r.predictions or {}),
                created_at=float(r.created_at),
                label=r.label_value,
                annotator=r.label_annotator,
                labelled_at=r.label_at,
            )
            for r in rows
        ]

    def requests(
        self, repair_id: int | None = None, status: str | Sequence[str] | None = None
    ) -> list[LabelRequest]:
        """Requests (oldest first), optionally for one repair and/or with given status(es)."""
        where: list[Any] = []
        if repair_id is not None:
            where.append(label_requests.c.repair_id == int(repair_id))
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            bad = [s for s in wanted if s not in STATUSES]
            if bad:
                raise InvalidInputError(
                    f"unknown status {bad[0]!r}; use one of: {', '.join(STATUSES)}"
                )
            where.append(label_requests.c.status.in_(wanted))
        return self._rows(where)

    def pending(self, repair_id: int | None = None) -> list[LabelRequest]:
        """Pending requests (all repairs when ``repair_id`` is None), oldest first."""
        return self.requests(repair_id, "pending")

    def get(self, request_id: int) -> LabelRequest:
        """One request by id (raises :class:`UnknownReferenceError` when there is none)."""
        rows = self._rows([label_requests.c.id == int(request_id)])
        if not rows:
            raise UnknownReferenceError(
                f"no label request #{request_id}; see 'driftline label list'"
            )
        return rows[0]

    def labelled(self, repair_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of every labelled request (newest label each), in request order."""
        rows = self.requests(repair_id, "labelled")
        if not rows:
            return np.zeros((0, 0)), np.zeros(0)
        X = np.vstack([r.features for r in rows])
        return X, np.asarray([r.label for r in rows])

    def counts(self, repair_id: int | None = None) -> dict[str, int]:
        """Number of requests per status."""
        q = sa.select(label_requests.c.status, sa.func.count()).group_by(label_requests.c.status)
        if repair_id is not None:
            q = q.where(label_requests.c.repair_id == int(repair_id))
        with self.store.read() as conn:
            found = {s: int(n) for s, n in conn.execute(q)}
        return {s: found.get(s, 0) for s in STATUSES}

    def repair_ids(self) -> list[int | None]:
        """Repairs that have requests."""
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(label_requests.c.repair_id)
                .distinct()
                .order_by(label_requests.c.repair_id)
            ).scalars()
            return list(rows)

    # -- answering ----------------------------------------------------------------------------
    def label(self, request_id: int, value: Any, annotator: str = "human") -> LabelRequest:
        """Record ``value`` as the label of a request (status → labelled), committed at once.

        Labelling a labelled request again appends a newer label; a cancelled request refuses.
        """
        value = _check_value(value)
        if not annotator or len(annotator) > 200:
            raise InvalidInputError("annotator must be a non-empty name of at most 200 characters")
        with self.store.write() as conn:
            row = conn.execute(
                sa.select(label_requests.c.status, label_requests.c.point_hash).where(
                    label_requests.c.id == int(request_id)
                )
            ).first()
            if row is None:
                raise UnknownReferenceError(
                    f"no label request #{request_id}; see 'driftline label list'"
                )
            if row.status == "cancelled":
                raise InvalidInputError(
                    f"label request #{request_id} was cancelled; it needs no label"
                )
            conn.execute(
                sa.insert(labels).values(
                    request_id=int(request_id),
                    point_hash=row.point_hash,
                    value=value,
                    annotator=annotator,
                    at=time.time(),
                )
            )
            conn.execute(
                sa.update(label_requests)
                .where(label_requests.c.id == int(request_id))
                .values(status="labelled")
            )
        return self.get(request_id)

    def _set_status(self, request_id: int, status: str, allowed: tuple[str, ...]) -> LabelRequest:
        with self.store.write() as conn:
            cur = conn.execute(
                sa.select(label_requests.c.status).where(label_requests.c.id == int(request_id))
            ).scalar_one_or_none()
            if cur is None:
                raise UnknownReferenceError(
                    f"no label request #{request_id}; see 'driftline label list'"
                )
            if cur != status:
                if cur not in allowed:
                    raise InvalidInputError(
                        f"label request #{request_id} is {cur}; only a request that is "
                        f"{' or '.join(allowed)} can be {status}"
                    )
                conn.execute(
                    sa.update(label_requests)
                    .where(label_requests.c.id == int(request_id))
                    .values(status=status)
                )
        return self.get(request_id)

    def skip(self, request_id: int) -> LabelRequest:
        """Pass on a pending request (status → skipped; it may still be labelled later)."""
        return self._set_status(request_id, "skipped", ("pending",))

    def cancel(self, request_id: int) -> LabelRequest:
        """Withdraw a request that is pending or skipped (status → cancelled)."""
        return self._set_status(request_id, "cancelled", ("pending", "skipped"))
