"""Continued training of a stored LogisticRegression: the numpy Adam steps reach the optimum
scipy finds for the same pulled objective, and models of another form are refused."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import optimize, special
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from driftline.errors import UnsupportedModelError
from driftline.params.sklearn import estimator_to_params
from driftline.repair import SklearnFamily
from driftline.repair.families import fine_tune, supports_fine_tune


def _model(loader):
    X, y = loader(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LogisticRegression(C=0.1, max_iter=300).fit(X[::2], y[::2])
    params, arch = estimator_to_params(est)
    return X, y, params, SklearnFamily(arch)


def _scipy_optimum(params, X, y, classes, l2):
    """argmin CE + l2·‖θ − θ₀‖² by L-BFGS on the flattened (W, b), written independently."""
    W0 = np.asarray(params["coef"], float)
    b0 = np.asarray(params["intercept"], float)
    k, d = W0.shape
    idx = np.searchsorted(classes, y)

    def objective(theta):
        W, b = theta[: k * d].reshape(k, d), theta[k * d :]
        z = X @ W.T + b
        if k == 1:  # binary: log σ(±z)
            logp = np.where(idx == 1, -np.logaddexp(0, -z[:, 0]), -np.logaddexp(0, z[:, 0]))
        else:
            logp = z[np.arange(len(y)), idx] - special.logsumexp(z, axis=1)
        return -logp.mean() + l2 * np.sum((theta - np.concatenate([W0.ravel(), b0])) ** 2)

    res = optimize.minimize(objective, np.concatenate([W0.ravel(), b0]), method="L-BFGS-B")
    return res.x[: k * d].reshape(k, d), res.x[k * d :]


@pytest.mark.parametrize("loader", [load_wine, load_breast_cancer], ids=["softmax", "binary"])
def test_adam_steps_reach_the_pulled_optimum_scipy_finds(loader):
    X, y, params, fam = _model(loader)
    assert supports_fine_tune(fam)
    rows = np.arange(1, len(y), 2)[:60]  # labels the model was not fitted on
    new = fine_tune(fam, params, X[rows], y[rows], steps=3000, l2_pull_to=params, lr=0.01, l2=0.05)
    W, b = _scipy_optimum(params, X[rows], y[rows], fam.classes, l2=0.05)
    assert np.abs(np.asarray(new["coef"]) - W).max() < 2e-3
    assert np.abs(np.asarray(new["intercept"]) - b).max() < 2e-3
    assert set(new) == set(params) and np.asarray(new["coef"]).shape == np.shape(params["coef"])
    # the fine-tuned parameters predict through the family as the formula says
    z = X[:5] @ np.asarray(new["coef"]).T + np.asarray(new["intercept"])
    p = special.softmax(z, axis=1) if z.shape[1] > 1 else special.expit(z[:, 0])
    got = fam.predict_proba(new, X[:5])
    assert np.allclose(got if z.shape[1] > 1 else got[:, 1], p, atol=1e-9)


def test_zero_steps_change_nothing_and_inputs_are_untouched():
    X, y, params, fam = _model(load_wine)
    before = {k: np.array(v, copy=True) for k, v in params.items()}
    same = fine_tune(fam, params, X[:20], y[:20], steps=0, l2_pull_to=params)
    assert all(np.array_equal(same[k], before[k]) for k in before)
    fine_tune(fam, params, X[:20], y[:20], steps=5, l2_pull_to=params)
    assert all(np.array_equal(params[k], before[k]) for k in before)


def test_a_model_of_another_form_is_refused():
    from driftline.repair.linear_fine_tune import fine_tune_logistic

    X, y, params, fam = _model(load_wine)

    class OneVsRest:
        classes = fam.classes

        def predict_proba(self, p, rows):  # normalised sigmoids: not the softmax form
            s = special.expit(rows @ np.asarray(p["coef"]).T + np.asarray(p["intercept"]))
            return s / s.sum(axis=1, keepdims=True)

    with pytest.raises(UnsupportedModelError, match="one-vs-rest"):
        fine_tune_logistic(OneVsRest(), params, X[:20], y[:20], 5, None, 0.01, 0.01)
