"""The demo's three digits scenarios (see :mod:`driftline.demo.run`): the lineage they share,
recurring drift, mixed regimes and a new regime that only labels can fix."""

from __future__ import annotations

from typing import Any

import numpy as np
from rich.table import Table

from driftline.datasets import (
    DigitsScenario,
    mixed_regime_scenario,
    new_regime_scenario,
    recurring_drift_scenario,
    rotated_digits,
)
from driftline.demo.lineage import accuracy, train_lineage
from driftline.demo.records import Narrator, ScenarioRun
from driftline.demo.watch import WINDOW_ROWS, Reactions, watch, window_accuracy
from driftline.present.terminal import accuracy_table
from driftline.repair import RepairResult
from driftline.store import Model, Store

__all__ = ["DEPLOYMENT", "build_lineage", "mixed", "new_regime", "print_lineage", "recurring"]

DEPLOYMENT = "digits"


def build_lineage(
    store: Store, sc: DigitsScenario, seed: int, fast: bool, out: Narrator
) -> list[Model]:
    """Train and register the lineage; returns the registered models in training order."""
    out.steps.say("training the lineage")
    members = train_lineage(
        sc, seed=seed, base_epochs=60 if fast else 200, finetune_epochs=10 if fast else 30
    )
    registered: list[Model] = []
    for i, m in enumerate(members):
        out.steps.count(i, len(members), "registering the lineage")
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
    return registered


def print_lineage(out: Narrator, store: Store, lineage: list[Model]) -> None:
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
    out.con.print(t)


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


def _result_table(out: Narrator, run: ScenarioRun, test: Any) -> None:
    column = f"accuracy on {len(test.y)} held-out current digits"
    out.con.print(accuracy_table(run.test_accuracy, column, f"result · {run.title}"))


def _before_and_rollback(
    store: Store, run: ScenarioRun, drifted: Model, test: Any
) -> dict[str, float]:
    """Test accuracy of the drifted model and, when the repair found one, of its ancestor."""
    accs = {"deployed before (drifted)": window_accuracy(store, drifted.id, test.X, test.y)}
    if run.repair and run.repair.ancestor_id:
        anc = store.get(run.repair.ancestor_id)
        accs[f"rollback to ancestor {anc.ref}"] = window_accuracy(store, anc.id, test.X, test.y)
    return accs


def _watch_scenario(
    store: Store,
    run: ScenarioRun,
    lineage: list[Model],
    sc: DigitsScenario,
    stream: list[tuple[str, np.ndarray, np.ndarray]],
    out: Narrator,
    how: Reactions | None = None,
) -> Model:
    """Serve the newest fine-tune on ``run.deployment`` (if it does not yet) and watch the
    stream; returns the drifted model."""
    drifted = lineage[-2]
    if run.deployment != DEPLOYMENT:  # 'digits' is deployed before the scenarios start
        store.deploy(drifted, run.deployment, reason="demo: newest fine-tune", actor="demo")
    validation = (sc.validation.X, sc.validation.y)
    watch(store, run, stream, validation, out, [m.id for m in lineage[:-1]], how)
    return drifted


def recurring(
    store: Store, lineage: list[Model], seed: int, fast: bool, out: Narrator
) -> ScenarioRun:
    sc = recurring_drift_scenario(seed)
    run = ScenarioRun("recurring", DEPLOYMENT, "recurring drift")
    out.con.rule("[bold]1 · recurring drift[/bold]: the stream returns to upright digits")
    stream = _stream(sc, sc, seed, 1 if fast else 2, 2 if fast else 3)
    drifted = _watch_scenario(store, run, lineage, sc, stream, out)
    accs = _before_and_rollback(store, run, drifted, sc.test)
    now = store.get(f"deployment:{run.deployment}")
    accs[f"deployed after ({now.ref})"] = window_accuracy(store, now.id, sc.test.X, sc.test.y)
    run.test_accuracy = accs
    _result_table(out, run, sc.test)
    return run


def mixed(store: Store, lineage: list[Model], seed: int, fast: bool, out: Narrator) -> ScenarioRun:
    sc = mixed_regime_scenario(seed, 0.5)
    run = ScenarioRun("mixed", "digits-mixed", "mixed regimes (50% upright, 50% rotated 60°)")
    out.con.rule("[bold]2 · mixed regimes[/bold]: half upright, half rotated 60°")
    stream = _stream(sc, sc, seed + 1, 1, 2 if fast else 3)
    drifted = _watch_scenario(store, run, lineage, sc, stream, out)
    accs = _before_and_rollback(store, run, drifted, sc.test)
    rep = run.repair
    now = store.get(f"deployment:{run.deployment}")
    accs[f"deployed after ({now.ref}, {rep.chosen if rep else '-'})"] = window_accuracy(
        store, now.id, sc.test.X, sc.test.y
    )
    run.test_accuracy = accs
    _result_table(out, run, sc.test)
    return run


class _LabelRounds:
    """The new-regime scenario's answer to a repair that needs labels: active learning with a
    simulated annotator, then one more round queued for a real human."""

    def __init__(
        self,
        store: Store,
        run: ScenarioRun,
        sc: DigitsScenario,
        seed: int,
        fast: bool,
        out: Narrator,
    ) -> None:
        self.store, self.run, self.sc, self.seed, self.out = store, run, sc, seed, out
        self.budget = 60 if fast else 100

    def _test(self, ref: str) -> float:
        return window_accuracy(self.store, ref, self.sc.test.X, self.sc.test.y)

    def __call__(self, result: RepairResult, _window: np.ndarray) -> None:
        from driftline.active import SimulatedOracle, run_active_learning

        store, sc, out = self.store, self.sc, self.out
        pool_X, pool_y = sc.current_train.X, sc.current_train.y
        out.con.print(
            f"  no ancestor is healthy: asking for labels ({self.budget} at most, 20 per round, "
            "lineage query-by-committee with a diversity step)"
        )
        al = run_active_learning(
            store,
            result,
            pool_X,
            SimulatedOracle(pool_X, pool_y),
            budget=self.budget,
            batch=20,
            strategy="qbc_vote",
            diversity=True,
            target_accuracy=0.95,
            image_shape=(8, 8),
            validation=(sc.validation.X, sc.validation.y),
            actor="demo",
            seed=self.seed,
            progress=out.say,
        )
        self.run.active = al
        self._print_curve(result, al)
        out.con.print(f"  {al.status}: {al.message}")
        self._queue_for_human(result, al.labels_used)

    def _print_curve(self, result: RepairResult, al: Any) -> None:
        """The accuracy-versus-labels table (and :attr:`ScenarioRun.curve` for the report)."""
        t = Table(
            "round", "labels", "model", "val accuracy", "test accuracy", title="accuracy vs labels"
        )
        start = result.repaired_id or result.drifted_id
        t.add_row(
            "0",
            "0",
            result.repaired_ref or self.store.get(result.drifted_id).ref,
            f"{al.before.get('accuracy', float('nan')):.3f}",
            f"{self._test(start):.3f}",
        )
        self.run.curve.append({"labels": 0, "test": self._test(result.drifted_id)})
        for r in al.rounds:
            test_acc = self._test(r.model_id)
            self.run.curve.append(
                {"labels": r.labels, "test": test_acc, "val": r.after.get("accuracy")}
            )
            t.add_row(
                str(r.round),
                str(r.labels),
                r.model_ref,
                f"{r.after.get('accuracy', float('nan')):.3f}",
                f"{test_acc:.3f}",
            )
        self.out.con.print(t)

    def _queue_for_human(self, result: RepairResult, labels_used: int) -> None:
        """One more round for a real human: queue it and stop."""
        from driftline.active import LabelQueue, run_active_learning

        sc = self.sc
        run_active_learning(
            self.store,
            result,
            sc.current_train.X,
            None,
            budget=labels_used + 10,
            batch=10,
            image_shape=(8, 8),
            strategy="qbc_vote",
            diversity=True,
            validation=(sc.validation.X, sc.validation.y),
            actor="demo",
            seed=self.seed,
        )
        self.run.pending = len(LabelQueue(self.store).pending(result.repair_id))
        self.out.con.print(
            f"  [bold]{self.run.pending} label requests are waiting for a human[/bold] "
            f"(repair #{result.repair_id}, {result.status}): answer them with "  # as recorded
            "[bold]driftline label[/bold], or [bold]driftline label export --format label-studio -o tasks.json[/bold]"
        )


def new_regime(
    store: Store, lineage: list[Model], seed: int, fast: bool, out: Narrator
) -> ScenarioRun:
    sc = new_regime_scenario(seed, kind="invert")
    run = ScenarioRun("new", "digits-new", "a new regime (inverted digits)")
    out.con.rule("[bold]3 · a new regime[/bold]: inverted digits, unlike anything in the lineage")
    how = Reactions(on_needs_labels=_LabelRounds(store, run, sc, seed, fast, out))
    drifted = _watch_scenario(store, run, lineage, sc, _stream(sc, sc, seed + 2, 1, 2), out, how)
    accs = {"deployed before (drifted)": window_accuracy(store, drifted.id, sc.test.X, sc.test.y)}
    if run.repair and run.repair.repaired_id:
        accs[f"lineage repair alone ({store.get(run.repair.repaired_id).ref})"] = window_accuracy(
            store, run.repair.repaired_id, sc.test.X, sc.test.y
        )
    if run.active is not None:
        accs[f"after {run.active.labels_used} labels ({run.active.final_ref})"] = window_accuracy(
            store, run.active.final_id, sc.test.X, sc.test.y
        )
    run.test_accuracy = accs
    _result_table(out, run, sc.test)
    return run
