"""The digits drift scenarios behind the demo, the tests and the benchmarks.

All data comes from scikit-learn's bundled 8×8 digits (1797 images, no download). Images are
rotated with ``scipy.ndimage.rotate(reshape=False, order=1)`` and scaled to [0, 1] (64 features).

The 1797 digits are split once per seed into disjoint pools: *train* (everything a lineage model
or the retraining ceiling learns from), *window* (the unlabelled current stream), *validation*
and *test*; validation and test digits are never seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.errors import InvalidInputError
from driftline.validation import check_choice

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CHURN_FEATURES",
    "CHURN_MODEL_INPUTS",
    "DigitsScenario",
    "churn_table",
    "Regime",
    "load_digits_images",
    "mixed_regime_scenario",
    "new_regime_scenario",
    "recurring_drift_scenario",
    "render",
    "rotated_digits",
]


@lru_cache(maxsize=1)
def load_digits_images() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 8, 8) float64 in [0, 1], labels (1797,) int64) from sklearn's digits."""
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float64)
    images.setflags(write=False)
    target = d.target.astype(np.int64)
    target.setflags(write=False)
    return images, target


def render(
    images: np.ndarray, angle_deg: float = 0.0, *, invert: bool = False, blur: float = 0.0
) -> np.ndarray:
    """Rotate (degrees, counter-clockwise; bilinear, same 8×8 frame), optionally Gaussian-blur
    (sigma in pixels) and invert (x -> 1 − x) a stack of images; returns flat (n, 64) in [0, 1]."""
    from scipy import ndimage

    out = np.asarray(images, dtype=np.float64)
    if angle_deg % 360:
        out = ndimage.rotate(
            out, angle_deg, axes=(1, 2), reshape=False, order=1, mode="constant", cval=0.0
        )
    if blur > 0:
        out = ndimage.gaussian_filter(out, sigma=(0, blur, blur))
    out = np.clip(out, 0.0, 1.0)
    if invert:
        out = 1.0 - out
    return out.reshape(len(out), -1)


def rotated_digits(
    angle_deg: float, n: int | None = None, seed: int = 0, indices: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Digits rotated by ``angle_deg``: ``(X (n, 64) in [0, 1], y)``.

    ``indices`` selects digits (default all 1797); ``n`` draws that many of them without
    replacement (seeded)."""
    images, target = load_digits_images()
    idx = np.arange(len(target)) if indices is None else np.asarray(indices)
    if n is not None:
        if n > len(idx):
            raise InvalidInputError(f"asked for {n} digits, only {len(idx)} available")
        idx = np.random.default_rng(seed).choice(idx, size=n, replace=False)
    return render(images[idx], angle_deg), target[idx].copy()


@dataclass(frozen=True)
class Regime:
    """One data regime: a name, X, y, how each row was rendered (``angles``: its rotation) and
    which of the 1797 digits it shows (``index``)."""

    name: str
    X: np.ndarray
    y: np.ndarray
    angles: np.ndarray
    index: np.ndarray
    description: str = ""

    def __len__(self) -> int:
        return len(self.y)


@dataclass(frozen=True)
class DigitsScenario:
    """A lineage's training regimes and today's data.

    ``base`` trains the root model; ``lineage`` are the successive fine-tune regimes (the last one
    trained the deployed, drifted model); ``window`` is the unlabelled current stream (its ``y``
    is kept only for evaluation); ``validation`` (≤ 100 labelled points) and ``test`` come from the
    current distribution; ``current_train`` is the whole train pool rendered under the current
    distribution (the "retrain on all labels" ceiling). ``healthy`` names the regimes the current
    data came back to (empty for a new regime)."""

    seed: int
    base: Regime
    lineage: list[Regime]
    window: Regime
    validation: Regime
    test: Regime
    current_train: Regime
    healthy: tuple[str, ...] = ()
    settings: dict = field(default_factory=dict)

    @property
    def regimes(self) -> list[Regime]:
        return [self.base, *self.lineage]


def _split(seed: int, n_window: int, n_val: int, n_test: int) -> dict[str, np.ndarray]:
    _, target = load_digits_images()
    n = len(target)
    if n_window + n_val + n_test >= n - 100:
        raise InvalidInputError("window + validation + test leave fewer than 100 training digits")
    perm = np.random.default_rng(seed).permutation(n)
    a, b, c = n_val, n_val + n_test, n_val + n_test + n_window
    return {"val": perm[:a], "test": perm[a:b], "window": perm[b:c], "train": perm[c:]}


def _current(
    name: str,
    idx: np.ndarray,
    rng: np.random.Generator,
    angles: Sequence[float],
    weights: Sequence[float],
    *,
    invert: bool = False,
    blur: float = 0.0,
    description: str = "",
) -> Regime:
    images, target = load_digits_images()
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.sum()
    # exact shares: round(w·n) rows per angle, assigned to random rows
    counts = np.floor(w * len(idx)).astype(int)
    counts[np.argmax(w)] += len(idx) - counts.sum()
    per_row = rng.permutation(np.repeat(np.asarray(angles, dtype=np.float64), counts))
    X = np.empty((len(idx), 64))
    for ang in np.unique(per_row):
        rows = per_row == ang
        X[rows] = render(images[idx[rows]], float(ang), invert=invert, blur=blur)
    return Regime(name, X, target[idx].copy(), per_row, idx.copy(), description)


def _rotated(images: np.ndarray, target: np.ndarray, idx: np.ndarray, angle: float) -> Regime:
    """The rows ``idx`` of the digits, all rotated by ``angle`` degrees."""
    return Regime(
        f"rot{angle:g}",
        render(images[idx], angle),
        target[idx].copy(),
        np.full(len(idx), float(angle)),
        idx,
        f"digits rotated {angle:g}°",
    )


def _scenario(
    seed: int,
    *,
    base_angle: float,
    lineage_angles: Sequence[float],
    n_base: int | None,
    n_finetune: int,
    current_angles: Sequence[float],
    current_weights: Sequence[float],
    n_window: int,
    n_val: int,
    n_test: int,
    invert: bool = False,
    blur: float = 0.0,
    healthy: tuple[str, ...] = (),
    current_desc: str = "",
) -> DigitsScenario:
    if n_val > 100:
        raise InvalidInputError("the validation set is meant to be small: n_val <= 100")
    images, target = load_digits_images()
    split = _split(seed, n_window, n_val, n_test)
    rng = np.random.default_rng(seed + 1)
    train = split["train"]
    base_idx = (
        train if n_base is None else rng.choice(train, size=min(n_base, len(train)), replace=False)
    )
    base = _rotated(images, target, base_idx.copy(), base_angle)
    lineage = []
    for ang in lineage_angles:
        idx = rng.choice(train, size=min(n_finetune, len(train)), replace=False)
        lineage.append(_rotated(images, target, idx, ang))
    cur = {
        name: _current(
            name,
            split[key],
            rng,
            current_angles,
            current_weights,
            invert=invert,
            blur=blur,
            description=current_desc,
        )
        for name, key in (
            ("window", "window"),
            ("validation", "val"),
            ("test", "test"),
            ("current_train", "train"),
        )
    }
    settings = {
        "base_angle": base_angle,
        "lineage_angles": list(lineage_angles),
        "n_base": len(base_idx),
        "n_finetune": n_finetune,
        "current_angles": list(current_angles),
        "current_weights": list(current_weights),
        "invert": invert,
        "blur": blur,
        "n_window": n_window,
        "n_val": n_val,
        "n_test": n_test,
    }
    return DigitsScenario(
        seed,
        base,
        lineage,
        cur["window"],
        cur["validation"],
        cur["test"],
        cur["current_train"],
        healthy,
        settings,
    )


def recurring_drift_scenario(
    seed: int = 0,
    *,
    lineage_angles: Sequence[float] = (20.0, 40.0, 60.0),
    current_angles: Sequence[float] = (0.0, 60.0),
    current_weights: Sequence[float] = (0.95, 0.05),
    n_base: int | None = None,
    n_finetune: int = 600,
    n_window: int = 300,
    n_val: int = 100,
    n_test: int = 400,
) -> DigitsScenario:
    """A recurring concept: the root is trained on upright digits, descendants are fine-tuned on
    digits rotated by ``lineage_angles`` in turn, and today's stream has returned to the upright
    regime, mixed with a little of the newest one (``current_weights`` over ``current_angles``)."""
    return _scenario(
        seed,
        base_angle=0.0,
        lineage_angles=lineage_angles,
        n_base=n_base,
        n_finetune=n_finetune,
        current_angles=current_angles,
        current_weights=current_weights,
        n_window=n_window,
        n_val=n_val,
        n_test=n_test,
        healthy=("rot0",),
        current_desc="recurring: mostly upright, some of the newest rotation",
    )


def mixed_regime_scenario(seed: int = 0, mix: float = 0.7, **kwargs: Any) -> DigitsScenario:
    """Today's data mixes regimes: ``mix`` upright + (1 − mix) rotated 60° (lineage as in
    :func:`recurring_drift_scenario`)."""
    if not 0.0 <= mix <= 1.0:
        raise InvalidInputError(f"mix must be in [0, 1], got {mix}")
    kwargs.setdefault("current_angles", (0.0, 60.0))
    kwargs["current_weights"] = (mix, 1.0 - mix)
    return recurring_drift_scenario(seed, **kwargs)


def new_regime_scenario(
    seed: int = 0,
    *,
    kind: str = "invert",
    lineage_angles: Sequence[float] = (20.0, 40.0, 60.0),
    n_finetune: int = 600,
    n_window: int = 300,
    n_val: int = 100,
    n_test: int = 400,
) -> DigitsScenario:
    """Today's data is unlike anything in the lineage, so no ancestor is healthy: ``kind`` is
    "invert" (x -> 1 − x), "blur" (Gaussian, sigma 1.5 px) or "rot90" (rotated 90°)."""
    opts: dict[str, dict[str, Any]] = {
        "invert": {"invert": True},
        "blur": {"blur": 1.5},
        "rot90": {},
    }
    check_choice("kind", kind, sorted(opts))
    angle = 90.0 if kind == "rot90" else 0.0
    return _scenario(
        seed,
        base_angle=0.0,
        lineage_angles=lineage_angles,
        n_base=None,
        n_finetune=n_finetune,
        current_angles=(angle,),
        current_weights=(1.0,),
        n_window=n_window,
        n_val=n_val,
        n_test=n_test,
        healthy=(),
        current_desc=f"new regime: {kind}",
        **opts[kind],
    )


# ----------------------------------------------------------------------------- churn tables
#: the churn table's columns: role -> names (what ``driftline example churn`` documents)
CHURN_FEATURES = (
    "signup_date",
    "tenure_months",
    "monthly_charges",
    "support_calls",
    "age",
    "plan",
    "region",
    "autopay",
)
CHURN_MODEL_INPUTS = ("tenure_months", "monthly_charges", "support_calls")
CHURN_REGIMES = ("base", "promo", "today")


def churn_table(n: int = 2000, *, regime: str = "base", seed: int = 0) -> pd.DataFrame:
    """A generated customer-churn table as users have it (pandas):

    ``customer_id`` (string id, unique), ``signup_date`` (datetime), ``tenure_months`` (int),
    ``monthly_charges`` (float), ``support_calls`` (int), ``age`` (float with missing values),
    ``plan`` (category: basic / standard / premium), ``region`` (string), ``autopay`` (bool) and
    the label ``churned`` (0/1).

    Regimes: ``"base"`` (the original customers: churn rises with monthly charges), ``"promo"``
    (a promotion season: charges 25 lower, churn driven by support calls), ``"today"`` (base-like
    customers again, with some drift: charges +3, a new plan ``"student"`` on 1% of rows, and 7%
    of ``age`` missing instead of 5%).
    """
    import pandas as pd

    check_choice("churn regime", regime, CHURN_REGIMES)
    if n < 1:
        raise InvalidInputError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng([seed, CHURN_REGIMES.index(regime)])
    tenure = rng.integers(1, 72, n)
    plans = np.array(["basic", "standard", "premium"])
    plan = plans[rng.choice(3, n, p=[0.5, 0.3, 0.2])].astype(object)
    base_charge = np.select([plan == "basic", plan == "standard"], [45.0, 70.0], 95.0)
    charges = base_charge + rng.normal(0, 12, n)
    calls = rng.poisson(1.5, n)
    if regime == "promo":
        charges -= 25.0
        logit = -2.2 + 0.9 * calls - 0.01 * tenure
    else:
        logit = -1.0 + 0.07 * (charges - 70.0) - 0.03 * tenure + 0.1 * calls
    if regime == "today":
        charges += 3.0
        plan[rng.random(n) < 0.01] = "student"
    churned = (rng.random(n) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    age = rng.normal(42, 12, n).round()
    age[rng.random(n) < (0.07 if regime == "today" else 0.05)] = np.nan
    start = np.datetime64("2020-01-01") + rng.integers(0, 4 * 365, n).astype("timedelta64[D]")
    ids = rng.permutation(10**6)[:n] + (CHURN_REGIMES.index(regime) + 1) * 10**6
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in ids],
            "signup_date": pd.to_datetime(start),
            "tenure_months": tenure.astype(np.int64),
            "monthly_charges": charges.round(2),
            "support_calls": calls.astype(np.int64),
            "age": age,
            "plan": plan.astype(str),
            "region": rng.choice(np.array(["north", "south", "east", "west"]), n),
            "autopay": rng.random(n) < 0.6,
            "churned": churned,
        }
    )
