"""The tabular scenario of ``driftline demo`` (``--scenario tabular``): a churn table as users
have it (an id, a signup date, numbers, categories, booleans, missing values, a label).

A lineage ``churn@1`` (original customers) -> ``churn@2`` -> ``churn@3`` (promotion season) is
registered with roles recorded (``churned`` = target, ``customer_id`` detected as an id);
``churn@3`` serves. The stream first matches it, then today's customers arrive: charges
shifted, a new plan ``student``, more missing ages. The agent flags drift, repair finds
``churn@1`` healthy and re-deploys; a labelling round (simulated annotator) refines the model
and shows the records as the annotator sees them; a few requests are left for a human.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from driftline.datasets import churn_table
from driftline.demo.churn import TARGET, churn_tables, register_churn_lineage
from driftline.demo.records import Narrator, ScenarioRun
from driftline.demo.watch import Reactions, watch
from driftline.present.terminal import accuracy_table
from driftline.repair import RepairPolicy, RepairResult
from driftline.repair.routed_model import load_predictor
from driftline.store import Store

DEPLOYMENT = "churn"
#: any drifting feature counts on an 8-feature table (the digits use a share of 64 pixels)
POLICY = RepairPolicy()
N_WINDOW = 1000


def _accuracy(store: Store, ref: str, table: Any) -> float:
    p = load_predictor(store, ref)
    pred = p.classes[p.predict_proba(table).argmax(axis=1)]
    return float((pred == table[TARGET].to_numpy()).mean())


def _stream(seed: int, fast: bool) -> list[tuple[str, Any, Any]]:
    parts = [("promo", churn_table(N_WINDOW, regime="promo", seed=seed + 31))]
    parts += [
        ("today", churn_table(N_WINDOW, regime="today", seed=seed + 40 + i))
        for i in range(2 if fast else 3)
    ]
    return [(name, t, t[TARGET].to_numpy()) for name, t in parts]  # the label: label drift


def _record_table(records: list[dict[str, Any]]) -> Table:
    cols = list(records[0]["record"]) if records else []
    t = Table("request", *cols, "label", title="what the annotator saw (original columns)")
    for r in records:
        t.add_row(
            str(r["request_id"]),
            *["–" if r["record"].get(c) is None else str(r["record"][c]) for c in cols],
            str(r["label"]),
        )
    return t


def _labelling_round(
    store: Store, run: ScenarioRun, result: RepairResult, tables: Any, seed: int, out: Narrator
) -> None:
    """20 labels from a simulated annotator, refinement, then 5 requests left for a human."""
    from driftline.active import LabelQueue, SimulatedOracle, run_active_learning
    from driftline.repair.model_input import input_names, model_matrix

    pool = tables.today.drop(columns=[TARGET])
    model = store.get(result.drifted_id)
    X_pool = model_matrix(pool, input_names(model, store.signature(model.id)))
    val = (tables.labelled.drop(columns=[TARGET]), tables.labelled[TARGET].to_numpy())
    out.con.print("  a labelling round: 20 records for a (simulated) annotator, then refinement")
    al = run_active_learning(
        store,
        result,
        pool,
        SimulatedOracle(X_pool, tables.today[TARGET].to_numpy()),
        budget=20,
        batch=20,
        validation=val,
        actor="demo",
        seed=seed,
        deploy=True,
        progress=out.say,
    )
    run.active = al
    queue = LabelQueue(store)
    done = [r for r in queue.requests(result.repair_id) if r.status == "labelled"][:5]
    run.records = [
        {"request_id": r.id, "record": r.predictions.get("record", {}), "label": r.label}
        for r in done
    ]
    out.con.print(_record_table(run.records))
    for r in al.rounds:
        run.curve.append(
            {
                "labels": r.labels,
                "test": _accuracy(store, r.model_id, tables.test),
                "val": r.after.get("accuracy"),
            }
        )
    run_active_learning(
        store,
        result,
        pool,
        None,
        budget=al.labels_used + 5,
        batch=5,
        validation=val,
        actor="demo",
        seed=seed,
    )
    run.pending = len(queue.pending(result.repair_id))
    out.con.print(
        f"  {al.status}: {al.message}; [bold]{run.pending} churn records wait for a "
        f"human[/bold]: driftline label --repair {result.repair_id}"
    )


def tabular(store: Store, seed: int, fast: bool, out: Narrator) -> ScenarioRun:
    """Run the scenario (see module docstring); returns what the report shows."""
    tables = churn_tables(seed)
    run = ScenarioRun(
        "tabular", DEPLOYMENT, "a churn table (ids, dates, categories, missing values, a label)"
    )
    out.con.rule("[bold]4 · tabular data[/bold]: a churn table with column roles")
    out.steps.say("fitting and registering the churn lineage")
    models = register_churn_lineage(store, tables)
    sig = store.signature(models[-1].id)
    out.con.print(
        f"registered {', '.join(m.ref for m in models)}; roles: "
        + "; ".join(f"{c} = {d.role.value} ({d.reason})" for c, d in sig.roles.items())
    )
    store.deploy(models[-1], DEPLOYMENT, reason="demo: promotion season model", actor="demo")
    val = (tables.labelled.drop(columns=[TARGET]), tables.labelled[TARGET].to_numpy())
    watch(
        store,
        run,
        _stream(seed, fast),
        val,
        out,
        [m.id for m in models],
        Reactions(
            policy=POLICY,
            window_rows=N_WINDOW,
            on_repaired=lambda res, _w: _labelling_round(store, run, res, tables, seed, out),
        ),
    )
    drifted = models[-1]
    accs = {"deployed before (churn@3)": _accuracy(store, drifted.id, tables.test)}
    if run.repair and run.repair.ancestor_id:
        anc = store.get(run.repair.ancestor_id)
        accs[f"rollback to ancestor {anc.ref}"] = _accuracy(store, anc.id, tables.test)
    now = store.get(f"deployment:{DEPLOYMENT}")
    accs[f"deployed after ({now.ref})"] = _accuracy(store, now.id, tables.test)
    run.test_accuracy = accs
    column = f"accuracy on {len(tables.test)} held-out customers of today"
    out.con.print(accuracy_table(accs, column, f"result · {run.title}"))
    return run
