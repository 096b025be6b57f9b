"""Training-data signatures and drift reports in the store.

The store keeps signature bytes (content-addressed, shared by every model trained on the same
data) and report JSON. It computes nothing: signatures and reports arrive built (statistics of
training data are computed before registration's write, :mod:`driftline.store.training_data`);
their types are imported from :mod:`driftline.drift` only to decode what is stored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from driftline.errors import UnknownReferenceError
from driftline.store.schema import drift_reports, inserted_id, models, signatures

if TYPE_CHECKING:
    from driftline.drift.report import DriftReport
    from driftline.drift.signature import Signature


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
    """Decode the stored signature ``sid``."""
    from driftline.drift.signature import Signature

    data = conn.execute(
        sa.select(signatures.c.data).where(signatures.c.id == sid)
    ).scalar_one_or_none()
    if data is None:
        raise UnknownReferenceError(f"no signature {sid[:12]} in the store")
    return Signature.from_bytes(bytes(data))


def stored_signature_id(conn: sa.Connection, ref: object) -> str | None:
    """``ref`` itself when it is the id of a stored signature, else None."""
    if not (isinstance(ref, str) and len(ref) == 64):
        return None
    q = sa.select(signatures.c.id).where(signatures.c.id == ref)
    return conn.execute(q).scalar_one_or_none()


def model_signature_id(conn: sa.Connection, mid: str) -> str:
    """The training signature id of model ``mid``; an error saying how to attach one if none."""
    row = conn.execute(
        sa.select(models.c.signature_id, models.c.name, models.c.version).where(models.c.id == mid)
    ).one()
    if row.signature_id is None:
        raise UnknownReferenceError(
            f"model {row.name}@{row.version} has no training signature; attach one with "
            "'driftline signature DATA --attach REF' or register(..., data=X_train)"
        )
    return str(row.signature_id)


def parent_signatures(conn: sa.Connection, parent_ids: Sequence[str]) -> dict[str, Signature]:
    """The training signature of each of ``parent_ids`` (model ids) that has one."""
    out: dict[str, Signature] = {}
    for pid in dict.fromkeys(parent_ids):
        sid = conn.execute(
            sa.select(models.c.signature_id).where(models.c.id == pid)
        ).scalar_one_or_none()
        if sid is not None:
            out[pid] = get_signature(conn, sid)
    return out


def save_report(
    conn: sa.Connection, model_id: str, report: DriftReport, deployment: str | None = None
) -> int:
    """Append ``report`` (its JSON, size, verdict and ranking score) for model ``model_id``."""
    from driftline.drift.report import drift_score  # the report's ranking key, defined beside it

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
    return inserted_id(res)


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
