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

* **effect** — the change's population effect size (KS distance, or total variation for
  categories) from 10⁶ draws of each side, beside the materiality floor (0.02): the power target
  applies where the effect is above the floor.

False alarms are counts ``k/N`` with the one-sided 95 % Clopper–Pearson upper bound of the rate:
50 trials cannot show a rate ≤ 1 % (0 of 50 still allows 5.8 %), so ``--trials`` takes one count
per size (e.g. ``400,400,50``). Power columns add the paired counts "only driftline / only scipy"
(the same windows), which separate a real power gap from trial noise.

    python benchmarks/bench_drift_quality.py             # 500 / 5,000 / 100,000 rows, 50 trials
    python benchmarks/bench_drift_quality.py --trials 400,400,50 --evidently-trials 0
    python benchmarks/bench_drift_quality.py --quick     # 50k reference, 500 / 5,000, 10 trials
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML would post usage data

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
    rows: list[tuple[str, int, str, float, float, float, float | None, float]] = []
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
                            lcbpe.estimate(pw, ll, iterations=0),
                        )
                    )
    err = np.array([abs(r[4] - r[3]) for r in rows])
    lerr = np.array([abs(r[5] - r[3]) for r in rows])
    uerr = np.array([abs(r[7] - r[3]) for r in rows])
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
    for name, _seed, reg, real, est_, lest, nml_, _ in rows[: 4 * len(specs)]:
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
        f"{lerr.mean():.4f} (max {lerr.max():.3f}); lineage CBPE with a uniform regime "
        f"prior (what an agent's panes add up) {uerr.mean():.4f} (max {uerr.max():.3f}); "
        f"{peer} · target ≤ 0.03"
    )


# --------------------------------------------------------------------------- run
def upper_bound(k: int, n: int, conf: float = 0.95) -> float:
    """One-sided Clopper–Pearson upper confidence bound of a rate from ``k`` of ``n``."""
    if n <= 0:
        return math.nan
    return 1.0 if k >= n else float(stats.beta.ppf(conf, k + 1, n - k))


def effect_sizes(rng: np.random.Generator, draws: int = 1_000_000) -> dict[str, float]:
    """Population KS distance (numeric, missing at +∞) or TV (categories) of each change."""
    out = {}
    for s in SHAPES:
        a, b = s.sample(rng, draws, False), s.sample(rng, draws, True)
        if s.categorical:
            la, ca = np.unique(a.astype(str), return_counts=True)
            lb, cb = np.unique(b.astype(str), return_counts=True)
            pa = dict(zip(la.tolist(), (ca / draws).tolist(), strict=True))
            pb = dict(zip(lb.tolist(), (cb / draws).tolist(), strict=True))
            out[s.name] = 0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in pa.keys() | pb)
        else:
            a2, b2 = np.where(np.isfinite(a), a, np.inf), np.where(np.isfinite(b), b, np.inf)
            out[s.name] = float(stats.ks_2samp(a2, b2).statistic)
    return out


@dataclass
class Cell:
    """Counts of one window size: per rule and shape, windows that alarmed."""

    trials: int
    counts: dict[str, dict[str, int]]
    paired: dict[str, tuple[int, int]]  # shape -> (only driftline@5%, only scipy) on power


def _count(flags: list[dict[str, bool]]) -> dict[str, int]:
    return {s.name: int(sum(bool(f.get(s.name, False)) for f in flags)) for s in SHAPES}


def _run_size(
    sig: Signature,
    rng: np.random.Generator,
    n: int,
    trials: int,
    scipy_rule: ScipyRule | None,
    ev: Callable[[object, dict[str, np.ndarray]], dict[str, bool]] | None,
    ev_state: tuple[object, int],
) -> tuple[Cell, dict[str, float]]:
    acc: dict[str, list] = {
        k: [] for k in ("dl_fa", "dl5_fa", "dl5_pw", "sp_fa", "sp_pw", "ev_fa", "ev_pw")
    }
    timing = {"driftline": 0.0, "scipy": 0.0, "evidently": 0.0}
    ref_df, ev_trials = ev_state
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
            if ev is not None and trial < ev_trials:
                t = time.perf_counter()
                acc["ev_pw" if changed else "ev_fa"].append(ev(ref_df, w))
                timing["evidently"] += time.perf_counter() - t
    paired = {}
    for s in SHAPES:
        if not acc["sp_pw"]:
            break
        dl = [f[s.name] for f in acc["dl5_pw"]]
        sp = [f[s.name] for f in acc["sp_pw"]]
        paired[s.name] = (
            sum(a and not b for a, b in zip(dl, sp, strict=True)),
            sum(b and not a for a, b in zip(dl, sp, strict=True)),
        )
    counts = {k: _count(v) for k, v in acc.items()}
    counts["_n"] = {k: len(v) for k, v in acc.items()}
    return Cell(trials, counts, paired), timing


def _sizes_and_trials(args: argparse.Namespace) -> tuple[list[int], list[int]]:
    sizes = (
        [int(s) for s in args.sizes.split(",")]
        if args.sizes
        else [500, 5000]
        if args.quick
        else [500, 5000, 100_000]
    )
    if args.trials:
        trials = [int(t) for t in str(args.trials).split(",")]
        trials = trials + [trials[-1]] * (len(sizes) - len(trials))
    else:
        trials = [10 if args.quick else 50] * len(sizes)
    return sizes, trials[: len(sizes)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50k reference, sizes 500/5000, 10 trials")
    ap.add_argument(
        "--trials", type=str, default=None, help="trials per size: one count, or one per size"
    )
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
    n_ref = args.ref_rows or (50_000 if args.quick else 200_000)
    sizes, trials = _sizes_and_trials(args)
    console = Console(width=max(Console().width, 180))
    rng = np.random.default_rng(0)
    ref = _table(rng, n_ref, False)
    cats = [s.name for s in SHAPES if s.categorical]
    t = time.perf_counter()
    sig = Signature.from_data(ref, categorical=cats)
    sig.to_bytes()
    build = time.perf_counter() - t
    scipy_rule = None if args.no_scipy else ScipyRule(ref)
    ev = _evidently_rule() if args.evidently_trials > 0 else None
    ref_df = None
    if ev is not None:
        import pandas as pd

        ref_df = pd.DataFrame(ref)
    effects = effect_sizes(np.random.default_rng(1))
    results: dict[int, Cell] = {}
    for n, nt in zip(sizes, trials, strict=True):
        results[n], timing = _run_size(
            sig, rng, n, nt, scipy_rule, ev, (ref_df, args.evidently_trials)
        )
        console.print(
            f"window {n:,}: {nt} trials; seconds driftline "
            f"{timing['driftline']:.1f}, scipy {timing['scipy']:.1f}, "
            f"evidently {timing['evidently']:.1f}"
        )
    _print(console, results, n_ref, effects)
    _summary(console, results, build)


def _frac(k: int, n: int) -> str:
    return "–" if n == 0 else f"{k}/{n}"


def _print(
    console: Console, results: dict[int, Cell], n_ref: int, effects: dict[str, float]
) -> None:
    floor = CalibrationSettings().floor
    for n, cell in results.items():
        c, nn = cell.counts, cell.counts["_n"]
        tbl = Table(
            title=f"window {n:,} rows · reference {n_ref:,} rows · {cell.trials} trials · "
            "windows that alarmed (false alarms: count/trials, 95 % upper bound of the rate)"
        )
        for h in ("shape", "change", "effect"):
            tbl.add_column(h)
        for h in (
            "FA driftline",
            "UB95",
            "FA dl@5%",
            "FA scipy-B",
            "FA Evidently",
            "power dl@5%",
            "power scipy-B",
            "only dl / only sp",
            "power Evidently",
        ):
            tbl.add_column(h, justify="right")
        for s in SHAPES:
            k = s.name
            fl = floor("tv" if s.categorical else "ks_all")
            only = cell.paired.get(k)
            tbl.add_row(
                k,
                s.change,
                f"{'TV' if s.categorical else 'KS'} {effects[k]:.3f}"
                + (" < floor" if effects[k] < fl else ""),
                _frac(c["dl_fa"][k], nn["dl_fa"]),
                f"{100 * upper_bound(c['dl_fa'][k], nn['dl_fa']):.1f}%",
                _frac(c["dl5_fa"][k], nn["dl5_fa"]),
                _frac(c["sp_fa"][k], nn["sp_fa"]),
                _frac(c["ev_fa"][k], nn["ev_fa"]),
                _frac(c["dl5_pw"][k], nn["dl5_pw"]),
                _frac(c["sp_pw"][k], nn["sp_pw"]),
                "–" if only is None else f"{only[0]} / {only[1]}",
                _frac(c["ev_pw"][k], nn["ev_pw"]),
            )
        console.print(tbl)


def _summary(console: Console, results: dict[int, Cell], build: float) -> None:
    worst_ub, worst = 0.0, ""
    total_k = total_n = 0
    for n, cell in results.items():
        nn = cell.counts["_n"]["dl_fa"]
        for k, v in cell.counts["dl_fa"].items():
            total_k, total_n = total_k + v, total_n + nn
            ub = upper_bound(v, nn)
            if ub > worst_ub:
                worst_ub, worst = ub, f"{k} at {n:,} ({v}/{nn})"
    console.print(
        f"driftline false alarms: {total_k} of {total_n} stationary feature-windows "
        f"({100 * total_k / max(total_n, 1):.2f}%, 95% upper bound "
        f"{100 * upper_bound(total_k, total_n):.2f}%); loosest cell {worst}: upper bound "
        f"{100 * worst_ub:.1f}% (target ≤ 1%); signature build incl. calibration {build:.2f} s"
    )


if __name__ == "__main__":
    main()
