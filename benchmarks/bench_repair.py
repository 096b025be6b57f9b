"""Repair benchmark: lineage repair and routed repair vs fine-tuning, from-scratch and retraining.

    python benchmarks/bench_repair.py              # 10 seeds, MLP, BatchNorm MLP, LR, scaler+LR
    python benchmarks/bench_repair.py --seeds 20
    python benchmarks/bench_repair.py --quick      # candidate-table study only, 5 seeds (minutes)

Candidate-table study (first, and the whole of ``--quick``): the pipeline's steps (detect →
search → candidates → choose, nothing registered) with 50 labels (recurring) or 100 (mixed); every
row of the candidate table (drifted as it serves, BatchNorm, interpolation, rollbacks, continued
training, routing) is also scored on the test set. Printed per scenario and family: each row's
accuracy on the choose rows, the held-out rows and the test set, how often it was selected and how
often it was best on test; then the selected row's test accuracy beside the best row's (selection
loss, target ≤ 0.01), how often the selection is worse than the drifted model on test (target 0),
recovery vs the retrain ceiling (targets ≥ 0.95 recurring, ≥ 0.90 mixed) and how often the
label-free proxy (0 labels, agreement with the routed committee) picks the row the labels pick.

Scenarios (scikit-learn's bundled 8×8 digits, ``driftline.datasets``; lineage: a root trained on
upright digits, then fine-tunes on rotated digits, each from its parent's weights):

* recurring    — lineage 20°/40°/60°; today: 95% upright + 5% 60° (the concept came back)
* mixed 70/30  — same lineage; today: 70% upright + 30% 60°
* mixed 50/50  — same lineage; today: 50% upright + 50% 60°
* overlapping  — lineage 10°/20°/30°; today: 50% upright + 50% 20° (small angles: the members'
                 training distributions overlap, and the 20° half sits between the root's and the
                 drifted model's regimes, so routing root+drifted is hard. With 0° + 30° instead,
                 routing root+drifted reached the ceiling in a trial on 2 seeds: not hard)
* new regime   — same lineage as recurring; today: inverted digits (no healthy ancestor; reference)

Model families: scikit-learn ``MLPClassifier(64)`` (``driftline.demo.lineage``: root ``fit``, then
``partial_fit`` epochs per regime) and a PyTorch MLP with BatchNorm
(``driftline.demo.torch_models``: Linear(64,128) → BatchNorm1d → ReLU → Linear(128,10); Adam epochs
per regime from the parent's weights; one thread).

Per scenario, family and seed the lineage is registered in a temporary store
(``store.register(..., data=regime.X)``) and every row is measured on the scenario's test set:

* drifted            the deployed (newest) model, no action
* rollback           the ancestor the pipeline picked, as it was (α = 1, no BatchNorm refresh)
* repair, global α   ``driftline.repair.repair`` on the store with ``routing=False``: drift check,
                     healthy-ancestor search, repair vector, α by grid + golden section on
                     calibrated validation log-loss (``scenario.validation``, 100 labels),
                     BatchNorm re-estimated on the window
* pipeline choice    ``driftline.repair.repair`` with its defaults (``routing=True``): it scores
                     interpolation and routing (drifted + ancestor, T on val) on the validation
                     labels and registers the better; the registered model is evaluated
                     (``load_predictor``, routed or not)
* per-tensor α       pure functions: the same global search, then ``per_tensor_alpha`` (16 evals)
* sparse 30% / 10%   ``sparsify`` the vector (largest |r| kept), then the global α search
* fine-tune          the drifted model fine-tuned on the same 100 validation labels
* from scratch       a fresh model trained on the same 100 labels
* routing (0 labels) ``build_routed(store, [root, drifted], window)``: per-input gates by training
                     signature likelihood, EM priors on the window, T = 1
* routing, T on val  the same, temperature calibrated on the 100 validation labels
* routing, lineage   every main-line member (root and each fine-tune), 0 labels
* retrain (ceiling)  a fresh model trained on ``scenario.current_train`` (all current labels)

Recovery = (method − drifted) / (ceiling − drifted) on mean accuracies. "val evals" counts model
evaluations on the validation set spent choosing α. Times are wall seconds per seed for that row
alone (lineage training and store registration excluded). Tables are printed and written to
``benchmarks/results/repair.txt``.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

from driftline.datasets import (  # noqa: E402
    DigitsScenario,
    mixed_regime_scenario,
    new_regime_scenario,
    recurring_drift_scenario,
)
from driftline.demo.lineage import LineageMember, train_lineage  # noqa: E402
from driftline.drift import compare  # noqa: E402
from driftline.params.sklearn import estimator_to_params  # noqa: E402
from driftline.repair import RepairPolicy, SklearnFamily, repair  # noqa: E402
from driftline.repair.alpha import per_tensor_alpha, search_alpha  # noqa: E402
from driftline.repair.evaluation import as_matrix  # noqa: E402
from driftline.repair.families import (  # noqa: E402
    Predictor,
    fine_tune,
    predictor_at_alpha,
    prepare_params,
)
from driftline.repair.model_input import input_names, window_table  # noqa: E402
from driftline.repair.routed_model import build_routed, load_predictor  # noqa: E402
from driftline.repair.steps.candidates import weight_candidates  # noqa: E402
from driftline.repair.steps.choose import choose  # noqa: E402
from driftline.repair.steps.detect import detect  # noqa: E402
from driftline.repair.steps.search import search_lineage  # noqa: E402
from driftline.repair.steps.state import Call, Labelled, RepairState, start  # noqa: E402
from driftline.repair.vector import (  # noqa: E402
    interpolate,
    layer_groups,
    repair_vector,
    sparsify,
)
from driftline.store import Model, Store  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from linear_recipes import LinearRecipe, PipelineRecipe  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "repair.txt"
QUICK_RESULTS = RESULTS.with_name("repair_quick.txt")
# as in the demo; force: always repair (detection is reported separately)
POLICY = RepairPolicy(drift_share=0.4, force=True, routing=False)
POLICY_CHOICE = RepairPolicy(drift_share=0.4, force=True)
SPARSE = (0.3, 0.1)
RECOVERY_TARGET = 0.9
ROUTING_TARGET = 0.95

# baselines on the 100 validation labels: fixed settings, picked from a small sweep on seeds 0-1
# (recurring, mixed 50/50, new regime) in the baselines' favour: sklearn fine-tune 10-100 passes at
# lr 1e-3/1e-2 (100 at 1e-2 was best), torch fine-tune 100-1000 Adam steps at lr 1e-3/1e-2 (1000
# steps gains <= 0.01 over 300 on recurring and loses on mixed; 300 keeps the run short), from
# scratch 200-2000 iterations (sklearn) / 30-300 epochs (torch)
SK_FINETUNE_EPOCHS, SK_FINETUNE_LR = 100, 1e-2  # partial_fit passes, batch 32
SK_SCRATCH_ITER = 500
TORCH_FINETUNE_STEPS, TORCH_FINETUNE_LR = 300, 1e-3  # Adam steps, batch 32
TORCH_SCRATCH_EPOCHS = 100  # batch 32
TORCH_BASE_EPOCHS, TORCH_LINEAGE_EPOCHS = 30, 10
SK_BASE_EPOCHS, SK_LINEAGE_EPOCHS = 200, 30


# ----------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class ScenarioSpec:
    key: str
    title: str
    make: Callable[[int], DigitsScenario]


SCENARIOS = [
    ScenarioSpec(
        "recurring", "recurring drift (95% 0° + 5% 60°)", lambda s: recurring_drift_scenario(s)
    ),
    ScenarioSpec(
        "mixed70", "mixed regimes 70/30 (70% 0° + 30% 60°)", lambda s: mixed_regime_scenario(s, 0.7)
    ),
    ScenarioSpec(
        "mixed50", "mixed regimes 50/50 (50% 0° + 50% 60°)", lambda s: mixed_regime_scenario(s, 0.5)
    ),
    ScenarioSpec(
        "overlap",
        "overlapping regimes (lineage 10°/20°/30°; 50% 0° + 50% 20°)",
        lambda s: recurring_drift_scenario(
            s,
            lineage_angles=(10.0, 20.0, 30.0),
            current_angles=(0.0, 20.0),
            current_weights=(0.5, 0.5),
        ),
    ),
    ScenarioSpec(
        "new",
        "new regime (inverted digits; no healthy ancestor)",
        lambda s: new_regime_scenario(s, kind="invert"),
    ),
]


# ----------------------------------------------------------------------------- families


def _quiet_fit(est: MLPClassifier, X: np.ndarray, y: np.ndarray) -> MLPClassifier:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


class SklearnRecipe:
    key = "sklearn"
    title = "scikit-learn MLPClassifier(64)"

    def lineage(self, sc: DigitsScenario, seed: int) -> list[LineageMember]:
        return train_lineage(
            sc,
            seed=seed,
            base_epochs=SK_BASE_EPOCHS,
            finetune_epochs=SK_LINEAGE_EPOCHS,
            prune_fraction=0.0,
        )

    def family(self, members: list[LineageMember]) -> Predictor:
        return SklearnFamily(members[0].params.architecture)

    def scratch(
        self, X: np.ndarray, y: np.ndarray, seed: int, *, epochs: int | None = None
    ) -> dict:
        est = MLPClassifier(
            (64,), max_iter=epochs or SK_SCRATCH_ITER, random_state=seed, alpha=1e-4
        )
        return estimator_to_params(_quiet_fit(est, X, y))[0]

    def retrain(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return self.scratch(X, y, seed, epochs=SK_BASE_EPOCHS)

    def finetune(
        self, fam: Predictor, params: dict, X: np.ndarray, y: np.ndarray, seed: int
    ) -> dict:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fine_tune(
                fam, params, X, y, SK_FINETUNE_EPOCHS, lr=SK_FINETUNE_LR, batch_size=32, seed=seed
            )


class TorchRecipe:
    key = "torch"
    title = "PyTorch MLP + BatchNorm (64-128-10)"

    def __init__(self) -> None:
        import torch

        torch.set_num_threads(1)
        from driftline.demo import torch_models

        self.tm = torch_models

    def lineage(self, sc: DigitsScenario, seed: int) -> list[LineageMember]:
        return self.tm.train_torch_lineage(
            sc, seed=seed, base_epochs=TORCH_BASE_EPOCHS, finetune_epochs=TORCH_LINEAGE_EPOCHS
        )

    def family(self, members: list[LineageMember]) -> Predictor:
        return self.tm.torch_family()

    def _fresh(self, X: np.ndarray, y: np.ndarray, seed: int, epochs: int, bs: int) -> dict:
        from driftline.params.torch_adapter import module_to_params

        module = self.tm.bn_mlp(seed=seed)
        self.tm.train_torch(module, X, y, epochs=epochs, batch_size=bs, seed=seed)
        return module_to_params(module)

    def scratch(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return self._fresh(X, y, seed, TORCH_SCRATCH_EPOCHS, 32)

    def retrain(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return self._fresh(X, y, seed, TORCH_BASE_EPOCHS, 64)

    def finetune(
        self, fam: Predictor, params: dict, X: np.ndarray, y: np.ndarray, seed: int
    ) -> dict:
        return fine_tune(
            fam, params, X, y, TORCH_FINETUNE_STEPS, lr=TORCH_FINETUNE_LR, batch_size=32, seed=seed
        )


# ----------------------------------------------------------------------------- rows


@dataclass(frozen=True)
class Method:
    key: str
    label: str
    labels: str  # which labels it uses: "0", "val", "all"


METHODS = [
    Method("drifted", "drifted (no action)", "0"),
    Method("rollback", "rollback to the ancestor (α = 1)", "0"),
    Method("alpha", "lineage repair, global α (pipeline)", "val"),
    Method("choice", "pipeline: best of interpolation/routing", "val"),
    Method("per_tensor", "repair, per-tensor α", "val"),
    Method("sparse30", "sparse repair, keep 30%", "val"),
    Method("sparse10", "sparse repair, keep 10%", "val"),
    Method("finetune", "fine-tune drifted on the val labels", "val"),
    Method("scratch", "from scratch on the val labels", "val"),
    Method("route", "routing root+drifted (EM priors, T=1)", "0"),
    Method("route_cal", "routing root+drifted, T on val labels", "val"),
    Method("route_all", "routing, whole lineage (EM, T=1)", "0"),
    Method("ceiling", "retrain on all current labels (ceiling)", "all"),
]
LABELS = {m.key: m.label for m in METHODS}
SHORT = {
    "drifted": "drifted",
    "rollback": "rollback",
    "alpha": "repair α",
    "choice": "pipeline choice",
    "per_tensor": "per-tensor",
    "sparse30": "sparse 30%",
    "sparse10": "sparse 10%",
    "finetune": "fine-tune",
    "scratch": "scratch",
    "route": "routing",
    "route_cal": "routing T(val)",
    "route_all": "routing lineage",
    "ceiling": "ceiling",
}


@dataclass
class Outcome:
    acc: float
    seconds: float
    evals: int | None = None
    note: float | None = None  # α, temperature, ...


@dataclass
class Cell:
    """One scenario × family × seed."""

    seed: int
    n_val: int
    n_all: int
    out: dict[str, Outcome] = field(default_factory=dict)
    ancestor: str = ""
    healthy: bool = False
    drift: bool = False
    status: str = ""
    chosen: str = ""


@dataclass
class LineageStore:
    store: Store
    members: list[LineageMember]
    models: list[Model]
    family: Predictor


def lineage_for(
    recipe: Any, sc: DigitsScenario, lineages: dict[str, LineageStore], tmp: Path
) -> tuple[LineageStore, float]:
    """The scenario's lineage, trained once per (recipe, data) and cached; seconds spent."""
    key = _lineage_key(recipe, sc)
    if key in lineages:
        return lineages[key], 0.0
    t0 = time.perf_counter()
    lineages[key] = build_lineage(recipe, sc, tmp / key[:16])
    return lineages[key], time.perf_counter() - t0


def _lineage_key(recipe: Any, sc: DigitsScenario) -> str:
    h = hashlib.sha256(recipe.key.encode())
    h.update(str(sc.seed).encode())
    for r in sc.regimes:
        h.update(r.name.encode())
        h.update(np.ascontiguousarray(r.X).tobytes())
        h.update(np.ascontiguousarray(r.y).tobytes())
    return h.hexdigest()


def build_lineage(recipe: Any, sc: DigitsScenario, root: Path) -> LineageStore:
    members = recipe.lineage(sc, sc.seed)
    store = Store(root)
    models: list[Model] = []
    for m in members:
        parents = [models[m.parent]] if m.parent is not None else []
        models.append(
            store.register(
                m.params,
                name=m.name,
                parents=parents,
                transform=m.transform if parents else "finetune",
                params=m.settings,
                tags={"regime": m.regime.name},
                data=m.regime.X,
            )
        )
    return LineageStore(store, members, models, recipe.family(members))


def _acc(fam: Predictor, params: dict, X: np.ndarray, y: np.ndarray) -> float:
    classes = getattr(fam, "classes", None)
    p = fam.predict_proba(params, X)
    pred = p.argmax(1) if classes is None else np.asarray(classes)[p.argmax(1)]
    return float(np.mean(pred == y))


def run_cell(recipe: Any, lin: LineageStore, sc: DigitsScenario) -> Cell:
    fam, store = lin.family, lin.store
    root, drifted = lin.models[0], lin.models[-1]
    theta_d = lin.members[-1].params.params
    Xw, Xv, yv = sc.window.X, sc.validation.X, sc.validation.y
    Xt, yt = sc.test.X, sc.test.y
    classes = np.asarray(getattr(fam, "classes", None))
    cell = Cell(sc.seed, len(yv), len(sc.current_train.y))
    regime_of = {m.id: mem.regime.name for m, mem in zip(lin.models, lin.members, strict=True)}

    def timed(key: str, fn: Callable[[], tuple[dict | Any, int | None, float | None]]) -> None:
        t0 = time.perf_counter()
        model, evals, note = fn()
        secs = time.perf_counter() - t0
        acc = (
            _acc(fam, model, Xt, yt)
            if isinstance(model, dict)
            else float(np.mean(model.predict(Xt) == yt))
        )
        cell.out[key] = Outcome(acc, secs, evals, note)

    timed("drifted", lambda: (theta_d, None, None))
    cell.drift = bool(compare(store.signature(drifted.id), Xw, **POLICY.agent_kwargs()).drift)

    # the real pipeline (drift check, ancestor search, vector, α search, validate, register)
    res_holder: dict[str, Any] = {}

    def pipeline() -> tuple[dict, int, float | None]:
        res = repair(store, drifted.id, Xw, (Xv, yv), policy=POLICY, family=fam)
        res_holder["res"] = res
        params = store.load(res.repaired_id) if res.repaired_id else theta_d
        return params, len(res.alpha_evaluations), res.alpha

    timed("alpha", pipeline)
    res = res_holder["res"]
    cell.status = res.status
    anc_id = res.ancestor_id or root.id
    cell.ancestor = regime_of.get(anc_id, anc_id[:8])
    cell.healthy = bool(res.healthy_ancestor)
    theta_a = store.load(anc_id)
    timed("rollback", lambda: (theta_a, None, None))

    def choice() -> tuple[Any, int, float | None]:
        res = repair(store, drifted.id, Xw, (Xv, yv), policy=POLICY_CHOICE, family=fam)
        cell.chosen = str(getattr(res, "chosen", None) or "interpolation")
        if res.repaired_id is None:
            return theta_d, len(res.alpha_evaluations), None
        return load_predictor(store, res.repaired_id, fam), len(res.alpha_evaluations), None

    timed("choice", choice)

    def per_tensor() -> tuple[dict, int, float]:
        vec = repair_vector(theta_d, theta_a)
        at = predictor_at_alpha(fam, theta_d, vec, Xw)
        g = search_alpha(at, Xv, yv, labels=classes)
        pt = per_tensor_alpha(
            at,
            Xv,
            yv,
            layer_groups(list(vec)),
            g.alpha,
            labels=classes,
            max_evals=16,
            start_value=g.value,
        )
        alpha: float | dict[str, float] = dict(pt.alphas) if pt.value < g.value else g.alpha
        spread = (
            float(np.mean(list(pt.group_alphas.values()))) if isinstance(alpha, dict) else g.alpha
        )
        return (
            prepare_params(fam, interpolate(theta_d, vec, alpha), Xw),
            g.n_evals + pt.n_evals,
            spread,
        )

    timed("per_tensor", per_tensor)

    for keep in SPARSE:

        def sparse(keep: float = keep) -> tuple[dict, int, float]:
            vec = sparsify(repair_vector(theta_d, theta_a), keep)
            at = predictor_at_alpha(fam, theta_d, vec, Xw)
            g = search_alpha(at, Xv, yv, labels=classes)
            return prepare_params(fam, interpolate(theta_d, vec, g.alpha), Xw), g.n_evals, g.alpha

        timed(f"sparse{round(keep * 100)}", sparse)

    timed("finetune", lambda: (recipe.finetune(fam, theta_d, Xv, yv, sc.seed), None, None))
    timed("scratch", lambda: (recipe.scratch(Xv, yv, sc.seed), None, None))

    def routed(members: list[Model], validation: Any = None):
        def go() -> tuple[Any, None, float]:
            rm = build_routed(store, [m.id for m in members], Xw, validation, family=fam)
            return rm, None, float(rm.temperature)

        return go

    timed("route", routed([root, drifted]))
    timed("route_cal", routed([root, drifted], (Xv, yv)))
    timed("route_all", routed(list(lin.models)))
    timed(
        "ceiling",
        lambda: (recipe.retrain(sc.current_train.X, sc.current_train.y, sc.seed), None, None),
    )
    return cell


# ----------------------------------------------------------------------------- reporting


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


@dataclass
class Summary:
    scenario: ScenarioSpec
    recipe_key: str
    recipe_title: str
    cells: list[Cell]

    def accs(self, key: str) -> list[float]:
        return [c.out[key].acc for c in self.cells]

    def mean(self, key: str) -> float:
        return statistics.fmean(self.accs(key))

    def recovery(self, key: str) -> float | None:
        d, c = self.mean("drifted"), self.mean("ceiling")
        if c - d < 0.02:
            return None  # nothing to recover
        return (self.mean(key) - d) / (c - d)


def _fmt_rec(r: float | None) -> str:
    return "n/a" if r is None else f"{r:.2f}"


def scenario_table(s: Summary) -> Table:
    n = len(s.cells)
    c0 = s.cells[0]
    anc = Counter(c.ancestor for c in s.cells)
    healthy = sum(c.healthy for c in s.cells)
    drift = sum(c.drift for c in s.cells)
    anc_txt = ", ".join(f"{k} {v}/{n}" for k, v in anc.most_common())
    routed = sum(c.chosen == "routing" for c in s.cells)
    table = Table(
        title=f"{s.scenario.title} · {s.recipe_title} · {n} seeds",
        caption=(
            f"drift detected {drift}/{n} · ancestor picked: {anc_txt} (healthy {healthy}/{n})"
            f" · pipeline chose routing {routed}/{n}"
            f" · val = {c0.n_val} labels, all = {c0.n_all} labels"
        ),
    )
    for col, kw in (
        ("method", {}),
        ("labels", {"justify": "right"}),
        ("accuracy", {"justify": "right"}),
        ("× ceiling", {"justify": "right"}),
        ("recovery", {"justify": "right"}),
        ("val evals", {"justify": "right"}),
        ("α / T (median)", {"justify": "right"}),
        ("time/seed", {"justify": "right"}),
    ):
        table.add_column(col, **kw)
    ceiling = s.mean("ceiling")
    for m in METHODS:
        outs = [c.out[m.key] for c in s.cells]
        mu, sd = _mean_std([o.acc for o in outs])
        evals = [o.evals for o in outs if o.evals is not None]
        notes = [o.note for o in outs if o.note is not None]
        labels = {"0": "0", "val": str(c0.n_val), "all": str(c0.n_all)}[m.labels]
        table.add_row(
            m.label,
            labels,
            f"{mu:.3f} ± {sd:.3f}",
            f"{mu / ceiling:.3f}",
            _fmt_rec(s.recovery(m.key)),
            f"{statistics.fmean(evals):.1f}" if evals else "—",
            f"{statistics.median(notes):.2f}" if notes else "—",
            f"{statistics.fmean(o.seconds for o in outs):.2f} s",
        )
    return table


def verdicts(s: Summary) -> list[str]:
    """Target checks and where routing loses, one line each."""
    out: list[str] = []
    tag = f"[{s.scenario.key} · {s.recipe_key}]"
    m = s.mean
    if s.scenario.key == "recurring":
        rec = s.recovery("alpha")
        ok_rec = rec is not None and rec >= RECOVERY_TARGET
        ahead = m("alpha") > m("finetune") and m("alpha") > m("scratch")
        out.append(
            f"{tag} target recovery >= {RECOVERY_TARGET} with <= 100 labels: "
            f"{'MET' if ok_rec else 'MISSED'} (global α recovery {_fmt_rec(rec)}, "
            f"{s.cells[0].n_val} labels)"
        )
        out.append(
            f"{tag} target ahead of fine-tuning and from-scratch on the same labels: "
            f"{'MET' if ahead else 'MISSED'} (repair {m('alpha'):.3f} vs fine-tune "
            f"{m('finetune'):.3f}, scratch {m('scratch'):.3f})"
        )
        if m("rollback") > m("alpha"):
            out.append(
                f"{tag} note: plain rollback (α = 1) {m('rollback'):.3f} beats the "
                f"searched α {m('alpha'):.3f} (α chosen on calibrated log-loss of 100 "
                f"labels, median α {statistics.median(c.out['alpha'].note or 0.0 for c in s.cells):.2f})"
            )
        best = max(("per_tensor", "sparse30", "sparse10"), key=m)
        out.append(
            f"{tag} best variant: {LABELS[best]} {m(best):.3f} "
            f"(recovery {_fmt_rec(s.recovery(best))})"
        )
    if s.scenario.key in ("mixed70", "mixed50"):
        ratio = m("route") / m("ceiling")
        out.append(
            f"{tag} target routed >= {ROUTING_TARGET} × ceiling with 0 labels: "
            f"{'MET' if ratio >= ROUTING_TARGET else 'MISSED'} (routing {m('route'):.3f} = "
            f"{ratio:.3f} × ceiling {m('ceiling'):.3f})"
        )
    for key in ("route", "route_cal", "route_all"):
        for rival in ("alpha", "finetune"):
            if m(key) < m(rival):
                out.append(
                    f"{tag} routing loses: {LABELS[key]} {m(key):.3f} < "
                    f"{LABELS[rival]} {m(rival):.3f} (by {m(rival) - m(key):.4f})"
                )
    return out


def _acc_rec(s: Summary, key: str) -> str:
    return f"{s.mean(key):.3f} ({_fmt_rec(s.recovery(key))})"


def summary_table(summaries: list[Summary]) -> Table:
    table = Table(
        title="summary: mean test accuracy (recovery) per scenario × family",
        caption="pipeline choice: R<k> = routing chosen in k seeds; best variant = best of "
        "per-tensor α / sparse 30% / sparse 10%; winner = best method using at most the 100 "
        "validation labels",
    )
    cols = [
        "scenario",
        "family",
        "drifted",
        "repair α",
        "pipeline choice",
        "best variant",
        "fine-tune",
        "scratch",
        "routing",
        "routing T(val)",
        "routing lineage",
        "ceiling",
        "routing/ceil.",
        "winner",
    ]
    for c in cols:
        table.add_column(
            c,
            justify="left" if c in ("scenario", "family", "winner") else "right",
            no_wrap=True,
            min_width=max(len(c), 7),
        )
    for s in summaries:
        best = max(("per_tensor", "sparse30", "sparse10"), key=s.mean)
        win = max((k for k in SHORT if k != "ceiling"), key=s.mean)
        table.add_row(
            s.scenario.key,
            s.recipe_key,
            f"{s.mean('drifted'):.3f}",
            _acc_rec(s, "alpha"),
            f"{_acc_rec(s, 'choice')} R{sum(c.chosen == 'routing' for c in s.cells)}",
            f"{SHORT[best]} {_acc_rec(s, best)}",
            _acc_rec(s, "finetune"),
            _acc_rec(s, "scratch"),
            _acc_rec(s, "route"),
            _acc_rec(s, "route_cal"),
            _acc_rec(s, "route_all"),
            f"{s.mean('ceiling'):.3f}",
            f"{s.mean('route') / s.mean('ceiling'):.3f}",
            SHORT[win],
        )
    return table


# ----------------------------------------------------------------------------- candidate table
#
# The repair pipeline's own steps (detect → search → candidates → choose), run without
# registering anything, so every row of the candidate table can also be scored on the scenario's
# test set: the selected row's test accuracy beside the best row's (selection loss), the held-out
# column beside the test column, recovery vs the retrain ceiling, and how often the label-free
# proxy (agreement with the routed committee, 0 labels) picks the row the labels pick.

TABLE_LABELS = {"recurring": 50, "mixed70": 100, "mixed50": 100, "overlap": 100, "new": 100}
TABLE_POLICY = RepairPolicy(drift_share=0.4, force=True)
TABLE_TARGETS = {"recurring": 0.95, "mixed70": 0.90, "mixed50": 0.90}
SELECTION_TARGET = 0.01


@dataclass
class TableCell:
    seed: int
    n_labels: int
    choose: dict[str, float]  # candidate -> accuracy on the choose rows
    held: dict[str, float]  # candidate -> accuracy on the held-out rows
    test: dict[str, float]  # candidate -> accuracy on the test set
    selected: str  # what serves after the repair ("drifted" when nothing clears the policy)
    ceiling: float
    proxy_pick: str | None = None
    label_pick: str | None = None

    @property
    def best(self) -> str:
        return max(self.test, key=lambda k: self.test[k])


def _steps(state: RepairState) -> RepairState:
    for step in (detect, search_lineage, weight_candidates):
        state = step(state)
        if state.done:
            return state
    return choose(state) if state.val is not None else state


def _test_rows(state: RepairState, sc: DigitsScenario) -> Labelled:
    table = window_table(sc.test.X, state.sig)
    return Labelled(table, as_matrix(table, input_names(state.drifted, state.sig)), sc.test.y)


def table_cell(recipe: Any, lin: LineageStore, sc: DigitsScenario, n_labels: int) -> TableCell:
    fam, store, drifted = lin.family, lin.store, lin.models[-1]
    Xv, yv = sc.validation.X[:n_labels], sc.validation.y[:n_labels]
    call = Call(drifted.id, sc.window.X, (Xv, yv), TABLE_POLICY, fam, False, "bench", None)
    state = _steps(start(store, call))
    ws, res = state.weights, state.result
    assert ws is not None, res.message
    test = _test_rows(state, sc)
    classes = ws.classes
    test_acc = {
        k: float(np.mean(classes[np.argmax(f(test), axis=1)] == test.y))
        for k, f in ws.predictors.items()
    }
    ceiling = _acc(fam, recipe.retrain(sc.current_train.X, sc.current_train.y, sc.seed), *_xy(sc))
    cell = TableCell(
        sc.seed,
        n_labels,
        {k: v["accuracy"] for k, v in res.candidates.items() if "accuracy" in v},
        {k: v["accuracy"] for k, v in res.held_out.items()},
        test_acc,
        ws.pick or "drifted",
        ceiling,
    )
    # zero labels: the proxy's pick among the rows it ranks, against the labels' pick there
    call0 = Call(drifted.id, sc.window.X, None, TABLE_POLICY, fam, False, "bench", None)
    unlabelled = _steps(start(store, call0)).result
    ranked = set(unlabelled.proxy)
    cell.proxy_pick = unlabelled.selection.get("proxy_choice")
    scored = {k: v for k, v in res.candidates.items() if k in ranked and "accuracy" in v}
    cell.label_pick = max(scored, key=lambda k: (scored[k]["accuracy"], -scored[k]["log_loss"]))
    return cell


def _xy(sc: DigitsScenario) -> tuple[np.ndarray, np.ndarray]:
    return sc.test.X, sc.test.y


def _f(x: float | None) -> str:
    return "–" if x is None or x != x else f"{x:.3f}"


def candidate_table(title: str, cells: list[TableCell]) -> Table:
    """Mean accuracy per candidate on the choose rows, the held-out rows and the test set."""
    names = list(dict.fromkeys(k for c in cells for k in c.test))
    t = Table(title=title, title_justify="left")
    for col in ("candidate", "choose rows", "held out", "test", "selected", "best on test"):
        t.add_column(col, justify="left" if col == "candidate" else "right")
    for k in names:

        def mean(d: str, k: str = k) -> float | None:
            xs = [getattr(c, d)[k] for c in cells if k in getattr(c, d)]
            return statistics.fmean(xs) if xs else None

        t.add_row(
            k,
            _f(mean("choose")),
            _f(mean("held")),
            _f(mean("test")),
            f"{sum(c.selected == k for c in cells)}/{len(cells)}",
            f"{sum(c.best == k for c in cells)}/{len(cells)}",
        )
    return t


def table_summary(rows: list[tuple[str, str, list[TableCell]]]) -> Table:
    t = Table(title="candidate table: selection and recovery (test accuracy, mean over seeds)")
    cols = [
        "scenario",
        "family",
        "labels",
        "drifted",
        "selected",
        "best",
        "selection loss",
        "worse than drifted",
        "ceiling",
        "recovery",
        "target",
        "proxy = labels",
    ]
    for col in cols:
        t.add_column(col, justify="left" if col in ("scenario", "family") else "right")
    for scen, fam, cells in rows:
        drifted = statistics.fmean(c.test["drifted"] for c in cells)
        sel = statistics.fmean(c.test[c.selected] for c in cells)
        best = statistics.fmean(c.test[c.best] for c in cells)
        ceil = statistics.fmean(c.ceiling for c in cells)
        rec = (sel - drifted) / (ceil - drifted) if ceil > drifted else None
        target = TABLE_TARGETS.get(scen)
        worse = sum(c.test[c.selected] < c.test["drifted"] for c in cells)
        agree = sum(c.proxy_pick == c.label_pick for c in cells)
        t.add_row(
            scen,
            fam,
            str(cells[0].n_labels),
            _f(drifted),
            _f(sel),
            _f(best),
            _f(best - sel),
            f"{worse}/{len(cells)}",
            _f(ceil),
            _f(rec),
            "–"
            if target is None or rec is None
            else f"{'met' if rec >= target else 'MISSED'} (≥ {target:.2f})",
            f"{agree}/{len(cells)}",
        )
    return t


def run_table_study(
    specs: list[ScenarioSpec],
    recipes: list[Any],
    seeds: int,
    lineages: dict[str, LineageStore],
    tmp: Path,
    console: Console,
    log: Console,
) -> None:
    rows: list[tuple[str, str, list[TableCell]]] = []
    for spec in specs:
        for recipe in recipes:
            cells = []
            for seed in range(seeds):
                t0 = time.perf_counter()
                sc = spec.make(seed)
                lin, _ = lineage_for(recipe, sc, lineages, tmp)
                cells.append(table_cell(recipe, lin, sc, TABLE_LABELS[spec.key]))
                log.print(
                    f"  table {spec.key} · {recipe.key} · seed {seed}: "
                    f"{time.perf_counter() - t0:.1f} s",
                    highlight=False,
                )
            rows.append((spec.key, recipe.key, cells))
            console.print()
            console.print(
                candidate_table(
                    f"{spec.title} · {recipe.title} · {TABLE_LABELS[spec.key]} labels · "
                    f"{seeds} seeds",
                    cells,
                )
            )
    console.print()
    console.print(table_summary(rows))
    cells_all = [c for _, _, cs in rows for c in cs]
    loss = statistics.fmean(c.test[c.best] - c.test[c.selected] for c in cells_all)
    worse = sum(c.test[c.selected] < c.test["drifted"] for c in cells_all)
    agree = sum(c.proxy_pick == c.label_pick for c in cells_all)
    picked = [c for c in cells_all if c.proxy_pick in c.test and c.label_pick in c.test]
    proxy_loss = statistics.fmean(
        c.test[str(c.label_pick)] - c.test[str(c.proxy_pick)] for c in picked
    )
    console.print(
        f"over all {len(cells_all)} cells: mean selection loss {loss:.3f} (target ≤ "
        f"{SELECTION_TARGET}: {'met' if loss <= SELECTION_TARGET else 'MISSED'}); selected worse "
        f"than drifted on test in {worse} (target 0); proxy picks the labels' row in "
        f"{agree}/{len(cells_all)}, costing {proxy_loss:.3f} test accuracy on average (labels' "
        "pick − proxy's pick, both scored with the labelled run's rows)",
        highlight=False,
    )
    console.print(
        f"selection loss = best row on test − selected row on test (target ≤ {SELECTION_TARGET}); "
        "recovery = (selected − drifted) / (ceiling − drifted); proxy = labels: the label-free "
        "proxy (agreement with the routed committee) picks the row the labels pick among the rows "
        "it ranks (drifted, BatchNorm, interpolation, rollbacks).",
        highlight=False,
    )


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="seeds per scenario (default 10)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="bounded run (a few minutes): the candidate-table study only, 5 seeds, every "
        "scenario and family in --scenarios/--families",
    )
    ap.add_argument("--families", default="sklearn,torch,lr,pipe", help="sklearn,torch,lr,pipe")
    ap.add_argument(
        "--scenarios",
        default=",".join(s.key for s in SCENARIOS),
        help=f"comma-separated subset of {','.join(s.key for s in SCENARIOS)}",
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=None,
        help=f"where to write the tables (default {RESULTS.name}, --quick: {QUICK_RESULTS.name})",
    )
    args = ap.parse_args(argv)
    args.out = args.out or (QUICK_RESULTS if args.quick else RESULTS)
    seeds = 5 if args.quick else args.seeds
    fams = [f.strip() for f in args.families.split(",") if f]
    wanted = [k.strip() for k in args.scenarios.split(",") if k.strip()]
    specs = [s for s in SCENARIOS if s.key in wanted]
    if not specs or any(k not in {s.key for s in SCENARIOS} for k in wanted):
        ap.error(f"--scenarios must name some of {', '.join(s.key for s in SCENARIOS)}")

    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    recipes: list[Any] = []
    for f in fams:
        if f == "sklearn":
            recipes.append(SklearnRecipe())
        elif f == "torch":
            recipes.append(TorchRecipe())
        elif f == "lr":
            recipes.append(LinearRecipe())
        elif f == "pipe":
            recipes.append(PipelineRecipe())
        else:
            ap.error(f"unknown family {f!r} (sklearn, torch, lr, pipe)")

    console = Console(width=max(Console().width, 240), record=True)
    log = Console(stderr=True)
    started = time.perf_counter()
    console.print(
        f"[bold]driftline repair benchmark[/bold] · {seeds} seeds · "
        f"{', '.join(r.title for r in recipes)} · scenarios: "
        f"{', '.join(s.key for s in specs)}"
    )
    summaries: list[Summary] = []
    lineages: dict[str, LineageStore] = {}
    lineage_seconds = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-repair-") as tmp:
        run_table_study(specs, recipes, seeds, lineages, Path(tmp), console, log)
        for spec in [] if args.quick else specs:
            for recipe in recipes:
                cells = []
                for seed in range(seeds):
                    t0 = time.perf_counter()
                    sc = spec.make(seed)
                    lin, secs = lineage_for(recipe, sc, lineages, Path(tmp))
                    lineage_seconds += secs
                    cells.append(run_cell(recipe, lin, sc))
                    log.print(
                        f"  {spec.key} · {recipe.key} · seed {seed}: "
                        f"{time.perf_counter() - t0:.1f} s",
                        highlight=False,
                    )
                s = Summary(spec, recipe.key, recipe.title, cells)
                summaries.append(s)
                console.print()
                console.print(scenario_table(s))
                for line in verdicts(s):
                    console.print(line, highlight=False, markup=False)
        for lin in lineages.values():
            lin.store.engine.dispose()
    if args.quick:
        return _finish(console, args.out, started)
    console.print()
    console.print(summary_table(summaries))
    console.print()
    console.print("[bold]targets[/bold]")
    for s in summaries:
        for line in verdicts(s):
            if "target" in line:
                console.print(line, highlight=False, markup=False)
    console.print("[bold]where routing loses to interpolation or fine-tuning[/bold]")
    losses = [ln for s in summaries for ln in verdicts(s) if "routing loses" in ln]
    for line in losses or ["(nowhere)"]:
        console.print(line, highlight=False, markup=False)
    total = time.perf_counter() - started
    console.print(
        f"\nbaselines: sklearn fine-tune = {SK_FINETUNE_EPOCHS} partial_fit passes (lr "
        f"{SK_FINETUNE_LR}, batch 32), from scratch = MLPClassifier(64) max_iter "
        f"{SK_SCRATCH_ITER}, retrain = {SK_BASE_EPOCHS} epochs; torch fine-tune = "
        f"{TORCH_FINETUNE_STEPS} Adam steps (lr {TORCH_FINETUNE_LR}, batch 32), from scratch = "
        f"{TORCH_SCRATCH_EPOCHS} epochs (batch 32), retrain = {TORCH_BASE_EPOCHS} epochs (batch "
        f"64). Lineages: sklearn {SK_BASE_EPOCHS} + {SK_LINEAGE_EPOCHS}/regime epochs, torch "
        f"{TORCH_BASE_EPOCHS} + {TORCH_LINEAGE_EPOCHS}/regime epochs.",
        highlight=False,
    )
    console.print(
        f"total {total:.0f} s ({lineage_seconds:.0f} s training and registering "
        f"{len(lineages)} lineages); python {sys.version.split()[0]}",
        highlight=False,
    )
    return _finish(console, args.out, started)


def _finish(console: Console, out: Path, started: float) -> int:
    console.print(f"total {time.perf_counter() - started:.0f} s", highlight=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(console.export_text())
    console.print(f"written to {out}", highlight=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
