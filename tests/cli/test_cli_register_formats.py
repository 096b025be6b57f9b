"""`driftline register FILE` for model files, pickle refusal, named architectures and aliases."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from driftline.errors import UnknownReferenceError
from driftline.store import Store

pytest.importorskip("skops")


@pytest.fixture(scope="module")
def xy():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    return X, (X[:, 0] > 0).astype(int)


def test_register_skops_onnx_and_lightgbm_files(cli, tmp_path, xy):
    import lightgbm as lgb
    import skops.io as sio
    from skl2onnx import to_onnx
    from sklearn.ensemble import GradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = xy
    assert cli("init")[0] == 0
    gb = GradientBoostingClassifier(n_estimators=5).fit(X, y)
    sio.dump(gb, tmp_path / "gb.skops")
    code, out, err = cli("register", "gb.skops", "--name", "gb")
    assert code == 0, err
    lr = make_pipeline(StandardScaler(), LogisticRegression()).fit(X.astype(np.float32), y)
    (tmp_path / "lr.onnx").write_bytes(to_onnx(lr, X[:1].astype(np.float32)).SerializeToString())
    assert cli("register", "lr.onnx", "--name", "lr")[0] == 0
    lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y).booster_.save_model(tmp_path / "m.txt")
    assert cli("register", "m.txt", "--name", "gbm")[0] == 0
    with Store(tmp_path / ".driftline") as store:
        assert store.get("gb@1").framework == "sklearn"
        assert store.get("lr@1").framework == "onnx"
        assert store.get("gbm@1").framework == "lightgbm"
        assert np.array_equal(store.load_estimator("gb@1").predict_proba(X), gb.predict_proba(X))


def test_pickle_file_refused_with_one_line(cli, tmp_path):
    cli("init")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps({"a": 1}))
    code, out, err = cli("register", "model.pkl", "--name", "m")
    assert code == 2 and "never unpickles" in err and "Traceback" not in err


def test_tensor_file_with_named_architecture_reloads(cli, tmp_path, xy):
    from sklearn.linear_model import LogisticRegression

    from driftline.params import save_safetensors
    from driftline.params.sklearn import estimator_to_params

    X, y = xy
    est = LogisticRegression().fit(X, y)
    params, arch = estimator_to_params(est)
    save_safetensors(params, tmp_path / "lr.safetensors")
    (tmp_path / "arch.json").write_text(json.dumps(arch))
    cli("init")
    code, _, err = cli("register", "lr.safetensors", "--name", "lr", "--architecture", "@arch.json")
    assert code == 0, err
    with Store(tmp_path / ".driftline") as store:
        m = store.get("lr@1")
        assert m.framework == "sklearn"
        assert np.array_equal(store.load_estimator(m.ref).predict_proba(X), est.predict_proba(X))
    code, _, err = cli("register", "lr.safetensors", "--name", "x", "--architecture", "{nope")
    assert code == 2 and "JSON" in err


def test_identical_content_under_new_name_is_an_alias(cli, tmp_path):
    from driftline.params import save_safetensors

    save_safetensors({"w": np.ones((2, 2), dtype=np.float32)}, tmp_path / "w.safetensors")
    cli("init")
    assert cli("register", "w.safetensors", "--name", "churn", "--metric", "auc=0.9")[0] == 0
    code, out, _ = cli("register", "w.safetensors", "--name", "churn-eu", "--metric", "auc=0.8")
    assert code == 0 and "already registered as churn@1" in out and "alias" in out
    code, out, _ = cli("register", "w.safetensors", "--name", "churn", "--metric", "f1=0.7")
    assert "alias" in out
    with Store(tmp_path / ".driftline") as store:
        m = store.get("churn@1")
        assert [a["name"] for a in m.tags["aliases"]] == ["churn-eu", "churn"]
        assert m.tags["aliases"][0]["metrics"] == {"auc": 0.8}
        assert m.metrics == {"auc": 0.8, "f1": 0.7}
        assert len(store.list_models()) == 1
    # the same registration again records nothing new
    cli("register", "w.safetensors", "--name", "churn", "--metric", "f1=0.7")
    with Store(tmp_path / ".driftline") as store:
        assert len(store.get("churn@1").tags["aliases"]) == 2
        node = store.get("churn@1").id
        # the alias resolves to the node, as a name and as name@version
        assert store.resolve("churn-eu") == store.resolve("churn-eu@1") == node
        assert store.resolve("churn-eu@latest") == node
        with pytest.raises(UnknownReferenceError):
            store.resolve("churn-eu@2")
    code, out, _ = cli("show", "churn-eu@1", "--json")
    assert code == 0 and json.loads(out)["id"] == node
