"""Per-row log-likelihood of data under a signature (used to route inputs between models).

For a numeric feature with quantile edges ``u_0 < … < u_k`` (the sketch's quantiles at ranks
``i / bins``, repeated values merged), bin ``j`` is ``[u_j, u_{j+1})`` (the last one closed) with
mass ``P_j = F̂(u_{j+1}⁻) − F̂(u_j⁻)`` and histogram density ``h(x) = P_j / (u_{j+1} − u_j)``
(0 outside ``[u_0, u_k]``).

Integer levels (``atoms=True``, the default): when every value is an integer (flags, counts,
codes) a level's probability is a density per unit, so the histogram is a probability mass
function: bins are half-open, each averaging its mass over the ``u_{j+1} − u_j`` levels it holds,
and the top edge is a level of its own, ``h(u_k) = F̂(u_k) − F̂(u_k⁻)``. Without it
(``atoms=False``, the older form that routed models stored before it still use) the top level
shares the closed last bin, so a 0/1 flag gets ``h = 1`` at both levels and carries no
information. Non-integer features are not given point masses: a point mass per unit next to
another member's density per unit of a different lattice (a pixel scaled by 1/16 against a
rotated, interpolated one) would favour whichever member has no atom there. The density used is

    f(x) = (1 − λ) h(x) + λ φ((x − μ) / s) / s,       λ = ``floor`` (default 1e-3),

with ``μ`` the reference mean and ``s`` its standard deviation (1 if undefined or 0), so values
out of range get a finite, decaying density. A constant feature (k = 0) uses ``h(x) = 1`` at the
constant and 0 elsewhere.

Categorical: ``p(c) = (n_c + α) / (N + α (C + 1))`` with α = ½ and C known categories; labels the
reference never saw get ``p(__other__)`` if the reference has an other-bucket, else ``α / (…)``.

Missingness: with ``m̃ = (missing + α) / (total + 2α)``, a missing value contributes ``ln m̃`` and
a present value ``ln(1 − m̃) + ln f(x)``. The row log-likelihood is the sum over features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from driftline.drift.columns import array_names, as_categorical, as_numeric, to_columns
from driftline.drift.signature import OTHER, CategoricalSummary, NumericSummary, Signature
from driftline.errors import InvalidInputError, SchemaMismatchError

DEFAULT_BINS = 100
DEFAULT_FLOOR = 1e-3
ALPHA = 0.5
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _missing_terms(total: float, missing: float) -> tuple[float, float]:
    mt = (missing + ALPHA) / (total + 2.0 * ALPHA)
    return math.log(mt), math.log1p(-mt)


@dataclass(frozen=True)
class _Histogram:
    """Edges ``u``, each bin's continuous mass and each edge's atom mass (0: no atom)."""

    u: np.ndarray
    bin_mass: np.ndarray
    atom_mass: np.ndarray


def _histogram(s: NumericSummary, bins: int, atoms: bool) -> _Histogram:
    sk = s.sketch
    u = np.unique(sk.quantiles(np.linspace(0.0, 1.0, bins + 1)))
    if u.size == 1:  # a constant: one atom of mass 1
        return _Histogram(u, np.zeros(0), np.ones(1))
    v, w = sk.points()
    cw = np.concatenate([[0.0], np.cumsum(w)]) / sk.n
    below = cw[np.searchsorted(v, u, side="left")]  # F̂(u⁻)
    mass = np.diff(below)
    mass[-1] += 1.0 - below[-1]  # last bin is closed
    atom = np.zeros(u.size)
    if not atoms:
        return _Histogram(u, mass, atom)
    if np.all(v == np.round(v)):  # integer levels: bins average their levels, the top is one
        top = cw[np.searchsorted(v, u[-1], side="right")] - below[-1]
        atom[-1] = top
        mass[-1] = max(mass[-1] - top, 0.0)
    return _Histogram(u, mass, atom)


def numeric_log_density(
    s: NumericSummary,
    x: np.ndarray,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
    atoms: bool = True,
) -> np.ndarray:
    """``ln f(x)`` for finite ``x`` (see module docstring)."""
    x = np.asarray(x, dtype=np.float64)
    mu = s.mean if s.count else 0.0
    sd = s.std if (s.count > 1 and s.std > 0) else 1.0
    z = (x - mu) / sd
    g = np.exp(-0.5 * z * z - _LOG_SQRT_2PI) / sd
    if s.count == 0:
        return np.log(g)
    hist = _histogram(s, bins, atoms)
    u = hist.u
    if u.size == 1:
        h = (x == u[0]).astype(np.float64)
    else:
        dens = hist.bin_mass / np.diff(u)
        j = np.searchsorted(u, x, side="right") - 1
        j[x == u[-1]] = u.size - 2
        inside = (j >= 0) & (j < u.size - 1)
        h = np.where(inside, dens[np.clip(j, 0, u.size - 2)], 0.0)
        k = np.clip(np.searchsorted(u, x), 0, u.size - 1)
        on_atom = (u[k] == x) & (hist.atom_mass[k] > 0)
        h = np.where(on_atom, hist.atom_mass[k], h)
    with np.errstate(divide="ignore"):
        return np.log((1.0 - floor) * h + floor * g)


def categorical_log_prob(s: CategoricalSummary, x: np.ndarray) -> np.ndarray:
    """``ln p(c)`` for non-missing labels (see module docstring)."""
    n = float(sum(s.counts.values()))
    c = len([k for k in s.counts if k != OTHER])
    denom = n + ALPHA * (c + 1)
    unseen = (s.counts.get(OTHER, 0) + ALPHA) / denom
    table = {k: math.log((v + ALPHA) / denom) for k, v in s.counts.items()}
    lu = math.log(unseen)
    return np.fromiter((table.get(v, lu) for v in x), dtype=np.float64, count=len(x))


def log_likelihood(
    signature: Signature,
    data: Any,
    *,
    feature_names: list[str] | None = None,
    features: Sequence[str] | None = None,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
    atoms: bool = True,
) -> np.ndarray:
    """Per-row log-likelihood of ``data`` under ``signature``: the sum over its features, or
    over ``features`` only (e.g. the columns a model consumes, leaving out a label column that
    was summarised as a feature); ``atoms``: see the module docstring."""
    use = list(signature.features) if features is None else list(features)
    cols = to_columns(data, feature_names or array_names(data, use))
    unknown = [k for k in use if k not in signature.features]
    if unknown:
        raise SchemaMismatchError(f"the signature has no feature(s) {unknown[:5]}")
    missing = [k for k in use if k not in cols]
    if missing:
        raise SchemaMismatchError(
            f"data lacks the signature's feature(s) {missing}; pass every training feature"
        )
    n = next((int(v.shape[0]) for v in cols.values()), 0)
    out = np.zeros(n)
    for name in use:
        f = signature.features[name]
        lm, lp = _missing_terms(f.total, f.missing)
        if isinstance(f, NumericSummary):
            x = as_numeric(cols[name], name) if cols[name].dtype.kind != "f" else cols[name]
            ok = np.isfinite(x)
            if ok.all():
                out += lp + numeric_log_density(f, x, bins, floor, atoms)
            else:
                contrib = np.full(n, lm)
                contrib[ok] = lp + numeric_log_density(f, x[ok], bins, floor, atoms)
                out += contrib
        else:
            x = cols[name] if cols[name].dtype == object else as_categorical(cols[name])
            ok = np.fromiter((v is not None for v in x), dtype=bool, count=n)
            contrib = np.full(n, lm)
            contrib[ok] = lp + categorical_log_prob(f, x[ok])
            out += contrib
    return out


# --------------------------------------------------------------------------- multivariate score
@dataclass(frozen=True)
class MultivariateDrift:
    """Average surprise of a window under the signature, with its one-sided p-value."""

    expected: float  # E_ref[ℓ(x)], nats per row
    observed: float  # mean ℓ(x_i) over the window
    score: float  # expected − observed (> 0: the window is less likely than training data)
    z: float
    p_value: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def expected_log_likelihood(
    signature: Signature,
    *,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
    atoms: bool = True,
) -> float:
    """``E_ref[ℓ(x)]``: each feature's expected term under its own summary, summed.

    Numeric: ``m ln m̃ + (1 − m)(ln(1 − m̃) + Σ_b P_b ln f(mid_b))`` over the density's bins
    (mass ``P_b``, midpoint ``mid_b``; ``f`` is constant on a bin up to the ``λ`` floor; ``m`` the
    missing rate); categorical: ``Σ_c (n_c / N) ln p(c)`` plus the
    same missing terms. A sum of expectations needs no independence between features.
    """
    total = 0.0
    for f in signature.features.values():
        lm, lp = _missing_terms(f.total, f.missing)
        m = f.missing_rate
        if isinstance(f, NumericSummary):
            e = _expected_numeric(f, bins, floor, atoms)
        else:
            labels = list(f.counts)
            n = float(sum(f.counts.values()))
            lp_c = categorical_log_prob(f, np.array(labels, dtype=object))
            e = (
                float(sum(f.counts[k] * x for k, x in zip(labels, lp_c, strict=True)) / n)
                if n
                else 0.0
            )
        total += m * lm + (1.0 - m) * (lp + e)
    return total


def _expected_numeric(s: NumericSummary, bins: int, floor: float, atoms: bool) -> float:
    """``Σ_b P_b ln f(mid_b) + Σ_j a_j ln f(u_j)`` over the histogram bins and atoms of
    :func:`numeric_log_density`."""
    if s.count == 0:
        return 0.0
    hist = _histogram(s, bins, atoms)
    u = hist.u
    if u.size == 1:
        return float(numeric_log_density(s, u, bins, floor, atoms)[0])
    mids = 0.5 * (u[:-1] + u[1:])
    total = float(np.sum(hist.bin_mass * numeric_log_density(s, mids, bins, floor, atoms)))
    a = hist.atom_mass > 0
    if a.any():
        lf = numeric_log_density(s, u[a], bins, floor, atoms)
        total += float(np.sum(hist.atom_mass[a] * lf))
    return total


def multivariate_drift(
    signature: Signature,
    data: Any,
    *,
    expected: float | None = None,
    bins: int = DEFAULT_BINS,
    floor: float = DEFAULT_FLOOR,
    feature_names: list[str] | None = None,
) -> MultivariateDrift:
    """Is the window less likely under the signature than the training data was?

    ``z = (mean_i ℓ(x_i) − E_ref[ℓ]) / (s_ℓ √(1/n + 1/N))`` with ``s_ℓ`` the window's standard
    deviation of ``ℓ`` (so dependence between features is accounted for) and ``N`` the reference
    rows (``E_ref`` is itself an in-sample mean over them); ``p = Φ(z)`` (one-sided). It
    pools the evidence of all features in one number, so broad changes that are small in each
    column (e.g. every feature's spread up 10 %) show here before any per-column test fires; it
    sees only what the per-feature likelihoods see (the signature keeps no joint structure).
    """
    ll = log_likelihood(signature, data, feature_names=feature_names, bins=bins, floor=floor)
    if ll.size < 2:
        raise InvalidInputError("the multivariate score needs a window of at least 2 rows")
    exp = (
        expected_log_likelihood(signature, bins=bins, floor=floor)
        if expected is None
        else float(expected)
    )
    return multivariate_from_moments(
        exp, float(ll.mean()), float(ll.std(ddof=1)), int(ll.size), signature.n_rows
    )


def multivariate_from_moments(
    expected: float, observed: float, sd: float, n: int, n_ref: int
) -> MultivariateDrift:
    """The score of :func:`multivariate_drift` from a window's mean and sample sd of ``ℓ``."""
    from scipy import stats

    se = sd * math.sqrt(1.0 / n + 1.0 / max(n_ref, 1))
    z = (observed - expected) / se if se > 0 else (0.0 if observed >= expected else -math.inf)
    return MultivariateDrift(
        expected, observed, expected - observed, z, float(stats.norm.cdf(z)), int(n)
    )
