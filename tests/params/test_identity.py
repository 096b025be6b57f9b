"""Model identity: the Merkle root is order- and source-invariant and sensitive to every bit,
shape, dtype and tensor name."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from driftline.errors import InvalidInputError
from driftline.params import as_model_params, model_id, tensor_hash

DTYPES = [
    np.dtype("float64"),
    np.dtype("float32"),
    np.dtype("float16"),
    np.dtype("int64"),
    np.dtype("int32"),
    np.dtype("int8"),
    np.dtype("uint8"),
    np.dtype("bool"),
]

names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=12
)


@st.composite
def arrays(draw: st.DrawFn) -> np.ndarray:
    dtype = draw(st.sampled_from(DTYPES))
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    return draw(hnp.arrays(dtype, shape))


@st.composite
def param_dicts(draw: st.DrawFn, min_size: int = 1) -> dict[str, np.ndarray]:
    keys = draw(st.lists(names, min_size=min_size, max_size=6, unique=True))
    return {k: draw(arrays()) for k in keys}


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(param_dicts(), st.randoms(use_true_random=False))
def test_order_invariant(params: dict[str, np.ndarray], rnd) -> None:
    keys = list(params)
    rnd.shuffle(keys)
    shuffled = {k: params[k] for k in keys}
    assert model_id(shuffled) == model_id(params)
    assert model_id(dict(reversed(list(params.items())))) == model_id(params)


@FAST
@given(param_dicts())
def test_deterministic_and_hex(params: dict[str, np.ndarray]) -> None:
    mid = model_id(params)
    assert len(mid) == 64 and int(mid, 16) >= 0
    copies = {k: v.copy() for k, v in params.items()}
    assert model_id(copies) == mid


@FAST
@given(param_dicts(), st.data())
def test_single_bit_flip_changes_id(params: dict[str, np.ndarray], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(params)))
    arr = np.ascontiguousarray(params[name]).copy()
    raw = bytearray(arr.tobytes())
    bit = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    flipped = np.frombuffer(bytes(raw), dtype=arr.dtype).reshape(arr.shape)
    changed = {**params, name: flipped}
    assert model_id(changed) != model_id(params)
    assert tensor_hash(flipped) != tensor_hash(arr)


@FAST
@given(param_dicts(), st.data())
def test_reshape_changes_id(params: dict[str, np.ndarray], data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(sorted(params)))
    arr = params[name]
    candidates = [(arr.size,), (1, arr.size), (arr.size, 1), (*arr.shape, 1)]
    new_shape = data.draw(st.sampled_from([s for s in candidates if s != arr.shape]))
    reshaped = {**params, name: arr.reshape(new_shape)}
    # same bytes, different shape
    assert tensor_hash(reshaped[name]) == tensor_hash(arr)
    assert model_id(reshaped) != model_id(params)


VIEW_PAIRS = [
    ("float32", "int32"),
    ("float32", "uint32"),
    ("int64", "float64"),
    ("float64", "uint64"),
    ("float16", "int16"),
    ("float16", ml_dtypes.bfloat16),
    ("uint8", "int8"),
    ("bool", "uint8"),
]


@FAST
@given(st.sampled_from(VIEW_PAIRS), st.integers(1, 16), st.binary(min_size=128, max_size=128))
def test_dtype_view_changes_id(pair, n: int, raw: bytes) -> None:
    src, dst = np.dtype(pair[0]), np.dtype(pair[1])
    a = np.frombuffer(raw[: n * src.itemsize], dtype=np.uint8)
    if src == np.dtype("bool"):
        a = a & 1
    a = a.view(src)
    b = a.view(dst)
    assert a.tobytes() == b.tobytes()
    assert model_id({"w": a}) != model_id({"w": b})


@FAST
@given(param_dicts(), st.data())
def test_rename_changes_id(params: dict[str, np.ndarray], data: st.DataObject) -> None:
    old = data.draw(st.sampled_from(sorted(params)))
    new = data.draw(names.filter(lambda s: s not in params))
    renamed = {(new if k == old else k): v for k, v in params.items()}
    assert model_id(renamed) != model_id(params)


def test_swapping_tensors_between_names_changes_id() -> None:
    a, b = np.zeros(3, np.float32), np.ones(3, np.float32)
    assert model_id({"x": a, "y": b}) != model_id({"x": b, "y": a})


@FAST
@given(param_dicts())
def test_byte_order_does_not_matter(params: dict[str, np.ndarray]) -> None:
    swapped = {
        k: (v.astype(v.dtype.newbyteorder(">")) if v.dtype.itemsize > 1 else v)
        for k, v in params.items()
    }
    assert model_id(swapped) == model_id(params)


@FAST
@given(param_dicts())
def test_memory_layout_does_not_matter(params: dict[str, np.ndarray]) -> None:
    fortran = {k: np.asfortranarray(v) for k, v in params.items()}
    assert model_id(fortran) == model_id(params)


# -- source invariance ----------------------------------------------------------------------------

torch = pytest.importorskip("torch")

TORCH_FLOAT = [
    (torch.float64, np.dtype("float64")),
    (torch.float32, np.dtype("float32")),
    (torch.float16, np.dtype("float16")),
    (torch.bfloat16, np.dtype(ml_dtypes.bfloat16)),
    (torch.int64, np.dtype("int64")),
    (torch.uint8, np.dtype("uint8")),
]


@FAST
@given(
    st.lists(
        st.tuples(
            names,
            st.sampled_from(range(len(TORCH_FLOAT))),
            hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
        ),
        min_size=1,
        max_size=5,
        unique_by=lambda t: t[0],
    ),
    st.randoms(use_true_random=False),
)
def test_torch_state_dict_matches_numpy(spec, rnd) -> None:
    state = {}
    numpy_params = {}
    for name, i, shape in spec:
        tdt, ndt = TORCH_FLOAT[i]
        raw = bytes(rnd.getrandbits(8) for _ in range(int(np.prod(shape)) * ndt.itemsize))
        arr = np.frombuffer(raw, dtype=ndt).reshape(shape).copy()
        numpy_params[name] = arr
        if ndt == np.dtype(ml_dtypes.bfloat16):
            state[name] = torch.from_numpy(arr.view(np.int16).copy()).view(torch.bfloat16)
        else:
            state[name] = torch.from_numpy(arr.copy())
        assert state[name].dtype == tdt
    rnd.shuffle(spec)
    mp = as_model_params({n: state[n] for n, _, _ in spec})
    assert mp.framework == "torch"
    assert model_id(mp.params) == model_id(numpy_params)


def test_torch_module_matches_state_dict_and_numpy() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 2))
    from_module = as_model_params(net)
    from_state = as_model_params(net.state_dict())
    as_numpy = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    assert "1.running_mean" in as_numpy and "1.num_batches_tracked" in as_numpy
    assert model_id(from_module.params) == model_id(from_state.params) == model_id(as_numpy)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sklearn_estimator_matches_numpy() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    lr = LogisticRegression().fit(X, y)
    expect = {"coef": lr.coef_.copy(), "intercept": lr.intercept_.copy()}
    assert model_id(as_model_params(lr).params) == model_id(expect)

    mlp = MLPRegressor(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(X, X[:, 1])
    expect = {}
    for i, (w, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        expect[f"layers.{i}.bias"] = b
        expect[f"layers.{i}.weight"] = w
    assert model_id(as_model_params(mlp).params) == model_id(expect)


# -- invalid input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"w": [1.0, 2.0]},
        {"": np.zeros(2)},
        {"s": np.array(["a", "b"])},
        {"o": np.array([object()], dtype=object)},
    ],
)
def test_invalid_params_refused(bad) -> None:
    with pytest.raises(InvalidInputError):
        model_id(bad)
