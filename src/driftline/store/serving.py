"""What ``driftline serve`` keeps beside the lineage: served requests with their feedback labels
(table ``served_requests``) and the window signature behind a drift report
(``report_windows``), so report pages can plot reference-vs-window distributions.

Tables live in their own metadata and are created on first use (additive: older stores gain
them, nothing else changes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.store.schema import ensure_side_tables

_meta = sa.MetaData()

served_requests = sa.Table(
    "served_requests",
    _meta,
    sa.Column("request_id", sa.String(64), primary_key=True),
    sa.Column("deployment", sa.String(200), nullable=False, index=True),
    sa.Column("model_id", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("n_rows", sa.Integer, nullable=False),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("predictions", sa.JSON, nullable=False),
    sa.Column("confidence", sa.JSON, nullable=False),
    sa.Column("labels", sa.JSON, nullable=True),
    sa.Column("labelled_at", sa.Float, nullable=True),
)

report_windows = sa.Table(
    "report_windows",
    _meta,
    sa.Column("report_id", sa.Integer, primary_key=True),
    sa.Column("signature_id", sa.String(64), nullable=False),
)


def ensure_tables(engine: sa.Engine) -> None:
    ensure_side_tables(engine, _meta)


@dataclass(frozen=True)
class ServedRequest:
    """One answered predict call (rows, predictions, max-probability confidence, labels)."""

    request_id: str
    deployment: str
    model_id: str
    at: float
    features: Any  # n × d rows (array or nested lists)
    predictions: list[Any]
    confidence: Any  # n values
    labels: list[Any] | None = None

    def row(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "deployment": self.deployment,
            "model_id": self.model_id,
            "at": self.at,
            "n_rows": len(self.predictions),
            "features": _plain(self.features),
            "predictions": self.predictions,
            "confidence": _plain(self.confidence),
            "labels": self.labels,
            "labelled_at": None,
        }


def _plain(x: Any) -> Any:
    return x.tolist() if hasattr(x, "tolist") else x


def insert_requests(engine: sa.Engine, rows: Sequence[ServedRequest]) -> None:
    """Append served requests in one transaction."""
    if rows:
        with engine.connect().execution_options(write=True) as conn, conn.begin():
            conn.execute(sa.insert(served_requests), [r.row() for r in rows])


def get_request(engine: sa.Engine, request_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(served_requests).where(served_requests.c.request_id == request_id)
        ).first()
    if row is None:
        raise UnknownReferenceError(
            f"no served request {request_id!r}; use the request_id a predict response returned"
        )
    return dict(row._mapping)


def set_labels(engine: sa.Engine, request_id: str, labels: Sequence[Any]) -> dict[str, Any]:
    """Attach one label per row (None: no label for that row) to a served request."""
    req = get_request(engine, request_id)
    if len(labels) != req["n_rows"]:
        raise InvalidInputError(
            f"request {request_id} served {req['n_rows']} row(s) but got {len(labels)} label(s); "
            "send one label per row (null for rows without one)"
        )
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(
            sa.update(served_requests)
            .where(served_requests.c.request_id == request_id)
            .values(labels=list(labels), labelled_at=time.time())
        )
    return {**req, "labels": list(labels)}


def requests_of(
    engine: sa.Engine, deployment: str, *, labelled_only: bool = False, limit: int = 10_000
) -> list[dict[str, Any]]:
    """The newest served requests of a deployment (oldest first)."""
    q = sa.select(served_requests).where(served_requests.c.deployment == deployment)
    if labelled_only:
        q = q.where(served_requests.c.labelled_at.is_not(None))
    q = q.order_by(served_requests.c.at.desc()).limit(limit)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    return rows[::-1]


def performance(engine: sa.Engine, deployment: str) -> list[dict[str, Any]]:
    """Per served model, in serving order: rows served, estimated accuracy (mean max
    probability, label-free) and realised accuracy on the rows with feedback labels."""
    out: dict[str, dict[str, Any]] = {}
    for r in requests_of(engine, deployment, limit=100_000):
        m = out.setdefault(
            r["model_id"],
            {
                "model_id": r["model_id"],
                "first_at": r["at"],
                "last_at": r["at"],
                "rows": 0,
                "conf": 0.0,
                "labelled": 0,
                "correct": 0,
            },
        )
        m["last_at"] = r["at"]
        m["rows"] += r["n_rows"]
        m["conf"] += sum(r["confidence"])
        for pred, lab in zip(r["predictions"], r["labels"] or [], strict=False):
            if lab is not None:
                m["labelled"] += 1
                m["correct"] += int(str(pred) == str(lab))
    return [
        {
            "model_id": m["model_id"],
            "first_at": m["first_at"],
            "last_at": m["last_at"],
            "rows": m["rows"],
            "estimated_accuracy": m["conf"] / m["rows"] if m["rows"] else None,
            "labelled": m["labelled"],
            "accuracy": m["correct"] / m["labelled"] if m["labelled"] else None,
        }
        for m in out.values()
    ]


def save_window_signature(engine: sa.Engine, report_id: int, signature_id: str) -> None:
    """Remember which stored signature summarises the window of drift report ``report_id``."""
    ensure_tables(engine)
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        conn.execute(sa.delete(report_windows).where(report_windows.c.report_id == report_id))
        conn.execute(
            sa.insert(report_windows).values(report_id=report_id, signature_id=signature_id)
        )


def window_signature_id(engine: sa.Engine, report_id: int) -> str | None:
    ensure_tables(engine)
    with engine.connect() as conn:
        return conn.execute(
            sa.select(report_windows.c.signature_id).where(report_windows.c.report_id == report_id)
        ).scalar_one_or_none()


def reports_with_windows(engine: sa.Engine) -> set[int]:
    """Ids of the drift reports whose window signature is kept."""
    ensure_tables(engine)
    with engine.connect() as conn:
        return set(conn.execute(sa.select(report_windows.c.report_id)).scalars())
