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

The scenarios live in :mod:`driftline.demo.digits` and :mod:`driftline.demo.tabular`; the agent
loop in :mod:`driftline.demo.watch`. The demo runs on an empty store only (:func:`check_fresh`):
it never adds a second digits lineage to an existing one.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console

from driftline.demo.records import DemoSummary, Narrator, ScenarioRun, WindowRecord
from driftline.errors import InvalidInputError
from driftline.present.progress import progress_bar
from driftline.store import Store
from driftline.validation import check_choice

__all__ = [
    "DEMO_MARKER",
    "DemoSummary",
    "ScenarioRun",
    "WindowRecord",
    "check_fresh",
    "reset_demo_store",
    "run_demo",
]

SCENARIOS = ("recurring", "mixed", "new", "tabular")
#: file the demo leaves in a store folder it filled, so that ``--fresh`` only ever resets those
DEMO_MARKER = "made-by-driftline-demo"


def _where(store: Store) -> str:
    from driftline.store.engine import redact

    return str(store.root) if store.root is not None else redact(store.url)


def check_fresh(store: Store) -> None:
    """Raise (one line: what the store holds and how to start afresh) unless it has no model."""
    models = store.list_models()
    if not models:
        return
    names = sorted({m.name for m in models})
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    made_by_demo = store.root is not None and (store.root / DEMO_MARKER).exists()
    how = (
        "rerun with --fresh to start it over, or give another folder with --store DIR"
        if made_by_demo
        else "give an empty folder with --store DIR"
    )
    raise InvalidInputError(
        f"the store at {_where(store)} already holds {len(models)} model(s) ({shown})"
        + (" from an earlier demo" if made_by_demo else "")
        + f"; the demo needs an empty store: {how}"
    )


def reset_demo_store(root: Path) -> bool:
    """Remove a store folder's database and blobs if an earlier demo made it (its marker file
    is there); returns whether anything was removed. Anything else in the folder stays."""
    import shutil

    from driftline.store.engine import DB_FILE

    if not (root / DB_FILE).exists():
        return False
    if not (root / DEMO_MARKER).exists():
        raise InvalidInputError(
            f"{root} holds a store the demo did not make; --fresh only resets demo stores: "
            "give an empty folder with --store DIR"
        )
    for path in root.glob(f"{DB_FILE}*"):
        path.unlink()
    shutil.rmtree(root / "blobs", ignore_errors=True)
    (root / DEMO_MARKER).unlink()
    return True


def run_demo(
    *,
    seed: int = 0,
    fast: bool = False,
    store: Store | str | Path | None = None,
    html_path: str | Path | None = "driftline-demo.html",
    console: Console | None = None,
    scenarios: tuple[str, ...] = SCENARIOS,
    progress: bool = True,
    step_lines: bool = True,
) -> DemoSummary:
    """Run the scenarios end to end on an empty store; print each step; write the HTML report.

    ``progress``: a transient progress line (only ever on a terminal); ``step_lines``: the dim
    "· step" lines of each repair and labelling round."""
    started = time.perf_counter()
    con = console or Console()
    for name in scenarios:
        check_choice("scenario", name, SCENARIOS)
    st = store if isinstance(store, Store) else Store(store)
    check_fresh(st)
    if st.root is not None:
        (st.root / DEMO_MARKER).write_text("driftline demo\n", encoding="utf-8")
    summary = DemoSummary(seed=seed, store=_where(st))
    with progress_bar(con, enabled=progress, description="driftline demo") as bar:
        out = Narrator(con, bar, step_lines)
        if any(s in ("recurring", "mixed", "new") for s in scenarios):
            _digits(st, summary, scenarios, seed, fast, out)
        if "tabular" in scenarios:
            from driftline.demo.tabular import tabular

            summary.scenarios.append(tabular(st, seed, fast, out))
    return _finish_demo(st, summary, con, html_path, started)


def _digits(
    st: Store,
    summary: DemoSummary,
    scenarios: tuple[str, ...],
    seed: int,
    fast: bool,
    out: Narrator,
) -> None:
    """The digits lineage, deployed, then the digits scenarios in ``scenarios``."""
    from driftline.datasets import recurring_drift_scenario
    from driftline.demo import digits

    steps = {"recurring": digits.recurring, "mixed": digits.mixed, "new": digits.new_regime}
    sc = recurring_drift_scenario(seed)
    out.con.rule("[bold]driftline demo[/bold] · lineage-guided repair on rotated digits")
    out.con.print(
        "A root model learns upright digits; descendants are fine-tuned on digits rotated "
        f"{', '.join(r.name for r in sc.lineage)} (plus a pruned branch); the newest is deployed. "
        "Three streams then drift in three different ways."
    )
    lineage = digits.build_lineage(st, sc, seed, fast, out)
    summary.lineage = lineage
    digits.print_lineage(out, st, lineage)
    newest = lineage[-2]  # the last fine-tune (the pruned branch is registered after it)
    st.deploy(newest, digits.DEPLOYMENT, reason="demo: newest fine-tune", actor="demo")
    out.con.print(f"deployed [bold]{newest.ref}[/bold] as deployment:{digits.DEPLOYMENT}")
    for name in scenarios:
        if name in steps:
            summary.scenarios.append(steps[name](st, lineage, seed, fast, out))


def _finish_demo(
    st: Store,
    summary: DemoSummary,
    con: Console,
    html_path: str | Path | None,
    started: float,
) -> DemoSummary:
    """The timing and the HTML report."""
    from driftline.demo.digits import DEPLOYMENT

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
