"""``driftline fsck`` and ``driftline gc``: verify a store, and clean up after crashes."""

from __future__ import annotations

import typer

from driftline.cli.common import console, open_store, print_json

#: ``driftline.store.maintenance.DEFAULT_GRACE_SECONDS``, without loading the store for --help
#: (tests/cli/test_cli_startup.py checks the two agree)
DEFAULT_GRACE_SECONDS = 3600.0


def fsck_cmd(
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Verify every blob, every model's id and every reference; exit 1 if the store is damaged."""
    from driftline.store.maintenance import fsck

    report = fsck(open_store())
    if as_json:
        print_json(report.to_dict())
    else:
        from rich.text import Text

        for problem in report.damaged:
            # the problem is plain text (names may hold brackets): never parsed as markup
            console.print(Text.assemble(("damaged:", "red"), f" {problem}"), soft_wrap=True)
        console.print(
            f"checked {report.models_checked} model(s) and {report.blobs_checked} blob(s): "
            f"{len(report.damaged)} problem(s), {len(report.orphan_blobs)} orphan blob(s), "
            f"{len(report.temporaries)} temporary file(s)"
            + ("" if report.ok else "; restore the damaged parts from backup")
            + (
                "; 'driftline gc' removes orphans"
                if report.orphan_blobs or report.temporaries
                else ""
            )
        )
    raise typer.Exit(0 if report.ok else 1)


def gc_cmd(
    grace: float = typer.Option(
        DEFAULT_GRACE_SECONDS, "--grace", help="only remove files older than this (seconds)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would go, remove nothing"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Remove unreferenced blobs and stale temporary files (safe while others write)."""
    from driftline.store.maintenance import gc

    report = gc(open_store(), grace, dry_run=dry_run)
    if as_json:
        print_json(report.to_dict())
        return
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{verb} {len(report.removed_blobs)} unreferenced blob(s) and "
        f"{len(report.removed_temporaries)} temporary file(s); kept {report.young_orphans} "
        f"recent one(s) (younger than {grace:g} s)"
    )


def register_commands(app: typer.Typer) -> None:
    app.command("fsck")(fsck_cmd)
    app.command("gc")(gc_cmd)
