"""Deployments: a name pointing at one model, with an append-only history.

A switch (deploy or rollback) is one write transaction: the pointer row and its history row
change together, so a reader always sees a whole deployment.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass

import sqlalchemy as sa

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.store.names import NAME_MAX, check_name, check_text
from driftline.store.schema import deployment_history, deployments, inserted_id


@dataclass(frozen=True)
class Deployment:
    name: str
    model_id: str
    updated_at: float


@dataclass(frozen=True)
class DeploymentEvent:
    id: int
    name: str
    model_id: str
    previous_model_id: str | None
    action: str
    reason: str
    actor: str
    at: float


def default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # pragma: no cover - no user database in some containers
        return "unknown"


def switch(
    conn: sa.Connection, name: str, model_id: str, *, action: str, reason: str, actor: str
) -> DeploymentEvent:
    """Point ``name`` at ``model_id`` and append the history row (inside ``conn``'s transaction)."""
    check_name(name, "deployment name")
    check_text(reason, "reason")
    check_text(actor, "actor", NAME_MAX)
    now = time.time()
    prev = conn.execute(
        sa.select(deployments.c.model_id).where(deployments.c.name == name)
    ).scalar_one_or_none()
    if prev is None:
        conn.execute(sa.insert(deployments).values(name=name, model_id=model_id, updated_at=now))
    else:
        conn.execute(
            sa.update(deployments)
            .where(deployments.c.name == name)
            .values(model_id=model_id, updated_at=now)
        )
    res = conn.execute(
        sa.insert(deployment_history).values(
            name=name,
            model_id=model_id,
            previous_model_id=prev,
            action=action,
            reason=reason,
            actor=actor,
            at=now,
        )
    )
    return DeploymentEvent(inserted_id(res), name, model_id, prev, action, reason, actor, now)


def rollback_target(conn: sa.Connection, name: str) -> str:
    """The model served before the latest deploy that has not been rolled back yet.

    History is a stack: each deploy pushes the model it replaced, each rollback pops one, so
    repeated rollbacks walk further back instead of toggling between two models.
    """
    events = history(conn, name)
    if not events:
        raise UnknownReferenceError(f"no deployment named {name!r}; see 'driftline deployments'")
    stack: list[str | None] = []
    for e in events:
        if e.action == "rollback":
            if stack:
                stack.pop()
        else:
            stack.append(e.previous_model_id)
    if not stack or stack[-1] is None:
        raise InvalidInputError(
            f"deployment {name!r} has no earlier model to roll back to; deploy one explicitly"
        )
    return stack[-1]


def history(conn: sa.Connection, name: str | None = None) -> list[DeploymentEvent]:
    q = sa.select(deployment_history).order_by(deployment_history.c.id)
    if name:
        q = q.where(deployment_history.c.name == name)
    return [
        DeploymentEvent(
            r.id, r.name, r.model_id, r.previous_model_id, r.action, r.reason, r.actor, r.at
        )
        for r in conn.execute(q)
    ]


def current(conn: sa.Connection) -> list[Deployment]:
    rows = conn.execute(sa.select(deployments).order_by(deployments.c.name))
    return [Deployment(r.name, r.model_id, r.updated_at) for r in rows]
