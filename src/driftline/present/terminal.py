"""Rich views of results for a terminal, shared by the CLI and the demo: the healthy-ancestor
search, the α search, the candidate table and the verdict of a repair, the rounds of active
learning, and the stored repairs.

Each function takes a result object and returns a Rich renderable (or prints it on the console
it is given); none reads the store except to turn ids into references.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = [
    "accuracy_table",
    "ancestor_table",
    "candidate_cell",
    "print_repair_result",
    "refinement_table",
    "repairs_table",
    "when",
]

#: colour of a repair status in the one-line verdict (others: cyan)
STATUS_COLOURS = {"deployed": "green", "needs-labels": "yellow", "no-drift": "green"}


def when(ts: float) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _number(value: Any, fmt: str = ".3f") -> str:
    """``value`` formatted, or "–" when missing or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def _ancestor_mark(row: dict[str, Any], search: dict[str, Any]) -> str:
    if row["id"] == search.get("chosen"):
        return " ◀"
    if row["id"] == search.get("fallback") and not search.get("chosen"):
        return " (fallback)"
    return ""


def _healthy_cell(row: dict[str, Any]) -> str:
    if row["healthy"]:
        return "[green]yes[/green]"
    return "[dim]no signature[/dim]" if not row.get("has_signature", True) else "[red]no[/red]"


def ancestor_table(search: dict[str, Any]) -> Table:
    """The healthy-ancestor search: one row per lineage member, ◀ on the chosen one."""
    t = Table(
        "ancestor",
        "hops",
        "path",
        "PSI",
        "KS",
        "KL",
        "JS",
        "drifted",
        "healthy",
        title="healthy-ancestor search",
    )
    for r in search.get("rows", []):
        d = r.get("drift", {})
        t.add_row(
            r["ref"] + _ancestor_mark(r, search),
            str(r["hops"]),
            "←".join(r.get("path_kinds", [])),
            *(_number(d.get(k)) for k in ("psi", "ks", "kl", "js")),
            _number(r.get("drifted_share"), ".0%"),
            _healthy_cell(r),
        )
    return t


def _alpha_table(result: Any) -> Table:
    ev = Table(
        "α",
        result.alpha_objective or "objective",
        title=f"α search ({len(result.alpha_evaluations)} evaluations)",
    )
    for a, v in sorted(result.alpha_evaluations):
        ev.add_row(f"{a:.4f}", f"{v:.4f}")
    return ev


def _num(value: Any) -> str:
    return "–" if value is None else f"{float(value):.4f}"


def _candidates_table(result: Any) -> Table:
    """Every candidate on the rows that chose it, on held-out rows (when the labels were split)
    and by the label-free proxy (when there was one); ``*`` marks the chosen row."""
    held, proxy = result.held_out or {}, result.proxy or {}
    sel = result.selection or {}
    title = "candidates on validation data"
    if held:
        title += (
            f" ({sel.get('choose_rows', '?')} rows chose, {sel.get('held_out_rows', '?')} held out)"
        )
    cols = ["candidate", "val accuracy", "val log-loss"]
    cols += ["held-out accuracy"] if held else []
    cols += ["proxy (label-free)"] if proxy else []
    c = Table(*cols, title=title)
    for name, s in result.candidates.items():
        row = [
            ("*" if name == result.chosen else "") + name,
            _num(s.get("accuracy")),
            _num(s.get("log_loss")),
        ]
        row += [_num(held.get(name, {}).get("accuracy"))] if held else []
        row += [_num(proxy.get(name))] if proxy else []
        c.add_row(*row)
    return c


def print_repair_result(result: Any, console: Console) -> None:
    """Rich summary of a :class:`~driftline.repair.RepairResult`: the ancestor search, the α
    search, the candidates and a one-line verdict."""
    if result.search:
        console.print(ancestor_table(result.search))
    if result.alpha_evaluations:
        console.print(_alpha_table(result))
    if result.candidates:
        console.print(_candidates_table(result))
    colour = STATUS_COLOURS.get(str(result.status), "cyan")
    interpolated = result.alpha is not None and result.chosen != "routing"
    alpha = f" α={result.alpha:.3f}" if interpolated else ""
    console.print(
        f"[bold {colour}]{result.status}[/bold {colour}] repair #{result.repair_id}{alpha}"
        + (f" → {result.repaired_ref}" if result.repaired_ref else "")
        + f": {result.message}"
    )


def accuracy_table(accuracies: dict[str, float], column: str, title: str) -> Table:
    """One row per model: its name and accuracy (3 decimals) in ``column``."""
    t = Table("model", column, title=title)
    for name, value in accuracies.items():
        t.add_row(name, f"{value:.3f}")
    return t


def refinement_table(rounds: list[Any], title: str = "refinement with your labels") -> Table:
    """Active-learning rounds: labels so far, the refined model and its validation accuracy."""
    t = Table("round", "labels", "model", "val accuracy", title=title)
    for r in rounds:
        acc = r.after.get("accuracy")  # none without validation rows
        t.add_row(str(r.round), str(r.labels), r.model_ref, "–" if acc is None else f"{acc:.3f}")
    return t


def candidate_cell(
    candidates: dict[str, dict[str, float]],
    chosen: str | None,
    held_out: dict[str, dict[str, float]] | None = None,
) -> str:
    """The whole candidate table in one cell: ``name acc`` per row (``(held acc)`` on rows that
    did not choose, when the labels were split), ``*`` on the chosen one."""
    held = held_out or {}

    def cell(k: str, v: dict[str, float]) -> str:
        h = held.get(k, {}).get("accuracy")
        tail = f" (held {h:.3f})" if h is not None else ""
        return f"{'*' if k == chosen else ''}{k} {v['accuracy']:.3f}{tail}"

    return "\n".join(cell(k, v) for k, v in candidates.items() if "accuracy" in v) or "–"


def repairs_table(
    rows: list[Any],
    ref: Callable[[str | None], str],
    serving_now: Mapping[int, str] | None = None,
) -> Table:
    """Stored repairs (:func:`driftline.repair.list_repairs`); ``ref`` turns a model id into
    its reference ("–" for None); ``serving_now``: repair number → the model its deployment
    serves now, for deployed repairs whose deployment has moved on (a rollback, a deploy)."""
    moved = serving_now or {}
    t = Table(
        "#",
        "status",
        "drifted",
        "ancestor",
        "α",
        "val acc before → after",
        "repaired",
        "candidates (val acc, held-out; * chosen)",
        title="repairs",
    )
    for r in rows:
        acc = f"{r.before['accuracy']:.3f} → {r.after['accuracy']:.3f}" if r.after else "–"
        t.add_row(
            str(r.repair_id),
            f"{r.status} (now {moved[r.repair_id]})" if r.repair_id in moved else str(r.status),
            ref(r.drifted_id),
            ref(r.ancestor_id),
            "–" if r.alpha is None or r.chosen == "routing" else f"{r.alpha:.3f}",
            acc,
            r.active.get("deployed_ref") or r.repaired_ref or "–",
            candidate_cell(r.candidates, r.chosen, getattr(r, "held_out", None)),
        )
    return t
