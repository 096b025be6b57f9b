"""Benchmark: drift alarm quality (false alarms and power) on 13 feature shapes.

One table of 13 columns, one per shape: normal, heavy-tailed with rare huge values, power law,
Student-t, bimodal, zero-inflated, Poisson counts, binary, a few integer levels, missing values,
Zipf categories, high-cardinality categories, timestamps. The reference signature is built from
``--ref-rows`` rows (default 200,000). For each window size (500, 5,000, 100,000) and trial,
one window is drawn from the training distribution (false alarms) and one from a slightly
changed distribution where every column moves by an amount above the materiality floor (power;
the change of each shape is printed in the table).

Rules compared, per feature:

* **driftline** — the default calibrated rule (``DriftAgent`` defaults: per-feature level 1 %,
  Holm FWER 1 %); the false-alarm column is the agent's own verdict per feature;
* **driftline @5 %** — same p-values and floors at family level 5 % (the level of the scipy
  column): a feature alarms when material and ``p_cal < min(1 %, 5 % / 13)`` (Holm's first
  step: what a lone drifting feature faces);
* **scipy** — ``ks_2samp`` (numeric, finite values) / ``chi2_contingency`` (categories) on the
  raw reference, Bonferroni 5 % over the 13 features;
* **Evidently** — ``Report([DataDriftPreset()])`` per-column drift flags, when installed (it is
  slow: ``--evidently-trials`` trials per size, default 10).

    python benchmarks/bench_drift_quality.py             # 500 / 5,000 / 100,000 rows, 50 trials
    python benchmarks/bench_drift_quality.py --quick     # 50k reference, 500 / 5,000, 10 trials
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from scipy import stats  # noqa: E402

from driftline.drift import DriftAgent, Signature  # noqa: E402
from driftline.drift.calibration import CalibrationSettings  # noqa: E402

Sampler = Callable[[np.random.Generator, int, bool], np.ndarray]
T0 = 1_700_000_000.0
DAY = 86_400.0
ZIPF_LABELS = np.array([f"z{k}" for k in range(50)], dtype=object)
HIGH_LABELS = np.array([f"id{k:05d}" for k in range(3000)], dtype=object)


@dataclass(frozen=True)
class Shape:
    name: str
    change: str
    sample: Sampler
    categorical: bool = False


def _normal(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    return rng.normal(0.1 if ch else 0.0, 1.0, n)


def _heavy(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    x = rng.normal(0.1 if ch else 0.0, 1.0, n)
    huge = rng.random(n) < 0.002
    x[huge] = 10.0 ** rng.uniform(3, 9, int(huge.sum()))
    return x


def _power(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    return (1.0 - rng.random(n)) ** (-1.0 / (1.35 if ch else 1.5))


def _student(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    return rng.standard_t(2.0, n) + (0.1 if ch else 0.0)


def _bimodal(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    right = rng.random(n) < (0.55 if ch else 0.5)
    return rng.normal(np.where(right, 2.0, -2.0), 1.0)


def _zero_inflated(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    x = rng.lognormal(0.0, 1.0, n)
    x[rng.random(n) < (0.46 if ch else 0.5)] = 0.0
    return x


def _poisson(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    return rng.poisson(3.15 if ch else 3.0, n).astype(np.float64)


def _binary(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    return (rng.random(n) < (0.34 if ch else 0.3)).astype(np.float64)


def _levels(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    p = [0.36, 0.32, 0.16, 0.11, 0.05] if ch else [0.4, 0.3, 0.15, 0.1, 0.05]
    return rng.choice(np.array([1.0, 2.0, 3.0, 5.0, 8.0]), n, p=p)


def _missing(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    x = rng.normal(0.0, 1.0, n)
    x[rng.random(n) < (0.24 if ch else 0.2)] = np.nan
    return x


def _zipf_p(a: float, k: int) -> np.ndarray:
    w = 1.0 / np.arange(1, k + 1) ** a
    return w / w.sum()


def _zipf(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    return ZIPF_LABELS[rng.choice(50, n, p=_zipf_p(1.2 if ch else 1.3, 50))]


def _high_card(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    x = HIGH_LABELS[rng.choice(HIGH_LABELS.size, n, p=_zipf_p(0.5, HIGH_LABELS.size))]
    if ch:  # 5 % of rows carry ids the training data never had
        new = rng.random(n) < 0.05
        x[new] = np.array([f"new{k}" for k in rng.integers(0, 10**6, int(new.sum()))], dtype=object)
    return x


def _timestamps(rng: np.random.Generator, n: int, ch: bool) -> np.ndarray:
    t = T0 + rng.uniform(0.0, 90 * DAY, n)
    if ch:  # 5 % of rows from a burst in the last 10 days
        b = rng.random(n) < 0.05
        t[b] = T0 + rng.uniform(80 * DAY, 90 * DAY, int(b.sum()))
    return np.floor(t)


SHAPES = [
    Shape("normal", "mean +0.1σ", _normal),
    Shape("heavy tail (0.2% huge)", "bulk +0.1σ", _heavy),
    Shape("power law (Pareto 1.5)", "index 1.5→1.35", _power),
    Shape("Student-t (2 df)", "shift +0.1", _student),
    Shape("bimodal", "weights 50/50→45/55", _bimodal),
    Shape("zero-inflated (50% zeros)", "zeros 50→46%", _zero_inflated),
    Shape("Poisson(3)", "mean 3→3.15", _poisson),
    Shape("binary (30%)", "30→34%", _binary),
    Shape("5 integer levels", "shares move ≤4 pts", _levels),
    Shape("20% missing", "missing 20→24%", _missing),
    Shape("Zipf categories (50)", "exponent 1.3→1.2", _zipf, True),
    Shape("high-cardinality (3,000 ids)", "5% unseen ids", _high_card, True),
    Shape("timestamps (90 days)", "5% burst, last 10 d", _timestamps),
]


def _table(rng: np.random.Generator, n: int, changed: bool) -> dict[str, np.ndarray]:
    return {s.name: s.sample(rng, n, changed) for s in SHAPES}


# --------------------------------------------------------------------------- rules
def _driftline(sig: Signature, window: dict[str, np.ndarray]) -> tuple[dict, dict]:
    """Agent verdict per feature, and the @5 % decision from the same p-values."""
    agent = DriftAgent(sig, window=None)
    agent.update(window)
    rep = agent.report()
    m = len(SHAPES)
    level = min(CalibrationSettings().alpha, 0.05 / m)
    own = {k: f.drift for k, f in rep.features.items()}
    at5 = {
        k: bool(f.metrics["material"]) and f.metrics["p_cal"] < level
        for k, f in rep.features.items()
    }
    return own, at5


class ScipyRule:
    """KS / χ² on the raw reference, Bonferroni over the features."""

    def __init__(self, ref: dict[str, np.ndarray], alpha: float = 0.05) -> None:
        self.level = alpha / len(SHAPES)
        self.num = {}
        self.cat = {}
        for s in SHAPES:
            x = ref[s.name]
            if s.categorical:
                labs, cnt = np.unique(x.astype(str), return_counts=True)
                self.cat[s.name] = dict(zip(labs.tolist(), cnt.tolist(), strict=True))
            else:
                self.num[s.name] = np.sort(x[np.isfinite(x)])

    def __call__(self, window: dict[str, np.ndarray]) -> dict[str, bool]:
        out = {}
        for name, ref in self.num.items():
            w = window[name]
            out[name] = bool(stats.ks_2samp(ref, w[np.isfinite(w)]).pvalue < self.level)
        for name, rc in self.cat.items():
            labs, cnt = np.unique(window[name].astype(str), return_counts=True)
            wc = dict(zip(labs.tolist(), cnt.tolist(), strict=True))
            keys = sorted(set(rc) | set(wc))
            tab = np.array([[rc.get(k, 0) for k in keys], [wc.get(k, 0) for k in keys]])
            out[name] = bool(stats.chi2_contingency(tab).pvalue < self.level)
        return out


def _evidently_rule() -> Callable[[object, dict[str, np.ndarray]], dict[str, bool]] | None:
    try:
        import pandas as pd
        from evidently import Report
        from evidently.presets import DataDriftPreset
    except ImportError:
        return None

    def run(ref_df: object, window: dict[str, np.ndarray]) -> dict[str, bool]:
        cur = pd.DataFrame(window)
        snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref_df)
        out = {}
        for m in snap.dict()["metrics"]:
            cfg = m.get("config", {})
            col = cfg.get("column")
            if col in window and "threshold" in cfg:
                v = m["value"]
                v = v if isinstance(v, int | float) else v.get("value", math.nan)
                is_p = "p_value" in str(cfg.get("method", "")).lower()
                out[col] = bool(v < cfg["threshold"]) if is_p else bool(v >= cfg["threshold"])
        return out

    return run


# --------------------------------------------------------------------------- CBPE
def _nannyml_cbpe(ref_proba: np.ndarray, ref_y: np.ndarray, win_proba: np.ndarray) -> float | None:
    """NannyML's CBPE accuracy estimate for one window (None when nannyml is not installed)."""
    try:
        import nannyml as nml
        import pandas as pd
    except ImportError:
        return None
    k = ref_proba.shape[1]
    cols = {c: f"p{c}" for c in range(k)}

    def frame(p: np.ndarray, y: np.ndarray | None) -> object:
        d = {f"p{c}": p[:, c] for c in range(k)}
        d["y_pred"] = p.argmax(axis=1)
        if y is not None:
            d["y_true"] = y
        return pd.DataFrame(d)

    est = nml.CBPE(
        y_pred_proba=cols,
        y_pred="y_pred",
        y_true="y_true",
        metrics=["accuracy"],
        problem_type="classification_multiclass",
        chunk_number=1,
    )
    est.fit(frame(ref_proba, ref_y))
    res = est.estimate(frame(win_proba, None)).filter(period="analysis").to_df()
    return float(res[("accuracy", "value")].iloc[0])


def cbpe_benchmark(console: Console, seeds: int, reference: str = "lineage") -> None:
    """CBPE estimate vs realised accuracy on the repair benchmark's covariate-shift windows.

    ``reference="own"``: calibrate on held-out digits of the model's own training regime;
    ``"lineage"``: on held-out digits of every lineage regime (equal shares), so that today's
    windows (mixtures of those regimes) are a covariate shift of the calibration data. The
    lineage CBPE column always uses one calibration per regime and the regime signatures.
    """
    from driftline.datasets import mixed_regime_scenario, recurring_drift_scenario, rotated_digits
    from driftline.demo.lineage import train_lineage
    from driftline.drift import Signature as Sig
    from driftline.drift.likelihood import log_likelihood
    from driftline.drift.performance import CBPE, LineageCBPE
    from driftline.params.sklearn import params_to_estimator

    specs = {
        "recurring 95/5": lambda s: recurring_drift_scenario(s),
        "mixed 70/30": lambda s: mixed_regime_scenario(s, 0.7),
        "mixed 50/50": lambda s: mixed_regime_scenario(s, 0.5),
        "overlapping": lambda s: recurring_drift_scenario(
            s,
            lineage_angles=(10.0, 20.0, 30.0),
            current_angles=(0.0, 20.0),
            current_weights=(0.5, 0.5),
        ),
    }
    rows: list[tuple[str, int, str, float, float, float, float | None]] = []
    for seed in range(seeds):
        for name, make in specs.items():
            sc = make(seed)
            members = train_lineage(sc, seed=seed, prune_fraction=0.0)
            sigs = [Sig.from_data(m.regime.X) for m in members]  # what the store keeps
            held = np.concatenate([sc.validation.index, sc.test.index])  # unseen digits
            regime_rows = [rotated_digits(float(m.regime.angles[0]), indices=held) for m in members]
            for member in (members[0], members[-1]):  # the root and the deployed model
                est = params_to_estimator(member.params.params, member.params.architecture)
                own = rotated_digits(float(member.regime.angles[0]), indices=held)
                Xr, yr = (
                    own
                    if reference == "own"
                    else (
                        np.concatenate([r[0] for r in regime_rows]),
                        np.concatenate([r[1] for r in regime_rows]),
                    )
                )
                pr = est.predict_proba(Xr)
                cbpe = CBPE.fit(pr, yr, est.classes_)
                lcbpe = LineageCBPE.fit(
                    [(est.predict_proba(x), y) for x, y in regime_rows], est.classes_
                )
                for part in (sc.window, sc.test):
                    pw = est.predict_proba(part.X)
                    realised = float(np.mean(est.predict(part.X) == part.y))
                    ll = np.column_stack([log_likelihood(s, part.X) for s in sigs])
                    rows.append(
                        (
                            name,
                            seed,
                            member.regime.name,
                            realised,
                            cbpe.estimate(pw),
                            lcbpe.estimate(pw, ll),
                            _nannyml_cbpe(pr, yr, pw),
                        )
                    )
    err = np.array([abs(r[4] - r[3]) for r in rows])
    lerr = np.array([abs(r[5] - r[3]) for r in rows])
    tbl = Table(
        title=f"CBPE ({reference} calibration) on covariate-shift windows: {len(rows)} "
        f"windows ({seeds} seeds × "
        f"{len(specs)} scenarios × root/deployed model × window/test)"
    )
    for h in (
        "scenario",
        "model regime",
        "realised acc",
        "driftline CBPE",
        "|error|",
        "lineage CBPE",
        "|error|",
        "NannyML CBPE",
        "|error|",
    ):
        tbl.add_column(h, justify="right")
    for name, _seed, reg, real, est_, lest, nml_ in rows[: 4 * len(specs)]:
        tbl.add_row(
            name,
            reg,
            f"{real:.3f}",
            f"{est_:.3f}",
            f"{abs(est_ - real):.3f}",
            f"{lest:.3f}",
            f"{abs(lest - real):.3f}",
            "–" if nml_ is None else f"{nml_:.3f}",
            "–" if nml_ is None else f"{abs(nml_ - real):.3f}",
        )
    console.print(tbl)
    nml_err = [abs(r[6] - r[3]) for r in rows if r[6] is not None]
    peer = f"NannyML {np.mean(nml_err):.4f}" if nml_err else "NannyML not installed"
    console.print(
        f"CBPE mean absolute error over {len(rows)} windows: driftline CBPE "
        f"{err.mean():.4f} (max {err.max():.3f}); driftline lineage CBPE "
        f"{lerr.mean():.4f} (max {lerr.max():.3f}); {peer} · target ≤ 0.03"
    )


# --------------------------------------------------------------------------- run
def _rates(flags: list[dict[str, bool]]) -> dict[str, float]:
    return {
        s.name: float(np.mean([f.get(s.name, False) for f in flags])) if flags else math.nan
        for s in SHAPES
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50k reference, sizes 500/5000, 10 trials")
    ap.add_argument("--trials", type=int, default=None)
    ap.add_argument("--ref-rows", type=int, default=None)
    ap.add_argument("--sizes", type=str, default=None, help="comma-separated window sizes")
    ap.add_argument("--evidently-trials", type=int, default=10)
    ap.add_argument("--no-scipy", action="store_true")
    ap.add_argument(
        "--cbpe",
        type=int,
        default=0,
        metavar="SEEDS",
        help="only the CBPE section, on this many seeds of the repair scenarios",
    )
    ap.add_argument(
        "--cbpe-reference",
        choices=("own", "lineage"),
        default="lineage",
        help="CBPE calibration data: the model's own regime or every lineage regime",
    )
    args = ap.parse_args()
    if args.cbpe:
        cbpe_benchmark(Console(width=max(Console().width, 140)), args.cbpe, args.cbpe_reference)
        return
    trials = args.trials or (10 if args.quick else 50)
    n_ref = args.ref_rows or (50_000 if args.quick else 200_000)
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else [500, 5000]
        if args.quick
        else [500, 5000, 100_000]
    )
    console = Console(width=max(Console().width, 160))
    rng = np.random.default_rng(0)
    ref = _table(rng, n_ref, False)
    cats = [s.name for s in SHAPES if s.categorical]
    t = time.perf_counter()
    sig = Signature.from_data(ref, categorical=cats)
    sig.to_bytes()
    build = time.perf_counter() - t
    scipy_rule = None if args.no_scipy else ScipyRule(ref)
    ev = _evidently_rule()
    ref_df = None
    if ev is not None:
        import pandas as pd

        ref_df = pd.DataFrame(ref)
    results: dict[int, dict[str, dict[str, float]]] = {}
    for n in sizes:
        acc: dict[str, list] = {
            k: [] for k in ("dl_fa", "dl5_fa", "dl5_pw", "sp_fa", "sp_pw", "ev_fa", "ev_pw")
        }
        timing = {"driftline": 0.0, "scipy": 0.0, "evidently": 0.0}
        for trial in range(trials):
            for changed in (False, True):
                w = _table(rng, n, changed)
                t = time.perf_counter()
                own, at5 = _driftline(sig, w)
                timing["driftline"] += time.perf_counter() - t
                acc["dl5_pw" if changed else "dl5_fa"].append(at5)
                if not changed:
                    acc["dl_fa"].append(own)
                if scipy_rule is not None:
                    t = time.perf_counter()
                    acc["sp_pw" if changed else "sp_fa"].append(scipy_rule(w))
                    timing["scipy"] += time.perf_counter() - t
                if ev is not None and trial < args.evidently_trials:
                    t = time.perf_counter()
                    acc["ev_pw" if changed else "ev_fa"].append(ev(ref_df, w))
                    timing["evidently"] += time.perf_counter() - t
        results[n] = {k: _rates(v) for k, v in acc.items()}
        console.print(
            f"window {n:,}: {trials} trials; seconds driftline "
            f"{timing['driftline']:.1f}, scipy {timing['scipy']:.1f}, "
            f"evidently {timing['evidently']:.1f} "
            f"({min(trials, args.evidently_trials) if ev else 0} trials)"
        )
    _print(console, results, sizes, trials, n_ref, build, ev is not None, args.evidently_trials)


def _pct(x: float) -> str:
    return "–" if math.isnan(x) else f"{100 * x:.0f}"


def _print(
    console: Console,
    results: dict,
    sizes: list[int],
    trials: int,
    n_ref: int,
    build: float,
    has_ev: bool,
    ev_trials: int,
) -> None:
    for n in sizes:
        r = results[n]
        tbl = Table(
            title=f"window {n:,} rows · reference {n_ref:,} rows · {trials} trials "
            f"(Evidently {min(trials, ev_trials) if has_ev else 0}) · % of windows"
        )
        tbl.add_column("shape")
        tbl.add_column("change")
        for h in (
            "FA driftline",
            "FA dl@5%",
            "FA scipy-B",
            "FA Evidently",
            "power dl@5%",
            "power scipy-B",
            "power Evidently",
        ):
            tbl.add_column(h, justify="right")
        for s in SHAPES:
            k = s.name
            tbl.add_row(
                k,
                s.change,
                _pct(r["dl_fa"][k]),
                _pct(r["dl5_fa"][k]),
                _pct(r["sp_fa"][k]),
                _pct(r["ev_fa"][k]),
                _pct(r["dl5_pw"][k]),
                _pct(r["sp_pw"][k]),
                _pct(r["ev_pw"][k]),
            )
        means = {c: float(np.mean(list(r[c].values()))) for c in r}
        tbl.add_row(
            "[bold]mean[/]",
            "",
            *[
                _pct(means[c])
                for c in ("dl_fa", "dl5_fa", "sp_fa", "ev_fa", "dl5_pw", "sp_pw", "ev_pw")
            ],
        )
        console.print(tbl)
    worst = max(max(results[n]["dl_fa"].values()) for n in sizes)
    console.print(
        f"driftline: worst false-alarm rate over shapes and sizes {100 * worst:.0f}% "
        f"(target ≤ 1%: {trials} trials resolve {100 / trials:.0f}% steps); "
        f"signature build incl. calibration {build:.2f} s"
    )


if __name__ == "__main__":
    main()
