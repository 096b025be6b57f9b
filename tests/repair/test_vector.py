from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftline.errors import ArchitectureMismatchError, InvalidInputError
from driftline.repair.vector import (
    RepairVector,
    interpolate,
    layer_groups,
    repair_vector,
    sparsify,
    vector_stats,
)


def make_pair(dtype, seed=0):
    rng = np.random.default_rng(seed)
    d = {
        "fc1.weight": rng.normal(size=(5, 4)).astype(dtype),
        "fc1.bias": rng.normal(size=4).astype(dtype),
        "bn.running_mean": rng.normal(size=4).astype(dtype),
        "bn.num_batches_tracked": np.array(7, dtype=np.int64),
    }
    a = {
        k: (v + rng.normal(scale=0.3, size=v.shape).astype(dtype))
        if v.dtype.kind == "f"
        else np.array(3, dtype=np.int64)
        for k, v in d.items()
    }
    return d, a


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_alpha_endpoints_bit_exact(dtype):
    d, a = make_pair(dtype)
    r = repair_vector(d, a)
    assert "bn.num_batches_tracked" not in r
    at0 = interpolate(d, r, 0.0)
    at1 = interpolate(d, r, 1.0)
    for k in d:
        assert at0[k].dtype == d[k].dtype and np.array_equal(at0[k], d[k])
        assert at0[k] is not d[k]
        if k == "bn.num_batches_tracked":
            assert np.array_equal(at1[k], d[k])  # integer buffers come from the drifted model
        else:
            assert at1[k].dtype == a[k].dtype and np.array_equal(at1[k], a[k]), k


def test_bfloat16_endpoints_bit_exact():
    bf = np.dtype(ml_dtypes.bfloat16)
    d = {"w": np.array([1.5, -2.0, 3.25], dtype=bf)}
    a = {"w": np.array([1.0, 7.0, -0.125], dtype=bf)}
    r = repair_vector(d, a)
    assert np.array_equal(interpolate(d, r, 1.0)["w"], a["w"])
    assert np.array_equal(interpolate(d, r, 0.0)["w"], d["w"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=8),
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=8),
)
def test_endpoints_exact_for_extreme_magnitudes(xs, ys):
    n = min(len(xs), len(ys))
    d = {"w": np.array(xs[:n], dtype=np.float32)}
    a = {"w": np.array(ys[:n], dtype=np.float32)}
    r = repair_vector(d, a)
    assert np.array_equal(interpolate(d, r, 1.0)["w"], a["w"])
    assert np.array_equal(interpolate(d, r, 0.0)["w"], d["w"])


def test_midpoint_and_per_tensor_alpha():
    d, a = make_pair(np.float64)
    r = repair_vector(d, a)
    mid = interpolate(d, r, 0.5)
    np.testing.assert_allclose(mid["fc1.weight"], (d["fc1.weight"] + a["fc1.weight"]) / 2)
    per = interpolate(d, r, {"fc1.weight": 1.0, "fc1.bias": 0.25})
    assert np.array_equal(per["fc1.weight"], a["fc1.weight"])
    np.testing.assert_allclose(
        per["fc1.bias"], d["fc1.bias"] + 0.25 * (a["fc1.bias"] - d["fc1.bias"])
    )
    assert np.array_equal(per["bn.running_mean"], d["bn.running_mean"])  # not listed: α = 0
    with pytest.raises(InvalidInputError, match="nope"):
        interpolate(d, r, {"nope": 0.5})
    with pytest.raises(InvalidInputError):
        interpolate(d, r, float("nan"))


def test_plain_dict_vector_and_foreign_base():
    d, a = make_pair(np.float32)
    r = repair_vector(d, a)
    plain = dict(r)  # e.g. loaded back from storage: no endpoints
    assert np.array_equal(interpolate(d, plain, 0.0)["fc1.weight"], d["fc1.weight"])
    np.testing.assert_allclose(interpolate(d, plain, 1.0)["fc1.weight"], a["fc1.weight"], rtol=1e-6)
    # a different "drifted" model must not get the stored ancestor back: θ' + r
    other = {k: (v + 1).astype(v.dtype) if v.dtype.kind == "f" else v for k, v in d.items()}
    out = interpolate(other, r, 1.0)
    np.testing.assert_allclose(out["fc1.weight"], a["fc1.weight"] + 1, rtol=1e-5)


def test_shape_mismatch_names_tensor():
    d, a = make_pair(np.float32)
    a["fc1.weight"] = np.zeros((4, 5), dtype=np.float32)
    with pytest.raises(ArchitectureMismatchError, match=r"fc1\.weight.*\(5, 4\).*\(4, 5\)"):
        repair_vector(d, a)


def test_dtype_and_name_mismatch_names_tensors():
    d, a = make_pair(np.float32)
    a["fc1.bias"] = a["fc1.bias"].astype(np.float64)
    a["extra.weight"] = np.ones(2, dtype=np.float32)
    del a["bn.running_mean"]
    with pytest.raises(ArchitectureMismatchError) as exc:
        repair_vector(d, a)
    msg = str(exc.value)
    assert "fc1.bias" in msg and "float32" in msg and "float64" in msg
    assert "extra.weight" in msg and "bn.running_mean" in msg
    r = repair_vector(d, a, strict=False)
    assert set(r) == {"fc1.weight"}


def test_interpolate_rejects_wrong_shapes():
    d, a = make_pair(np.float32)
    r = repair_vector(d, a)
    bad = dict(d)
    bad["fc1.weight"] = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(ArchitectureMismatchError, match="fc1.weight"):
        interpolate(bad, r, 0.5)


def test_sparsify_keeps_largest_globally():
    v = {
        "a": np.array([0.1, -5.0, 0.2], dtype=np.float32),
        "b": np.array([[3.0, -0.05], [4.0, 0.0]], dtype=np.float32),
    }
    s = sparsify(v, 3 / 7)
    assert np.array_equal(s["a"], np.array([0, -5.0, 0], dtype=np.float32))
    assert np.array_equal(s["b"], np.array([[3.0, 0], [4.0, 0]], dtype=np.float32))
    assert s["a"].dtype == np.float32
    assert vector_stats(s)["nnz"] == 3
    with pytest.raises(InvalidInputError):
        sparsify(v, 0.0)


def test_sparse_vector_alpha_one_is_exact_blend():
    d, a = make_pair(np.float32, seed=3)
    r = repair_vector(d, a)
    s = sparsify(r, 0.25)
    out = interpolate(d, s, 1.0)
    for k in r:
        kept = s[k] != 0
        assert np.array_equal(out[k][kept], a[k][kept])
        assert np.array_equal(out[k][~kept], d[k][~kept])


def test_vector_stats():
    v = RepairVector({"a": np.array([3.0, 0.0]), "b": np.array([[0.0, -4.0]])})
    st_ = vector_stats(v)
    assert st_["l2_norm"] == pytest.approx(5.0)
    assert st_["nnz"] == 2 and st_["size"] == 4
    assert st_["sparsity"] == pytest.approx(0.5)
    assert st_["max_abs"] == 4.0 and st_["n_tensors"] == 2


def test_layer_groups():
    g = layer_groups(["fc1.weight", "fc1.bias", "layers.0.weight", "coef", "intercept"])
    assert g == {
        "fc1": ["fc1.weight", "fc1.bias"],
        "layers.0": ["layers.0.weight"],
        "": ["coef", "intercept"],
    }
