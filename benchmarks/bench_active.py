"""Active learning on drifted digits: test accuracy versus labels, per query strategy.

Scenarios (driftline.datasets): ``new`` — a regime no ancestor has seen (inverted digits, no
healthy ancestor); ``recurring`` — today's data went back to the root's regime, mixed with a
little of the newest one. Per seed the lineage is trained once (MLPClassifier(64) on the base
regime, then warm-start fine-tunes through the lineage regimes, as in the end-to-end recipe),
repaired with ``driftline.repair.repair`` on the scenario's window and validation set, and the
repaired model is refined with ``driftline.active.accuracy_vs_labels`` for every strategy on the
same pool (``scenario.current_train``, labels from its held-out truth), with the same validation
set and the same refit settings (by default :func:`driftline.active.refit` also trains a freshly
initialised candidate and keeps whichever scores best on validation; ``--no-fresh`` turns that
off). Rows: random, entropy, margin, lineage QBC (vote entropy), QBC + k-center diversity,
margin + k-center diversity, and margin + diversity with a cold start (representative k-means
medoids while the model's validation accuracy is below 0.5).

Reported per strategy (mean ± std over seeds):
- accuracy on ``scenario.test`` after 10, 20, 50, 100, 200 labels;
- accuracy also at 400 labels (only to locate n95; --no-extra skips it);
- nAUC = (1/190) ∫_{10}^{200} acc(n)/ceiling dn (trapezoid over the checkpoints);
- n95 = labels to reach 95% of the ceiling, linear interpolation on the mean curve ("> 200" when
  not reached; a 400-label point is added to measure it), where ceiling = MLPClassifier(64) trained on all of ``current_train`` with its
  true labels; ``reached`` = seeds whose own curve reaches it by the last point;
- the reduction in labels vs random sampling: 1 − n95(strategy)/n95(random) (a lower bound
  "≥ x%" when random does not reach 95% within 200 labels).

Usage: ``python benchmarks/bench_active.py [--seeds 10] [--quick] [--scenario new|recurring|both]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

CHECKPOINTS = (10, 20, 50, 100, 200)
EXTRA = (400,)  # beyond the table: only to measure n95 when 200 labels are not enough
#: (row name, strategy, diversity, cold start threshold)
STRATEGIES = (
    ("random", "random", False, None),
    ("entropy", "entropy", False, None),
    ("margin", "margin", False, None),
    ("lineage QBC", "qbc_vote", False, None),
    ("QBC + diversity", "qbc_vote", True, None),
    ("margin + div", "margin", True, None),
    ("margin+div+cold", "margin", True, 0.5),
)


@dataclass
class Setup:
    family: object
    start: dict
    drifted: dict
    ancestor: dict | None
    scenario: object
    ceiling: float
    repaired_test: float
    status: str


def build(kind: str, seed: int, quick: bool) -> Setup:
    """Train the lineage once, repair it, train the ceiling."""
    from sklearn.neural_network import MLPClassifier

    import driftline
    from driftline.datasets import new_regime_scenario, recurring_drift_scenario
    from driftline.repair import RepairPolicy, SklearnFamily, repair

    sc = new_regime_scenario(seed) if kind == "new" else recurring_drift_scenario(seed)
    store = driftline.open(tempfile.mkdtemp(prefix="bench_active_"))
    m = MLPClassifier((64,), max_iter=100 if quick else 150, random_state=seed)
    m.fit(sc.base.X, sc.base.y)
    prev = store.register(m, name="digits", data=sc.base.X)
    for r in sc.lineage:
        m.set_params(warm_start=True, max_iter=30)
        m.fit(r.X, r.y)
        prev = store.register(m, name="digits", parents=[prev], data=r.X)
    store.deploy(prev, "digits")
    res = repair(
        store,
        "digits",
        sc.window.X,
        (sc.validation.X, sc.validation.y),
        policy=RepairPolicy(drift_share=0.4),
    )
    fam = SklearnFamily(store.get(prev).architecture)
    start_id = res.repaired_id or res.drifted_id
    start = store.load(start_id)
    drifted = store.load(res.drifted_id)
    ancestor = store.load(res.ancestor_id) if res.ancestor_id else None
    ceil = MLPClassifier((64,), max_iter=300, random_state=seed).fit(
        sc.current_train.X, sc.current_train.y
    )
    if set(start) != set(drifted):
        # a routed (composite) repair: score it as routed, refine from the drifted model (as
        # run_active_learning does; the α re-fit moves it toward the ancestor again)
        from driftline.repair.routed_model import load_predictor

        proba0 = load_predictor(store, start_id, fam).predict_proba(sc.test.X)
        start = drifted
    else:
        proba0 = fam.predict_proba(start, sc.test.X)
    acc0 = float(np.mean(fam.classes[proba0.argmax(1)] == sc.test.y))
    return Setup(
        fam, start, drifted, ancestor, sc, float(ceil.score(sc.test.X, sc.test.y)), acc0, res.status
    )


def n_to_reach(labels: np.ndarray, acc: np.ndarray, goal: float) -> float:
    """Labels where the piecewise-linear curve first reaches ``goal`` (inf if never)."""
    for i in range(len(labels)):
        if acc[i] >= goal:
            if i == 0:
                return float(labels[0])
            x0, x1, y0, y1 = labels[i - 1], labels[i], acc[i - 1], acc[i]
            return float(x0 + (goal - y0) * (x1 - x0) / (y1 - y0)) if y1 > y0 else float(x1)
    return float("inf")


def run(
    kind: str, seeds: list[int], quick: bool, steps: int, extra: tuple[int, ...], fresh: bool = True
) -> None:
    from driftline.active import SimulatedOracle, accuracy_vs_labels

    curves: dict[str, list[np.ndarray]] = {name: [] for name, *_ in STRATEGIES}
    ceilings, starts, per_round = [], [], {name: [] for name, *_ in STRATEGIES}
    t_all = time.perf_counter()
    for seed in seeds:
        t0 = time.perf_counter()
        s = build(kind, seed, quick)
        sc = s.scenario
        oracle = SimulatedOracle(sc.current_train.X, sc.current_train.y)
        ceilings.append(s.ceiling)
        starts.append(s.repaired_test)
        t1 = time.perf_counter()
        for name, strat, div, cold in STRATEGIES:
            c = accuracy_vs_labels(
                s.family,
                s.start,
                sc.current_train.X,
                oracle,
                sc.test.X,
                sc.test.y,
                strategy=strat,
                diversity=div,
                checkpoints=CHECKPOINTS + extra,
                drifted=s.drifted,
                ancestor=s.ancestor,
                validation=(sc.validation.X, sc.validation.y),
                fine_tune_steps=steps,
                cold_start=cold,
                fresh=fresh,
                seed=seed,
            )
            curves[name].append(np.asarray(c.accuracy[1:]))
            per_round[name].append(c.seconds_per_round)
        print(
            f"  [{kind}] seed {seed}: repair {s.status}, repaired {s.repaired_test:.3f}, "
            f"ceiling {s.ceiling:.3f}, build {t1 - t0:.1f}s, strategies "
            f"{time.perf_counter() - t1:.1f}s",
            file=sys.stderr,
            flush=True,
        )

    ceiling = float(np.mean(ceilings))
    goal = 0.95 * ceiling
    points = CHECKPOINTS + extra
    labels = np.asarray(points, dtype=float)
    k = len(CHECKPOINTS)
    print(
        f"\n== scenario: {kind} ({len(seeds)} seeds) — repaired model (0 labels) "
        f"{np.mean(starts):.3f} ± {np.std(starts):.3f}; ceiling {ceiling:.3f} ± "
        f"{np.std(ceilings):.3f}; 95% of ceiling = {goal:.3f}"
    )
    head = f"{'strategy':<16}" + "".join(f"{n:>15}" for n in points)
    print(head + f"{'nAUC':>15}{'n95':>8}{'reached':>9}{'vs random':>11}{'s/round':>9}")
    n95_random = None
    rows = []
    for name, *_ in STRATEGIES:
        A = np.vstack(curves[name])
        mean, std = A.mean(axis=0), A.std(axis=0)
        nauc_seeds = [
            np.trapezoid(a[:k] / c, labels[:k]) / (labels[k - 1] - labels[0])
            for a, c in zip(A, ceilings, strict=True)
        ]
        n95 = n_to_reach(labels, mean, goal)
        reached = sum(
            np.isfinite(n_to_reach(labels, a, 0.95 * c)) for a, c in zip(A, ceilings, strict=True)
        )
        if name == "random":
            n95_random = n95
        rows.append(
            (
                name,
                mean,
                std,
                np.mean(nauc_seeds),
                np.std(nauc_seeds),
                n95,
                reached,
                np.mean(per_round[name]),
            )
        )
    for name, mean, std, nauc, nauc_sd, n95, reached, spr in rows:
        if name == "random":
            red = "—"
        elif not np.isfinite(n95):
            red = "n/a"
        elif n95_random is not None and np.isfinite(n95_random):
            red = f"{1 - n95 / n95_random:+.0%}"
        else:
            red = f"≥{1 - n95 / points[-1]:.0%}"
        cells = "".join(f"{m:>8.3f}±{s:<6.3f}" for m, s in zip(mean, std, strict=True))
        n95s = f"{n95:.0f}" if np.isfinite(n95) else f">{points[-1]}"
        print(
            f"{name:<16}{cells}{nauc:>8.3f}±{nauc_sd:<6.3f}{n95s:>8}"
            f"{reached:>6}/{len(seeds):<2}{red:>11}{spr:>9.2f}"
        )
    print(f"(total {time.perf_counter() - t_all:.0f}s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10, help="number of seeds (default 10)")
    ap.add_argument("--quick", action="store_true", help="3 seeds, shorter training")
    ap.add_argument("--scenario", choices=("new", "recurring", "both"), default="both")
    ap.add_argument("--steps", type=int, default=300, help="fine-tune minibatch steps per round")
    ap.add_argument(
        "--no-extra",
        action="store_true",
        help="stop at 200 labels (skip the 400-label point used for n95)",
    )
    ap.add_argument(
        "--no-fresh",
        action="store_true",
        help="refit without the freshly initialised candidate (the old refinement)",
    )
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    n = 3 if args.quick and args.seeds == 10 else args.seeds
    seeds = list(range(n))
    kinds = ("new", "recurring") if args.scenario == "both" else (args.scenario,)
    for kind in kinds:
        run(
            kind,
            seeds,
            args.quick,
            args.steps,
            () if args.no_extra else EXTRA,
            fresh=not args.no_fresh,
        )


if __name__ == "__main__":
    main()
