"""The ``driftline`` command (Typer + Rich). User errors print one line and exit 2.

Startup is kept short: command modules import only Typer, Rich and light driftline modules at
the top; the store, NumPy, SciPy, scikit-learn and the rest load inside the command that needs
them (``tests/cli/test_cli_startup.py`` checks that ``--help`` loads none of them)."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from rich.markup import escape

from driftline.cli import lineage as lineage_cmds
from driftline.cli.common import STATE, err_console
from driftline.cli.guard import ABORT, CLICK_ERROR, NO_ARGS, USAGE, error_line, guard_numbers
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
        None,
        "--store",
        "-s",
        envvar="DRIFTLINE_STORE",
        help="store folder, or a database URL (postgresql+psycopg://user@host/db)",
    ),
    blobs: str = typer.Option(
        None,
        "--blobs",
        help="tensor blobs: folder or fsspec URL (s3://bucket/prefix), recorded "
        "in the store's database on first use",
    ),
    quiet: bool = typer.Option(
        False,
        "--quiet",
        "-q",
        help="no progress bars or step lines (bars only ever show on a terminal)",
    ),
) -> None:
    STATE["store"] = store or None
    STATE["blobs"] = blobs
    STATE["quiet"] = quiet


lineage_cmds.register_commands(app)

from driftline.cli import extra as _extra  # noqa: E402  (commands from later modules)

_extra.register_commands(app)

from driftline.cli import maintenance as _maintenance  # noqa: E402

_maintenance.register_commands(app)

from driftline.cli import calibrate as _calibrate  # noqa: E402

_calibrate.register_commands(app)


_COMMAND: Any = None


def command() -> Any:
    """The Click command behind ``app``, built once, numeric options range-checked."""
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = guard_numbers(typer.main.get_command(app))
    return _COMMAND


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return its exit code. Every error, usage errors included, prints
    one line on stderr and gives 2 (a :class:`DriftlineError` its own code); set
    ``DRIFTLINE_DEBUG=1`` to see the traceback of an unexpected error."""
    try:
        # without standalone mode an Exit(code) comes back as the return value
        rv = command().main(args=argv, prog_name="driftline", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except NO_ARGS as exc:
        print(exc.format_message())  # type: ignore[attr-defined]
        return 0
    except USAGE as exc:
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "driftline"
        return _fail(f"{error_line(exc.format_message())} (see '{where} --help')")  # type: ignore[attr-defined]
    except ABORT:
        return _fail("aborted")
    except CLICK_ERROR as exc:
        return _fail(error_line(exc.format_message()), exc.exit_code)  # type: ignore[attr-defined]
    except DriftlineError as exc:
        return _fail(error_line(exc), exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("DRIFTLINE_DEBUG"):
            raise
        return _fail(f"{type(exc).__name__}: {error_line(exc) or 'no details'}")
    return 0


def _fail(message: str, code: int = 2) -> int:
    err_console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True, highlight=False)
    return code


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
