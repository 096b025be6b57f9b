"""Parameter I/O: npz / safetensors / .pt round trips and the scikit-learn and PyTorch adapters."""

from __future__ import annotations

import warnings

import ml_dtypes
import numpy as np
import pytest
import safetensors.numpy
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge, SGDClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.params import (
    as_model_params,
    estimator_to_params,
    load_npz,
    load_params_file,
    load_safetensors,
    model_id,
    params_to_estimator,
    save_npz,
    save_safetensors,
)
from driftline.store import Store

BF16 = np.dtype(ml_dtypes.bfloat16)


def _random(dtype: np.dtype | str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random bytes viewed as ``dtype`` (covers NaN payloads, infinities, subnormals, -0.0)."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    if dtype == np.dtype("bool"):
        return rng.integers(0, 2, size=shape).astype(bool)
    raw = rng.integers(0, 256, size=n * dtype.itemsize, dtype=np.uint8)
    return raw.view(dtype).reshape(shape)


NPZ_DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"]
ALL_DTYPES = [*NPZ_DTYPES, BF16, "uint16", "uint32", "uint64"]


def _params(dtypes, seed: int = 0) -> dict[str, np.ndarray]:
    shapes = [(3, 4), (7,), (2, 3, 2), (1,), (5, 1)]
    return {
        f"t{i}.{np.dtype(dt).name}": _random(dt, shapes[i % len(shapes)], seed + i)
        for i, dt in enumerate(dtypes)
    }


def _bit_equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        assert a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), k


# -- files -----------------------------------------------------------------------------------------


def test_npz_round_trip_bit_exact(tmp_path) -> None:
    params = _params(NPZ_DTYPES)
    path = save_npz(params, tmp_path / "m.npz")
    back = load_npz(path)
    _bit_equal(params, back)
    _bit_equal(params, load_params_file(path))
    assert model_id(back) == model_id(params)


def test_npz_refuses_bfloat16(tmp_path) -> None:
    with pytest.raises(InvalidInputError, match="safetensors"):
        save_npz({"w": np.zeros(2, BF16)}, tmp_path / "m.npz")


def test_npz_with_pickled_object_refused(tmp_path) -> None:
    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([{"a": 1}], dtype=object))
    with pytest.raises(InvalidInputError):
        load_npz(path)


def test_safetensors_round_trip_bit_exact(tmp_path) -> None:
    params = _params(ALL_DTYPES, seed=10)
    path = save_safetensors(params, tmp_path / "m.safetensors", metadata={"k": "v"})
    back = load_safetensors(path)
    _bit_equal(params, back)
    assert model_id(back) == model_id(params)
    assert not (tmp_path / "m.safetensors.tmp").exists()


def test_safetensors_big_endian_and_non_contiguous_input(tmp_path) -> None:
    a = np.arange(12, dtype=">f4").reshape(3, 4)
    b = np.arange(24, dtype=np.float64).reshape(4, 6)[:, ::2]
    back = load_safetensors(save_safetensors({"a": a, "b": b}, tmp_path / "m.safetensors"))
    assert back["a"].dtype == np.dtype("<f4") and np.array_equal(back["a"], a)
    assert np.array_equal(back["b"], b)


def test_safetensors_read_by_official_numpy_loader(tmp_path) -> None:
    params = _params([d for d in ALL_DTYPES if d != BF16], seed=20)
    path = save_safetensors(params, tmp_path / "m.safetensors")
    official = safetensors.numpy.load(path.read_bytes())
    _bit_equal(params, official)
    _bit_equal(params, safetensors.numpy.load_file(str(path)))


def test_official_numpy_writer_read_by_driftline(tmp_path) -> None:
    params = _params(NPZ_DTYPES, seed=30)
    path = tmp_path / "official.safetensors"
    safetensors.numpy.save_file(params, str(path))
    _bit_equal(params, load_safetensors(path))


def test_garbage_safetensors_refused(tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(InvalidInputError):
        load_safetensors(path)


def test_unknown_suffix_and_missing_file_refused(tmp_path) -> None:
    (tmp_path / "m.h5").write_bytes(b"x")
    with pytest.raises(InvalidInputError):
        load_params_file(tmp_path / "m.h5")
    with pytest.raises(InvalidInputError):
        load_params_file(tmp_path / "nope.safetensors")


# -- torch -----------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
import safetensors.torch  # noqa: E402

from driftline.params.torch_adapter import load_into_module, numpy_to_tensor  # noqa: E402


def test_safetensors_bf16_read_by_official_torch_loader(tmp_path) -> None:
    params = _params(["float32", BF16, "float16", "int64", "bool"], seed=40)
    path = save_safetensors(params, tmp_path / "m.safetensors")
    official = safetensors.torch.load_file(str(path))
    assert sorted(official) == sorted(params)
    for k, arr in params.items():
        expect = numpy_to_tensor(arr)
        assert official[k].dtype == expect.dtype
        assert torch.equal(official[k], expect) or (
            official[k].dtype.is_floating_point
            and torch.equal(official[k].view(torch.uint8), expect.view(torch.uint8))
        ), k
    bf = next(k for k in params if "bfloat16" in k)
    assert official[bf].dtype == torch.bfloat16


def test_official_torch_writer_bf16_read_by_driftline(tmp_path) -> None:
    torch.manual_seed(0)
    state = {"w": torch.randn(4, 3, dtype=torch.bfloat16), "b": torch.randn(3)}
    path = tmp_path / "official.safetensors"
    safetensors.torch.save_file(state, str(path))
    back = load_safetensors(path)
    assert back["w"].dtype == BF16
    assert torch.equal(numpy_to_tensor(back["w"]), state["w"])
    assert torch.equal(numpy_to_tensor(back["b"]), state["b"])


class Payload:
    """Anything not on torch's weights_only allow-list."""

    def __init__(self) -> None:
        self.x = 1


def test_pt_state_dict_loads_with_weights_only(tmp_path) -> None:
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    path = tmp_path / "m.pt"
    torch.save(net.state_dict(), path)
    params = load_params_file(path)
    assert model_id(params) == model_id(as_model_params(net).params)
    # a Lightning-style {"state_dict": ...} wrapper works too
    torch.save({"state_dict": net.state_dict(), "epoch": 3}, tmp_path / "w.ckpt")
    assert model_id(load_params_file(tmp_path / "w.ckpt")) == model_id(params)


def test_pt_with_custom_class_refused(tmp_path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.zeros(2), "payload": Payload()}, path)
    with pytest.raises(InvalidInputError, match="weights_only"):
        load_params_file(path)


def test_pt_with_non_tensor_entry_refused(tmp_path) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"w": torch.zeros(2), "step": 3}, path)
    with pytest.raises(InvalidInputError):
        load_params_file(path)


def _net(dtype) -> torch.nn.Module:
    torch.manual_seed(7)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(2, 3, 3),
        torch.nn.BatchNorm2d(3),
        torch.nn.Flatten(),
        torch.nn.Linear(12, 4),
        torch.nn.BatchNorm1d(4),
    )
    # make the BatchNorm buffers non-trivial
    net.train()
    with torch.no_grad():
        net[1](torch.randn(5, 3, 2, 2))
        net[4](torch.randn(5, 4))
    return net.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_torch_state_dict_round_trips_through_store(tmp_path, dtype) -> None:
    net = _net(dtype)
    state = net.state_dict()
    assert int(state["1.num_batches_tracked"]) == 1
    with Store(tmp_path / "store") as store:
        m = store.register(net, name="net")
        m2 = store.register(state, name="net")
        assert m2.id == m.id and m2.version == 1
        params = store.load(m.ref)
        fresh = _net(torch.float32).to(dtype)
        with torch.no_grad():
            for p in fresh.parameters():
                p.add_(1)
            fresh[1].running_mean.add_(3)
        load_into_module(fresh, params)
    for k, v in state.items():
        got = fresh.state_dict()[k]
        assert got.dtype == v.dtype, k
        assert torch.equal(got, v), k
        assert (
            got.reshape(-1).view(torch.uint8).tolist() == v.reshape(-1).view(torch.uint8).tolist()
        ), k


# -- scikit-learn ----------------------------------------------------------------------------------


def _data(seed: int = 0, n: int = 200, d: int = 5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    score = X @ rng.normal(size=d) + 0.3 * rng.normal(size=n)
    return X, score


def _fit(kind: str):
    X, score = _data()
    y2 = (score > 0).astype(int)
    y3 = np.digitize(score, np.quantile(score, [1 / 3, 2 / 3]))
    ystr = np.array(["cat", "dog", "eel"])[y3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = {
            "logreg-binary": lambda: LogisticRegression().fit(X, y2),
            "logreg-multi": lambda: LogisticRegression(C=0.5).fit(X, y3),
            "logreg-strings": lambda: LogisticRegression().fit(X, ystr),
            "sgd-hinge": lambda: SGDClassifier(random_state=0).fit(X, y3),
            "sgd-log": lambda: SGDClassifier(loss="log_loss", random_state=0).fit(X, y2),
            "linreg": lambda: LinearRegression().fit(X, score),
            "linreg-2out": lambda: LinearRegression().fit(X, np.c_[score, -2 * score]),
            "ridge": lambda: Ridge(alpha=2.0).fit(X, score),
            "mlp-clf": lambda: MLPClassifier(
                hidden_layer_sizes=(8, 6), max_iter=60, random_state=0
            ).fit(X, y3),
            "mlp-clf-binary": lambda: MLPClassifier(
                hidden_layer_sizes=(7,), max_iter=60, random_state=0
            ).fit(X, y2),
            "mlp-reg": lambda: MLPRegressor(
                hidden_layer_sizes=(9,), max_iter=60, random_state=0
            ).fit(X, score),
        }[kind]()
    return est, _data(seed=1, n=300)[0]


SK_KINDS = [
    "logreg-binary",
    "logreg-multi",
    "logreg-strings",
    "sgd-hinge",
    "sgd-log",
    "linreg",
    "linreg-2out",
    "ridge",
    "mlp-clf",
    "mlp-clf-binary",
    "mlp-reg",
]


def _same_predictions(a, b, X) -> None:
    pa, pb = a.predict(X), b.predict(X)
    assert pa.dtype == pb.dtype
    assert np.array_equal(pa, pb)
    if hasattr(a, "predict_proba"):
        assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    if hasattr(a, "decision_function"):
        assert np.array_equal(a.decision_function(X), b.decision_function(X))


@pytest.mark.parametrize("kind", SK_KINDS)
def test_sklearn_rebuilt_predicts_identically(kind) -> None:
    est, X = _fit(kind)
    params, arch = estimator_to_params(est)
    rebuilt = params_to_estimator(params, arch)
    assert type(rebuilt) is type(est)
    _same_predictions(est, rebuilt, X)


@pytest.mark.parametrize("kind", SK_KINDS)
def test_sklearn_round_trips_through_store(tmp_path, kind) -> None:
    est, X = _fit(kind)
    with Store(tmp_path / "store") as store:
        m = store.register(est, name=kind, metrics={"kind": kind})
        assert m.framework == "sklearn"
        assert m.architecture["estimator"] == type(est).__name__
    # reopen: everything needed comes from the database and blobs
    with Store(tmp_path / "store") as store:
        rebuilt = store.load_estimator(m.id)
    _same_predictions(est, rebuilt, X)


def test_sklearn_pandas_feature_names_survive() -> None:
    pd = pytest.importorskip("pandas")
    X, score = _data()
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    est = LogisticRegression().fit(df, (score > 0).astype(int))
    rebuilt = params_to_estimator(*estimator_to_params(est))
    assert list(rebuilt.feature_names_in_) == list(est.feature_names_in_)
    assert np.array_equal(rebuilt.predict_proba(df), est.predict_proba(df))


def test_sklearn_unfitted_and_unsupported_refused() -> None:
    with pytest.raises(InvalidInputError, match="fit"):
        estimator_to_params(LogisticRegression())
    with pytest.raises(InvalidInputError, match="fit"):
        estimator_to_params(MLPClassifier())
    from sklearn.tree import DecisionTreeClassifier

    with pytest.raises(InvalidInputError, match="fit"):
        as_model_params(DecisionTreeClassifier())
    with pytest.raises(UnsupportedModelError, match="CallableFamily"):
        as_model_params(object())


def test_release_and_prefetch_pages_only_touch_read_only_maps(tmp_path) -> None:
    from driftline.params.identity import le_bytes
    from driftline.params.io import mmap_safetensors, prefetch_pages, release_pages

    rng = np.random.default_rng(9)
    params = {"w": rng.standard_normal((256, 256), dtype=np.float32), "b": np.ones(3, np.float32)}
    path = save_safetensors(params, tmp_path / "m.safetensors")
    mapped = mmap_safetensors(path)
    for name, arr in mapped.items():
        assert release_pages(arr) and prefetch_pages(arr) in (True, False)
        assert release_pages(arr[1:])  # a view of a view still finds its map
        assert le_bytes(arr) == le_bytes(params[name])  # the bytes come back from the file
    writeable = params["w"].copy()
    assert not release_pages(writeable) and not prefetch_pages(writeable)
    private = np.frombuffer(bytearray(16), np.float32)
    assert not release_pages(private)
