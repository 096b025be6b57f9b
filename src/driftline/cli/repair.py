"""CLI commands for repair: repair, repairs, approve."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from driftline.cli import roles as R
from driftline.cli.common import (
    console,
    err_console,
    open_store,
    print_json,
    say_step,
    talkative,
    when,
)
from driftline.errors import InvalidInputError
from driftline.present.progress import Steps, progress_bar
from driftline.present.terminal import (
    ancestor_table,
    candidate_cell,
    print_repair_result,
    refinement_table,
    repairs_table,
)

if TYPE_CHECKING:
    import numpy as np

LABEL_COLUMNS = ("label", "y", "target", "class")


def read_labelled(path: Path, label_column: str | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Features and labels from a table; the label column is named or one of label/y/target/class."""
    import numpy as np

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


def print_result(result: Any, out: Console | None = None) -> None:
    """Rich summary of a :class:`~driftline.repair.RepairResult` (see
    :func:`driftline.present.terminal.print_repair_result`)."""
    print_repair_result(result, out or console)


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
    continued_steps: int = typer.Option(
        20, "--continued-steps", help="training steps of the continued-training row (0: no row)"
    ),
    image_shape: str = typer.Option(
        None, "--image-shape", help="show label requests as HxW grayscale images, e.g. 8x8"
    ),
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
    from driftline.repair import RepairPolicy
    from driftline.repair import repair as run_repair

    if continued_steps < 0:
        raise InvalidInputError(
            f"--continued-steps must be 0 or more (got {continued_steps}); 0 turns the row off"
        )
    store = open_store()
    spec = R.role_spec(target_column, prediction, id, timestamp, ignore)
    win, val = _repair_inputs(
        store, target, window, validation, label_column or target_column, spec
    )
    policy = RepairPolicy(
        target_accuracy=target_accuracy,
        per_tensor=per_tensor,
        sparse_fraction=sparse,
        drift_share=drift_share,
        auto_deploy=approve,
        force=force,
        continued_steps=continued_steps,
    )
    with progress_bar(
        err_console, enabled=talkative() and not as_json, description="repair"
    ) as bar:
        say = _steps(bar, as_json)
        result = run_repair(
            store, target, win, val, policy=policy, approve=approve, actor="cli", progress=say
        )
        active = None
        if result.needs_labels and ask > 0 and result.repair_id is not None:
            shape = parse_image_shape(image_shape)
            asking = (ask, budget, shape, target_accuracy)
            active = _ask_for_labels(store, result, win, val, asking, approve, say)
    _print_outcome(store, result, active, as_json)


def _print_outcome(store: Any, result: Any, active: Any, as_json: bool) -> None:
    """The repair, its active learning (if it ran) and, for a deployed repair whose
    deployment has moved on since, what serves now."""
    serving = _serving_now(store, result)
    if as_json:
        out = result.to_dict()
        if active is not None:
            out["active_learning"] = active.to_dict()
        if serving is not None:
            out["serving_now"] = serving
        print_json(out)
        return
    print_result(result)
    if active is not None:
        _print_refinement(active, result.repair_id)
    if serving is not None:
        console.print(
            f"[yellow]note[/yellow]: {result.deployment} serves {serving} now, not the model "
            f"repair #{result.repair_id} deployed (switched since, e.g. by a rollback); "
            f"'driftline deploy {_deployed_ref(result)} --as {result.deployment}' serves it again"
        )


def _deployed_ref(result: Any) -> str | None:
    """The model a deployed repair put into service (a round model after active learning)."""
    return result.active.get("deployed_ref") or result.repaired_ref


def _serving_now(store: Any, result: Any) -> str | None:
    """For a deployed repair (often a stored one, replayed for the same inputs) whose
    deployment has moved on since: the reference of the model it serves now; else None."""
    from driftline.errors import UnknownReferenceError
    from driftline.statuses import RepairStatus

    if result.status != RepairStatus.DEPLOYED or not result.deployment:
        return None
    deployed_id = result.active.get("deployed_id") or result.repaired_id
    try:
        now = store.resolve(f"deployment:{result.deployment}")
    except UnknownReferenceError:
        return None
    return None if now == deployed_id else store.get(now).ref


def _repair_inputs(
    store: Any,
    target: str,
    window: Path,
    validation: Path | None,
    label_column: str | None,
    spec: Any,
) -> tuple[Any, tuple[Any, np.ndarray] | None]:
    """The window (raw values, so label requests show the record as it is) and the labelled
    validation rows, both without the columns the roles leave out."""
    from driftline.drift.roles import check_labels, drop_role_columns
    from driftline.drift.tabular import read_frame
    from driftline.repair.pipeline import resolve_target

    sig = store.signature(resolve_target(store, target)[0])
    label_column = label_column or sig.target
    val = read_labelled(validation, label_column) if validation else None
    win = read_frame(window)
    if val is not None:
        check_labels(sig, val[1], str(validation))
        val = (drop_role_columns(val[0], sig, spec), val[1])
    if val is not None and label_column is None:
        win = win.drop(columns=[c for c in LABEL_COLUMNS if c in win.columns])
    return drop_role_columns(win, sig, spec), val


def _ask_for_labels(
    store: Any,
    result: Any,
    win: Any,
    val: Any,
    asking: tuple[int, int, tuple[int, int] | None, float | None],
    approve: bool,
    progress: Any,
) -> Any:
    """Active learning after a repair that needs labels: ``asking`` = (requests per round,
    label budget, image shape or None, --target-accuracy or None) for a human (``driftline
    label``), refining with every label already given; a refined model deploys only under
    the same --target-accuracy as the repair."""
    from driftline.active import HumanOracle, run_active_learning

    ask, budget, shape, target = asking
    return run_active_learning(
        store,
        result,
        win,
        HumanOracle(),
        budget=budget,
        batch=ask,
        image_shape=shape,
        target_accuracy=target,
        validation=val,
        actor="cli",
        deploy=approve,
        progress=progress,
    )


def parse_image_shape(text: str | None) -> tuple[int, int] | None:
    """``"8x8"`` → ``(8, 8)``; None stays None."""
    if text is None:
        return None
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise InvalidInputError(f"--image-shape {text!r}: give HEIGHTxWIDTH, e.g. 8x8")
    return int(parts[0]), int(parts[1])


def _steps(bar: Steps, as_json: bool) -> Any:
    """The progress callback of a repair step: the step lines on stderr (not with --json or
    --quiet) and the progress line (on a terminal)."""
    line = say_step(not as_json)
    if line is None and not bar.enabled:
        return None

    def step(message: str) -> None:
        bar.say(message)
        if line is not None:
            line(message)

    return step


def _print_refinement(active: Any, repair_id: int | None) -> None:
    """Active learning's rounds, its verdict and, when requests wait, how to answer them."""
    if active.rounds:
        console.print(refinement_table(active.rounds))
    console.print(f"[bold]{active.status}[/bold]: {active.message}")
    if active.waiting:
        then = (
            "then run this command again to refine with the labels"
            if active.refits
            else "then repair again with the labelled rows as --validation"
        )
        console.print(
            f"answer them with [bold]driftline label --repair {repair_id}[/bold] (or export "
            f"them for Label Studio), {then}"
        )


def repairs(as_json: bool = typer.Option(False, "--json", help="print JSON")) -> None:
    """List repairs with their status (a deployed repair whose deployment serves another model
    now, e.g. after a rollback, says which)."""
    from driftline.repair import list_repairs

    store = open_store()
    rows = list_repairs(store)
    moved = {
        int(r.repair_id): now
        for r in rows
        if r.repair_id is not None and (now := _serving_now(store, r)) is not None
    }
    if as_json:
        print_json(
            [
                {
                    **r.to_dict(),
                    **({"serving_now": moved[r.repair_id]} if r.repair_id in moved else {}),
                }
                for r in rows
            ]
        )
        return
    console.print(repairs_table(rows, lambda i: store.get(i).ref if i else "–", moved))


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


__all__ = ["register_commands", "print_result", "ancestor_table", "candidate_cell", "when"]
