"""CLI commands for deployments: deploy, deployments, rollback."""

from __future__ import annotations

import typer
from rich.table import Table

from driftline.cli.common import console, open_store, print_json, when


def deploy(
    ref: str = typer.Argument(..., help="model reference"),
    as_: str = typer.Option(..., "--as", help="deployment name"),
    reason: str = typer.Option("", "--reason", help="why (kept in the history)"),
    actor: str = typer.Option(None, "--actor", help="who (default: the current user)"),
) -> None:
    """Point a deployment at a model (recorded in the deployment history)."""
    store = open_store()
    store.load(ref)  # every blob read and verified: a damaged model is never deployed
    event = store.deploy(ref, as_, reason=reason, actor=actor)
    console.print(f"deployment:{as_} → {store.get(event.model_id).ref}")


def deployments(
    history: str = typer.Option(None, "--history", help="show the history of this deployment"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List deployments (or one deployment's history)."""
    store = open_store()
    if history:
        events = store.deployment_history(history)
        if not events:  # the same one-line error as 'rollback NAME'
            from driftline.errors import UnknownReferenceError

            raise UnknownReferenceError(
                f"no deployment named {history!r}; see 'driftline deployments'"
            )
        if as_json:
            print_json([e.__dict__ for e in events])
            return
        t = Table(
            "#",
            "time",
            "action",
            "model",
            "previous",
            "actor",
            "reason",
            title=f"history of {history}",
        )
        for e in events:
            prev = store.get(e.previous_model_id).ref if e.previous_model_id else "-"
            t.add_row(
                str(e.id), when(e.at), e.action, store.get(e.model_id).ref, prev, e.actor, e.reason
            )
        console.print(t)
        return
    rows = store.deployments()
    if as_json:
        print_json([{**d.__dict__, "ref": store.get(d.model_id).ref} for d in rows])
        return
    t = Table("deployment", "model", "id", "since", title="deployments")
    for d in rows:
        m = store.get(d.model_id)
        t.add_row(d.name, m.ref, m.short_id, when(d.updated_at))
    console.print(t)


def rollback(
    name: str = typer.Argument(..., help="deployment name"),
    reason: str = typer.Option("rollback", "--reason", help="why"),
) -> None:
    """Point a deployment back at the model it served before its latest deploy."""
    store = open_store()
    store.load(store.rollback_target(name))  # never back to a damaged model
    event = store.rollback(name, reason=reason)
    console.print(f"deployment:{name} → {store.get(event.model_id).ref} (rolled back)")


def register_commands(app: typer.Typer) -> None:
    app.command()(deploy)
    app.command()(deployments)
    app.command()(rollback)
