"""Commands beyond the lineage graph (drift, deployments, repair, labels, demo)."""

from __future__ import annotations

import typer

from driftline.cli.common import console


def demo(seed: int = typer.Option(0, "--seed", help="random seed")) -> None:
    """Run the end-to-end demo scenario (not yet available in this build)."""
    console.print("driftline demo: not yet available")


def register_commands(app: typer.Typer) -> None:
    from driftline.cli import deploy as deploy_cmds
    from driftline.cli import drift as drift_cmds

    drift_cmds.register_commands(app)
    from driftline.cli import repair as repair_cmds

    repair_cmds.register_commands(app)

    deploy_cmds.register_commands(app)
    app.command()(demo)
