"""A store's append-only records: training signatures, drift reports and deployments (part of
:class:`~driftline.store.Store`; the SQL is :mod:`~driftline.store.signatures` and
:mod:`~driftline.store.deployments`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from driftline.store import deployments as deps
from driftline.store import signatures as sigs
from driftline.store.base import StoreBase
from driftline.store.models import Model
from driftline.store.schema import models

if TYPE_CHECKING:
    from driftline.drift.report import DriftReport
    from driftline.drift.signature import Signature


class RecordStore(StoreBase):
    """Signatures, drift reports and deployments of a store."""

    # -- signatures and drift reports ------------------------------------------------------------
    def put_signature(self, signature: Signature) -> str:
        """Store a :class:`~driftline.drift.Signature` (once per content hash); return its id."""
        with self.write() as conn:
            return sigs.put_signature(conn, signature)

    def signature(self, ref_or_id: str | Model) -> Signature:
        """A model's training signature (by model reference), or a signature by its id."""
        with self.read() as conn:
            sid = sigs.stored_signature_id(conn, ref_or_id)
            if sid is None:
                sid = sigs.model_signature_id(conn, self.resolve(ref_or_id, conn))
            return sigs.get_signature(conn, sid)

    def attach_signature(self, ref: str | Model, signature: Signature) -> str:
        """Set a model's training signature."""
        with self.write() as conn:
            mid = self.resolve(ref, conn)
            sid = sigs.put_signature(conn, signature)
            conn.execute(sa.update(models).where(models.c.id == mid).values(signature_id=sid))
        return sid

    def save_drift_report(
        self, ref: str | Model, report: DriftReport, deployment: str | None = None
    ) -> int:
        """Append a drift report for a model; returns its id."""
        with self.write() as conn:
            return sigs.save_report(conn, self.resolve(ref, conn), report, deployment)

    def drift_reports(
        self, ref: str | Model | None = None, since: float | None = None, until: float | None = None
    ) -> list[dict[str, Any]]:
        """Stored drift reports (rows with the report JSON), oldest first."""
        with self.read() as conn:
            mid = self.resolve(ref, conn) if ref is not None else None
            return sigs.list_reports(conn, mid, since, until)

    # -- deployments --------------------------------------------------------------------------
    def deploy(
        self, ref: str | Model, name: str, *, reason: str = "", actor: str | None = None
    ) -> deps.DeploymentEvent:
        """Point deployment ``name`` at a model (one transaction, recorded in the history)."""
        with self.write() as conn:
            mid = self.resolve(ref, conn)
            return deps.switch(
                conn, name, mid, action="deploy", reason=reason, actor=actor or deps.default_actor()
            )

    def rollback_target(self, name: str) -> str:
        """The id of the model :meth:`rollback` would serve now."""
        with self.read() as conn:
            return deps.rollback_target(conn, name)

    def rollback(
        self, name: str, *, reason: str = "rollback", actor: str | None = None
    ) -> deps.DeploymentEvent:
        """Point ``name`` back at the model it served before its latest switch."""
        with self.write() as conn:
            target = deps.rollback_target(conn, name)
            return deps.switch(
                conn,
                name,
                target,
                action="rollback",
                reason=reason,
                actor=actor or deps.default_actor(),
            )

    def deployments(self) -> list[deps.Deployment]:
        with self.read() as conn:
            return deps.current(conn)

    def deployment_history(self, name: str | None = None) -> list[deps.DeploymentEvent]:
        with self.read() as conn:
            return deps.history(conn, name)

    def deployed_names(self) -> dict[str, list[str]]:
        """model id -> names of the deployments that serve it."""
        out: dict[str, list[str]] = {}
        for d in self.deployments():
            out.setdefault(d.model_id, []).append(d.name)
        return out
