"""The demo's HTML report: drift per window, accuracy before/after, the lineage as a picture."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from driftline import render
from driftline.demo import html

if TYPE_CHECKING:
    from driftline.demo.run import DemoSummary
    from driftline.store import Store


def write_report(store: Store, summary: DemoSummary, path: str | Path) -> Path:
    """Write ``driftline-demo.html`` and return its path."""
    sections: list[tuple[str, str]] = []
    w = summary.windows
    sections.append(
        (
            "Drift per window",
            "<p>Mean PSI and KS D over the 64 pixel features of each stream window, measured against "
            "the training signature of the model deployed at that moment, and the share of features "
            "whose metrics crossed their thresholds (the data set drifts at 40%).</p>"
            + html.line_chart(
                {
                    "mean PSI": [r.psi for r in w],
                    "mean KS D": [r.ks for r in w],
                    "share drifting": [r.drifted_share for r in w],
                },
                x=[r.index for r in w],
                title="drift metrics per window",
                x_label="window",
                y_label="value",
                hlines={"40% drifting": 0.4},
            )
            + html.line_chart(
                {"deployed model accuracy": [r.accuracy for r in w]},
                x=[r.index for r in w],
                title="accuracy of the deployed model on each window (labels known in the simulation)",
                x_label="window",
                y_label="accuracy",
            )
            + html.table(
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
            ),
        )
    )
    if summary.test_accuracy:
        sections.append(
            (
                "Accuracy before and after the repair",
                html.bar_chart(
                    summary.test_accuracy,
                    title="accuracy on held-out digits from today's distribution",
                ),
            )
        )
    rep = summary.repair
    if rep is not None and rep.search:
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
        evals = sorted(rep.alpha_evaluations)
        sections.append(
            (
                "The repair",
                f"<p>Status <b>{rep.status}</b>: {rep.message}. α = {rep.alpha:.3f} chosen with "
                f"{len(evals)} evaluations of the {rep.alpha_objective} on {int(rep.before.get('n', 0))} "
                "validation labels.</p>"
                + html.table(
                    ["ancestor", "hops", "path", "mean PSI", "mean KS", "drifting", "healthy"], rows
                )
                + html.line_chart(
                    {rep.alpha_objective or "objective": [v for _, v in evals]},
                    x=[round(a, 3) for a, _ in evals],
                    title="α search",
                    x_label="α",
                    y_label=rep.alpha_objective or "",
                ),
            )
        )
    for title, inner in summary.extras.get("sections", []):
        sections.append((title, inner))
    focus = store.resolve("deployment:digits")
    nodes, edges = store.family(focus)
    sections.append(
        (
            "The lineage",
            "<p>Blue: the model deployed now. Red edges: repairs.</p>"
            + render.to_svg(nodes, edges, highlight=focus),
        )
    )
    out = Path(path)
    out.write_text(html.page("driftline demo", sections))
    return out
