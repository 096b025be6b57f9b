"""``driftline demo``: the self-contained end-to-end scenario on scikit-learn's digits.

Scenario "recurring drift": a root model learns upright digits; descendants are fine-tuned on
digits rotated 20°, 40°, 60° (and one is pruned, a side branch); the newest is deployed. The
stream first matches the deployed model, then returns to the upright regime (a recurring
concept) mixed with a little of the newest one. The drift agent fires, the pipeline finds the
healthy ancestor, searches α on 100 validation labels, repairs, validates and re-deploys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from driftline.datasets import DigitsScenario, recurring_drift_scenario, rotated_digits
from driftline.demo.lineage import accuracy, train_lineage
from driftline.drift import DriftAgent, DriftReport
from driftline.params import ModelParams
from driftline.repair import RepairPolicy, RepairResult, repair
from driftline.repair.ancestors import summarize
from driftline.store import Model, Store

DEPLOYMENT = "digits"
POLICY = RepairPolicy(drift_share=0.4)


@dataclass
class WindowRecord:
    index: int
    regime: str
    n: int
    drift: bool
    psi: float
    ks: float
    drifted_share: float
    model: str
    accuracy: float
    action: str = ""


@dataclass
class DemoSummary:
    """What the demo did (also what the HTML report shows)."""

    seed: int
    store: str
    lineage: list[Model] = field(default_factory=list)
    windows: list[WindowRecord] = field(default_factory=list)
    repair: RepairResult | None = None
    test_accuracy: dict[str, float] = field(default_factory=dict)
    html: str | None = None
    seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)


def _stream(
    sc: DigitsScenario, seed: int, window: int, n_before: int, n_after: int
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Windows that first match the deployed model's regime, then today's distribution."""
    rng = np.random.default_rng(seed + 7)
    last = sc.lineage[-1]
    out = []
    for i in range(n_before):
        X, y = rotated_digits(float(last.angles[0]), n=window, seed=seed * 100 + i)
        out.append((last.name, X, y))
    for _ in range(n_after):
        idx = rng.choice(len(sc.current_train.y), size=window, replace=False)
        out.append(("today", sc.current_train.X[idx], sc.current_train.y[idx]))
    return out


def build_lineage(
    store: Store, sc: DigitsScenario, seed: int, fast: bool, progress: Progress | None
) -> list[Model]:
    """Train and register the lineage; returns the registered models in training order."""
    members = train_lineage(
        sc, seed=seed, base_epochs=60 if fast else 200, finetune_epochs=10 if fast else 30
    )
    registered: list[Model] = []
    task = progress.add_task("registering the lineage", total=len(members)) if progress else None
    for m in members:
        parent = [registered[m.parent]] if m.parent is not None else []
        acc = accuracy(m.params, m.regime.X, m.regime.y)
        model = store.register(
            m.params,
            name=m.name,
            parents=parent,
            transform=m.transform if parent else "finetune",
            params=m.settings,
            metrics={"accuracy": acc, "regime": m.regime.name},
            tags={"demo": "recurring", "regime": m.regime.name},
            data=m.regime.X,
        )
        registered.append(model)
        if progress is not None and task is not None:
            progress.advance(task)
    return registered


def run_demo(
    *,
    seed: int = 0,
    fast: bool = False,
    store: Store | str | Path | None = None,
    html_path: str | Path | None = "driftline-demo.html",
    console: Console | None = None,
) -> DemoSummary:
    """Run the scenario end to end; print each step; write the HTML report."""
    started = time.perf_counter()
    con = console or Console()
    st = store if isinstance(store, Store) else Store(store)
    summary = DemoSummary(seed=seed, store=str(st.root or st.url))
    sc = recurring_drift_scenario(seed)
    con.rule("[bold]driftline demo[/bold] · recurring drift on rotated digits")
    con.print(
        "A root model learns upright digits; descendants are fine-tuned on digits rotated "
        f"{', '.join(r.name for r in sc.lineage)}; the newest is deployed as [bold]{DEPLOYMENT}[/bold]. "
        "Then the stream returns to upright digits (a recurring concept) mixed with the new regime."
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=con,
        transient=True,
    ) as bar:
        lineage = build_lineage(st, sc, seed, fast, bar)
    summary.lineage = lineage
    _print_lineage(con, st, lineage)
    deployed = [m for m in lineage if m.name == "digits"][-1]
    st.deploy(deployed, DEPLOYMENT, reason="demo: newest fine-tune", actor="demo")
    con.print(f"deployed [bold]{deployed.ref}[/bold] as deployment:{DEPLOYMENT}")

    window_rows = 250
    stream = _stream(sc, seed, window_rows, 1 if fast else 2, 2 if fast else 4)
    current = st.get(f"deployment:{DEPLOYMENT}")
    agent = _agent(st, current, window_rows)
    table = Table(
        "window",
        "data",
        "rows",
        "mean PSI",
        "mean KS",
        "features drifting",
        "verdict",
        "model",
        "accuracy",
        "action",
        title="drift agent on deployment:digits",
    )
    for i, (regime, X, y) in enumerate(stream):
        report = agent.update(X)[-1]
        means, share = summarize(report)
        acc_before = accuracy(st.load_model_params(current), X, y)
        rec = WindowRecord(
            i,
            regime,
            len(y),
            bool(report.drift),
            means["psi"],
            means["ks"],
            share,
            current.ref,
            acc_before,
        )
        if report.drift:
            st.save_drift_report(current, report, DEPLOYMENT)
            con.print(
                f"\n[bold red]drift[/bold red] in window {i}: {len(report.drifted_features)} of {len(report.features)} features moved — repairing from the lineage"
            )
            result = repair(
                st,
                DEPLOYMENT,
                X,
                (sc.validation.X, sc.validation.y),
                policy=POLICY,
                actor="demo",
                progress=lambda msg: con.print(f"  [dim]· {msg}[/dim]"),
            )
            summary.repair = result
            from driftline.cli.repair import print_result

            print_result(result, con)
            current = st.get(f"deployment:{DEPLOYMENT}")
            agent = _agent(st, current, window_rows)
            rec.action = f"{result.status} → {current.ref}"
        rec.accuracy = acc_before
        summary.windows.append(rec)
        table.add_row(
            str(i),
            regime,
            str(rec.n),
            f"{rec.psi:.3f}",
            f"{rec.ks:.3f}",
            f"{share:.0%}",
            "[red]DRIFT[/red]" if rec.drift else "[green]ok[/green]",
            rec.model,
            f"{acc_before:.3f}",
            rec.action,
        )
    con.print(table)

    test = sc.test
    accs = {"deployed before (drifted)": accuracy(st.load_model_params(deployed), test.X, test.y)}
    if summary.repair and summary.repair.ancestor_id:
        anc = st.get(summary.repair.ancestor_id)
        accs[f"rollback to ancestor {anc.ref}"] = accuracy(
            st.load_model_params(anc), test.X, test.y
        )
    now = st.get(f"deployment:{DEPLOYMENT}")
    accs[f"deployed after ({now.ref})"] = accuracy(st.load_model_params(now), test.X, test.y)
    summary.test_accuracy = accs
    t = Table("model", "accuracy on 400 held-out current digits", title="result")
    for k, v in accs.items():
        t.add_row(k, f"{v:.3f}")
    con.print(t)

    summary.seconds = time.perf_counter() - started
    if html_path:
        from driftline.demo.report import write_report

        summary.html = str(write_report(st, summary, html_path))
        con.print(f"wrote [bold]{summary.html}[/bold]")
    con.print(
        f"done in {summary.seconds:.1f} s. Explore: [bold]driftline lineage deployment:{DEPLOYMENT}[/bold], "
        "driftline repairs, driftline deployments --history digits"
    )
    return summary


def _agent(store: Store, model: Model, window: int) -> DriftAgent:
    """A tumbling-window agent on the model's training signature."""
    return DriftAgent(store.signature(model.id), window=window, drift_share=POLICY.drift_share)


def _print_lineage(con: Console, store: Store, lineage: list[Model]) -> None:
    t = Table(
        "model", "made by", "from", "regime", "train accuracy", "signature", title="the lineage"
    )
    for m in lineage:
        parents = store.parents(m.id)
        t.add_row(
            m.ref,
            parents[0].kind if parents else "train",
            store.get(parents[0].parent).ref if parents else "–",
            str(m.metrics.get("regime")),
            f"{m.metrics.get('accuracy', float('nan')):.3f}",
            (m.signature_id or "")[:12],
        )
    con.print(t)


__all__ = ["run_demo", "DemoSummary", "ModelParams", "DriftReport"]
