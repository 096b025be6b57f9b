"""Linear model families for ``bench_repair.py`` (the issue's LogisticRegression and
StandardScaler + LogisticRegression pipeline), with the same recipe interface as its MLP ones.

* ``lr``   — scikit-learn ``LogisticRegression``; the root is fitted on the base regime, each
             fine-tune continues from its parent's coefficients (``warm_start``, a few L-BFGS
             iterations on the next regime). Repaired through :class:`SklearnFamily`.
* ``pipe`` — StandardScaler + LogisticRegression as a **callable family**: the parameters are
             plain tensors (``scaler.mean``, ``scaler.scale``, ``coef``, ``intercept``) and
             ``p = softmax(((x − mean) / scale) · coefᵀ + intercept)``. A fine-tune re-fits the
             scaler on its regime (as re-fitting a pipeline does) and warm-starts the
             classifier from its parent's coefficients, so interpolation moves the scaler
             statistics and the coefficients together.

"fine-tune" (the benchmark's baseline) warm-starts the classifier on the labels alone.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from driftline.datasets import DigitsScenario
from driftline.demo.lineage import LineageMember
from driftline.params import ModelParams
from driftline.params.sklearn import estimator_to_params
from driftline.repair import SklearnFamily
from driftline.repair.families import CallableFamily, Predictor

BASE_ITER = 300  # L-BFGS iterations for a model fitted from scratch
LINEAGE_ITER = 15  # iterations per fine-tune of the lineage (from the parent's coefficients)
FINETUNE_ITER = 10  # the baseline fine-tune on the validation labels
C = 0.05  # digits pixels are 0..16: a strong L2 keeps the models in one basin


def _lr(max_iter: int, seed: int) -> LogisticRegression:
    return LogisticRegression(C=C, max_iter=max_iter, random_state=seed)


def _fit(est: Any, X: np.ndarray, y: np.ndarray) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


def _sk_params(est: LogisticRegression) -> ModelParams:
    params, arch = estimator_to_params(est)
    return ModelParams(params, "sklearn", arch)


def _member(params: ModelParams, regime: Any, parent: int | None, iters: int) -> LineageMember:
    transform = "train" if parent is None else "finetune"
    return LineageMember(
        "digits", params, regime, parent, transform, {"iter": iters, "regime": regime.name}
    )


class LinearRecipe:
    key = "lr"
    title = "scikit-learn LogisticRegression"

    def lineage(self, sc: DigitsScenario, seed: int) -> list[LineageMember]:
        est = _fit(_lr(BASE_ITER, seed), sc.base.X, sc.base.y)
        members = [_member(_sk_params(est), sc.base, None, BASE_ITER)]
        est.set_params(warm_start=True, max_iter=LINEAGE_ITER)
        for regime in sc.lineage:
            _fit(est, regime.X, regime.y)
            params = _sk_params(est)
            members.append(_member(params, regime, len(members) - 1, LINEAGE_ITER))
        return members

    def family(self, members: list[LineageMember]) -> Predictor:
        return SklearnFamily(members[0].params.architecture)

    def scratch(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return estimator_to_params(_fit(_lr(BASE_ITER, seed), X, y))[0]

    def retrain(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return self.scratch(X, y, seed)

    def finetune(
        self, fam: Predictor, params: dict, X: np.ndarray, y: np.ndarray, seed: int
    ) -> dict:
        est = fam.estimator(params)  # type: ignore[attr-defined]
        est.coef_, est.intercept_ = _warm(est.coef_, est.intercept_, X, y, seed)
        return estimator_to_params(est)[0]


def pipeline_proba(params: dict, X: np.ndarray) -> np.ndarray:
    """softmax(((X − mean) / scale) · coefᵀ + intercept)."""
    Z = (np.asarray(X, dtype=np.float64) - params["scaler.mean"]) / params["scaler.scale"]
    logits = Z @ np.asarray(params["coef"]).T + params["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def _pipeline_params(scaler: StandardScaler, lr: LogisticRegression) -> ModelParams:
    tensors = {
        "scaler.mean": np.asarray(scaler.mean_, dtype=np.float64),
        "scaler.scale": np.asarray(scaler.scale_, dtype=np.float64),
        "coef": np.asarray(lr.coef_, dtype=np.float64),
        "intercept": np.asarray(lr.intercept_, dtype=np.float64),
    }
    return ModelParams(tensors, "numpy", {"model": "standard-scaler+logistic-regression"})


class PipelineRecipe:
    key = "pipe"
    title = "StandardScaler + LogisticRegression (callable family)"

    def lineage(self, sc: DigitsScenario, seed: int) -> list[LineageMember]:
        scaler = StandardScaler().fit(sc.base.X)
        lr = _fit(_lr(BASE_ITER, seed), scaler.transform(sc.base.X), sc.base.y)
        members = [_member(_pipeline_params(scaler, lr), sc.base, None, BASE_ITER)]
        lr.set_params(warm_start=True, max_iter=LINEAGE_ITER)
        for regime in sc.lineage:
            scaler = StandardScaler().fit(regime.X)
            _fit(lr, scaler.transform(regime.X), regime.y)
            params = _pipeline_params(scaler, lr)
            members.append(_member(params, regime, len(members) - 1, LINEAGE_ITER))
        self.classes = lr.classes_
        return members

    def family(self, members: list[LineageMember]) -> Predictor:
        return CallableFamily(pipeline_proba, classes=np.arange(10))

    def _fit_new(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        scaler = StandardScaler().fit(X)
        lr = _fit(_lr(BASE_ITER, seed), scaler.transform(X), y)
        return dict(_pipeline_params(scaler, lr).params)

    def scratch(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return self._fit_new(X, y, seed)

    def retrain(self, X: np.ndarray, y: np.ndarray, seed: int) -> dict:
        return self._fit_new(X, y, seed)

    def finetune(
        self, fam: Predictor, params: dict, X: np.ndarray, y: np.ndarray, seed: int
    ) -> dict:
        """The scaler is kept; the classifier warm-starts from the coefficients on the labels
        (a class missing from the labels keeps its row)."""
        Z = (X - params["scaler.mean"]) / params["scaler.scale"]
        out = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
        out["coef"], out["intercept"] = _warm(out["coef"], out["intercept"], Z, y, seed)
        return out


def _warm(
    coef: np.ndarray, intercept: np.ndarray, X: np.ndarray, y: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """``FINETUNE_ITER`` warm-started iterations on ``(X, y)``; classes 0..9 by row, and a
    class missing from the labels keeps its row."""
    present = np.unique(y)
    lr = _lr(FINETUNE_ITER, seed).set_params(warm_start=True)
    lr.coef_, lr.intercept_ = coef[present].copy(), intercept[present].copy()
    _fit(lr, X, y)
    coef, intercept = coef.copy(), intercept.copy()
    coef[present], intercept[present] = lr.coef_, lr.intercept_
    return coef, intercept
