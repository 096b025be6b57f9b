"""Structured model formats: scikit-learn (skops), LightGBM text, XGBoost JSON/UBJSON, ONNX.

Each round-trips through the store with identical predictions, keeps a stable content id,
stores unchanged parts once, detects tampering and refuses pickles without executing them."""

from __future__ import annotations

import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest

from driftline.errors import CorruptBlobError, InvalidInputError, UnsupportedModelError
from driftline.params import as_model_params, model_id
from driftline.params.formats import restore
from driftline.params.structured import text_tensor
from driftline.store import Store

lgb = pytest.importorskip("lightgbm")
xgb = pytest.importorskip("xgboost")
pytest.importorskip("skops")


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "store") as s:
        yield s


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    X[:, 3] = rng.integers(0, 3, size=300)  # a coded categorical column
    return X, y


def _sklearn_models(X, y):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
    )
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    ct = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(), StandardScaler()), [0, 1, 2]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), [3]),
        ]
    )
    return [
        make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y),
        make_pipeline(ct, LogisticRegression()).fit(X, y),
        RandomForestClassifier(8, random_state=0).fit(X, y),
        GradientBoostingClassifier(n_estimators=8, random_state=0).fit(X, y),
        HistGradientBoostingClassifier(max_iter=8).fit(X, y),
        HistGradientBoostingRegressor(max_iter=8).fit(X, X[:, 0]),
    ]


def _same_output(est, back, X) -> bool:
    """Identical predictions: probabilities for classifiers, values for regressors."""
    method = "predict_proba" if hasattr(est, "predict_proba") else "predict"
    return np.array_equal(getattr(est, method)(X), getattr(back, method)(X))


def test_sklearn_models_round_trip_exactly(store, data):
    X, y = data
    for i, est in enumerate(_sklearn_models(X, y)):
        m = store.register(est, name=f"sk{i}")
        assert m.framework == "sklearn"
        back = store.load_estimator(m.ref)
        assert type(back) is type(est)
        assert _same_output(est, back, X), type(est).__name__
        # the id hashes canonical content: the reloaded model is the same node
        assert store.register(back, name=f"sk{i}").id == m.id


def test_boosters_round_trip_exactly(store, data, tmp_path):
    X, y = data
    models = [
        lgb.LGBMClassifier(n_estimators=10, verbose=-1).fit(X, y),
        lgb.LGBMRegressor(n_estimators=10, verbose=-1).fit(X, X[:, 0]),
        xgb.XGBClassifier(n_estimators=10).fit(X, y),
        xgb.XGBRegressor(n_estimators=10).fit(X, X[:, 0]),
    ]
    for i, est in enumerate(models):
        m = store.register(est, name=f"b{i}")
        back = store.load_estimator(m.ref)
        assert _same_output(est, back, X), type(est).__name__
    # native files: LightGBM text, XGBoost JSON and UBJSON (same content -> same id)
    booster = models[0].booster_
    booster.save_model(str(tmp_path / "m.txt"))
    from_file = store.register(tmp_path / "m.txt", name="lgbfile")
    assert from_file.framework == "lightgbm"
    assert np.array_equal(store.load_estimator(from_file.ref).raw(X), booster.predict(X))
    xb = models[2].get_booster()
    xb.save_model(str(tmp_path / "m.json"))
    xb.save_model(str(tmp_path / "m.ubj"))
    a = store.register(tmp_path / "m.json", name="xgbfile")
    b = store.register(tmp_path / "m.ubj", name="xgbfile")
    assert a.id == b.id
    assert np.array_equal(store.load_estimator(a.ref).raw(X), xb.predict(xgb.DMatrix(X)))


def _onnx_mlp(X, y):
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier((8,), max_iter=200, random_state=0).fit(X.astype(np.float32), y)
    return to_onnx(mlp, X[:1].astype(np.float32), options={id(mlp): {"zipmap": False}})


def test_onnx_round_trip_and_float_initializers_are_tensors(store, data, tmp_path):
    import onnxruntime as ort

    X, y = data
    onx = _onnx_mlp(X, y)
    path = tmp_path / "mlp.onnx"
    path.write_bytes(onx.SerializeToString())
    m = store.register(path, name="onnx")
    assert m.framework == "onnx"
    names = {t.name for t in store.manifest(m.ref)}
    floats = {t.name for t in store.manifest(m.ref) if t.dtype == "float32"}
    assert {"onnx.coefficient", "onnx.intercepts"} <= floats <= names
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    ref = sess.run(["probabilities"], {sess.get_inputs()[0].name: X.astype(np.float32)})[0]
    assert np.array_equal(store.load_estimator(m.ref).predict_proba(X), ref.astype(np.float64))
    assert store.register(onx, name="onnx").id == m.id


def test_unchanged_parts_are_stored_once(store, data):
    from sklearn.linear_model import LogisticRegression, RidgeClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    scaler = StandardScaler().fit(X)
    p1 = make_pipeline(scaler, LogisticRegression(C=1.0)).fit(X, y)
    p2 = make_pipeline(scaler, RidgeClassifier()).fit(X, y)  # only the final step changed
    m1, m2 = store.register(p1, name="pipe"), store.register(p2, name="pipe")
    blobs1 = {t.name: t.blob for t in store.manifest(m1.ref)}
    blobs2 = {t.name: t.blob for t in store.manifest(m2.ref)}
    pre = [k for k in blobs1 if k.startswith("sk.steps.0.")]
    assert pre and all(blobs1[k] == blobs2[k] for k in pre)
    assert m1.id != m2.id

    # a LightGBM booster continued for 5 more rounds repeats its first 10 trees' blobs
    ds = lgb.Dataset(X, y)
    base = lgb.train({"objective": "binary", "verbose": -1}, ds, num_boost_round=10)
    cont = lgb.train(
        {"objective": "binary", "verbose": -1},
        lgb.Dataset(X[:150], y[:150]),
        num_boost_round=5,
        init_model=base,
    )
    b1, b2 = store.register(base, name="gbm"), store.register(cont, name="gbm")
    t1 = {t.name: t.blob for t in store.manifest(b1.ref) if ".tree." in t.name}
    t2 = {t.name: t.blob for t in store.manifest(b2.ref) if ".tree." in t.name}
    assert len(t1) == 10 and len(t2) == 15
    assert all(t2[k] == v for k, v in t1.items())
    # and for XGBoost continued with xgb_model
    dm = xgb.DMatrix(X, y)
    xb = xgb.train({"objective": "binary:logistic"}, dm, 6)
    xc = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X[:150], y[:150]), 3, xgb_model=xb)
    x1, x2 = store.register(xb, name="xgb"), store.register(xc, name="xgb")
    s1 = {t.name: t.blob for t in store.manifest(x1.ref) if ".tree." in t.name}
    s2 = {t.name: t.blob for t in store.manifest(x2.ref) if ".tree." in t.name}
    assert len(s2) == 9 and all(s2[k] == v for k, v in s1.items())


def test_tampering_detected(store, data):
    from sklearn.ensemble import RandomForestClassifier

    X, y = data
    m = store.register(RandomForestClassifier(4, random_state=0).fit(X, y), name="rf")
    info = next(t for t in store.manifest(m.ref) if t.name.endswith("nodes.npy"))
    path = store.blobs.path(info.blob)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptBlobError, match=info.name):
        store.load_estimator(m.ref)


def test_tampered_schema_with_untrusted_type_refused(data):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = data
    params = as_model_params(make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)).params
    key = "sk.steps.0.1.__schema__"
    schema = json.loads(bytes(params[key]))
    schema["__module__"], schema["__class__"] = "os", "system"
    bad = dict(params)
    bad[key] = text_tensor(json.dumps(schema))
    with pytest.raises(UnsupportedModelError, match="os.system"):
        restore(bad)


class _Boom:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_crafted_pickles_refused_without_executing(store, tmp_path):
    marker = tmp_path / "executed"
    payload = pickle.dumps(_Boom(str(marker)))
    for name in ("model.pkl", "model.joblib", "model.txt", "model.onnx", "model.skops"):
        f = tmp_path / name
        f.write_bytes(payload)
        with pytest.raises(InvalidInputError, match="pickle"):
            store.register(f, name="evil")
    # a .skops zip whose array needs pickle: numpy refuses it (allow_pickle=False)
    buf = io.BytesIO()
    arr = np.array([_Boom(str(marker))], dtype=object)
    npy = io.BytesIO()
    np.save(npy, arr, allow_pickle=True)
    schema = {
        "__class__": "ndarray",
        "__module__": "numpy",
        "__loader__": "NdArrayNode",
        "type": "numpy",
        "file": "a.npy",
        "protocol": 2,
    }
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
        zf.writestr("a.npy", npy.getvalue())
    (tmp_path / "obj.skops").write_bytes(buf.getvalue())
    with pytest.raises((InvalidInputError, UnsupportedModelError)):
        store.register(tmp_path / "obj.skops", name="evil")
    assert not marker.exists()


def test_unknown_type_lists_what_is_supported():
    with pytest.raises(UnsupportedModelError) as info:
        as_model_params(object())
    msg = str(info.value)
    for word in ("Pipelines", "lightgbm", "xgboost", "onnx", "PyTorch", "CallableFamily", ".skops"):
        assert word in msg


def test_exported_structured_model_re_registers_with_its_format(store, data, tmp_path):
    X, y = data
    est = lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y)
    m = store.register(est, name="exp")
    path = store.export(m.ref, tmp_path / "exp.safetensors")
    again = store.register(path, name="exp")
    assert again.id == m.id
    mp = as_model_params(path)
    assert mp.framework == "lightgbm" and model_id(mp.params) == m.id
    assert np.array_equal(restore(mp.params).predict_proba(X), est.predict_proba(X))


def _table(n=300, seed=0):
    import pandas as pd

    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "plan": pd.Categorical(rng.choice(["basic", "plus", "pro"], n)),
            "region": pd.Categorical(rng.choice(["north", "south", "east"], n)),
        }
    )
    y = np.where((df["age"] > 40) ^ (df["plan"] == "pro"), "churn", "stay")
    return df, y


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrated_classifier_round_trips(store, data, method):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import SGDClassifier

    X, y = data
    est = CalibratedClassifierCV(SGDClassifier(random_state=0), cv=3, method=method).fit(X, y)
    m = store.register(est, name="cal")
    assert np.array_equal(store.load_estimator(m.ref).predict_proba(X), est.predict_proba(X))


def test_hist_gradient_boosting_with_categorical_features_round_trips(store):
    """HistGradientBoosting with native categories keeps partial(check_array, ...)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _table()
    est = HistGradientBoostingClassifier(max_iter=10, categorical_features="from_dtype").fit(X, y)
    m = store.register(est, name="hgb")
    got = store.load_estimator(m.ref)
    assert np.array_equal(got.predict_proba(X), est.predict_proba(X))
    assert got.predict(X).tolist() == est.predict(X).tolist()


def test_partial_of_an_untrusted_function_is_refused():
    """Trusting functools.partial trusts no function: skops audits the one it wraps."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    X, y = _table()
    est = HistGradientBoostingClassifier(max_iter=3, categorical_features="from_dtype").fit(X, y)
    params = as_model_params(est).params
    key = next(k for k in params if k.endswith("__schema__") and b"check_array" in bytes(params[k]))
    text = bytes(params[key]).decode()
    bad = dict(params)
    bad[key] = text_tensor(
        text.replace('"sklearn.utils.validation"', '"os"').replace('"check_array"', '"system"')
    )
    with pytest.raises(UnsupportedModelError, match="os.system"):
        restore(bad)


def test_untrusted_neighbour_tree_says_what_to_do(store, data):
    from sklearn.neighbors import KNeighborsClassifier

    X, y = data
    with pytest.raises(UnsupportedModelError) as info:
        store.register(KNeighborsClassifier(algorithm="kd_tree").fit(X, y), name="knn")
    msg = str(info.value)
    assert "KDTree" in msg and "algorithm='brute'" in msg and "CallableFamily" in msg
    est = KNeighborsClassifier(algorithm="brute").fit(X, y)
    m = store.register(est, name="knn")
    assert np.array_equal(store.load_estimator(m.ref).predict_proba(X), est.predict_proba(X))


@pytest.mark.parametrize("zipmap", [False, True])
@pytest.mark.parametrize("labels", [["ant", "bee", "cat"], [-1, 4, 7]])
@pytest.mark.parametrize("kind", ["linear", "forest", "mlp"])
def test_onnx_classifier_keeps_its_class_labels(store, kind, labels, zipmap):
    """skl2onnx puts the labels in the graph (classifier or ZipMap attributes, or a labels
    initializer): the stored model predicts them, not column indices."""
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = np.asarray(labels)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)]
    make = {
        "linear": lambda: LogisticRegression(max_iter=500),
        "forest": lambda: RandomForestClassifier(10, random_state=0),
        "mlp": lambda: MLPClassifier((8,), max_iter=300, random_state=0),
    }[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X, y)
    onx = to_onnx(est, X[:1], options={id(est): {"zipmap": zipmap}})
    m = store.register(onx, name="onnx-labels")
    assert m.architecture["classes"] == est.classes_.tolist()
    got = store.load_estimator(m.ref)
    assert got.predict(X).tolist() == est.predict(X).tolist()
    np.testing.assert_allclose(got.predict_proba(X), est.predict_proba(X), atol=1e-4)
