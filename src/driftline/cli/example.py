"""``driftline example churn DIR``: write the files the README's CLI tour uses."""

from __future__ import annotations

from pathlib import Path

import typer

from driftline.cli.common import console
from driftline.validation import check_choice

EXAMPLES = ("churn",)


def example(
    name: str = typer.Argument(..., help="which example: churn"),
    folder: Path = typer.Argument(..., help="folder to write the files into (created)"),
    seed: int = typer.Option(0, "--seed", help="random seed of the generated tables"),
) -> None:
    """Write an example model lineage and data tables (what the README's CLI tour runs on)."""
    check_choice("example", name, EXAMPLES)
    from driftline.demo.churn import EXAMPLE_FILES, write_churn_example

    paths = write_churn_example(folder, seed)
    for fname, path in paths.items():
        console.print(f"wrote {path}  [dim]{EXAMPLE_FILES[fname]}[/dim]")


def register_commands(app: typer.Typer) -> None:
    app.command()(example)
