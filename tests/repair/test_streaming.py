"""Streaming interpolation, parallel hashing and memory-mapped I/O for big models."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

from driftline.errors import ArchitectureMismatchError, CorruptBlobError, InvalidInputError
from driftline.params.identity import le_bytes, model_id, tensor_hash, tensor_hashes
from driftline.params.io import load_safetensors, mmap_safetensors, save_safetensors
from driftline.repair.streaming import (
    StreamSettings,
    interpolate_into,
    interpolator,
    module_arrays,
    search_alpha,
)
from driftline.repair.vector import interpolate, repair_vector

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _pair(dtype, seed=0):
    rng = np.random.default_rng(seed)
    d = {
        "w": rng.normal(size=(33, 17)).astype(dtype),
        "b": rng.normal(size=5).astype(dtype),
        "n": np.array(7, np.int64),
    }
    a = {
        k: (v + (rng.normal(size=v.shape) * 0.1).astype(v.dtype))
        if k != "n"
        else np.array(3, np.int64)
        for k, v in d.items()
    }
    return d, a


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, ml_dtypes.bfloat16])
@pytest.mark.parametrize("alpha", [0.0, 0.37, 1.0, -0.5, 1.8])
def test_exact_mode_matches_interpolate_bit_for_bit(dtype, alpha) -> None:
    d, a = _pair(dtype)
    want = interpolate(d, repair_vector(d, a, strict=False), alpha)
    got = interpolate_into(d, a, alpha, settings=StreamSettings(chunk=7))  # chunk edges inside
    threaded = interpolate_into(d, a, alpha, settings=StreamSettings(chunk=64, threads=2))
    for k in d:
        assert le_bytes(threaded[k]) == le_bytes(got[k])
        assert got[k].dtype == want[k].dtype
        assert le_bytes(got[k]) == le_bytes(want[k]), k


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_exact_mode_matches_interpolate_on_every_kind_of_float(dtype) -> None:
    # random bit patterns: subnormals, infinities, huge exponent gaps between the two models
    rng = np.random.default_rng(5)
    uint = np.dtype(f"u{np.dtype(dtype).itemsize}")
    bits = rng.integers(0, np.iinfo(uint).max, size=(2, 4099), dtype=uint, endpoint=True)
    d, a = ({"w": b.view(dtype)} for b in bits)
    with np.errstate(all="ignore"):
        for alpha in (0.37, -0.5, 1.8):
            want = interpolate(d, repair_vector(d, a, strict=False), alpha)["w"]
            got = interpolate_into(d, a, alpha, settings=StreamSettings(chunk=1000))["w"]
            nan = np.isnan(want)
            assert np.array_equal(np.isnan(got), nan)  # NaN payloads may differ
            assert le_bytes(got[~nan]) == le_bytes(want[~nan])


def test_fast_mode_is_within_one_rounding_and_buffers_are_reused() -> None:
    d, a = _pair(np.float32, 1)
    out = interpolate_into(d, a, 0.25, settings=StreamSettings(exact=False))
    ref = {k: d[k].astype(np.float64) + 0.25 * (a[k].astype(np.float64) - d[k]) for k in ("w", "b")}
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k], rtol=2e-6, atol=1e-6)
    w = out["w"]
    again = interpolate_into(d, a, 0.75, out=out, settings=StreamSettings(exact=False))
    assert again["w"] is w  # written in place, not reallocated
    np.testing.assert_allclose(
        w, d["w"] + 0.75 * (a["w"].astype(np.float64) - d["w"]), rtol=2e-6, atol=1e-6
    )
    assert int(out["n"]) == 7  # integers follow the drifted model


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16])
def test_fast_mode_for_16_bit_floats_rounds_once_from_float32(dtype) -> None:
    d, a = _pair(dtype, 3)
    got = interpolate_into(d, a, 0.37, settings=StreamSettings(exact=False, chunk=5))
    for k in ("w", "b"):
        x, y = d[k].astype(np.float32), a[k].astype(np.float32)
        want = (x + np.float32(0.37) * (y - x)).astype(dtype)
        assert got[k].dtype == np.dtype(dtype)
        assert le_bytes(got[k]) == le_bytes(want), k


def test_search_alpha_evaluates_every_alpha_in_one_reused_buffer() -> None:
    d, a = _pair(np.float32, 4)
    alphas = [i / 11 for i in range(12)]
    seen: list[int] = []

    def evaluate(params: dict[str, np.ndarray]) -> float:
        seen.append(id(params["w"]))
        return float(np.abs(params["w"]).sum())

    out = {k: np.empty_like(v) for k, v in d.items()}
    w = out["w"]
    scores = search_alpha(d, a, alphas, evaluate, out=out)
    assert [s[0] for s in scores] == alphas
    assert set(seen) == {id(w)} and out["w"] is w  # one buffer for all 12 evaluations
    for alpha, score in scores:
        expected = interpolate(d, repair_vector(d, a, strict=False), alpha)["w"]
        assert score == float(np.abs(expected).sum())  # exact mode: the same θ(α)
    assert le_bytes(w) == le_bytes(interpolate_into(d, a, alphas[-1])["w"])


def test_interpolator_is_the_drop_in_for_interpolate_with_per_tensor_alpha() -> None:
    d, a = _pair(np.float32, 6)
    vector = repair_vector(d, a, strict=False)
    theta_at = interpolator(d, a)
    first = theta_at(0.5)
    for alpha in (0.5, 0.2, {"w": 0.9}, {"w": 0.1, "b": 1.4}):
        got = theta_at(alpha)
        assert got is first  # the same buffer for every α
        want = interpolate(d, vector, alpha)
        assert all(le_bytes(got[k]) == le_bytes(want[k]) for k in d), alpha
    with pytest.raises(InvalidInputError, match="finite"):
        theta_at({"w": float("inf")})


def test_search_alpha_updates_a_torch_module_in_place() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    net = torch.nn.Linear(4, 2)
    d = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    a = {k: v + 1.0 for k, v in d.items()}
    x = torch.ones(1, 4)

    def evaluate(_: dict[str, np.ndarray]) -> float:
        with torch.no_grad():
            return float(net(x).sum())

    scores = search_alpha(d, a, [0.0, 0.5, 1.0], evaluate, out=module_arrays(net))
    base = float(
        torch.nn.functional.linear(
            x, torch.from_numpy(d["weight"]), torch.from_numpy(d["bias"])
        ).sum()
    )
    # every weight and bias + α: the output grows by α·(4 + 1) per output unit, 2 units
    assert [round(s - base, 4) for _, s in scores] == [0.0, 5.0, 10.0]


def test_wrong_output_buffer_and_alpha_are_refused() -> None:
    d, a = _pair(np.float32)
    with pytest.raises(ArchitectureMismatchError, match="output buffer"):
        interpolate_into(d, a, 0.5, out={"w": np.empty((2, 2), np.float32)})
    with pytest.raises(InvalidInputError, match="finite"):
        interpolate_into(d, a, float("nan"))


def test_torch_module_is_updated_in_place() -> None:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    d = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    a = {k: v + 1.0 for k, v in d.items()}
    views = module_arrays(net)
    weight = net[0].weight
    interpolate_into(d, a, 0.5, out=views)
    assert net[0].weight is weight  # same parameter object, new values
    np.testing.assert_allclose(net[0].weight.detach().numpy(), d["0.weight"] + 0.5, rtol=1e-6)
    x = torch.ones(1, 4)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    ref.load_state_dict({k: torch.from_numpy(v + 0.5) for k, v in d.items()})
    assert torch.allclose(net(x), ref(x))


def test_parallel_hashes_equal_serial_sha256() -> None:
    rng = np.random.default_rng(2)
    params = {f"t{i}": rng.normal(size=(256, 1024)).astype(np.float32) for i in range(8)}
    params["be"] = np.arange(10, dtype=">f8")
    params["bf"] = np.ones(3, ml_dtypes.bfloat16)
    hashes = tensor_hashes(params)
    for k, v in params.items():
        assert hashes[k] == hashlib.sha256(le_bytes(v)).hexdigest() == tensor_hash(v)
    assert model_id(params) == model_id(params, hashes)


def test_mmap_safetensors_round_trip_and_bad_offsets(tmp_path) -> None:
    d, _ = _pair(np.float32)
    d["h"] = np.ones((2, 2), ml_dtypes.bfloat16)
    path = save_safetensors(d, tmp_path / "m.safetensors")
    mapped = mmap_safetensors(path)
    for k in d:
        assert (
            isinstance(mapped[k].base, np.memmap)
            or isinstance(mapped[k], np.memmap)
            or mapped[k].size == 1
        )
        assert le_bytes(mapped[k]) == le_bytes(d[k])
    assert model_id(mapped) == model_id(load_safetensors(path)) == model_id(d)
    raw = bytearray(path.read_bytes())
    raw[-1:] = b""  # truncated data: offsets no longer tile
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(bytes(raw))
    with pytest.raises(InvalidInputError, match="safetensors"):
        mmap_safetensors(bad)


def test_store_load_mmap_is_verified(tmp_path) -> None:
    from driftline.store import Store

    store = Store(tmp_path / "s")
    d, _ = _pair(np.float32)
    m = store.register(d, name="m")
    mapped = store.load(m.ref, mmap=True)
    assert all(le_bytes(mapped[k]) == le_bytes(d[k]) for k in d)
    assert not mapped["w"].flags.writeable
    assert store.load(m.ref)["w"].flags.writeable


def test_store_load_maps_blobs_copy_on_write(tmp_path) -> None:
    from driftline.store import Store

    store = Store(tmp_path / "s")
    big = {"w": np.random.default_rng(5).standard_normal((512, 1024), dtype=np.float32)}
    m = store.register(big, name="m")
    got = store.load(m.ref)
    assert got["w"].flags.writeable and le_bytes(got["w"]) == le_bytes(big["w"])
    got["w"][:] = 0.0  # a private copy of the written pages: the blob is untouched
    again = store.load(m.ref)
    assert le_bytes(again["w"]) == le_bytes(big["w"])
    blob = store.blobs.path(store.manifest(m.ref)[0].blob)
    raw = bytearray(blob.read_bytes())
    raw[12345] ^= 1
    blob.write_bytes(bytes(raw))
    with pytest.raises(CorruptBlobError, match="corrupt"):
        store.load(m.ref)
    blob.write_bytes(bytes(raw[:1000]))
    with pytest.raises(CorruptBlobError):
        store.load(m.ref)


_MAPPED_RSS = textwrap.dedent("""
    import sys
    import numpy as np
    from driftline.params.io import mmap_safetensors, save_safetensors
    from driftline.repair.streaming import interpolate_into, StreamSettings
    folder = sys.argv[1]
    rng = np.random.default_rng(0)
    for name, shift in (("d", 0.0), ("a", 0.01)):
        m = {f"l{i}": rng.standard_normal(1 << 20, dtype=np.float32) + np.float32(shift)
             for i in range(16)}                            # 16 x 4 MiB = 64 MiB per model
        save_safetensors(m, f"{folder}/{name}.safetensors")
        del m
    d, a = mmap_safetensors(f"{folder}/d.safetensors"), mmap_safetensors(f"{folder}/a.safetensors")
    out = {k: np.zeros_like(v) for k, v in d.items()}      # the model being evaluated
    def rss():
        return int(open("/proc/self/statm").read().split()[1]) * 4096
    open("/proc/self/clear_refs", "w").write("5")            # reset the peak (VmHWM)
    start = rss()
    interpolate_into(d, a, 0.3, out=out, settings=StreamSettings(exact=False, threads=2))
    peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status")
                if l.startswith("VmHWM:"))
    print((peak - start) / (64 << 20))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and /proc are Linux")
def test_mapped_inputs_do_not_pile_up_in_the_resident_set(tmp_path) -> None:
    """RSS counts mapped file pages: without releasing each input tensor once done, the peak
    would grow by both inputs (2 models); here it stays within the tensors in flight."""
    proc = subprocess.run(
        [sys.executable, "-c", _MAPPED_RSS, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    assert float(proc.stdout.split()[-1]) < 0.5  # 2 threads x 2 inputs x 4 MiB = 0.25 model


_LIMITED = textwrap.dedent("""
    import resource, sys
    import numpy as np
    from driftline.repair.streaming import interpolate_into, StreamSettings
    n_tensors, per = 16, 1 << 20                       # 16 tensors x 4 MiB = 64 MiB per model
    rng = np.random.default_rng(0)
    d = {f"l{i}": rng.standard_normal(per, dtype=np.float32) for i in range(n_tensors)}
    a = {k: v + np.float32(0.01) for k, v in d.items()}
    model = n_tensors * per * 4
    vm = int(open("/proc/self/statm").read().split()[0]) * resource.getpagesize()
    limit = vm + model + model // 4                   # room for the output and 1/4 model more
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    mode = sys.argv[1]
    if mode == "stream":
        one = StreamSettings(exact=False, threads=1)  # (thread arenas reserve address space)
        out = interpolate_into(d, a, 0.3, settings=one)
        out = interpolate_into(d, a, 0.6, out=out, settings=one)  # buffers reused
        err = max(float(np.max(np.abs(out[k] - (d[k] + 0.6 * (a[k] - d[k]))))) for k in d)
        print("ok", err)
    else:
        flat_d = np.concatenate(list(d.values()))     # whole-model temporaries
        flat_a = np.concatenate(list(a.values()))
        print("ok", float((flat_d + 0.3 * (flat_a - flat_d))[0]))
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc are Linux")
def test_interpolation_fits_a_memory_limit_whole_model_numpy_does_not() -> None:
    def run(mode: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-c", _LIMITED, mode],
            capture_output=True,
            text=True,
            timeout=120,
            env={"PYTHONPATH": SRC, "OPENBLAS_NUM_THREADS": "1"},
        )

    streamed = run("stream")
    assert streamed.returncode == 0, streamed.stderr[-500:]
    assert streamed.stdout.startswith("ok") and float(streamed.stdout.split()[1]) < 1e-5
    naive = run("naive")
    assert naive.returncode != 0 and "MemoryError" in naive.stderr


def test_alpha_search_callback_reuses_one_model_and_matches_interpolate() -> None:
    """predictor_at_alpha streams θ(α) into reused arrays; predictions equal the ones from a
    fresh interpolate() per α, for scalar and per-tensor α, and earlier results stay valid."""
    from driftline.repair.families import CallableFamily, predictor_at_alpha
    from driftline.repair.vector import interpolate, repair_vector

    rng = np.random.default_rng(5)
    d = {"w": rng.standard_normal((6, 3)).astype(np.float32), "b": np.zeros(3, np.float32)}
    a = {"w": rng.standard_normal((6, 3)).astype(np.float32), "b": np.ones(3, np.float32)}
    seen: list[int] = []

    def proba(params, X):
        seen.append(id(params["w"]))
        z = X @ params["w"] + params["b"]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    fam = CallableFamily(proba)
    vec = repair_vector(d, a, strict=False)
    at = predictor_at_alpha(fam, d, vec)
    X = rng.standard_normal((10, 6))
    first = at(0.3, X)
    for alpha in (0.0, 0.3, 0.77, 1.0, {"w": 0.5}):
        expected = proba(interpolate(d, vec, alpha), X)
        np.testing.assert_array_equal(at(alpha, X), expected)
    np.testing.assert_array_equal(first, proba(interpolate(d, vec, 0.3), X))
    streamed = seen[0::2][:6]  # the callback's calls, not the reference ones
    assert len(set(streamed)) == 1  # one reused weight array across every α
