"""CLI commands for repair: repair, repairs, approve."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from driftline.cli import roles as R
from driftline.cli.common import console, err_console, open_store, print_json, when
from driftline.cli.common import console as default_console
from driftline.errors import InvalidInputError

LABEL_COLUMNS = ("label", "y", "target", "class")


def read_labelled(path: Path, label_column: str | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features and labels from a table; the label column is named or one of label/y/target/class."""
    from driftline.drift import read_table

    cols = read_table(path)
    name = label_column or next((c for c in LABEL_COLUMNS if c in cols), None)
    if name is None or name not in cols:
        raise InvalidInputError(
            f"{path} has no label column; name it with --label-column (looked for {', '.join(LABEL_COLUMNS)})"
        )
    y = cols.pop(name)
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
        y = y.astype(np.int64)
    return cols, y


def ancestor_table(search: dict[str, Any]) -> Table:
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

        def f(k: str, d: dict = d) -> str:
            v = d.get(k)
            return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.3f}"

        mark = (
            " ◀"
            if r["id"] == search.get("chosen")
            else (
                " (fallback)"
                if r["id"] == search.get("fallback") and not search.get("chosen")
                else ""
            )
        )
        share = r.get("drifted_share")
        t.add_row(
            r["ref"] + mark,
            str(r["hops"]),
            "←".join(r.get("path_kinds", [])),
            f("psi"),
            f("ks"),
            f("kl"),
            f("js"),
            "–"
            if share is None or (isinstance(share, float) and math.isnan(share))
            else f"{share:.0%}",
            "[green]yes[/green]"
            if r["healthy"]
            else (
                "[dim]no signature[/dim]" if not r.get("has_signature", True) else "[red]no[/red]"
            ),
        )
    return t


def print_result(result: Any, out: Console | None = None) -> None:
    """Rich summary of a :class:`~driftline.repair.RepairResult`."""
    console = out or default_console
    if result.search:
        console.print(ancestor_table(result.search))
    if result.alpha_evaluations:
        ev = Table(
            "α",
            result.alpha_objective or "objective",
            title=f"α search ({len(result.alpha_evaluations)} evaluations)",
        )
        for a, v in sorted(result.alpha_evaluations):
            ev.add_row(f"{a:.4f}", f"{v:.4f}")
        console.print(ev)
    if result.candidates:
        c = Table(
            "candidate", "val accuracy", "val log-loss", title="candidates on validation data"
        )
        for name, s in result.candidates.items():
            c.add_row(
                name,
                f"{s.get('accuracy', float('nan')):.4f}",
                f"{s.get('log_loss', float('nan')):.4f}",
            )
        console.print(c)
    colour = {"deployed": "green", "needs-labels": "yellow", "no-drift": "green"}.get(
        result.status, "cyan"
    )
    alpha = f" α={result.alpha:.3f}" if result.alpha is not None else ""
    console.print(
        f"[bold {colour}]{result.status}[/bold {colour}] repair #{result.repair_id}{alpha}"
        + (f" → {result.repaired_ref}" if result.repaired_ref else "")
        + f": {result.message}"
    )


def repair(
    target: str = typer.Argument(..., help="deployment name or model reference"),
    window: Path = typer.Option(..., "--window", help="current inputs (CSV/Parquet/JSONL)"),
    validation: Path = typer.Option(None, "--validation", help="labelled current data"),
    label_column: str = typer.Option(None, "--label-column", help="label column of --validation"),
    approve: bool = typer.Option(False, "--approve", help="deploy when the policy is met"),
    target_accuracy: float = typer.Option(
        None, "--target-accuracy", help="deploy only at or above this"
    ),
    per_tensor: bool = typer.Option(False, "--per-tensor", help="refine α per layer"),
    sparse: float = typer.Option(None, "--sparse", help="keep only this fraction of |r| entries"),
    drift_share: float = typer.Option(
        None, "--drift-share", help="share of features that must drift"
    ),
    force: bool = typer.Option(False, "--force", help="repair even without detected drift"),
    ask: int = typer.Option(
        20, "--ask", help="label requests per round when the repair needs labels (0: none)"
    ),
    budget: int = typer.Option(100, "--budget", help="total labels active learning may ask for"),
    target_column: str = R.TARGET,
    prediction: list[str] = R.PREDICTION,
    id: list[str] = R.ID,
    timestamp: list[str] = R.TIMESTAMP,
    ignore: list[str] = R.IGNORE,
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Repair a drifted model from its lineage; deploy with --approve when validation allows.

    The label column of --validation is --label-column / --target, else the target recorded in
    the model's training signature, else one of label/y/target/class."""
    from driftline.drift.roles import check_labels, drop_role_columns
    from driftline.drift.tabular import read_frame
    from driftline.repair import RepairPolicy
    from driftline.repair import repair as run_repair
    from driftline.repair.pipeline import resolve_target

    store = open_store()
    sig = store.signature(resolve_target(store, target)[0])
    spec = R.role_spec(target_column, prediction, id, timestamp, ignore)
    label_column = label_column or target_column or sig.target
    val = read_labelled(validation, label_column) if validation else None
    win = read_frame(window)  # raw values, so label requests show the record as it is
    if val is not None:
        check_labels(sig, val[1], str(validation))
        val = (drop_role_columns(val[0], sig, spec), val[1])
    if val is not None and label_column is None:
        win = win.drop(columns=[c for c in LABEL_COLUMNS if c in win.columns])
    win = drop_role_columns(win, sig, spec)
    policy = RepairPolicy(
        target_accuracy=target_accuracy,
        per_tensor=per_tensor,
        sparse_fraction=sparse,
        drift_share=drift_share,
        auto_deploy=approve,
        force=force,
    )
    result = run_repair(
        store,
        target,
        win,
        val,
        policy=policy,
        approve=approve,
        actor="cli",
        progress=None if as_json else (lambda m: err_console.print(f"[dim]· {m}[/dim]")),
    )
    active = None
    if result.needs_labels and ask > 0 and result.repair_id is not None:
        from driftline.active import HumanOracle, run_active_learning

        active = run_active_learning(
            store,
            result,
            win,
            HumanOracle(),
            budget=budget,
            batch=ask,
            validation=val,
            actor="cli",
            deploy=approve,
            progress=None if as_json else (lambda m: err_console.print(f"[dim]· {m}[/dim]")),
        )
    if as_json:
        out = result.to_dict()
        if active is not None:
            out["active_learning"] = active.to_dict()
        print_json(out)
        return
    print_result(result)
    if active is not None:
        if active.rounds:
            t = Table(
                "round", "labels", "model", "val accuracy", title="refinement with your labels"
            )
            for r in active.rounds:
                t.add_row(
                    str(r.round),
                    str(r.labels),
                    r.model_ref,
                    f"{r.after.get('accuracy', float('nan')):.3f}",
                )
            console.print(t)
        console.print(f"[bold]{active.status}[/bold]: {active.message}")
        if active.waiting:
            console.print(
                f"answer them with [bold]driftline label --repair {result.repair_id}[/bold] (or export "
                "them for Label Studio), then run this command again to refine with the labels"
            )


def candidate_cell(candidates: dict[str, dict[str, float]], chosen: str | None) -> str:
    """The whole candidate table in one cell: ``name acc`` per row, ``*`` on the chosen one."""
    return (
        "\n".join(
            f"{'*' if k == chosen else ''}{k} {v['accuracy']:.3f}"
            for k, v in candidates.items()
            if "accuracy" in v
        )
        or "–"
    )


def repairs(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List repairs with their status."""
    from driftline.repair import list_repairs

    store = open_store()
    rows = list_repairs(store)
    if as_json:
        print_json([r.to_dict() for r in rows])
        return
    t = Table(
        "#",
        "status",
        "drifted",
        "ancestor",
        "α",
        "val acc before → after",
        "repaired",
        "candidates (val acc; * chosen)",
        title="repairs",
    )
    for r in rows:
        ref = lambda i: store.get(i).ref if i else "–"  # noqa: E731
        acc = f"{r.before['accuracy']:.3f} → {r.after['accuracy']:.3f}" if r.after else "–"
        t.add_row(
            str(r.repair_id),
            r.status,
            ref(r.drifted_id),
            ref(r.ancestor_id),
            "–" if r.alpha is None else f"{r.alpha:.3f}",
            acc,
            r.active.get("deployed_ref") or r.repaired_ref or "–",
            candidate_cell(r.candidates, r.chosen),
        )
    console.print(t)


def approve(
    repair_id: int = typer.Argument(..., help="repair number (see 'driftline repairs')"),
) -> None:
    """Deploy a repair that is awaiting approval."""
    from driftline.repair import approve_repair

    result = approve_repair(open_store(), repair_id, actor="cli")
    console.print(result.message)


def register_commands(app: typer.Typer) -> None:
    app.command()(repair)
    app.command()(repairs)
    app.command()(approve)


__all__ = ["register_commands", "print_result", "ancestor_table", "when"]
