"""Label requests and labels as stored rows (tables ``label_requests`` and ``labels``).

The store persists; the workflow (which points to ask, validation of values, oracles) lives in
:mod:`driftline.active.queue`. ``(point_hash, repair_id)`` is unique per request; labels are
append-only rows and a request's label is its newest one (highest ``labels.id``). Every write
function is one transaction, committed when it returns.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sqlalchemy as sa

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.statuses import LabelStatus
from driftline.store.schema import label_requests, labels

__all__ = [
    "LabelRequest",
    "NewRequest",
    "add_label",
    "add_requests",
    "count_by_status",
    "get_request",
    "read_requests",
    "repair_ids",
    "set_status",
]


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


@dataclass(frozen=True)
class NewRequest:
    """A request row to insert (the caller has validated and hashed the point)."""

    point_hash: str
    features: list[float]
    score: float
    predictions: dict[str, Any]


def _unknown(request_id: int) -> UnknownReferenceError:
    return UnknownReferenceError(f"no label request #{request_id}; see 'driftline label list'")


def _repair_filter(col: sa.Column, repair_id: int | None) -> Any:
    return col.is_(None) if repair_id is None else col == int(repair_id)


def add_requests(
    store: Any, rows: Sequence[NewRequest], *, strategy: str, round: int, repair_id: int | None
) -> list[int]:
    """Insert ``rows`` (one transaction); return one request id per row.

    A point already requested for the same repair is not inserted again: its id is returned and
    a cancelled request is re-opened as pending (its score/strategy/round are kept)."""
    ids: list[int] = []
    now = time.time()
    with store.write() as conn:
        for row in rows:
            existing = conn.execute(
                sa.select(label_requests.c.id, label_requests.c.status).where(
                    label_requests.c.point_hash == row.point_hash,
                    _repair_filter(label_requests.c.repair_id, repair_id),
                )
            ).first()
            if existing is not None:
                if existing.status == LabelStatus.CANCELLED:
                    conn.execute(
                        sa.update(label_requests)
                        .where(label_requests.c.id == existing.id)
                        .values(status=LabelStatus.PENDING.value)
                    )
                ids.append(int(existing.id))
                continue
            res = conn.execute(
                sa.insert(label_requests).values(
                    point_hash=row.point_hash,
                    repair_id=repair_id,
                    features=row.features,
                    score=row.score,
                    strategy=strategy,
                    round=int(round),
                    status=LabelStatus.PENDING.value,
                    predictions=row.predictions,
                    created_at=now,
                )
            )
            ids.append(int(res.inserted_primary_key[0]))
    return ids


def read_requests(
    store: Any,
    *,
    repair_id: int | None = None,
    statuses: Sequence[str] | None = None,
    request_id: int | None = None,
) -> list[LabelRequest]:
    """Requests (oldest first) with their newest label, filtered by repair, status and id."""
    where: list[Any] = []
    if repair_id is not None:
        where.append(label_requests.c.repair_id == int(repair_id))
    if statuses is not None:
        where.append(label_requests.c.status.in_([str(s) for s in statuses]))
    if request_id is not None:
        where.append(label_requests.c.id == int(request_id))
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
            label_requests.outerjoin(latest, latest.c.request_id == label_requests.c.id).outerjoin(
                labels, labels.c.id == latest.c.label_id
            )
        )
        .where(*where)
        .order_by(label_requests.c.id)
    )
    with store.read() as conn:
        rows = conn.execute(q).all()
    return [_entity(r) for r in rows]


def get_request(store: Any, request_id: int) -> LabelRequest:
    """One request by id (raises :class:`UnknownReferenceError` when there is none)."""
    rows = read_requests(store, request_id=request_id)
    if not rows:
        raise _unknown(request_id)
    return rows[0]


def _entity(r: Any) -> LabelRequest:
    return LabelRequest(
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


def count_by_status(store: Any, repair_id: int | None = None) -> dict[str, int]:
    """Number of requests per status (every :class:`LabelStatus`, zeros included)."""
    q = sa.select(label_requests.c.status, sa.func.count()).group_by(label_requests.c.status)
    if repair_id is not None:
        q = q.where(label_requests.c.repair_id == int(repair_id))
    with store.read() as conn:
        found = {s: int(n) for s, n in conn.execute(q)}
    return {s.value: found.get(s.value, 0) for s in LabelStatus}


def repair_ids(store: Any) -> list[int | None]:
    """Repairs that have requests."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(label_requests.c.repair_id).distinct().order_by(label_requests.c.repair_id)
        ).scalars()
        return list(rows)


def add_label(store: Any, request_id: int, value: Any, annotator: str) -> None:
    """Append a label row for a request and mark it labelled (one transaction).

    Raises :class:`UnknownReferenceError` for an unknown id and refuses a cancelled request."""
    with store.write() as conn:
        row = conn.execute(
            sa.select(label_requests.c.status, label_requests.c.point_hash).where(
                label_requests.c.id == int(request_id)
            )
        ).first()
        if row is None:
            raise _unknown(request_id)
        if row.status == LabelStatus.CANCELLED:
            raise InvalidInputError(f"label request #{request_id} was cancelled; it needs no label")
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
            .values(status=LabelStatus.LABELLED.value)
        )


def set_status(
    store: Any, request_id: int, status: LabelStatus, allowed: Sequence[LabelStatus]
) -> None:
    """Move a request to ``status`` if it is in one of ``allowed`` (already there: no change)."""
    with store.write() as conn:
        cur = conn.execute(
            sa.select(label_requests.c.status).where(label_requests.c.id == int(request_id))
        ).scalar_one_or_none()
        if cur is None:
            raise _unknown(request_id)
        if cur == status:
            return
        if cur not in allowed:
            raise InvalidInputError(
                f"label request #{request_id} is {cur}; only a request that is "
                f"{' or '.join(allowed)} can be {status}"
            )
        conn.execute(
            sa.update(label_requests)
            .where(label_requests.c.id == int(request_id))
            .values(status=status.value)
        )
