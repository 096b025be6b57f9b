"""Streaming interpolation for big models: θ(α) = θ_d + α·(θ_a − θ_d) in bounded memory.

:func:`interpolate_into` walks the tensors one by one, and each tensor in chunks of
``settings.chunk`` elements, writing into preallocated outputs. The inputs may be memory-mapped
(:meth:`Store.load(..., mmap=True) <driftline.store.Store.load>`,
:func:`~driftline.params.io.mmap_safetensors`), so the only whole-model allocation is the output,
and it is reused across the α values of a search (or is a torch module's own parameter memory,
see :func:`module_arrays`). Scratch space is three chunk-sized buffers.

Two arithmetic modes (:class:`StreamSettings.exact`):

* ``exact=True`` (default) reproduces :func:`driftline.repair.vector.interpolate` bit for bit:
  per chunk, r = float64(θ_a) − float64(θ_d) rounded to the tensor's dtype, then
  θ_d + α·r in float64 rounded back. α = 0 and α = 1 return the endpoints exactly.
* ``exact=False`` computes in the tensor's own dtype for float32/float64 tensors
  (``np.subtract(a, d, out=o); o *= α; o += d``) and in float32 for 16-bit floats (bfloat16,
  float16; rounded once to the tensor's dtype at the end): one pass, at memory speed, with one
  rounding more than the exact mode.

Read-only memory-mapped inputs are mapped in one call before each tensor
(:func:`~driftline.params.io.prefetch_pages`) and released after it
(:func:`~driftline.params.io.release_pages`), so the mapped pages they touched do not pile up
in the resident set: peak RSS is the output plus the tensors in flight.

:func:`interpolator` (``theta_at(α)``, for an adaptive α search such as repair's golden
section) and :func:`search_alpha` (a fixed list of α values) evaluate many α values on one
reused output.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import ArchitectureMismatchError, InvalidInputError
from driftline.params.identity import hash_workers
from driftline.params.io import prefetch_pages, release_pages
from driftline.repair.vector import is_floating

__all__ = ["StreamSettings", "interpolate_into", "interpolator", "module_arrays", "search_alpha"]


@dataclass(frozen=True)
class StreamSettings:
    """``chunk``: elements per step (scratch is 3 buffers of this many float64s per thread);
    ``exact``: match :func:`~driftline.repair.vector.interpolate` bit for bit (False: compute
    in the tensor's dtype, float32 for 16-bit floats); ``threads``:
    tensors processed in parallel (numpy releases the GIL; 0 = ``DRIFTLINE_IO_THREADS`` or the
    CPU count). The result does not depend on ``chunk`` or ``threads``."""

    chunk: int = 1 << 16
    exact: bool = True
    threads: int = 0


def interpolate_into(
    drifted: Mapping[str, np.ndarray],
    ancestor: Mapping[str, np.ndarray],
    alpha: float | Mapping[str, float],
    out: dict[str, np.ndarray] | None = None,
    settings: StreamSettings | None = None,
) -> dict[str, np.ndarray]:
    """Write θ_d + α·(θ_a − θ_d) into ``out`` (allocated once when ``None``) and return it.

    Floating tensors present in both models with equal shape and dtype are interpolated;
    every other tensor of ``drifted`` is copied. ``alpha`` is one float or ``name -> α``
    (tensors not in the mapping keep α = 0), as in :func:`~driftline.repair.vector.interpolate`.
    ``out`` must hold a writeable array of the drifted tensor's shape and dtype for every name
    (reuse the returned dict across α values).
    """
    settings = settings or StreamSettings()
    alphas = {n: _alpha_for(alpha, n) for n in drifted}
    bad = [a for a in alphas.values() if not math.isfinite(a)]
    if bad or (not isinstance(alpha, Mapping) and not math.isfinite(float(alpha))):
        raise InvalidInputError(f"alpha must be finite, got {alpha!r}")
    if settings.chunk < 1:
        raise InvalidInputError(
            f"chunk must be a positive number of elements, got {settings.chunk}"
        )
    if out is None:
        out = {n: np.empty(np.shape(d), dtype=np.asarray(d).dtype) for n, d in drifted.items()}
    jobs = [
        (np.asarray(d), ancestor.get(name), _target(out, name, np.asarray(d)), alphas[name])
        for name, d in drifted.items()
    ]
    local = threading.local()

    def work(job: tuple[np.ndarray, np.ndarray | None, np.ndarray, float]) -> None:
        d, a, o, tensor_alpha = job
        for mapped in (d, a):
            if mapped is not None:
                prefetch_pages(np.asarray(mapped))
        _blend(d, a, o, tensor_alpha, local, settings)
        release_pages(d)
        if a is not None:
            release_pages(np.asarray(a))

    threads = settings.threads or hash_workers()
    if threads == 1 or len(jobs) < 2:
        for job in jobs:
            work(job)
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(work, jobs))
    return out


def _alpha_for(alpha: float | Mapping[str, float], name: str) -> float:
    return float(alpha.get(name, 0.0)) if isinstance(alpha, Mapping) else float(alpha)


def interpolator(
    drifted: Mapping[str, np.ndarray],
    ancestor: Mapping[str, np.ndarray],
    *,
    out: dict[str, np.ndarray] | None = None,
    settings: StreamSettings | None = None,
) -> Callable[[float | Mapping[str, float]], dict[str, np.ndarray]]:
    """``theta_at(α) -> θ(α)``, each call writing into the same output (allocated at the first
    call when ``out`` is None): the drop-in for ``interpolate(drifted, repair_vector(drifted,
    ancestor, strict=False), α)`` inside an α search (bit-identical with the default exact
    settings), without a new model per α. The returned dict is overwritten by the next call."""
    buffer = out

    def theta_at(alpha: float | Mapping[str, float]) -> dict[str, np.ndarray]:
        nonlocal buffer
        buffer = interpolate_into(drifted, ancestor, alpha, out=buffer, settings=settings)
        return buffer

    return theta_at


def search_alpha(
    drifted: Mapping[str, np.ndarray],
    ancestor: Mapping[str, np.ndarray],
    alphas: Sequence[float],
    evaluate: Callable[[dict[str, np.ndarray]], float],
    *,
    out: dict[str, np.ndarray] | None = None,
    settings: StreamSettings | None = None,
) -> list[tuple[float, float]]:
    """``[(α, evaluate(θ(α))) for α in alphas]``, writing each θ(α) = θ_d + α·(θ_a − θ_d) into
    the same ``out`` (allocated once when ``None``; pass :func:`module_arrays` of a torch module
    to update its parameters in place, then ``evaluate`` runs the module itself). Memory: one
    model (``out``) plus the tensors in flight, whatever the number of α values. ``evaluate``
    must not keep references to ``out`` (it is overwritten by the next α); after the call,
    ``out`` holds θ(alphas[-1]). Scores are returned as given (lower or higher better is the
    caller's choice)."""
    theta_at = interpolator(drifted, ancestor, out=out, settings=settings)
    return [(float(alpha), float(evaluate(theta_at(alpha)))) for alpha in alphas]


def _blend(
    d: np.ndarray,
    a: np.ndarray | None,
    o: np.ndarray,
    alpha: float,
    local: threading.local,
    settings: StreamSettings,
) -> None:
    """One tensor into ``o``: copied, an endpoint, or interpolated chunk by chunk."""
    if a is None or a.shape != d.shape or a.dtype != d.dtype or not is_floating(d):
        np.copyto(o, d)
    elif alpha in (0.0, 1.0):
        np.copyto(o, d if alpha == 0.0 else a)
    else:
        if not hasattr(local, "scratch"):
            local.scratch = _Scratch(settings.chunk)
        _one(
            d.reshape(-1), np.asarray(a).reshape(-1), alpha, o.reshape(-1), local.scratch, settings
        )


def _target(out: Mapping[str, np.ndarray], name: str, d: np.ndarray) -> np.ndarray:
    o = out.get(name)
    if o is None or o.shape != d.shape or o.dtype != d.dtype:
        raise ArchitectureMismatchError(
            f"{name}: the output buffer does not match the drifted tensor "
            f"({d.dtype.name}{list(d.shape)}); allocate out with the drifted model's tensors"
        )
    if not o.flags.writeable or not o.flags.c_contiguous:
        raise InvalidInputError(f"{name}: the output buffer must be writeable and C-contiguous")
    return o


class _Scratch:
    def __init__(self, chunk: int) -> None:
        self.chunk = chunk
        self.x = np.empty(chunk, np.float64)
        self.y = np.empty(chunk, np.float64)
        self.x32, self.y32 = self.x.view(np.float32), self.y.view(np.float32)  # 16-bit fast mode
        self.r: dict[np.dtype, np.ndarray] = {}

    def rounded(self, dtype: np.dtype) -> np.ndarray:
        if dtype not in self.r:
            self.r[dtype] = np.empty(self.chunk, dtype)
        return self.r[dtype]


def _one(
    d: np.ndarray, a: np.ndarray, alpha: float, o: np.ndarray, s: _Scratch, settings: StreamSettings
) -> None:
    """One flat tensor, chunk by chunk (see the module docstring for both modes)."""
    fast = not settings.exact and d.dtype in (np.float32, np.float64)
    half = not settings.exact and d.dtype.kind in "fV" and d.dtype.itemsize == 2  # bf16, f16
    wide = d.dtype.kind == "f" and d.dtype.itemsize > 8  # longdouble: its own compute dtype
    for start in range(0, d.size, s.chunk):
        stop = min(start + s.chunk, d.size)
        dc, ac, oc = d[start:stop], a[start:stop], o[start:stop]
        if fast or wide:
            np.subtract(ac, dc, out=oc)
            oc *= alpha if wide else oc.dtype.type(alpha)
            oc += dc
            continue
        n = stop - start
        x, y = (s.x32[:n], s.y32[:n]) if half else (s.x[:n], s.y[:n])
        if d.dtype.kind == "f" and not half:
            # r in the tensor's dtype, as repair_vector: numpy's float16/32/64 difference is
            # the correctly rounded one, which equals float64's difference rounded once more
            # (binary64 has ≥ 2p + 2 bits; Figueroa 1995), so this skips two float64 passes
            r = s.rounded(d.dtype)[:n]
            np.subtract(ac, dc, out=r)
            np.copyto(x, r, casting="unsafe")
            np.copyto(y, dc, casting="unsafe")
        else:
            np.copyto(x, ac, casting="unsafe")
            np.copyto(y, dc, casting="unsafe")
            np.subtract(x, y, out=x)
            if not half:  # r rounded to the tensor's dtype, as repair_vector
                r = s.rounded(d.dtype)[:n]
                np.copyto(r, x, casting="unsafe")
                np.copyto(x, r, casting="unsafe")
        x *= x.dtype.type(alpha)
        x += y
        np.copyto(oc, x, casting="unsafe")


def module_arrays(module: Any) -> dict[str, np.ndarray]:
    """numpy views sharing memory with a CPU torch module's floating parameters and buffers
    (``name -> array``): pass them as ``out`` to update the module in place for each α, with
    no model rebuild. Tensors numpy cannot view (bfloat16, non-CPU) are refused."""
    import torch

    views: dict[str, np.ndarray] = {}
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            t = t.detach()
            if t.device.type != "cpu" or t.dtype == torch.bfloat16 or not t.is_contiguous():
                raise InvalidInputError(
                    f"{name}: tensor on {t.device} with dtype {t.dtype} cannot be updated in "
                    "place from numpy; move the module to the CPU in float32"
                )
            views[name] = t.numpy()
    return views
