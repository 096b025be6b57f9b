"""The demo's HTML report: drift per window, regime mix, accuracy before/after, the repairs and
accuracy versus labels as a story page in front of the dashboard's views (lineage, deployments,
drift reports, repairs). One offline file: Vega-Lite and Cytoscape inlined."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from driftline.demo import html

if TYPE_CHECKING:
    from driftline.demo.records import DemoSummary, ScenarioRun
    from driftline.store import Store


def _drift_section(run: ScenarioRun) -> str:
    w = run.windows
    x = [r.index for r in w]
    out = html.line_chart(
        {
            "mean PSI": [r.psi for r in w],
            "mean KS D": [r.ks for r in w],
            "share drifting": [r.drifted_share for r in w],
        },
        x=x,
        title="drift metrics per window (vs the deployed model's training signature)",
        x_label="window",
        y_label="value",
        hlines={"40% drifting": 0.4},
    )
    out += html.line_chart(
        {"deployed model": [r.accuracy for r in w]},
        x=x,
        title="accuracy of the deployed model on each window (labels known in the simulation)",
        x_label="window",
        y_label="accuracy",
    )
    if any(r.regime_mix for r in w):
        out += html.stacked_bars(
            [(f"window {r.index}", r.regime_mix) for r in w],
            title="regime mix: which lineage member's training data explains each share of the window",
        )
    out += html.table(
        [
            "window",
            "data",
            "rows",
            "mean PSI",
            "mean KS",
            "drifting",
            "drift",
            "model",
            "accuracy",
            "action",
        ],
        [
            [
                r.index,
                r.regime,
                r.n,
                r.psi,
                r.ks,
                f"{r.drifted_share:.0%}",
                "yes" if r.drift else "no",
                r.model,
                r.accuracy,
                r.action,
            ]
            for r in w
        ],
    )
    return out


def _repair_section(run: ScenarioRun) -> str:
    rep = run.repair
    if rep is None:
        return "<p>No drift, no repair.</p>"
    out = f"<p>Repair #{rep.repair_id}: <b>{rep.status}</b> — {rep.message}.</p>"
    if rep.search:
        rows = [
            [
                r["ref"],
                r["hops"],
                " ← ".join(r["path_kinds"]),
                r["drift"].get("psi", float("nan")),
                r["drift"].get("ks", float("nan")),
                f"{r['drifted_share']:.0%}",
                "yes" if r["healthy"] else "no",
            ]
            for r in rep.search["rows"]
        ]
        out += html.table(
            ["ancestor", "hops", "path", "mean PSI", "mean KS", "drifting", "healthy"], rows
        )
    if rep.alpha_evaluations:
        evals = sorted(rep.alpha_evaluations)
        out += html.line_chart(
            {rep.alpha_objective or "objective": [v for _, v in evals]},
            x=[round(a, 3) for a, _ in evals],
            title=f"α search: {len(evals)} evaluations, α = {rep.alpha:.3f}",
            x_label="α",
            y_label=rep.alpha_objective or "",
        )
    scored = {k: v["accuracy"] for k, v in rep.candidates.items() if "accuracy" in v}
    if scored:
        out += html.bar_chart(scored, title="candidates on the validation labels (accuracy)")
    if rep.routing:
        out += f"<p>Routing: members {', '.join(rep.routing['members'])}, T = {rep.routing['temperature']:.3g}, priors {', '.join(f'{p:.2f}' for p in rep.routing['priors'])} ({rep.routing.get('calibration')}).</p>"
    return out


def _active_section(run: ScenarioRun) -> str:
    if not run.curve:
        return ""
    xs = [c["labels"] for c in run.curve]
    out = html.line_chart(
        {"test accuracy": [c["test"] for c in run.curve]},
        x=xs,
        title="accuracy versus labels (active learning, lineage query-by-committee + diversity)",
        x_label="labels",
        y_label="accuracy",
    )
    out += f"<p>{run.pending} label requests are left pending for a human: <code>driftline label</code>.</p>"
    return out


def _records_section(run: ScenarioRun) -> str:
    """The label requests as the annotator saw them: original columns, raw values."""
    if not run.records:
        return ""
    cols = list(run.records[0]["record"])
    rows = [
        [
            r["request_id"],
            *["–" if r["record"].get(c) is None else r["record"][c] for c in cols],
            r["label"],
        ]
        for r in run.records
    ]
    return (
        "<p>Label requests as the annotator saw them (original column names and values; "
        f"{run.pending} wait for a human: <code>driftline label</code>):</p>"
        + html.table(["request", *cols, "label"], rows)
    )


def write_report(store: Store, summary: DemoSummary, path: str | Path) -> Path:
    """Write the report and return its path."""
    sections: list[tuple[str, str]] = []
    for i, run in enumerate(summary.scenarios, 1):
        inner = (
            _drift_section(run)
            + _repair_section(run)
            + _active_section(run)
            + _records_section(run)
        )
        if run.test_accuracy:
            what = "customers" if run.records else "digits"
            inner += html.bar_chart(
                run.test_accuracy, title=f"accuracy on held-out {what} from today's distribution"
            )
        sections.append((f"{i} · {run.title} (deployment:{run.deployment})", inner))
    sections.append(
        (
            "The lineage",
            "<p>Interactive, laid out by dagre: the "
            '<a href="#/lineage">Lineage</a> page (click a model for its details).</p>',
        )
    )
    from driftline.present.report import write_static_report  # the dashboard's views, offline

    return write_static_report(store, "all", path, story=("driftline demo", sections))
