"""CLI commands: ``serve`` (the model server, REST API and dashboard), ``token`` (API tokens)
and ``report`` (the dashboard's views as one static HTML file)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from driftline.cli.common import STATE, console, open_store, print_json, when
from driftline.errors import OptionalDependencyError

token_app = typer.Typer(
    help="API tokens for 'driftline serve' (stored hashed).", no_args_is_help=True
)


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind (loopback by default)"),
    port: int = typer.Option(8000, "--port", help="TCP port"),
    public_read: bool = typer.Option(False, "--public-read", help="reads need no token"),
    window: int = typer.Option(5000, "--window", help="rows per drift-agent window"),
    drift_share: float = typer.Option(
        None, "--drift-share", help="share of features that must drift"
    ),
    auto_repair: bool = typer.Option(
        True, "--auto-repair/--no-auto-repair", help="run the repair policy when a window drifts"
    ),
    max_body_mb: float = typer.Option(8.0, "--max-body-mb", help="request body limit (MiB)"),
    cors: list[str] = typer.Option(None, "--cors-origin", help="allow this browser origin"),
) -> None:
    """Serve deployed models, their drift agents, the REST API and the dashboard."""
    try:
        import uvicorn

        from driftline.serve import ServeSettings, create_app
    except ImportError as exc:
        raise OptionalDependencyError(
            f"driftline serve needs the serve extra ({exc.name} is missing): "
            "pip install 'driftline[serve]'"
        ) from None
    open_store()  # fail early, with one line, on a missing store
    settings = ServeSettings(
        store=STATE["store"],
        host=host,
        port=port,
        public_read=public_read,
        window=window,
        drift_share=drift_share,
        auto_repair=auto_repair,
        max_body_bytes=int(max_body_mb * 1024 * 1024),
        cors_origins=tuple(cors or ()),
    )
    app = create_app(settings)
    console.print(f"driftline serve on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., "--role", help="read | write | admin"),
    name: str = typer.Option("", "--name", help="who or what uses it"),
    ttl: float = typer.Option(None, "--ttl-days", help="expire after this many days"),
) -> None:
    """Create a token; prints the secret once (only its SHA-256 is stored)."""
    from driftline.store.tokens import Role, create_token

    store = open_store()
    secret, info = create_token(
        store.engine, Role.parse(role), name, None if ttl is None else ttl * 86400
    )
    console.print(f"token #{info.id} ({info.role.name.lower()}), shown once:")
    print(secret)


@token_app.command("list")
def token_list(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List tokens (never their secrets)."""
    from driftline.store.tokens import list_tokens

    rows = list_tokens(open_store().engine)
    if as_json:
        print_json([t.to_dict() for t in rows])
        return
    t = Table("#", "name", "role", "created", "expires", "revoked", title="tokens")
    for r in rows:
        t.add_row(
            str(r.id),
            r.name,
            r.role.name.lower(),
            when(r.created_at),
            when(r.expires_at) if r.expires_at else "-",
            "yes" if r.revoked else "",
        )
    console.print(t)


@token_app.command("revoke")
def token_revoke(token_id: int = typer.Argument(..., help="token number")) -> None:
    """Revoke a token (it stops working at once)."""
    from driftline.store.tokens import revoke_token

    info = revoke_token(open_store().engine, token_id)
    console.print(f"token #{info.id} ({info.name}) revoked")


def report(
    target: str = typer.Argument(
        ..., help="drift report id, repair:N, deployment:NAME, a model reference, or all"
    ),
    output: Path = typer.Option(Path("report.html"), "--output", "-o", help="HTML file"),
) -> None:
    """Write the dashboard's views (report, repair, model, deployment) to one offline HTML."""
    from driftline.present.report import write_static_report

    path = write_static_report(open_store(), target, output)
    console.print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")


def register_commands(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(report)
    app.add_typer(token_app, name="token")
