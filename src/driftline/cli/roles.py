"""The column-role flags shared by ``signature``, ``drift``, ``agent``, ``repair`` and
``register --data``: ``--target``, ``--prediction``, ``--id``, ``--timestamp``, ``--ignore``."""

from __future__ import annotations

from typing import Any

import typer

TARGET = typer.Option(None, "--target", help="label column (recorded; gives label drift)")
PREDICTION = typer.Option(None, "--prediction", help="prediction/score column (repeatable)")
ID = typer.Option(None, "--id", help="identifier column: carried, never tested (repeatable)")
TIMESTAMP = typer.Option(None, "--timestamp", help="timestamp column: never tested (repeatable)")
IGNORE = typer.Option(None, "--ignore", help="column to leave out of drift tests (repeatable)")
NO_AUTO = typer.Option(
    False, "--no-auto-roles", help="no role auto-detection (ids by distinct values, label names)"
)


def role_spec(
    target: str | None,
    prediction: list[str] | None,
    id: list[str] | None,
    timestamp: list[str] | None,
    ignore: list[str] | None,
    no_auto: bool = False,
) -> Any:
    """A :class:`~driftline.drift.roles.RoleSpec` from the CLI flags."""
    from driftline.drift.roles import RoleSpec

    return RoleSpec.of(target, prediction, id, timestamp, ignore, auto=not no_auto)


def print_roles(signature: Any, console: Any) -> None:
    """One dim line per non-feature column of a signature, and a hint when no target is set."""
    for name, d in signature.roles.items():
        console.print(f"[dim]  {name}: {d.role.value} ({d.reason}), not drift-tested[/dim]")
    if signature.target is None:
        console.print(
            "[dim]  no target column: name the label column with --target if the data has one[/dim]"
        )
