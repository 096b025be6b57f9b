from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.neural_network import MLPClassifier

from driftline.errors import UnsupportedModelError
from driftline.losses import log_loss
from driftline.params.sklearn import estimator_to_params
from driftline.repair.families import (
    CallableFamily,
    Predictor,
    SklearnFamily,
    fine_tune,
    predictor_at_alpha,
)
from driftline.repair.vector import interpolate, repair_vector


@pytest.fixture(scope="module")
def digits():
    from driftline.datasets import rotated_digits

    X, y = rotated_digits(0, n=400, seed=0)
    return X[:300], y[:300], X[300:], y[300:]


def fit_quiet(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize(
    "make",
    [
        lambda: MLPClassifier((16,), max_iter=30, random_state=0),
        lambda: LogisticRegression(max_iter=200),
    ],
)
def test_sklearn_family_matches_estimator(digits, make):
    X, y, Xt, _ = digits
    est = fit_quiet(make(), X, y)
    params, arch = estimator_to_params(est)
    fam = SklearnFamily(arch)
    assert isinstance(fam, Predictor)
    assert np.array_equal(fam.classes, est.classes_)
    np.testing.assert_array_equal(fam.predict_proba(params, Xt), est.predict_proba(Xt))


def test_sklearn_hinge_falls_back_to_decision_softmax(digits):
    X, y, Xt, _ = digits
    est = SGDClassifier(loss="hinge", max_iter=20, tol=None, random_state=0).fit(X, y)
    params, arch = estimator_to_params(est)
    p = SklearnFamily(arch).predict_proba(params, Xt)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert np.array_equal(est.classes_[p.argmax(1)], est.predict(Xt))


def test_sklearn_predictor_at_alpha_endpoints(digits):
    X, y, Xt, _ = digits
    a = fit_quiet(MLPClassifier((16,), max_iter=30, random_state=0), X, y)
    b = fit_quiet(MLPClassifier((16,), max_iter=30, random_state=1), X[::-1], y[::-1])
    pa, arch = estimator_to_params(a)
    pb, _ = estimator_to_params(b)
    fam = SklearnFamily(arch)
    at = predictor_at_alpha(fam, pb, repair_vector(pb, pa))
    np.testing.assert_array_equal(at(1.0, Xt), a.predict_proba(Xt))
    np.testing.assert_array_equal(at(0.0, Xt), b.predict_proba(Xt))


def test_sklearn_fine_tune_reduces_loss_and_l2_pull(digits):
    X, y, _, _ = digits
    est = fit_quiet(MLPClassifier((16,), max_iter=3, random_state=0), X, y)
    params, arch = estimator_to_params(est)
    fam = SklearnFamily(arch)
    before = log_loss(y, fam.predict_proba(params, X), classes=fam.classes)
    tuned = fine_tune(fam, params, X, y, steps=10, lr=1e-2)
    after = log_loss(y, fam.predict_proba(tuned, X), classes=fam.classes)
    assert after < before - 0.1
    assert np.array_equal(params["layers.0.weight"], estimator_to_params(est)[0]["layers.0.weight"])
    pulled = fine_tune(fam, params, X, y, steps=10, lr=1e-2, l2_pull_to=params, l2=5.0)

    def dist(p):
        return sum(float(np.sum((p[k] - params[k]) ** 2)) for k in params)

    assert dist(pulled) < dist(tuned)
    # LogisticRegression: its own Adam steps (repair.linear_fine_tune) lower the log-loss
    lr_params, lr_arch = estimator_to_params(fit_quiet(LogisticRegression(max_iter=5), X, y))
    ridge = {**lr_arch, "estimator": "RidgeClassifier"}
    with pytest.raises(UnsupportedModelError, match="RidgeClassifier"):
        fine_tune(SklearnFamily(ridge), lr_params, X, y, steps=1)
    lr_fam = SklearnFamily(lr_arch)
    lr_tuned = fine_tune(lr_fam, lr_params, X, y, steps=20, lr=1e-2)
    assert log_loss(y, lr_fam.predict_proba(lr_tuned, X), classes=lr_fam.classes) < log_loss(
        y, lr_fam.predict_proba(lr_params, X), classes=lr_fam.classes
    )


def test_sklearn_fine_tune_warm_start_model_on_batch_missing_a_class(digits):
    # an MLP stored with warm_start=True (lineage fine-tunes) used to make partial_fit refuse
    # labels that lack a class
    X, y, _, _ = digits
    est = fit_quiet(MLPClassifier((16,), max_iter=5, random_state=0), X, y)
    est.set_params(warm_start=True)
    params, arch = estimator_to_params(est)
    fam = SklearnFamily(arch)
    keep = y != y[0]
    tuned = fine_tune(fam, params, X[keep][:40], y[keep][:40], steps=3, lr=1e-2)
    assert set(tuned) == set(params)
    assert fam.predict_proba(tuned, X[:5]).shape == (5, len(fam.classes))
    # with every class present (one fit() call) the loss still goes down; 0 steps is a copy
    before = log_loss(y, fam.predict_proba(params, X), classes=fam.classes)
    assert (
        log_loss(
            y, fam.predict_proba(fine_tune(fam, params, X, y, 10, lr=1e-2), X), classes=fam.classes
        )
        < before - 0.1
    )
    same = fine_tune(fam, params, X, y, 0)
    assert all(np.array_equal(same[k], params[k]) for k in params)


def test_callable_family():
    fam = CallableFamily(lambda p, X: np.tile(p["w"], (len(X), 1)), classes=[0, 1])
    out = fam.predict_proba({"w": np.array([0.2, 0.8])}, np.zeros((3, 2)))
    assert out.shape == (3, 2)
    assert not hasattr(fam, "prepare")
    with pytest.raises(UnsupportedModelError):
        fine_tune(fam, {"w": np.array([0.2, 0.8])}, np.zeros((3, 2)), np.array([0, 1, 1]), 1)


# --- PyTorch ---------------------------------------------------------------------------------

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny nets: one thread avoids oversubscribing a shared 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def bn_net():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.BatchNorm1d(6),
        torch.nn.Linear(6, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.5),
        torch.nn.Linear(8, 3),
    )


def test_torch_family_predict_proba_matches_module():
    from driftline.params.torch_adapter import module_to_params
    from driftline.repair.families import TorchFamily

    net = bn_net().eval()
    params = module_to_params(net)
    X = np.random.default_rng(0).normal(size=(20, 6)).astype(np.float32)
    fam = TorchFamily(bn_net)
    with torch.no_grad():
        ref = torch.softmax(net(torch.from_numpy(X)), 1).numpy()
    np.testing.assert_allclose(fam.predict_proba(params, X), ref, rtol=1e-5, atol=1e-7)


def test_torch_batchnorm_reestimation_matches_numpy():
    from driftline.params.torch_adapter import module_to_params
    from driftline.repair.families import TorchFamily

    net = bn_net()
    params = module_to_params(net)
    # a trained model: stale statistics and many batches already tracked
    params["0.running_mean"] = np.full(6, 7.0, dtype=np.float32)
    params["0.num_batches_tracked"] = np.array(1000, dtype=np.int64)
    params["2.num_batches_tracked"] = np.array(1000, dtype=np.int64)
    rng = np.random.default_rng(1)
    window = rng.normal(size=(200, 6)) * [1, 2, 3, 4, 5, 6] + [5, -3, 0, 1, 2, 9]
    window = window.astype(np.float32)
    fam = TorchFamily(bn_net)
    new = fam.prepare(params, window)
    np.testing.assert_allclose(new["0.running_mean"], window.mean(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(new["0.running_var"], window.var(0, ddof=1), rtol=1e-4)
    # second BN sees Linear(BN0(x)), computed in numpy from the loaded weights (batch stats)
    z = (window - window.mean(0)) / np.sqrt(window.var(0) + 1e-5)
    z = z * params["0.weight"] + params["0.bias"]
    h = z @ params["1.weight"].T + params["1.bias"]
    np.testing.assert_allclose(new["2.running_mean"], h.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new["2.running_var"], h.var(0, ddof=1), rtol=1e-3, atol=1e-5)
    assert not np.array_equal(new["0.running_mean"], params["0.running_mean"])
    assert np.array_equal(new["1.weight"], params["1.weight"])  # weights untouched
    # momentum restored on the cached module
    assert all(
        m.momentum == 0.1 for m in fam._module.modules() if isinstance(m, torch.nn.BatchNorm1d)
    )


def test_torch_prepare_runs_at_every_alpha():
    from driftline.params.torch_adapter import module_to_params
    from driftline.repair.families import TorchFamily

    fam = TorchFamily(bn_net)
    d = module_to_params(bn_net())
    a = {k: (v + 1.0).astype(v.dtype) if v.dtype.kind == "f" else v for k, v in d.items()}
    window = np.random.default_rng(2).normal(loc=3.0, size=(64, 6)).astype(np.float32)
    r = repair_vector(d, a)
    at = predictor_at_alpha(fam, d, r, X_window=window)
    p_half = at(0.5, window[:5])
    manual = fam.predict_proba(fam.prepare(interpolate(d, r, 0.5), window), window[:5])
    np.testing.assert_allclose(p_half, manual)
    unprepared = fam.predict_proba(interpolate(d, r, 0.5), window[:5])
    assert not np.allclose(p_half, unprepared)


def test_torch_fine_tune_reduces_loss_with_pull():
    from driftline.params.torch_adapter import module_to_params
    from driftline.repair.families import TorchFamily

    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 6)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1).astype(int)
    fam = TorchFamily(bn_net)
    params = module_to_params(bn_net())
    before = log_loss(y, fam.predict_proba(params, X), classes=[0, 1, 2])
    tuned = fine_tune(fam, params, X, y, steps=60, lr=1e-2, batch_size=32)
    after = log_loss(y, fam.predict_proba(tuned, X), classes=[0, 1, 2])
    assert after < before - 0.2
    pulled = fine_tune(
        fam, params, X, y, steps=60, lr=1e-2, batch_size=32, l2_pull_to=params, l2=10.0
    )

    def dist(p):
        return sum(float(np.sum((p[k] - params[k]) ** 2)) for k in params if k.endswith("weight"))

    assert dist(pulled) < dist(tuned)


def test_supports_fine_tune_names_the_families_with_gradients():
    from driftline.repair.families import CallableFamily, supports_fine_tune

    def arch(name: str) -> dict:
        return {
            "framework": "sklearn",
            "estimator": name,
            "classes": [0, 1],
            "classes_dtype": "<i8",
        }

    assert supports_fine_tune(SklearnFamily(arch("MLPClassifier")))
    assert supports_fine_tune(SklearnFamily(arch("SGDClassifier")))
    assert supports_fine_tune(SklearnFamily(arch("LogisticRegression")))  # own Adam steps
    assert not supports_fine_tune(SklearnFamily(arch("RidgeClassifier")))
    assert not supports_fine_tune(CallableFamily(lambda p, X: X))
