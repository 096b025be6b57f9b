"""CLI commands for drift: signature, drift, agent, reports."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import typer

from driftline.cli import roles as R
from driftline.cli.common import console, err_console, open_store, print_json, talkative
from driftline.errors import InvalidInputError
from driftline.present.drift_tables import agent_row, agent_table, drift_reports_table
from driftline.present.progress import Steps, progress_bar
from driftline.safefile import write_atomic


def _table(path: Path, drop: list[str] | None = None) -> dict:
    from driftline.drift import read_table

    cols = read_table(path)
    for c in drop or []:
        cols.pop(c, None)
    return cols


class Engine(StrEnum):
    """Where a data set is summarised: this process, or per partition on Dask."""

    local = "local"
    dask = "dask"


_ENGINE = typer.Option(
    Engine.local,
    "--engine",
    help="local, or dask: Parquet partitions summarised on Dask and merged in order",
)
_SCHEDULER = typer.Option(
    None,
    "--scheduler",
    help="Dask scheduler address (tcp://host:8786); default: threads on this machine",
)


def signature(
    data: str = typer.Argument(
        ...,
        help="CSV, Parquet or JSON-lines file, or a folder of them "
        "(--engine dask: Parquet folder, glob or s3:// URL)",
    ),
    output: Path = typer.Option(None, "--output", "-o", help="write the signature bytes here"),
    attach: str = typer.Option(None, "--attach", help="set it as this model's training signature"),
    categorical: list[str] = typer.Option(
        None, "--categorical", help="declare a column categorical"
    ),
    drop: list[str] = typer.Option(None, "--drop", help="leave out a column (e.g. the label)"),
    target: str = R.TARGET,
    prediction: list[str] = R.PREDICTION,
    id: list[str] = R.ID,
    timestamp: list[str] = R.TIMESTAMP,
    ignore: list[str] = R.IGNORE,
    no_auto_roles: bool = R.NO_AUTO,
    as_json: bool = typer.Option(False, "--json", help="print the per-feature summary as JSON"),
    engine: Engine = _ENGINE,
    scheduler: str = _SCHEDULER,
) -> None:
    """Summarise a data set into a mergeable signature (file and/or attached to a model)."""
    from driftline.drift.roles import check_no_empty_features

    if output is None and attach is None and not as_json:
        raise InvalidInputError("say where the signature goes: -o FILE, --attach REF, or --json")
    spec = R.role_spec(target, prediction, id, timestamp, ignore, no_auto_roles)
    with progress_bar(err_console, enabled=talkative() and not as_json) as bar:
        if engine is Engine.dask:
            from driftline.drift.dask_engine import signature_for_location

            bar.say(f"summarising {data} on Dask")
            sig = signature_for_location(
                data,
                drop=drop or (),
                categorical=categorical or None,
                scheduler=scheduler,
                roles=spec,
            )
        else:
            sig = _local_signature(Path(data), drop, categorical, spec, bar)
        check_no_empty_features(sig)
        bar.say("calibrating the drift tests' null distributions")
        blob = sig.to_bytes() if output is not None or not as_json else b""
        if output is not None:
            write_atomic(output, blob)
        if attach is not None:
            bar.say(f"attaching to {attach}")
            open_store().attach_signature(attach, sig)
    if as_json:
        print_json(
            {
                "id": sig.id,
                "n_rows": sig.n_rows,
                "features": sig.summary(),
                "roles": {c: d.to_dict() for c, d in sig.roles.items()},
            }
        )
        return
    console.print(
        f"signature {sig.id[:12]}: {sig.n_rows} rows, {len(sig.features)} features, "
        f"{len(blob) / 1024:.1f} KiB"
        + (f" → {output}" if output else "")
        + (f", attached to {attach}" if attach else "")
    )
    R.print_roles(sig, console)


def _local_signature(
    path: Path, drop: list[str] | None, categorical: list[str] | None, spec: Any, bar: Steps
) -> Any:
    """A signature of a file or folder summarised in this process, its progress on ``bar``."""
    from driftline.drift import Signature

    bar.say(f"reading {path}")
    table = _table(path, drop)
    bar.say("summarising rows")
    return Signature.from_data(
        table,
        categorical=categorical or None,
        roles=spec,
        progress=lambda done, total: bar.count(done, total, "summarising rows"),
    )


def drift(
    ref: str = typer.Argument(
        ..., help="model reference (its training signature is the reference)"
    ),
    data: str = typer.Argument(
        ...,
        help="current data: CSV, Parquet or JSON lines "
        "(--engine dask: Parquet folder, glob or s3:// URL)",
    ),
    drift_share: float = typer.Option(
        None, "--drift-share", help="share of features that must drift"
    ),
    rule: str = typer.Option(
        "calibrated", "--rule", help="calibrated (default) | effect | bonferroni | bh"
    ),
    drop: list[str] = typer.Option(None, "--drop", help="leave out a column (e.g. the label)"),
    target: str = R.TARGET,
    prediction: list[str] = R.PREDICTION,
    id: list[str] = R.ID,
    timestamp: list[str] = R.TIMESTAMP,
    ignore: list[str] = R.IGNORE,
    save: bool = typer.Option(True, "--save/--no-save", help="store the report"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    engine: Engine = _ENGINE,
    scheduler: str = _SCHEDULER,
) -> None:
    """Compare data with a model's training signature; exit 0 (no drift) or 1 (drift).

    Roles recorded in the signature apply; the role flags add columns that are not tested."""
    from driftline.drift import compare, report_table

    store = open_store()
    model = store.get(ref)
    kw: dict = {"rule": rule, "roles": R.role_spec(target, prediction, id, timestamp, ignore)}
    if drift_share is not None:
        kw["drift_share"] = drift_share
    with progress_bar(err_console, enabled=talkative() and not as_json) as bar:
        if engine is Engine.dask:
            from driftline.drift.dask_engine import drift_for_location

            bar.say(f"comparing {data} on Dask")
            report = drift_for_location(
                store.signature(model.id), data, drop=drop or (), scheduler=scheduler, **kw
            )
        else:
            bar.say(f"reading {data}")
            table = _table(Path(data), drop)
            bar.say(f"comparing with {model.ref}'s training signature")
            report = compare(store.signature(model.id), table, **kw)
    if save:
        store.save_drift_report(model.id, report)
    if as_json:
        print_json(report.to_dict())
    else:
        console.print(report_table(report))
    raise typer.Exit(1 if report.drift else 0)


def agent(
    ref: str = typer.Argument(..., help="model reference"),
    source: str = typer.Option(..., "--source", help="file, folder of files, or - for stdin"),
    window: int = typer.Option(5000, "--window", help="rows per window"),
    mode: str = typer.Option("tumbling", "--mode", help="tumbling | sliding"),
    step: int = typer.Option(None, "--step", help="rows between sliding reports"),
    time_column: str = typer.Option(
        None, "--time-column", help="timestamp column for time windows"
    ),
    window_seconds: float = typer.Option(None, "--window-seconds", help="window length in seconds"),
    drift_share: float = typer.Option(
        None, "--drift-share", help="share of features that must drift"
    ),
    batch_rows: int = typer.Option(10_000, "--batch-rows", help="rows read per batch"),
    target: str = R.TARGET,
    prediction: list[str] = R.PREDICTION,
    id: list[str] = R.ID,
    timestamp: list[str] = R.TIMESTAMP,
    ignore: list[str] = R.IGNORE,
    save: bool = typer.Option(True, "--save/--no-save", help="store each window's report"),
    as_json: bool = typer.Option(False, "--json", help="one JSON report per line"),
    follow: bool = typer.Option(
        False, "--follow", help="keep reading rows appended to the file (or stdin) as they come"
    ),
    idle_exit: float = typer.Option(
        None, "--idle-exit", help="with --follow: stop after this many seconds without new rows"
    ),
    estimate_accuracy: bool = typer.Option(
        False,
        "--estimate-accuracy",
        help="add the model's label-free accuracy estimate (CBPE; "
        "calibrated by the model metric 'cbpe' when registered) to each window",
    ),
    multivariate: bool = typer.Option(
        False, "--multivariate", help="add the multivariate likelihood drift score per window"
    ),
) -> None:
    """Run a drift agent over a stream; print one line per window; exit 1 if any window drifted."""
    from driftline.drift import AgentSettings, DriftAgent, RuleSettings
    from driftline.drift.agent_settings import WindowMode, WindowSettings
    from driftline.repair.window_proba import model_aware_settings

    store = open_store()
    model = store.get(ref)
    sig = store.signature(model.id)
    windows = WindowSettings(
        window, cast(WindowMode, mode), step, time_column=time_column, seconds=window_seconds
    )
    agent_ = DriftAgent(
        sig,
        AgentSettings(windows, RuleSettings(drift_share=drift_share)),
        roles=R.role_spec(target, prediction, id, timestamp, ignore),
        model_aware=model_aware_settings(
            store, model, sig, estimate=estimate_accuracy, multivariate=multivariate
        ),
    )
    out = WindowPrinter(store, model, save, as_json, estimate_accuracy, multivariate)
    with progress_bar(
        err_console, enabled=talkative() and not as_json, description="reading"
    ) as bar:
        for batch in _batches(source, batch_rows, follow, idle_exit):
            for rep in agent_.update(batch):
                out.emit(rep)
            bar.count(agent_.rows_seen, None, f"{agent_.windows_emitted} windows")
        tail = agent_.flush()
        if tail is not None:
            out.emit(tail)
    if agent_.rows_seen == 0:  # never report an empty stream as "no drift"
        raise InvalidInputError(f"{source}: 0 rows read, so there is no window to judge")
    if not as_json:
        console.print(out.table)
    raise typer.Exit(1 if out.any_drift else 0)


def _batches(source: str, batch_rows: int, follow: bool, idle_exit: float | None) -> Any:
    """Batches of rows from a file, a folder or stdin ("-"); with ``follow``, rows appended
    later too (beside a model served elsewhere: tail its input log)."""
    src: str | Path = "-" if source == "-" else Path(source)
    if follow:
        from driftline.serve.follow import follow_batches

        return follow_batches(src, batch_rows, idle_exit=idle_exit)
    from driftline.drift import iter_batches

    return iter_batches(src, batch_rows)


@dataclass
class WindowPrinter:
    """Where the agent's window reports go: the store (``save``), one JSON line each
    (``as_json``), or a row of :attr:`table`; remembers whether any window drifted."""

    store: Any
    model: Any
    save: bool
    as_json: bool
    estimate: bool
    multivariate: bool
    any_drift: bool = False

    def __post_init__(self) -> None:
        self.table = agent_table(
            f"drift agent on {self.model.ref}",
            estimate=self.estimate,
            multivariate=self.multivariate,
        )

    def emit(self, report: Any) -> None:
        from driftline.drift import drift_score

        self.any_drift |= bool(report.drift)
        if self.save:
            self.store.save_drift_report(self.model.id, report)
        if self.as_json:
            print_json(report.to_dict(), lines=True)
            return
        self.table.add_row(
            *agent_row(
                report,
                drift_score(report),
                estimate=self.estimate,
                multivariate=self.multivariate,
            )
        )


def reports(
    ref: str = typer.Argument(None, help="model reference (default: all models)"),
    since: str = typer.Option(
        None, "--since", help="ISO time, e.g. 2026-11-01 or 2026-11-01T12:00"
    ),
    until: str = typer.Option(None, "--until", help="ISO time"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """List stored drift reports, optionally for one model and a time range."""
    from datetime import datetime

    def ts(s: str | None) -> float | None:
        if s is None:
            return None
        try:
            return datetime.fromisoformat(s).timestamp()
        except ValueError as exc:
            raise InvalidInputError(
                f"bad time {s!r}: use ISO format like 2026-11-01T12:00"
            ) from exc

    store = open_store()
    rows = store.drift_reports(ref, ts(since), ts(until))
    if as_json:
        print_json(rows)
        return
    console.print(drift_reports_table(rows, lambda mid: store.get(mid).ref))


def register_commands(app: typer.Typer) -> None:
    app.command()(signature)
    app.command()(drift)
    app.command()(agent)
    app.command()(reports)
