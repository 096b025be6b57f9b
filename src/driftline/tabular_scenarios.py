"""Generated tabular drift families for the model-family tests and benchmarks.

Each family has two regimes, A (the root's training data) and B (the data the deployed child was
trained on), that differ in their inputs (covariate shift, so the lineage's signatures can tell
them apart) *and* in the input→label relation (concept drift, so a model of one is wrong on the
other):

* ``credit``  (classification, 6 features): applicants' utilisation, income (log-normal), age,
  debt ratio, open accounts (Poisson) and a coded region 0..3. Default logit in A:
  −0.5 + 2.2·util − 1.1·z(log income) + 0.8·debt − 0.6·[region=2]. B is a downturn: incomes fall,
  utilisation and debt rise, regions 2–3 dominate, and utilisation's effect flips sign
  (logit −0.3 − 2.0·util + 1.4·z(age) + 0.8·debt + 0.9·[region=3]).
* ``sensor``  (classification, 5 features): machine temperature, vibration, pressure, rpm and
  an operating mode. A fault is ``vibration > 1 and temp > 0.3`` or ``pressure < −1.2`` in A;
  B runs hotter (+1.5 °σ), slower, in mode 1, and faults are ``vibration < −0.4 or rpm > 1.1``
  (thresholds, so trees fit it well and linear models do not).
* ``demand``  (regression, 5 features): weekly demand from price, promotion depth, temperature,
  a holiday flag and a store size. A: y = 10 − 3·price + 4·promo + sin(2·temp) + 2·size·holiday;
  B (a competitor opens): prices and promotions shift, and
  y = 6 + 1.5·price + 1·promo − cos(temp) + 3·size + noise.

Scenarios: ``recurring`` (today: 95% A + 5% B — the concept came back) and ``mixed`` (50% A +
50% B). Pools are drawn independently per seed: training sets for A and B (and today's
distribution, the retraining ceiling), an unlabelled window, ``n_val`` validation labels and a
test set.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from driftline.validation import check_choice

FAMILIES = ("credit", "sensor", "demand")
KINDS = {"recurring": 0.05, "mixed": 0.5}  # share of regime B in today's data


@dataclass(frozen=True)
class Split:
    X: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class TabularScenario:
    """Regime A (root), regime B (deployed child), today's window, validation, test and the
    retraining ceiling's data (all of today's distribution)."""

    family: str
    kind: str
    seed: int
    task: str
    regime_a: Split
    regime_b: Split
    window: Split
    validation: Split
    test: Split
    current_train: Split
    feature_names: tuple[str, ...]


def _credit(rng: np.random.Generator, n: int, b: bool) -> Split:
    util = np.clip(rng.beta(5, 2, n) if b else rng.beta(2, 5, n), 0, 1)
    income = rng.lognormal(10.2 if b else 10.8, 0.5, n)
    age = rng.normal(38 if b else 45, 12, n)
    debt = rng.gamma(3 if b else 2, 0.25, n)
    accounts = rng.poisson(6 if b else 3, n).astype(np.float64)
    region = rng.choice(4, n, p=[0.1, 0.1, 0.4, 0.4] if b else [0.35, 0.35, 0.2, 0.1])
    zinc = (np.log(income) - 10.5) / 0.5
    zage = (age - 42) / 12
    if b:
        logit = -0.3 - 2.0 * (util - 0.5) * 3 + 1.4 * zage + 0.8 * debt + 0.9 * (region == 3)
    else:
        logit = -0.5 + 2.2 * (util - 0.3) * 3 - 1.1 * zinc + 0.8 * debt - 0.6 * (region == 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    X = np.column_stack([util, np.log(income), age, debt, accounts, region.astype(np.float64)])
    return Split(X, y)


def _sensor(rng: np.random.Generator, n: int, b: bool) -> Split:
    temp = rng.normal(1.5 if b else 0.0, 1.0, n)
    vib = rng.normal(0.3 if b else 0.0, 1.0, n)
    pressure = rng.normal(0.0, 1.0, n)
    rpm = rng.normal(0.6 if b else -0.2, 0.8, n)
    mode = (rng.random(n) < (0.9 if b else 0.1)).astype(np.float64)
    if b:
        fault = (vib < -0.4) | (rpm > 1.1)
    else:
        fault = ((vib > 1.0) & (temp > 0.3)) | (pressure < -1.2)
    flip = rng.random(n) < 0.03
    y = np.where(flip, ~fault, fault).astype(np.int64)
    return Split(np.column_stack([temp, vib, pressure, rpm, mode]), y)


def _demand(rng: np.random.Generator, n: int, b: bool) -> Split:
    price = rng.normal(1.2 if b else 0.0, 1.0, n)
    promo = rng.uniform(0, 1.5 if b else 1.0, n)
    temp = rng.normal(0.5 if b else 0.0, 1.0, n)
    holiday = (rng.random(n) < 0.15).astype(np.float64)
    size = rng.normal(0.0, 1.0, n)
    if b:
        y = 6 + 1.5 * price + 1.0 * promo - np.cos(temp) + 3 * size
    else:
        y = 10 - 3 * price + 4 * promo + np.sin(2 * temp) + 2 * size * holiday
    y = y + rng.normal(0, 0.5, n)
    return Split(np.column_stack([price, promo, temp, holiday, size]), y)


_GEN: dict[str, tuple[Callable[[np.random.Generator, int, bool], Split], str, tuple[str, ...]]] = {
    "credit": (
        _credit,
        "classifier",
        ("utilisation", "log_income", "age", "debt_ratio", "accounts", "region"),
    ),
    "sensor": (_sensor, "classifier", ("temperature", "vibration", "pressure", "rpm", "mode")),
    "demand": (_demand, "regressor", ("price", "promo", "temperature", "holiday", "store_size")),
}


def _mix(rng: np.random.Generator, gen: Callable, n: int, share_b: float) -> Split:
    nb = int(round(n * share_b))
    a, b = gen(rng, n - nb, False), gen(rng, nb, True)
    order = rng.permutation(n)
    return Split(np.vstack([a.X, b.X])[order], np.concatenate([a.y, b.y])[order])


def tabular_scenario(
    family: str,
    kind: str = "recurring",
    seed: int = 0,
    *,
    n_train: int = 2000,
    n_window: int = 2000,
    n_val: int = 100,
    n_test: int = 2000,
) -> TabularScenario:
    """One generated scenario (see the module docstring)."""
    check_choice("drift family", family, FAMILIES)
    check_choice("scenario", kind, KINDS)
    gen, task, names = _GEN[family]
    rng = np.random.default_rng([seed, FAMILIES.index(family), list(KINDS).index(kind)])
    share = KINDS[kind]
    return TabularScenario(
        family,
        kind,
        seed,
        task,
        regime_a=gen(rng, n_train, False),
        regime_b=gen(rng, n_train, True),
        window=_mix(rng, gen, n_window, share),
        validation=_mix(rng, gen, n_val, share),
        test=_mix(rng, gen, n_test, share),
        current_train=_mix(rng, gen, n_train, share),
        feature_names=names,
    )
