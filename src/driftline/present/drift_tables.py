"""Rich tables of drift windows and stored drift reports, shared by ``driftline agent``,
``driftline reports`` and the demo's agent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table

from driftline.present.terminal import when

__all__ = [
    "agent_row",
    "agent_table",
    "drift_reports_table",
    "model_cells",
    "verdict_cell",
    "watch_table",
]


def verdict_cell(drift: bool) -> str:
    return "[red]DRIFT[/red]" if drift else "[green]ok[/green]"


def agent_table(title: str, *, estimate: bool = False, multivariate: bool = False) -> Table:
    """One row per window (:func:`agent_row`); the model-aware columns when asked for."""
    table = Table("window", "rows", "verdict", "drifted features", "max PSI", title=title)
    if estimate:
        table.add_column("est. accuracy", justify="right")
    if multivariate:
        table.add_column("multivariate (p)", justify="right")
    return table


def model_cells(m: dict[str, Any], estimate: bool, multivariate: bool) -> list[str]:
    """The agent table's optional model-aware cells ("–" when the window had none)."""
    cells = []
    if estimate:
        est = m.get("estimated_accuracy")
        ref = m.get("reference_accuracy")
        cells.append("–" if est is None else f"{est:.3f}" + (f" / {ref:.3f}" if ref else ""))
    if multivariate:
        s = m.get("multivariate_score")
        cells.append("–" if s is None else f"{s:.3f} ({m['multivariate_p']:.2g})")
    return cells


def agent_row(report: Any, score: float, *, estimate: bool, multivariate: bool) -> list[str]:
    """A :class:`~driftline.drift.DriftReport` as a row of :func:`agent_table`; ``score`` is
    its :func:`~driftline.drift.drift_score`."""
    return [
        str(report.window_index),
        f"{report.start_row}-{report.end_row}",
        verdict_cell(bool(report.drift)),
        f"{len(report.drifted_features)}/{len(report.features)}",
        f"{score:.3f}",
        *model_cells(report.model, estimate, multivariate),
    ]


def drift_reports_table(rows: list[dict[str, Any]], ref: Callable[[str], str]) -> Table:
    """Stored drift reports (``Store.drift_reports``); ``ref`` turns a model id into its
    reference."""
    t = Table("#", "time", "model", "rows", "verdict", "score", title="drift reports")
    for r in rows:
        t.add_row(
            str(r["id"]),
            when(r["created_at"]),
            ref(r["model_id"]),
            str(r["n_rows"]),
            "[red]DRIFT[/red]" if r["drift"] else "ok",
            f"{r['score']:.3f}",
        )
    return t


def watch_table(deployment: str) -> Table:
    """The demo agent's windows: data regime, mean PSI/KS, share drifting, verdict, the model
    that served the window, its accuracy and what was done."""
    return Table(
        "window",
        "data",
        "mean PSI",
        "mean KS",
        "features drifting",
        "verdict",
        "model",
        "accuracy",
        "action",
        title=f"drift agent on deployment:{deployment}",
    )
