"""``driftline demo``: the self-contained end-to-end scenario on scikit-learn's digits.

One lineage: a root model learns upright digits; descendants are fine-tuned on digits rotated
20°, 40°, 60° (and one is magnitude-pruned, a side branch). The newest serves three
deployments, each fed a different stream that first matches it, then drifts:

1. ``digits`` — *recurring drift*: the stream returns to upright digits (mixed with a little of
   the new regime). The agent fires, the pipeline finds the healthy ancestor, searches α on 100
   validation labels, repairs, validates and re-deploys.
2. ``digits-mixed`` — *mixed regimes*: half upright, half rotated 60°. No single interpolated
   model serves both; routing each input to the member whose training data it resembles wins.
3. ``digits-new`` — *a new regime* (inverted digits) that no ancestor has seen. No ancestor is
   healthy, so active learning asks a (simulated) human for the most informative labels, round
   by round; one last round is left pending for a real human (``driftline label``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from driftline.datasets import (
    DigitsScenario,
    mixed_regime_scenario,
    new_regime_scenario,
    recurring_drift_scenario,
    rotated_digits,
)
from driftline.demo.lineage import accuracy, train_lineage
from driftline.drift import DriftAgent
from driftline.errors import InvalidInputError
from driftline.repair import RepairPolicy, RepairResult, repair
from driftline.repair.ancestors import summarize
from driftline.repair.routed_model import load_predictor, regime_mix_report
from driftline.store import Model, Store

DEPLOYMENT = "digits"
# no continued-training row: the new-regime story shows active learning taking over
POLICY = RepairPolicy(drift_share=0.4, continued_steps=0)
WINDOW_ROWS = 250


@dataclass
class WindowRecord:
    """One stream window as the agent saw it."""

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
    regime_mix: dict[str, float] = field(default_factory=dict)


@dataclass
class ScenarioRun:
    """What happened on one deployment."""

    name: str
    deployment: str
    title: str
    windows: list[WindowRecord] = field(default_factory=list)
    repair: RepairResult | None = None
    test_accuracy: dict[str, float] = field(default_factory=dict)
    active: Any = None
    curve: list[dict[str, Any]] = field(default_factory=list)
    pending: int = 0
    #: label requests as the annotator saw them (tabular data: the original records)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DemoSummary:
    """What the demo did (also what the HTML report shows)."""

    seed: int
    store: str
    lineage: list[Model] = field(default_factory=list)
    scenarios: list[ScenarioRun] = field(default_factory=list)
    html: str | None = None
    seconds: float = 0.0

    @property
    def windows(self) -> list[WindowRecord]:
        return self.scenarios[0].windows if self.scenarios else []

    @property
    def repair(self) -> RepairResult | None:
        return self.scenarios[0].repair if self.scenarios else None

    @property
    def test_accuracy(self) -> dict[str, float]:
        return self.scenarios[0].test_accuracy if self.scenarios else {}


def build_lineage(
    store: Store, sc: DigitsScenario, seed: int, fast: bool, progress: Progress | None
) -> list[Model]:
    """Train and register the lineage; returns the registered models in training order."""
    members = train_lineage(
        sc, seed=seed, base_epochs=60 if fast else 200, finetune_epochs=10 if fast else 30
    )
    registered: list[Model] = []
    task = (
        progress.add_task("training and registering the lineage", total=len(members))
        if progress
        else None
    )
    for m in members:
        parent = [registered[m.parent]] if m.parent is not None else []
        model = store.register(
            m.params,
            name=m.name,
            parents=parent,
            transform=m.transform if parent else "finetune",
            params=m.settings,
            metrics={
                "accuracy": accuracy(m.params, m.regime.X, m.regime.y),
                "regime": m.regime.name,
            },
            tags={"demo": "digits", "regime": m.regime.name},
            data=m.regime.X,
        )
        registered.append(model)
        if progress is not None and task is not None:
            progress.advance(task)
    return registered


def _test_accuracy(store: Store, ref: str, X: np.ndarray, y: np.ndarray) -> float:
    p = load_predictor(store, ref)
    classes = np.asarray(getattr(p, "classes", np.arange(10)))
    return float(np.mean(classes[np.argmax(p.predict_proba(X), axis=1)] == y))


def _stream(
    before: DigitsScenario, after: DigitsScenario, seed: int, n_before: int, n_after: int
) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Windows that first match the deployed model's regime, then today's distribution."""
    rng = np.random.default_rng(seed + 7)
    last = before.lineage[-1]
    out = []
    for i in range(n_before):
        X, y = rotated_digits(float(last.angles[0]), n=WINDOW_ROWS, seed=seed * 100 + i)
        out.append((last.name, X, y))
    for _ in range(n_after):
        idx = rng.choice(len(after.current_train.y), size=WINDOW_ROWS, replace=False)
        out.append(("today", after.current_train.X[idx], after.current_train.y[idx]))
    return out


def watch(
    store: Store,
    run: ScenarioRun,
    stream: list[tuple[str, np.ndarray, np.ndarray]],
    validation: tuple[np.ndarray, np.ndarray] | None,
    con: Console,
    mix_members: list[str],
    on_needs_labels: Callable[[RepairResult, Any], None] | None = None,
    policy: RepairPolicy = POLICY,
    on_repaired: Callable[[RepairResult, Any], None] | None = None,
    window_rows: int = WINDOW_ROWS,
) -> None:
    """Run a drift agent on ``run.deployment`` window by window; repair on drift."""
    current = store.get(f"deployment:{run.deployment}")
    agent = _agent(store, current, policy, window_rows)
    table = Table(
        "window",
        "data",
        "mean PSI",
        "mean KS",
        "features drifting",
        "verdict",
        "model",
        "accuracy",
        "action",
        title=f"drift agent on deployment:{run.deployment}",
    )
    for i, (regime, X, y) in enumerate(stream):
        report = agent.update(X)[-1]
        means, share = summarize(report)
        acc = _test_accuracy(store, current.id, X, y)
        rec = WindowRecord(
            i,
            regime,
            len(y),
            bool(report.drift),
            means["psi"],
            means["ks"],
            share,
            current.ref,
            acc,
            regime_mix=regime_mix_report(store, mix_members, X),
        )
        if report.drift and run.repair is None:
            rid = store.save_drift_report(current, report, run.deployment)
            from driftline.serve.agents import record_window  # the window, for report pages

            record_window(store, rid, X, agent.reference.feature_names)
            con.print(
                f"\n[bold red]drift[/bold red] on deployment:{run.deployment}, window {i}: "
                f"{len(report.drifted_features)} of {len(report.features)} features moved — "
                "repairing from the lineage"
            )
            result = repair(
                store,
                run.deployment,
                X,
                validation,
                policy=policy,
                actor="demo",
                progress=lambda msg: con.print(f"  [dim]· {msg}[/dim]"),
            )
            run.repair = result
            from driftline.cli.repair import print_result

            print_result(result, con)
            if result.needs_labels and on_needs_labels is not None:
                on_needs_labels(result, X)
            elif on_repaired is not None:
                on_repaired(result, X)
            current = store.get(f"deployment:{run.deployment}")
            agent = _agent(store, current, policy, window_rows)
            rec.action = f"{result.status} → {current.ref}"
        run.windows.append(rec)
        table.add_row(
            str(i),
            regime,
            f"{rec.psi:.3f}",
            f"{rec.ks:.3f}",
            f"{share:.0%}",
            "[red]DRIFT[/red]" if rec.drift else "[green]ok[/green]",
            rec.model,
            f"{acc:.3f}",
            rec.action,
        )
    con.print(table)


def _agent(
    store: Store, model: Model, policy: RepairPolicy = POLICY, window_rows: int = WINDOW_ROWS
) -> DriftAgent:
    """A tumbling-window agent on the model's training signature."""
    return DriftAgent(store.signature(model.id), window=window_rows, drift_share=policy.drift_share)


def _result_table(con: Console, run: ScenarioRun, test: Any) -> None:
    t = Table(
        "model", f"accuracy on {len(test.y)} held-out current digits", title=f"result · {run.title}"
    )
    for k, v in run.test_accuracy.items():
        t.add_row(k, f"{v:.3f}")
    con.print(t)


def recurring(
    store: Store, lineage: list[Model], seed: int, fast: bool, con: Console
) -> ScenarioRun:
    sc = recurring_drift_scenario(seed)
    run = ScenarioRun("recurring", DEPLOYMENT, "recurring drift")
    con.rule("[bold]1 · recurring drift[/bold]: the stream returns to upright digits")
    drifted = lineage[-2]
    watch(
        store,
        run,
        _stream(sc, sc, seed, 1 if fast else 2, 2 if fast else 3),
        (sc.validation.X, sc.validation.y),
        con,
        [m.id for m in lineage[:-1]],
    )
    accs = {"deployed before (drifted)": _test_accuracy(store, drifted.id, sc.test.X, sc.test.y)}
    if run.repair and run.repair.ancestor_id:
        anc = store.get(run.repair.ancestor_id)
        accs[f"rollback to ancestor {anc.ref}"] = _test_accuracy(
            store, anc.id, sc.test.X, sc.test.y
        )
    now = store.get(f"deployment:{run.deployment}")
    accs[f"deployed after ({now.ref})"] = _test_accuracy(store, now.id, sc.test.X, sc.test.y)
    run.test_accuracy = accs
    _result_table(con, run, sc.test)
    return run


def mixed(store: Store, lineage: list[Model], seed: int, fast: bool, con: Console) -> ScenarioRun:
    sc = mixed_regime_scenario(seed, 0.5)
    run = ScenarioRun("mixed", "digits-mixed", "mixed regimes (50% upright, 50% rotated 60°)")
    con.rule("[bold]2 · mixed regimes[/bold]: half upright, half rotated 60°")
    drifted = lineage[-2]
    store.deploy(drifted, run.deployment, reason="demo: newest fine-tune", actor="demo")
    watch(
        store,
        run,
        _stream(sc, sc, seed + 1, 1, 2 if fast else 3),
        (sc.validation.X, sc.validation.y),
        con,
        [m.id for m in lineage[:-1]],
    )
    accs = {"deployed before (drifted)": _test_accuracy(store, drifted.id, sc.test.X, sc.test.y)}
    rep = run.repair
    if rep and rep.ancestor_id:
        anc = store.get(rep.ancestor_id)
        accs[f"rollback to ancestor {anc.ref}"] = _test_accuracy(
            store, anc.id, sc.test.X, sc.test.y
        )
    now = store.get(f"deployment:{run.deployment}")
    accs[f"deployed after ({now.ref}, {rep.chosen if rep else '-'})"] = _test_accuracy(
        store, now.id, sc.test.X, sc.test.y
    )
    run.test_accuracy = accs
    _result_table(con, run, sc.test)
    return run


def new_regime(
    store: Store, lineage: list[Model], seed: int, fast: bool, con: Console
) -> ScenarioRun:
    from driftline.active import LabelQueue, SimulatedOracle, run_active_learning

    sc = new_regime_scenario(seed, kind="invert")
    run = ScenarioRun("new", "digits-new", "a new regime (inverted digits)")
    con.rule("[bold]3 · a new regime[/bold]: inverted digits, unlike anything in the lineage")
    drifted = lineage[-2]
    store.deploy(drifted, run.deployment, reason="demo: newest fine-tune", actor="demo")
    pool_X, pool_y = sc.current_train.X, sc.current_train.y
    budget = 60 if fast else 100

    def learn(result: RepairResult, _window: np.ndarray) -> None:
        con.print(
            f"  no ancestor is healthy: asking for labels ({budget} at most, 20 per round, "
            "lineage query-by-committee with a diversity step)"
        )
        al = run_active_learning(
            store,
            result,
            pool_X,
            SimulatedOracle(pool_X, pool_y),
            budget=budget,
            batch=20,
            strategy="qbc_vote",
            diversity=True,
            target_accuracy=0.95,
            validation=(sc.validation.X, sc.validation.y),
            actor="demo",
            seed=seed,
            progress=lambda msg: con.print(f"  [dim]· {msg}[/dim]"),
        )
        run.active = al
        t = Table(
            "round", "labels", "model", "val accuracy", "test accuracy", title="accuracy vs labels"
        )
        t.add_row(
            "0",
            "0",
            result.repaired_ref or store.get(result.drifted_id).ref,
            f"{al.before.get('accuracy', float('nan')):.3f}",
            f"{_test_accuracy(store, result.repaired_id or result.drifted_id, sc.test.X, sc.test.y):.3f}",
        )
        run.curve.append(
            {"labels": 0, "test": _test_accuracy(store, result.drifted_id, sc.test.X, sc.test.y)}
        )
        for r in al.rounds:
            test_acc = _test_accuracy(store, r.model_id, sc.test.X, sc.test.y)
            run.curve.append({"labels": r.labels, "test": test_acc, "val": r.after.get("accuracy")})
            t.add_row(
                str(r.round),
                str(r.labels),
                r.model_ref,
                f"{r.after.get('accuracy', float('nan')):.3f}",
                f"{test_acc:.3f}",
            )
        con.print(t)
        con.print(f"  {al.status}: {al.message}")
        # one more round for a real human: queue it and stop
        run_active_learning(
            store,
            result,
            pool_X,
            None,
            budget=al.labels_used + 10,
            batch=10,
            strategy="qbc_vote",
            diversity=True,
            validation=(sc.validation.X, sc.validation.y),
            actor="demo",
            seed=seed,
        )
        run.pending = len(LabelQueue(store).pending(result.repair_id))
        con.print(
            f"  [bold]{run.pending} label requests are waiting for a human[/bold] "
            f"(repair #{result.repair_id}, {result.status}): answer them with "  # as recorded
            "[bold]driftline label[/bold], or [bold]driftline label export --format label-studio -o tasks.json[/bold]"
        )

    watch(
        store,
        run,
        _stream(sc, sc, seed + 2, 1, 2),
        (sc.validation.X, sc.validation.y),
        con,
        [m.id for m in lineage[:-1]],
        on_needs_labels=learn,
    )
    accs = {"deployed before (drifted)": _test_accuracy(store, drifted.id, sc.test.X, sc.test.y)}
    if run.repair and run.repair.repaired_id:
        accs[f"lineage repair alone ({store.get(run.repair.repaired_id).ref})"] = _test_accuracy(
            store, run.repair.repaired_id, sc.test.X, sc.test.y
        )
    if run.active is not None:
        accs[f"after {run.active.labels_used} labels ({run.active.final_ref})"] = _test_accuracy(
            store, run.active.final_id, sc.test.X, sc.test.y
        )
    run.test_accuracy = accs
    _result_table(con, run, sc.test)
    return run


def run_demo(
    *,
    seed: int = 0,
    fast: bool = False,
    store: Store | str | Path | None = None,
    html_path: str | Path | None = "driftline-demo.html",
    console: Console | None = None,
    scenarios: tuple[str, ...] = ("recurring", "mixed", "new", "tabular"),
) -> DemoSummary:
    """Run the scenarios end to end; print each step; write the HTML report."""
    started = time.perf_counter()
    con = console or Console()
    st = store if isinstance(store, Store) else Store(store)
    summary = DemoSummary(seed=seed, store=str(st.root or st.url))
    sc = recurring_drift_scenario(seed)
    steps = {"recurring": recurring, "mixed": mixed, "new": new_regime}
    unknown = [s for s in scenarios if s not in (*steps, "tabular")]
    if unknown:
        raise InvalidInputError(
            f"unknown scenario(s) {', '.join(unknown)}; use {', '.join((*steps, 'tabular'))}"
        )
    if not any(s in steps for s in scenarios):
        return _finish_demo(st, summary, scenarios, seed, fast, con, html_path, started)
    con.rule("[bold]driftline demo[/bold] · lineage-guided repair on rotated digits")
    con.print(
        "A root model learns upright digits; descendants are fine-tuned on digits rotated "
        f"{', '.join(r.name for r in sc.lineage)} (plus a pruned branch); the newest is deployed. "
        "Three streams then drift in three different ways."
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
    newest = lineage[-2]  # the last fine-tune (the pruned branch is registered after it)
    st.deploy(newest, DEPLOYMENT, reason="demo: newest fine-tune", actor="demo")
    con.print(f"deployed [bold]{newest.ref}[/bold] as deployment:{DEPLOYMENT}")
    for name in scenarios:
        if name in steps:
            summary.scenarios.append(steps[name](st, lineage, seed, fast, con))
    return _finish_demo(st, summary, scenarios, seed, fast, con, html_path, started)


def _finish_demo(
    st: Store,
    summary: DemoSummary,
    scenarios: tuple[str, ...],
    seed: int,
    fast: bool,
    con: Console,
    html_path: str | Path | None,
    started: float,
) -> DemoSummary:
    """Run the tabular scenario if asked, then the timing and the HTML report."""
    if "tabular" in scenarios:
        from driftline.demo.tabular import tabular

        summary.scenarios.append(tabular(st, seed, fast, con))
    summary.seconds = time.perf_counter() - started
    dep = summary.scenarios[0].deployment if summary.scenarios else DEPLOYMENT
    if html_path:
        from driftline.demo.report import write_report

        summary.html = str(write_report(st, summary, html_path))
        con.print(f"wrote [bold]{summary.html}[/bold]")
    con.print(
        f"done in {summary.seconds:.1f} s. Explore: [bold]driftline lineage deployment:{dep}[/bold], "
        f"driftline repairs, driftline deployments --history {dep}, driftline label"
    )
    return summary


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


__all__ = ["run_demo", "DemoSummary", "ScenarioRun", "WindowRecord"]
