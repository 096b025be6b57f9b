"""CLI command ``driftline calibrate``: fit the label-free accuracy estimate from labelled data
(:func:`driftline.repair.calibrate.calibrate_estimate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from driftline.cli.common import console, open_store, print_json
from driftline.errors import InvalidInputError


def parse_regimes(items: list[str] | None) -> dict[str, Path]:
    """``["credit@1=a.csv", ...]`` → ``{"credit@1": Path("a.csv")}`` (REF=FILE, REF unique)."""
    out: dict[str, Path] = {}
    for item in items or []:
        ref, sep, file = item.partition("=")
        if not sep or not ref.strip() or not file.strip():
            raise InvalidInputError(
                f"--regime {item!r} must look like REF=FILE (a lineage member and its "
                "labelled rows), e.g. churn@1=base_labelled.csv"
            )
        if ref.strip() in out:
            raise InvalidInputError(f"--regime {ref.strip()!r} is given twice")
        out[ref.strip()] = Path(file.strip())
    return out


def calibration_table(result: Any) -> Table:
    """Rows, realised accuracy and the estimates on each table's held-out half."""
    lineage = result.lineage is not None
    tbl = Table(
        title=f"label-free accuracy estimate of {result.model_ref} (target {result.target!r}): "
        "fitted on half of each table's rows, checked on the other half"
    )
    heads = ["table", "rows", "held out", "realised acc", "CBPE est"]
    heads += ["lineage est", "|error|"] if lineage else ["|error|"]
    for h in heads:
        tbl.add_column(h, justify="left" if h == "table" else "right")
    for c in result.checks:
        cells = [c.table, f"{c.rows:,}", f"{c.held_out:,}", f"{c.realised_accuracy:.3f}"]
        cells.append(f"{c.estimated_cbpe:.3f}")
        if lineage:
            cells.append("–" if c.estimated_lineage is None else f"{c.estimated_lineage:.3f}")
        tbl.add_row(*cells, f"{c.error:.3f}")
    return tbl


def stored_line(result: Any) -> str:
    """What the calibration wrote to the model's metrics."""
    parts = [
        f"cbpe ({result.cbpe.n:,} rows, reference accuracy {result.cbpe.reference_accuracy:.3f})"
    ]
    if result.lineage is not None:
        parts.append(
            f"lineage_cbpe ({len(result.regime_refs)} regimes: {', '.join(result.regime_refs)})"
        )
    line = f"stored on {result.model_ref}: " + "; ".join(parts)
    if result.lineage_kept:
        line += "; the earlier lineage_cbpe stays (give --regime REF=FILE to refit it)"
    return line


def calibrate(
    model: str = typer.Argument(..., help="model reference or deployment name"),
    data: Path = typer.Option(
        ..., "--data", help="labelled rows (CSV/Parquet/JSONL) with the model's input columns"
    ),
    target: str = typer.Option(
        None,
        "--target",
        help="label column (default: the training signature's target, else label/y/target/class)",
    ),
    regime: list[str] = typer.Option(
        None,
        "--regime",
        help="REF=FILE: labelled rows from lineage member REF's regime (repeatable); "
        "with them the lineage-aware estimate is fitted too",
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Calibrate the model's label-free accuracy estimate (what 'driftline agent
    --estimate-accuracy' reports) on labelled data, and store it in the model's metrics."""
    regimes = parse_regimes(regime)
    from driftline.repair.calibrate import calibrate_estimate

    result = calibrate_estimate(
        open_store(), model, data, target=target, regimes=dict(regimes) or None
    )
    if as_json:
        print_json(result.to_dict())
        return
    console.print(calibration_table(result))
    console.print(
        f"mean |error| on held-out halves: {result.mean_error:.3f} · " + stored_line(result)
    )


def register_commands(app: typer.Typer) -> None:
    app.command()(calibrate)
