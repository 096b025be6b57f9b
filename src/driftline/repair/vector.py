"""Repair vectors: pure numpy arithmetic on parameter dicts.

    r      = θ_ancestor − θ_drifted          (shared floating-point tensors only)
    θ(α)   = θ_drifted + α · r               (α a float, or one α per tensor)

Integer and boolean tensors (e.g. BatchNorm's ``num_batches_tracked``) carry no direction and are
copied from the drifted model. α = 0 returns the drifted tensors and α = 1 the ancestor's, bit for
bit: a :class:`RepairVector` remembers the exact endpoints it was built from, so those two points
are returned as copies rather than recomputed in floating point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from driftline.errors import ArchitectureMismatchError, InvalidInputError

Params = dict[str, np.ndarray]

__all__ = [
    "Params",
    "RepairVector",
    "interpolate",
    "is_floating",
    "layer_groups",
    "repair_vector",
    "sparsify",
    "vector_stats",
]

_EXTRA_FLOAT_NAMES = {"bfloat16"}  # ml_dtypes floats have dtype kind 'V'


def is_floating(array: np.ndarray) -> bool:
    """True for real floating dtypes (float16/32/64, longdouble, bfloat16, float8 variants)."""
    dt = np.asarray(array).dtype
    return dt.kind == "f" or dt.name in _EXTRA_FLOAT_NAMES or dt.name.startswith("float8")


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """Dtype in which θ_d + α·r is evaluated: at least float64."""
    if dtype.kind == "f" and dtype.itemsize > 8:
        return dtype  # longdouble
    return np.dtype(np.float64)


class RepairVector(dict[str, np.ndarray]):
    """``name -> r`` (r in the tensors' own dtype), plus the exact endpoints it connects.

    ``base`` is θ_drifted and ``target`` is θ_drifted + r as exact arrays (the ancestor, or its
    sparse blend after :func:`sparsify`); both are ``None`` for a vector built from a plain dict.
    """

    base: dict[str, np.ndarray] | None
    target: dict[str, np.ndarray] | None

    def __init__(
        self,
        items: Mapping[str, np.ndarray] | None = None,
        *,
        base: Mapping[str, np.ndarray] | None = None,
        target: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__(items or {})
        self.base = dict(base) if base is not None else None
        self.target = dict(target) if target is not None else None


def _check_same_architecture(
    drifted: Mapping[str, np.ndarray], ancestor: Mapping[str, np.ndarray]
) -> None:
    problems: list[str] = []
    only_d = sorted(set(drifted) - set(ancestor))
    only_a = sorted(set(ancestor) - set(drifted))
    if only_d:
        problems.append(f"only in the drifted model: {', '.join(only_d)}")
    if only_a:
        problems.append(f"only in the ancestor: {', '.join(only_a)}")
    for name in sorted(set(drifted) & set(ancestor)):
        d, a = np.asarray(drifted[name]), np.asarray(ancestor[name])
        if d.shape != a.shape:
            problems.append(f"{name}: shape {d.shape} (drifted) vs {a.shape} (ancestor)")
        elif d.dtype != a.dtype:
            problems.append(f"{name}: dtype {d.dtype.name} (drifted) vs {a.dtype.name} (ancestor)")
    if problems:
        raise ArchitectureMismatchError(
            "the drifted model and the ancestor have different architectures; "
            + "; ".join(problems)
            + ". Repair needs an ancestor with the same tensors (pass strict=False to repair "
            "only the tensors both share with equal shape and dtype)"
        )


def repair_vector(
    drifted: Mapping[str, np.ndarray],
    ancestor: Mapping[str, np.ndarray],
    *,
    strict: bool = True,
) -> RepairVector:
    """r = θ_ancestor − θ_drifted over the floating-point tensors both models share.

    With ``strict`` (default) any difference in tensor names, shapes or dtypes raises
    :class:`ArchitectureMismatchError` naming the tensors; with ``strict=False`` only tensors
    present in both with equal shape and dtype are used. Integer/bool tensors are excluded.
    """
    if strict:
        _check_same_architecture(drifted, ancestor)
    out: dict[str, np.ndarray] = {}
    base: dict[str, np.ndarray] = {}
    target: dict[str, np.ndarray] = {}
    for name in drifted:
        if name not in ancestor:
            continue
        d, a = np.asarray(drifted[name]), np.asarray(ancestor[name])
        if d.shape != a.shape or d.dtype != a.dtype or not is_floating(d):
            continue
        cd = _compute_dtype(d.dtype)
        out[name] = (a.astype(cd) - d.astype(cd)).astype(d.dtype)
        base[name] = d
        target[name] = a
    return RepairVector(out, base=base, target=target)


def _alpha_for(alpha: float | Mapping[str, float], name: str) -> float:
    if isinstance(alpha, Mapping):
        return float(alpha.get(name, 0.0))
    return float(alpha)


def interpolate(
    drifted: Mapping[str, np.ndarray],
    vector: Mapping[str, np.ndarray],
    alpha: float | Mapping[str, float],
) -> Params:
    """θ(α) = θ_drifted + α·r, tensor by tensor, evaluated in float64 and cast back.

    ``alpha`` is one float or a mapping ``tensor name -> α`` (tensors not in the mapping keep
    α = 0). Tensors without an entry in ``vector`` (integer buffers, ...) are copied from
    ``drifted``. α = 0 reproduces ``drifted`` exactly; α = 1 reproduces the vector's exact target
    (the ancestor) when ``vector`` is a :class:`RepairVector` built from these drifted tensors.
    """
    if isinstance(alpha, Mapping):
        unknown = sorted(set(alpha) - set(vector))
        if unknown:
            raise InvalidInputError(
                f"alpha given for tensors the repair vector does not have: {', '.join(unknown)}"
            )
        for v in alpha.values():
            if not math.isfinite(float(v)):
                raise InvalidInputError(f"alpha must be finite, got {v!r}")
    elif not math.isfinite(float(alpha)):
        raise InvalidInputError(f"alpha must be finite, got {alpha!r}")
    missing = sorted(set(vector) - set(drifted))
    if missing:
        raise ArchitectureMismatchError(
            f"the repair vector has tensors the drifted model lacks: {', '.join(missing)}; "
            "build the vector from this model's parameters"
        )
    base = getattr(vector, "base", None)
    target = getattr(vector, "target", None)
    out: Params = {}
    for name, d in drifted.items():
        d = np.asarray(d)
        if name not in vector:
            out[name] = d.copy()
            continue
        r = np.asarray(vector[name])
        if r.shape != d.shape:
            raise ArchitectureMismatchError(
                f"{name}: repair vector shape {r.shape} does not match the model's {d.shape}"
            )
        a = _alpha_for(alpha, name)
        if a == 0.0:
            out[name] = d.copy()
            continue
        if (
            a == 1.0
            and target is not None
            and base is not None
            and name in target
            and (base.get(name) is d or np.array_equal(base[name], d))
        ):
            out[name] = np.array(target[name], dtype=d.dtype, copy=True)
            continue
        cd = _compute_dtype(d.dtype)
        out[name] = (d.astype(cd) + a * r.astype(cd)).astype(d.dtype)
    return out


def sparsify(vector: Mapping[str, np.ndarray], keep_fraction: float) -> RepairVector:
    """Keep the ``ceil(keep_fraction · n)`` entries of r with the largest |r| (ranked globally,
    across all tensors); zero the rest. Ties at the threshold are broken by position."""
    if not 0.0 < keep_fraction <= 1.0:
        raise InvalidInputError(f"keep_fraction must be in (0, 1], got {keep_fraction}")
    names = list(vector)
    sizes = [np.asarray(vector[n]).size for n in names]
    total = int(sum(sizes))
    if total == 0:
        return RepairVector({n: np.array(vector[n], copy=True) for n in names})
    flat = np.concatenate([np.abs(np.asarray(vector[n], dtype=np.float64)).ravel() for n in names])
    k = min(total, max(1, math.ceil(keep_fraction * total)))
    keep = np.zeros(total, dtype=bool)
    keep[np.argpartition(-flat, k - 1)[:k]] = True
    base = getattr(vector, "base", None)
    target = getattr(vector, "target", None)
    out: dict[str, np.ndarray] = {}
    new_target: dict[str, np.ndarray] | None = {} if base and target else None
    start = 0
    for name, size in zip(names, sizes, strict=True):
        r = np.asarray(vector[name])
        mask = keep[start : start + size].reshape(r.shape)
        start += size
        out[name] = np.where(mask, r, np.zeros((), dtype=r.dtype)).astype(r.dtype)
        if new_target is not None and base is not None and target is not None:
            new_target[name] = np.where(mask, target[name], base[name]).astype(r.dtype)
    return RepairVector(out, base=base if new_target is not None else None, target=new_target)


def vector_stats(vector: Mapping[str, np.ndarray]) -> dict[str, float | int]:
    """``l2_norm`` = sqrt(Σ r²) (in float64), ``max_abs``, ``nnz`` (nonzero entries), ``size``,
    ``sparsity`` = 1 − nnz/size, and ``n_tensors``."""
    sq = 0.0
    nnz = 0
    size = 0
    max_abs = 0.0
    for r in vector.values():
        r64 = np.asarray(r, dtype=np.float64)
        sq += float(np.dot(r64.ravel(), r64.ravel()))
        nnz += int(np.count_nonzero(r64))
        size += int(r64.size)
        if r64.size:
            max_abs = max(max_abs, float(np.max(np.abs(r64))))
    return {
        "l2_norm": math.sqrt(sq),
        "max_abs": max_abs,
        "nnz": nnz,
        "size": size,
        "sparsity": 1.0 - nnz / size if size else 0.0,
        "n_tensors": len(vector),
    }


def layer_groups(names: list[str] | Mapping[str, object]) -> dict[str, list[str]]:
    """Group tensor names by layer: everything before the last dot (``fc1.weight`` and
    ``fc1.bias`` -> ``fc1``; ``layers.0.weight`` -> ``layers.0``; ``coef``/``intercept`` -> ``""``).
    Order of first appearance is kept."""
    groups: dict[str, list[str]] = {}
    for name in names:
        key = name.rsplit(".", 1)[0] if "." in name else ""
        groups.setdefault(key, []).append(name)
    return groups
