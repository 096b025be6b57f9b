"""Training-data signatures and drift reports in the store.

The store keeps signature bytes (content-addressed, shared by every model trained on the same
data) and report JSON; the statistics themselves are computed in :mod:`driftline.drift`,
imported lazily here so the store works without touching data.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.store.schema import drift_reports, models, signatures

if TYPE_CHECKING:
    from driftline.drift import DriftReport, Signature
    from driftline.store.models import Model
    from driftline.store.store import Store


def put_signature(conn: sa.Connection, sig: Signature) -> str:
    """Insert the signature's bytes once (keyed by its content hash) and return the id."""
    data = sig.to_bytes()
    sid = sig.id
    exists = conn.execute(sa.select(signatures.c.id).where(signatures.c.id == sid)).first()
    if exists is None:
        conn.execute(
            sa.insert(signatures).values(
                id=sid,
                data=data,
                n_features=len(sig.features),
                n_rows=int(sig.n_rows),
                created_at=time.time(),
            )
        )
    return sid


def get_signature(conn: sa.Connection, sid: str) -> Signature:
    from driftline.drift import Signature

    data = conn.execute(
        sa.select(signatures.c.data).where(signatures.c.id == sid)
    ).scalar_one_or_none()
    if data is None:
        raise UnknownReferenceError(f"no signature {sid[:12]} in the store")
    return Signature.from_bytes(bytes(data))


def training_schema(data: Any, signature: Any, architecture: dict[str, Any]) -> Any:
    """Record the input schema of ``data`` (names, dtypes, categories, roles: as
    ``driftline register --data``) in ``architecture`` unless it has one; return the signature
    (built from ``data`` when not given)."""
    from driftline.drift import Signature
    from driftline.drift.roles import input_schema

    if signature is None:
        signature = Signature.from_data(data)
    if "input_schema" not in architecture and isinstance(signature, Signature):
        architecture["input_schema"] = input_schema(data, signature)
    return signature


def attach_training_data(
    store: Store, data: Any, signature: Any, parents: Sequence[str | Model]
) -> tuple[str, dict[str, Any]]:
    """Summarise ``data`` (or take ``signature``), store it, and build the edge's ``data_stats``:
    the data's per-feature moments and its drift against each parent's training signature."""
    from driftline.drift import Signature, compare, drift_score

    if signature is None:
        signature = Signature.from_data(data)
    if not isinstance(signature, Signature):
        raise InvalidInputError("signature= must be a driftline.drift.Signature")
    stats: dict[str, Any] = {"signature_id": signature.id, "n_rows": int(signature.n_rows)}
    stats["moments"] = signature.summary()
    drift: dict[str, Any] = {}
    with store.write() as conn:
        sid = put_signature(conn, signature)
        for p in parents:
            pid = store.resolve(p, conn)
            psig_id = conn.execute(
                sa.select(models.c.signature_id).where(models.c.id == pid)
            ).scalar_one()
            if psig_id is None or data is None:
                continue
            report = compare(get_signature(conn, psig_id), data)
            drift[pid] = {
                "parent_signature_id": psig_id,
                "drift": bool(report.drift),
                "score": float(drift_score(report)),
                "drifted_features": report.drifted_features,
                "n_features": len(report.features),
                "max": {
                    m: max(report.metric(m).values(), default=None)
                    for m in ("psi", "ks", "kl", "js")
                },
            }
    if drift:
        stats["drift_vs_parent"] = drift
    return sid, stats


def save_report(
    conn: sa.Connection, model_id: str, report: DriftReport, deployment: str | None = None
) -> int:
    from driftline.drift import drift_score

    res = conn.execute(
        sa.insert(drift_reports).values(
            model_id=model_id,
            deployment=deployment,
            created_at=time.time(),
            n_rows=int(report.n_rows),
            drift=bool(report.drift),
            score=float(drift_score(report)),
            report=report.to_dict(),
        )
    )
    return int(res.inserted_primary_key[0])


def list_reports(
    conn: sa.Connection, model_id: str | None, since: float | None, until: float | None
) -> list[dict[str, Any]]:
    q = sa.select(drift_reports).order_by(drift_reports.c.id)
    if model_id:
        q = q.where(drift_reports.c.model_id == model_id)
    if since is not None:
        q = q.where(drift_reports.c.created_at >= since)
    if until is not None:
        q = q.where(drift_reports.c.created_at <= until)
    return [dict(r._mapping) for r in conn.execute(q)]
