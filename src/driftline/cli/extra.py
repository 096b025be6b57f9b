"""Commands beyond the lineage graph (drift, deployments, repair, labels, demo)."""

from __future__ import annotations

import typer

from driftline.cli.common import STATE, console, talkative
from driftline.errors import InvalidInputError


def demo(
    seed: int = typer.Option(0, "--seed", help="random seed (same seed, same run)"),
    fast: bool = typer.Option(False, "--fast", help="smaller models and stream (for tests)"),
    html: str = typer.Option("driftline-demo.html", "--html", help="report path ('' to skip)"),
    scenario: list[str] = typer.Option(
        None, "--scenario", help="recurring | mixed | new | tabular (repeatable; default: all)"
    ),
    fresh: bool = typer.Option(
        False, "--fresh", help="start over: reset a store that an earlier demo filled"
    ),
) -> None:
    """Run the end-to-end scenario on an empty store: lineage, drift, healthy-ancestor repair,
    re-deploy."""
    from pathlib import Path

    from driftline.cli.common import open_store
    from driftline.demo.run import SCENARIOS, reset_demo_store, run_demo
    from driftline.store.engine import default_location, is_url
    from driftline.validation import check_choice

    for name in scenario or ():
        check_choice("scenario", name, SCENARIOS)
    location = STATE["store"] or default_location()
    if fresh:
        if is_url(location):
            raise InvalidInputError(
                "--fresh resets store folders only; give an empty database or a folder with --store"
            )
        if reset_demo_store(Path(location)):
            console.print(f"reset the demo store at [bold]{location}[/bold]")
    run_demo(
        seed=seed,
        fast=fast,
        store=open_store(create=True),
        html_path=html or None,
        console=console,
        scenarios=tuple(scenario) if scenario else SCENARIOS,
        progress=talkative(),
        step_lines=not STATE.get("quiet"),
    )


def register_commands(app: typer.Typer) -> None:
    from driftline.cli import deploy as deploy_cmds
    from driftline.cli import drift as drift_cmds

    drift_cmds.register_commands(app)
    from driftline.cli import repair as repair_cmds

    repair_cmds.register_commands(app)
    from driftline.cli import label as label_cmds

    label_cmds.register_commands(app)

    deploy_cmds.register_commands(app)
    app.command()(demo)
    from driftline.cli import example as example_cmds

    example_cmds.register_commands(app)
    from driftline.cli import serve as serve_cmds  # serve, token, report

    serve_cmds.register_commands(app)
