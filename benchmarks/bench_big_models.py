"""Big models: register, load, export and interpolation speed and peak memory.

A synthetic model of ``--size`` GB (square 2048×2048 layers, ``--dtype float32|bfloat16``) and
a fine-tuned copy (every weight + N(0, 1e-3)) are written as ``.safetensors`` files (setup, not
timed; then ``os.sync()`` so their writeback does not land in a measured row). Every
measurement then runs in a fresh subprocess, so its peak RSS (``VmHWM``, reset right before
the step) is its own. ``start MB`` is the RSS after the imports, before the step's inputs are
loaded; ``(peak−start)/model`` = (peak − start) / model size, so it counts the inputs when a
row loads them (the plain numpy rows hold both models) and every memory-mapped file page a
step has mapped (RSS counts them; the streaming rows release the pages of each input tensor
once it is done, :func:`~driftline.params.io.release_pages`). GB/s = model bytes / wall time,
from a warm page cache.

Rows:

* ``register``: ``Store.register(file)`` (parallel hashing, memory-mapped file, blobs written
  and fsynced); median of ``--repeat`` runs, the first into the store the other rows read,
  each repeat into a fresh store, every run after an ``os.sync()``;
* ``load``: ``Store.load`` (verified; writeable arrays that map the blobs copy-on-write, so
  nothing is copied until a page is written); ``load mmap``: ``Store.load(mmap=True)``
  (verified, read-only maps);
* ``export``: ``Store.export`` to ``.safetensors`` (streamed, fsynced);
* ``interp …``: one α = 0.3 evaluation, from memory-mapped stored blobs, into an output
  (``interpolate_into``; exact = bit-identical to ``interpolate``; fast = in the tensor's dtype,
  float32 for bfloat16): allocating it (first α of a search: fresh pages are zeroed by the
  kernel), or reusing it (every later α); against ``interpolate(d, repair_vector(d, a), α)``
  (the per-tensor float64 path) and a plain numpy ``a + α·(b − a)`` per tensor on loaded
  arrays;
* ``interp … + write``: the fast interpolation written to a ``.safetensors`` file (fsynced),
  the same job as ``mergekit linear``: mergekit's ``mergekit-pytorch`` linear merge of the two
  files (weights 0.7/0.3, ``MERGEKIT_PYTHON``, default ``/tmp/mk/bin/python``: a private venv
  with ``torch==2.13.0`` (CPU) and ``mergekit``), timed inside its process after its imports;
* ``α search ×12``: ``search_alpha`` with 12 α values and a cheap forward pass (``_forward``:
  a 2048-vector through the first 16 rows of every layer), one reused output buffer, against
  the plain numpy expression with the same forward pass.

``--storage``: a 10-version fine-tune chain of a ``--storage-mb`` model (24 square fp32 layers):
v0 random N(0, 1); v1…v8 each add N(0, s) to every weight, except v4 which changes only 3 layers;
v9 is v8 quantised to bfloat16. For s in 1e-3, 1e-4, 1e-5, 1e-6: bytes on disk as raw tensors,
per-tensor dedupe (a plain store), zstd (level 3) of each model's safetensors file, and stores
with deltas (``DeltaSettings(every=16)``, against the parent or the keyframe); load GB/s of the last full-precision version from each
store (median of 5 loads) and register GB/s (all 10 versions, raw bytes / seconds); every
version is loaded back and compared bit for bit. ``H0 bound``: an order-0 entropy
bound for coders that see each changed value alone: the base's compressed size plus, for each
later version, Σ over changed tensors of n·H(values)/8, where the values are the zigzag bit
differences from the parent (the cast residual for the quantised child): what a coder that sees
each value alone, without context, cannot beat. A coder that uses context can: the grouped
codec (``gsub``) codes each value knowing its weight's exponent in the chain's full copy.

Usage: ``nice python benchmarks/bench_big_models.py [--size 0.4] [--dtype float32] [--repeat 3] [--quick]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SIDE = 2048
ALPHAS = [i / 11 for i in range(12)]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * resource.getpagesize() / 2**20


def _trim() -> None:
    """Return freed heap memory to the kernel (glibc), so ``base`` holds no garbage."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_peak() -> None:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS (Linux ≥ 4.0)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_models(folder: Path, size_gb: float, dtype: str) -> int:
    """Write a.safetensors and b.safetensors; return the model's size in bytes."""
    import ml_dtypes

    from driftline.params.io import save_safetensors

    np_dtype = np.dtype(ml_dtypes.bfloat16) if dtype == "bfloat16" else np.dtype(dtype)
    layers = max(1, round(size_gb * 1e9 / (SIDE * SIDE * np_dtype.itemsize)))
    rng = np.random.default_rng(0)
    a, b = {}, {}
    for i in range(layers):
        w = rng.standard_normal((SIDE, SIDE), dtype=np.float32)
        a[f"layers.{i:02d}.weight"] = w.astype(np_dtype)
        b[f"layers.{i:02d}.weight"] = (
            w + rng.standard_normal(w.shape, dtype=np.float32) * np.float32(1e-3)
        ).astype(np_dtype)
        del w
    save_safetensors(a, folder / "a.safetensors")
    save_safetensors(b, folder / "b.safetensors")
    return sum(v.nbytes for v in a.values())


PROBE_ROWS = 16


def _forward(params: dict[str, np.ndarray]) -> float:
    """A cheap forward pass: a 2048-vector through the first 16 rows of every layer (it reads
    0.8 % of the model, so the α search measures the repair arithmetic)."""
    x = np.ones(SIDE, np.float32) / SIDE
    total = 0.0
    for name in sorted(params):
        h = np.tanh(params[name][:PROBE_ROWS].astype(np.float32) @ x)
        total += float(h.sum())
        x = np.roll(x, 1)
    return total


MERGEKIT_WORKER = r"""
import json, sys, time
import yaml
from mergekit.graph import Executor
from mergekit.options import MergeOptions
from mergekit.scripts.merge_raw_pytorch import RawPyTorchMergeConfig, plan_flat_merge

folder, dtype = sys.argv[1], sys.argv[2]
def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20
start = rss()
config = RawPyTorchMergeConfig.model_validate({
    "merge_method": "linear", "dtype": dtype, "parameters": {"normalize": False},
    "models": [{"model": f"{folder}/a.safetensors", "parameters": {"weight": 0.7}},
               {"model": f"{folder}/b.safetensors", "parameters": {"weight": 0.3}}]})
t0 = time.perf_counter()
options = MergeOptions(device="cpu", quiet=True)
tasks = plan_flat_merge(config, f"{folder}/mergekit-out", False, False, options)
Executor(tasks, math_device="cpu", storage_device="cpu").execute()
seconds = time.perf_counter() - t0
with open("/proc/self/status") as fh:
    peak = next(int(l.split()[1]) / 1024 for l in fh if l.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "start_mb": start, "base_mb": start, "peak_mb": peak}))
"""


def _inputs(task: str, folder: Path, store: Any, ids: dict[str, str]) -> tuple[Any, Any]:
    """The two models a step works on: numpy copies for the plain rows, else verified
    memory maps of the stored blobs (their pages are released after the hash check)."""
    from driftline.params.io import load_safetensors

    if task in {"numpy", "numpy_search"}:
        return load_safetensors(folder / "a.safetensors"), load_safetensors(
            folder / "b.safetensors"
        )
    if task.startswith(("interp", "search")):
        return store.load(ids["a"], mmap=True), store.load(ids["b"], mmap=True)
    return None, None


def worker(task: str, folder: Path) -> dict[str, float]:
    """One measured step in this (fresh) process."""
    from driftline.store import Store

    fresh = task == "register_fresh"  # a repeat of the register row, into a store of its own
    where = Path(tempfile.mkdtemp(dir=folder, prefix="store-again-")) if fresh else folder / "store"
    try:
        return _step(task, folder, Store(where))
    finally:
        if fresh:
            shutil.rmtree(where, ignore_errors=True)


def _step(task: str, folder: Path, store: Any) -> dict[str, float]:
    """The step ``task`` on ``store``: its seconds and memory figures."""
    from driftline.params.io import save_safetensors
    from driftline.repair.streaming import StreamSettings, interpolate_into, search_alpha
    from driftline.repair.vector import interpolate, repair_vector

    ids = json.loads((folder / "ids.json").read_text()) if (folder / "ids.json").exists() else {}
    start = _rss_mb()
    d, a = _inputs(task, folder, store, ids)
    fast = StreamSettings(exact=False)
    out = None
    if task == "interp_reused":  # the buffer exists already, as in the 2nd…12th α of a search
        out = interpolate_into(d, a, 0.2, settings=fast)
    _trim()
    _reset_peak()
    base, t0 = _rss_mb(), time.perf_counter()
    if task in {"register", "register_fresh"}:
        ids = {"a": store.register(folder / "a.safetensors", name="ma").id}
        seconds, peak = time.perf_counter() - t0, _peak_mb()
        if task == "register_fresh":
            store.close()
            return {"seconds": seconds, "start_mb": start, "base_mb": base, "peak_mb": peak}
        ids["b"] = store.register(folder / "b.safetensors", name="mb", parents=[ids["a"]]).id
        (folder / "ids.json").write_text(json.dumps(ids))  # the second one is not timed
        return {"seconds": seconds, "start_mb": start, "base_mb": base, "peak_mb": peak}
    if task == "load":
        store.load(ids["a"])
    elif task == "load_mmap":
        store.load(ids["a"], mmap=True)
    elif task == "export":
        store.export(ids["a"], folder / "exported.safetensors")
    elif task in {"interp_exact", "interp_fast", "interp_reused"}:
        settings = StreamSettings(exact=task == "interp_exact")
        interpolate_into(d, a, 0.3, out=out, settings=settings)
    elif task == "interp_write":
        save_safetensors(interpolate_into(d, a, 0.3, settings=fast), folder / "interp.safetensors")
    elif task == "interp_vector":
        interpolate(d, repair_vector(d, a), 0.3)
    elif task == "numpy":
        {k: d[k] + 0.3 * (a[k] - d[k]) for k in d}
    elif task == "search":
        search_alpha(d, a, ALPHAS, _forward, settings=fast)
    elif task == "numpy_search":
        for alpha in ALPHAS:
            _forward({k: d[k] + alpha * (a[k] - d[k]) for k in d})
    return {
        "seconds": time.perf_counter() - t0,
        "start_mb": start,
        "base_mb": base,
        "peak_mb": _peak_mb(),
    }


ROWS = [
    ("register", "register", 1),
    ("load", "load", 1),
    ("load_mmap", "load mmap", 1),
    ("export", "export", 1),
    ("interp_exact", "interp streaming exact", 1),
    ("interp_fast", "interp streaming fast (allocates out)", 1),
    ("interp_reused", "interp streaming fast (out reused)", 1),
    ("interp_vector", "interp repair_vector path", 1),
    ("numpy", "interp plain numpy", 1),
    ("interp_write", "interp streaming fast + write .safetensors", 1),
    ("mergekit", "mergekit linear (2 files → 1 file)", 1),
    ("search", "α search ×12 streaming", 12),
    ("numpy_search", "α search ×12 plain numpy", 12),
]


def _mergekit_python() -> str | None:
    """A Python with mergekit (``MERGEKIT_PYTHON``, default /tmp/mk/bin/python), or None."""
    exe = os.environ.get("MERGEKIT_PYTHON", "/tmp/mk/bin/python")
    return exe if Path(exe).is_file() else None


def _measure(task: str, tmp: str, dtype: str) -> dict[str, float] | str:
    """Run one step in a fresh process; its JSON result, or the last line of its error."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    if task == "mergekit":
        exe = _mergekit_python()
        if exe is None:
            return "skipped: no MERGEKIT_PYTHON"
        cmd = [exe, "-c", MERGEKIT_WORKER, tmp, dtype]
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    else:
        cmd = [sys.executable, __file__, "--worker", task, "--dir", tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return f"failed: {(proc.stderr.strip().splitlines() or ['?'])[-1]}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median_of(task: str, tmp: str, dtype: str, repeat: int) -> dict[str, float] | str:
    """The step run ``repeat`` times (fresh processes): the median time, the highest peak.
    ``register`` writes the store the other rows read; its repeats register into stores of
    their own (``register_fresh``), each after an ``os.sync()`` so that no run pays for the
    previous one's writeback."""
    if task == "register":
        runs = []
        for k in range(repeat):
            os.sync()
            runs.append(_measure("register" if k == 0 else "register_fresh", tmp, dtype))
    else:
        runs = [_measure(task, tmp, dtype) for _ in range(repeat)]
    ok = [r for r in runs if not isinstance(r, str)]
    if not ok:
        return str(runs[-1])
    return {
        "seconds": float(np.median([r["seconds"] for r in ok])),
        "start_mb": min(r["start_mb"] for r in ok),
        "peak_mb": max(r["peak_mb"] for r in ok),
        "runs": len(ok),
    }


def run(size_gb: float, dtype: str, quick: bool, repeat: int = 3) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-big-") as tmp:
        folder = Path(tmp)
        nbytes = make_models(folder, size_gb, dtype)
        os.sync()  # setup: its 2 files' writeback must not land in the register row
        print(
            f"model: {nbytes / 1e9:.3f} GB {dtype} ({nbytes // (SIDE * SIDE * (2 if dtype == 'bfloat16' else 4))}"
            f" × {SIDE}×{SIDE}); threads: {os.cpu_count()}; mergekit: {_mergekit_python() or 'none'};"
            f" seconds: median of {repeat} runs, peak: the highest"
        )
        print("| step | seconds | GB/s | start MB | peak MB | (peak−start)/model |")
        print("|---|---|---|---|---|---|")
        rows = [r for r in ROWS if not (quick and r[0] in {"interp_vector", "numpy_search"})]
        for task, label, evals in rows:
            r = _median_of(task, tmp, dtype, repeat)
            if isinstance(r, str):
                print(f"| {label} | {r} |||||", flush=True)
                continue
            rate = nbytes * evals / r["seconds"] / 1e9
            print(
                f"| {label} | {r['seconds']:.2f} | {rate:.2f} | {r['start_mb']:.0f} | "
                f"{r['peak_mb']:.0f} | {(r['peak_mb'] - r['start_mb']) * 2**20 / nbytes:.2f} |",
                flush=True,
            )


def _chain(side: int, step: float) -> list[dict[str, np.ndarray]]:
    import ml_dtypes

    rng = np.random.default_rng(1)
    p = {
        f"layers.{i:02d}.weight": rng.standard_normal((side, side), dtype=np.float32)
        for i in range(24)
    }
    out = [p]
    for v in range(1, 9):
        touched = list(p)[:3] if v == 4 else list(p)
        p = {
            k: (t + rng.standard_normal(t.shape, dtype=np.float32) * np.float32(step))
            if k in touched
            else t
            for k, t in p.items()
        }
        out.append(p)
    out.append({k: t.astype(ml_dtypes.bfloat16) for k, t in p.items()})
    return out


def _h0_bytes(values: np.ndarray) -> float:
    """n · H(values) / 8: the order-0 entropy of the values, in bytes."""
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum() * counts.sum() / 8)


def _entropy_bound(versions: list[dict[str, np.ndarray]]) -> float:
    """Bytes: base compressed + order-0 entropy of every later version's changes."""
    try:
        from driftline.store.delta_codecs import _cast_prediction, _zigzag, encode
    except ImportError:  # a checkout from before the codecs had their module (before/after runs)
        from driftline.store.deltas import _cast_prediction, _zigzag, encode  # type: ignore

    first = versions[0]
    total = sum(
        len(encode(np.frombuffer(t.tobytes(), np.uint8), t.dtype.itemsize, None, 3))
        for t in first.values()
    )
    for parent, child in zip(versions, versions[1:], strict=False):
        for name, t in child.items():
            a, b = (
                np.frombuffer(t.tobytes(), np.uint8),
                np.frombuffer(parent[name].tobytes(), np.uint8),
            )
            if t.dtype == parent[name].dtype:
                if not np.array_equal(a, b):
                    word = np.dtype(f"u{t.dtype.itemsize}")
                    total += _h0_bytes(_zigzag(a, b, t.dtype.itemsize).view(word))
            else:
                pred = _cast_prediction(b, (str(parent[name].dtype), "bfloat16"))
                total += _h0_bytes(np.bitwise_xor(a, pred).view(np.uint16))
    return total


def _load_rate(st: Any, mid: str, version: dict[str, np.ndarray], repeat: int = 5) -> float:
    """GB/s of the median of ``repeat`` verified loads of ``mid`` (the machine is shared)."""
    seconds = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        st.load(mid)
        seconds.append(time.perf_counter() - t0)
    return sum(t.nbytes for t in version.values()) / float(np.median(seconds)) / 1e9


def storage(mb: float) -> None:
    import zstandard

    from driftline.params.identity import le_bytes
    from driftline.params.io import safetensors_bytes
    from driftline.store import Store
    from driftline.store.deltas import Chain, DeltaSettings

    side = int((mb * 1e6 / 24 / 4) ** 0.5)
    print(
        f"chain: 10 versions of 24 × {side}×{side} fp32 ({24 * side * side * 4 / 1e6:.1f} MB); "
        "sizes in MB, ratios against raw"
    )
    print(
        "| step s | raw | dedupe | zstd/model | deltas (parent) | deltas (keyframe) | "
        "H0 bound | load GB/s plain / parent / keyframe | register GB/s plain / parent / "
        "keyframe | bit-exact |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for step in (1e-3, 1e-4, 1e-5, 1e-6):
        versions = _chain(side, step)
        raw = sum(t.nbytes for v in versions for t in v.values())
        zs = sum(
            len(zstandard.ZstdCompressor(level=3).compress(safetensors_bytes(v))) for v in versions
        )
        sizes, rates, registered, exact = {}, {}, {}, True
        with tempfile.TemporaryDirectory(prefix="bench-chain-") as tmp:
            for label, settings in (
                ("plain", None),
                ("deltas", DeltaSettings(every=16)),
                ("keyframe", DeltaSettings(every=16, chain=Chain.KEYFRAME)),
            ):
                st = Store(Path(tmp) / label, deltas=settings)
                ids, parent = [], None
                t0 = time.perf_counter()
                for i, v in enumerate(versions):
                    kind = "quantize" if i == 9 else "finetune"
                    m = st.register(
                        v, name="chain", parents=[parent] if parent else [], transform=kind
                    )
                    ids.append(m.id)
                    parent = m.id
                registered[label] = raw / (time.perf_counter() - t0) / 1e9
                sizes[label] = sum(st.blobs.path(k).stat().st_size for k in st.blobs.keys())
                rates[label] = _load_rate(st, ids[8], versions[8])
                for mid, v in zip(ids, versions, strict=True):
                    got = st.load(mid)
                    exact &= all(le_bytes(got[k]) == le_bytes(v[k]) for k in v)
        cells = [f"{sizes[k] / 1e6:.1f} ({sizes[k] / raw:.2f})" for k in ("plain",)]
        cells += [f"{zs / 1e6:.1f} ({zs / raw:.2f})"]
        cells += [f"{sizes[k] / 1e6:.1f} ({sizes[k] / raw:.2f})" for k in ("deltas", "keyframe")]
        bound = _entropy_bound(versions)
        cells += [f"{bound / 1e6:.1f} ({bound / raw:.2f})"]
        cells += [" / ".join(f"{rates[k]:.2f}" for k in ("plain", "deltas", "keyframe"))]
        cells += [" / ".join(f"{registered[k]:.2f}" for k in ("plain", "deltas", "keyframe"))]
        print(
            f"| {step:g} | {raw / 1e6:.1f} | {' | '.join(cells)} | {'yes' if exact else 'NO'} |",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=float, default=0.4, help="model size in GB (default 0.4)")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--quick", action="store_true", help="0.1 GB, skip the slow reference rows")
    ap.add_argument("--storage", action="store_true", help="the 10-version storage benchmark")
    ap.add_argument("--storage-mb", type=float, default=25.0, help="model size for --storage")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row (median; default 3)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.dir))))
        return
    if args.storage:
        storage(5.0 if args.quick else args.storage_mb)
        return
    run(0.1 if args.quick else args.size, args.dtype, args.quick, max(1, args.repeat))


if __name__ == "__main__":
    main()
