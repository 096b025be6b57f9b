"""The demo's drift agent on one deployment: window by window, repair on the first drift."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.demo.records import Narrator, ScenarioRun, WindowRecord
from driftline.drift import DriftAgent
from driftline.present.drift_tables import verdict_cell, watch_table
from driftline.repair import RepairPolicy, RepairResult, repair
from driftline.repair.ancestors import summarize
from driftline.repair.routed_model import load_predictor, regime_mix_report
from driftline.store import Model, Store

__all__ = ["POLICY", "WINDOW_ROWS", "Reactions", "watch", "window_accuracy"]

# no continued-training row: in the new-regime story active learning takes over
POLICY = RepairPolicy(drift_share=0.4, continued_steps=0)
WINDOW_ROWS = 250

#: a stream: (regime name, rows, labels) per window
Stream = list[tuple[str, Any, np.ndarray]]


@dataclass(frozen=True)
class Reactions:
    """What the agent does around a repair: the policy, the window size, and what follows a
    repair that needs labels (``on_needs_labels``) or one that does not (``on_repaired``)."""

    policy: RepairPolicy = POLICY
    window_rows: int = WINDOW_ROWS
    on_needs_labels: Callable[[RepairResult, Any], None] | None = None
    on_repaired: Callable[[RepairResult, Any], None] | None = None


def window_accuracy(store: Store, ref: str, X: Any, y: np.ndarray) -> float:
    """Accuracy of the model ``ref`` on rows ``X`` with labels ``y``."""
    p = load_predictor(store, ref)
    classes = np.asarray(getattr(p, "classes", np.arange(10)))
    return float(np.mean(classes[np.argmax(p.predict_proba(X), axis=1)] == y))


def _agent(store: Store, model: Model, how: Reactions) -> DriftAgent:
    """A tumbling-window agent on the model's training signature."""
    return DriftAgent(
        store.signature(model.id), window=how.window_rows, drift_share=how.policy.drift_share
    )


def _repair_window(
    store: Store,
    run: ScenarioRun,
    agent: DriftAgent,
    report: Any,
    window: tuple[int, Any],
    validation: tuple[Any, np.ndarray] | None,
    out: Narrator,
    how: Reactions,
) -> RepairResult:
    """Save the drifting window's report, repair the deployment from its lineage, print the
    result and run the follow-up (labels, or what ``on_repaired`` does)."""
    from driftline.present.terminal import print_repair_result
    from driftline.serve.agents import record_window  # the window, for report pages

    i, X = window
    current = store.get(f"deployment:{run.deployment}")
    rid = store.save_drift_report(current, report, run.deployment)
    record_window(store, rid, X, agent.reference.feature_names)
    out.con.print(
        f"\n[bold red]drift[/bold red] on deployment:{run.deployment}, window {i}: "
        f"{len(report.drifted_features)} of {len(report.features)} features moved — "
        "repairing from the lineage"
    )
    result = repair(
        store, run.deployment, X, validation, policy=how.policy, actor="demo", progress=out.say
    )
    run.repair = result
    print_repair_result(result, out.con)
    if result.needs_labels and how.on_needs_labels is not None:
        how.on_needs_labels(result, X)
    elif how.on_repaired is not None:
        how.on_repaired(result, X)
    return result


def watch(
    store: Store,
    run: ScenarioRun,
    stream: Stream,
    validation: tuple[Any, np.ndarray] | None,
    out: Narrator,
    mix_members: list[str],
    how: Reactions | None = None,
) -> None:
    """Run a drift agent on ``run.deployment`` window by window; repair on the first drift."""
    how = how or Reactions()
    current = store.get(f"deployment:{run.deployment}")
    agent = _agent(store, current, how)
    table = watch_table(run.deployment)
    for i, (regime, X, y) in enumerate(stream):
        out.steps.count(i, len(stream), f"deployment:{run.deployment}: window {i + 1}")
        report = agent.update(X)[-1]
        means, share = summarize(report)
        acc = window_accuracy(store, current.id, X, y)
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
            result = _repair_window(store, run, agent, report, (i, X), validation, out, how)
            current = store.get(f"deployment:{run.deployment}")
            agent = _agent(store, current, how)
            rec.action = f"{result.status} → {current.ref}"
        run.windows.append(rec)
        table.add_row(
            str(i),
            regime,
            f"{rec.psi:.3f}",
            f"{rec.ks:.3f}",
            f"{share:.0%}",
            verdict_cell(rec.drift),
            rec.model,
            f"{acc:.3f}",
            rec.action,
        )
    out.con.print(table)
