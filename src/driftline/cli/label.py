"""``driftline label``: answer label requests in the terminal, or through files.

Bare ``driftline label [--repair ID]`` starts an interactive session over the pending requests;
``export``/``import`` exchange them with Label Studio, CSV or JSON lines; ``list`` shows the queue.
Every answer is committed the moment it is typed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from driftline.cli.common import console, err_console, open_store, print_json, when
from driftline.errors import DriftlineError, InvalidInputError
from driftline.safefile import write_atomic
from driftline.statuses import LabelStatus
from driftline.validation import check_choice

if TYPE_CHECKING:  # the active package (NumPy, scikit-learn) loads inside the commands
    import numpy as np

    from driftline.active.queue import LabelQueue, LabelRequest

label_app = typer.Typer(
    help="Answer active-learning label requests (interactive, Label Studio, CSV, JSON lines).",
    no_args_is_help=False,
)

_SHADES = " ░▒▓█"
_FORMATS = ("label-studio", "csv", "jsonl")


def shade_rows(features: np.ndarray) -> list[str]:
    """A square image (64 features → 8×8) as text rows of shade characters, two per pixel.

    Values in [0, 1] are used as they are (others are min-max scaled); 0 is blank, 1 is █."""
    import numpy as np

    x = np.asarray(features, dtype=np.float64).reshape(-1)
    side = int(round(np.sqrt(x.size)))
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    levels = np.clip(np.round(x * (len(_SHADES) - 1)), 0, len(_SHADES) - 1).astype(int)
    grid = levels.reshape(side, side)
    return ["".join(_SHADES[v] * 2 for v in row) for row in grid]


def _feature_names(store: Any, req: LabelRequest) -> list[str]:
    """Feature names from the requesting model's training signature, else f0, f1, ..."""
    mid = req.predictions.get("model_id")
    if mid:
        try:
            names = list(store.signature(mid).feature_names)
            if len(names) == req.features.size:
                return names
        except DriftlineError:
            pass
    return [f"f{j}" for j in range(req.features.size)]


def _show(store: Any, req: LabelRequest, position: int, total: int) -> None:
    import numpy as np

    from driftline.active.records import is_image, record_of

    rid = "-" if req.repair_id is None else f"#{req.repair_id}"
    console.rule(
        f"request #{req.id}  ({position}/{total})  repair {rid}  round {req.round}  "
        f"{req.strategy} score {req.score:.3f}"
    )
    side = int(round(np.sqrt(req.features.size)))
    rec = record_of(req)
    if rec is not None:  # the row as the user knows it: original names, raw values
        t = Table("column", "value", title="record")
        for name, v in rec.items():
            t.add_row(name, "–" if v is None else str(v))
        console.print(t)
    elif is_image(req) and side * side == 64:
        border = "+" + "-" * (2 * side) + "+"
        console.print(border, markup=False, highlight=False)
        for line in shade_rows(req.features):
            console.print(f"|{line}|", markup=False, highlight=False)
        console.print(border, markup=False, highlight=False)
    else:
        t = Table("feature", "value", title="features")
        for name, v in zip(_feature_names(store, req), req.features.tolist(), strict=True):
            t.add_row(name, f"{v:.6g}")
        console.print(t)
    members = req.predictions.get("members") or []
    if members:
        t = Table("model", "role", "predicts", "confidence", title="lineage predictions")
        for m in members:
            conf = m.get("confidence")
            t.add_row(
                str(m.get("ref", "?")),
                str(m.get("role", "")),
                str(m.get("label")),
                "–" if conf is None else f"{conf:.2f}",
            )
        console.print(t)
    elif req.predicted is not None:
        console.print(f"model predicts {req.predicted}")


def _classes_hint(req: LabelRequest) -> str:
    classes = req.predictions.get("classes")
    if not classes:
        return "label"
    shown = ", ".join(str(c) for c in classes[:12]) + (", ..." if len(classes) > 12 else "")
    return f"label ({shown})"


def _ask(prompt: str) -> str | None:
    """One line from the user, or None at end of input."""
    console.print(prompt, end="", markup=False, highlight=False)
    try:
        return input()
    except EOFError:
        console.print()
        return None


def _queue() -> LabelQueue:
    """The label queue of the store named by ``--store``."""
    from driftline.active.queue import LabelQueue

    return LabelQueue(open_store())


def _known_repair(queue: LabelQueue, repair: int | None) -> None:
    """``--repair N`` must name a stored repair (or one that has requests)."""
    from driftline.repair import load_repair

    if repair is None or repair in queue.repair_ids():
        return
    if load_repair(queue.store, repair) is None:
        raise InvalidInputError(f"no repair #{repair}; list them with 'driftline repairs'")


def _sync(queue: LabelQueue, repair_ids: Any) -> None:
    """The repair records of ``repair_ids`` follow what was answered or cancelled."""
    from driftline.active.repair_record import sync_queue

    sync_queue(queue.store, repair_ids)


def _session(repair: int | None, annotator: str | None) -> None:
    from driftline.active.queue import LabelQueue

    store = open_store()
    queue = LabelQueue(store)
    _known_repair(queue, repair)
    pending = queue.pending(repair)
    if not pending:
        where = f" for repair #{repair}" if repair is not None else ""
        console.print(f"no pending label requests{where}")
        return
    console.print(
        f"{len(pending)} pending request(s); type a label, 's' to skip, 'q' to quit. "
        "Every answer is saved at once."
    )
    try:
        _answer_all(store, queue, pending, annotator)
    finally:
        _sync(queue, {r.repair_id for r in pending})


def _answer_all(
    store: Any, queue: LabelQueue, pending: list[LabelRequest], annotator: str | None
) -> None:
    """Show each request and save what the user types, until the end or 'q'."""
    from driftline.active.label_values import coerce_label
    from driftline.store.deployments import default_actor

    who = annotator or default_actor()
    done = skipped = 0
    for pos, req in enumerate(pending, start=1):
        _show(store, req, pos, len(pending))
        while True:
            answer = _ask(f"{_classes_hint(req)}, s = skip, q = quit: ")
            if answer is None or answer.strip().lower() in ("q", "quit"):
                left = len(pending) - done - skipped
                console.print(f"labelled {done}, skipped {skipped}; {left} still pending")
                return
            text = answer.strip()
            if not text:
                continue
            skip = text.lower() in ("s", "skip")
            try:
                if skip:
                    queue.skip(req.id)
                    skipped += 1
                    break
                value = coerce_label(text, req.predicted, req.predictions.get("classes"))
                queue.label(req.id, value, annotator=who)
            except InvalidInputError as exc:
                now = queue.get(req.id).status
                if now == LabelStatus.CANCELLED or (skip and now != LabelStatus.PENDING):
                    # changed by someone else meanwhile: asking again cannot succeed
                    console.print(f"request #{req.id} is {now} now (changed elsewhere); next one")
                    break
                err_console.print(f"[red]{exc}[/red]; try again")
                continue
            done += 1
            console.print(f"saved #{req.id} = {value!r}")
            break
    console.print(f"labelled {done}, skipped {skipped}; no requests left in this session")


@label_app.callback(invoke_without_command=True)
def label(
    ctx: typer.Context,
    repair: int = typer.Option(None, "--repair", help="only requests of this repair id"),
    annotator: str = typer.Option(None, "--annotator", help="who labels (default: current user)"),
) -> None:
    """Label pending requests interactively (each answer is saved at once; 's' skips, 'q' quits)."""
    if ctx.invoked_subcommand is not None:
        return
    _session(repair, annotator)


@label_app.command("export")
def export_cmd(
    fmt: str = typer.Option("label-studio", "--format", "-f", help="label-studio, csv or jsonl"),
    output: Path = typer.Option(..., "--output", "-o", help="file to write"),
    repair: int = typer.Option(None, "--repair", help="only requests of this repair id"),
) -> None:
    """Write the pending requests to a file for Label Studio or another tool."""
    from driftline.active.label_files import export_requests
    from driftline.active.label_studio import export_label_studio, label_studio_config
    from driftline.active.records import is_image, record_of

    check_choice("format", fmt, _FORMATS)
    queue = _queue()
    _known_repair(queue, repair)
    if fmt == "label-studio":
        n = export_label_studio(queue, output, repair)
        reqs = queue.pending(repair)
        classes = next(
            (r.predictions.get("classes") for r in reqs if r.predictions.get("classes")), None
        )
        numbers = bool(reqs) and all(isinstance(r.predicted, float) for r in reqs)
        if classes is not None or numbers:  # class choices, or a number (a regressor)
            image = all(is_image(r) for r in reqs)
            table = any(record_of(r) is not None for r in reqs)
            cfg = output.with_name(output.stem + ".label_config.xml")
            write_atomic(cfg, label_studio_config(classes, image=image, table=table))
            console.print(
                f"wrote {n} task(s) to {output} (labelling config: {cfg}); import the "
                f"annotated JSON export with 'driftline label import FILE'"
            )
            return
        console.print(f"wrote {n} task(s) to {output}")
        return
    n = export_requests(queue, output, fmt, repair)
    console.print(
        f"wrote {n} request(s) to {output}; fill the 'label' "
        f"{'column' if fmt == 'csv' else 'field'}, then 'driftline label import {output}'"
    )


@label_app.command("import")
def import_cmd(
    path: Path = typer.Argument(..., help="CSV, JSON lines or Label Studio JSON export"),
    fmt: str = typer.Option(
        None, "--format", "-f", help="csv, jsonl or label-studio (default: guess)"
    ),
    annotator: str = typer.Option(
        None, "--annotator", help="who labelled (default: from the file)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Read labels from a file (rows without a label leave their request pending)."""
    from driftline.active.label_files import import_labels

    if fmt is not None:
        check_choice("format", fmt, _FORMATS)
    summary = import_labels(_queue(), path, fmt, annotator)
    if summary.errors and not (summary.labelled or summary.unchanged or summary.unknown):
        raise InvalidInputError(f"no row of {path} could be read: {summary.errors[0]}")
    if as_json:
        print_json(summary.to_dict())
    else:
        console.print(
            f"labelled {summary.labelled}, without a label {summary.unchanged}"
            + (f", repeated {summary.duplicates}" if summary.duplicates else "")
            + (f", unknown request ids {summary.unknown[:10]}" if summary.unknown else "")
        )
        for e in summary.errors[:20]:
            err_console.print(f"[yellow]skipped[/yellow] {e}", soft_wrap=True)
    bad = len(summary.errors) + len(summary.unknown)
    if bad:  # the good rows are in; a script must not go on as if every answer were
        raise InvalidInputError(
            f"{bad} row(s) of {path} were not imported (listed above); fix them and import "
            "the file again (the rows already imported are kept)"
        )


@label_app.command("list")
def list_cmd(
    repair: int = typer.Option(None, "--repair", help="only requests of this repair id"),
    status: str = typer.Option(None, "--status", help=f"one of: {', '.join(LabelStatus)}"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List label requests and their labels."""
    queue = _queue()
    _known_repair(queue, repair)
    reqs = queue.requests(repair, status)
    if as_json:
        print_json([{k: v for k, v in r.to_dict().items() if k != "features"} for r in reqs])
        return
    counts = queue.counts(repair)
    t = Table(
        "#",
        "repair",
        "round",
        "strategy",
        "score",
        "predicted",
        "status",
        "label",
        "annotator",
        "asked",
        title="label requests — " + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
    )
    for r in reqs:
        conf = r.predictions.get("confidence")
        pred = (
            "–"
            if r.predicted is None
            else (f"{r.predicted} ({conf:.2f})" if conf is not None else str(r.predicted))
        )
        t.add_row(
            str(r.id),
            "-" if r.repair_id is None else str(r.repair_id),
            str(r.round),
            r.strategy,
            f"{r.score:.3f}",
            pred,
            r.status,
            "" if r.label is None else str(r.label),
            r.annotator or "",
            when(r.created_at),
        )
    console.print(t)


@label_app.command("cancel")
def cancel_cmd(
    request_ids: list[int] = typer.Argument(None, help="request id(s)"),
    repair: int = typer.Option(None, "--repair", help="cancel every pending request of repair N"),
) -> None:
    """Withdraw pending or skipped requests (by id, or all pending ones of a repair)."""
    queue = _queue()
    _known_repair(queue, repair)
    ids = list(request_ids or [])
    if repair is not None:
        ids += [r.id for r in queue.pending(repair)]
    if not ids and repair is None:
        raise InvalidInputError("name request ids or --repair N (see 'driftline label list')")
    changed, touched = 0, set()
    try:
        for rid in dict.fromkeys(ids):
            was = queue.get(rid)
            touched.add(was.repair_id)
            changed += queue.cancel(rid).status != was.status
    finally:
        _sync(queue, touched)
    already = len(set(ids)) - changed
    console.print(
        f"cancelled {changed} request(s)"
        + (f" of repair #{repair}" if repair is not None else "")
        + (f"; {already} already cancelled" if already else "")
    )


def register_commands(app: typer.Typer) -> None:
    """Add the ``label`` command group to the ``driftline`` app."""
    app.add_typer(label_app, name="label")
