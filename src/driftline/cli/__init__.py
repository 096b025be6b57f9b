"""The ``driftline`` command (Typer + Rich). User errors print one line and exit 2."""

from __future__ import annotations

import sys

import sqlalchemy.exc
import typer

from driftline.cli import lineage as lineage_cmds
from driftline.cli.common import STATE, err_console
from driftline.errors import DriftlineError

app = typer.Typer(
    name="driftline",
    help="Model lineage, drift agents and lineage-guided repair.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    store: str = typer.Option(  # str, not Path: a Path would fold the '//' of a database URL
        None, "--store", "-s", envvar="DRIFTLINE_STORE", help="store folder or database URL"
    ),
    blobs: str = typer.Option(
        None, "--blobs", help="tensor blobs: folder or fsspec URL (s3://bucket/prefix), recorded "
        "in the store's database on first use",
    ),
) -> None:
    STATE["store"] = str(store) if store is not None else None
    STATE["blobs"] = blobs


lineage_cmds.register_commands(app)

from driftline.cli import extra as _extra  # noqa: E402  (commands from later modules)

_extra.register_commands(app)


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit code. User errors print one line and give 2."""
    try:
        app(args=argv, prog_name="driftline")
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except DriftlineError as exc:
        err_console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return exc.exit_code
    except (OSError, sqlalchemy.exc.SQLAlchemyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        err_console.print(f"[red]error:[/red] {type(exc).__name__}: {first}", soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    return 0


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
