"""scikit-learn adapters: fitted estimators <-> (params, architecture).

Only public fitted attributes are read (``coef_``, ``intercept_``, ``coefs_``, ...); nothing is
pickled. ``params_to_estimator(*estimator_to_params(est))`` predicts identically to ``est``.

Tensor names: linear models store ``coef`` and ``intercept``; MLPs store ``layers.{i}.weight``
(``coefs_[i]``, shape in × out) and ``layers.{i}.bias``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.params.identity import Params

LINEAR = (
    "LogisticRegression",
    "SGDClassifier",
    "SGDRegressor",
    "LinearRegression",
    "Ridge",
    "RidgeClassifier",
    "Lasso",
    "ElasticNet",
)
MLP = ("MLPClassifier", "MLPRegressor")
SUPPORTED = LINEAR + MLP


def is_sklearn_estimator(obj: object) -> bool:
    """True for a scikit-learn estimator of a class this adapter supports."""
    return type(obj).__name__ in SUPPORTED and type(obj).__module__.startswith("sklearn.")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except TypeError:
        if isinstance(value, tuple | list):
            return [_jsonable(v) for v in value]
        if isinstance(value, np.generic):
            return value.item()
        return repr(value)


def _init_params(est: Any) -> dict[str, Any]:
    """Constructor arguments that survive a JSON round trip (objects such as callables dropped)."""
    out = {}
    for key, value in est.get_params(deep=False).items():
        v = _jsonable(value)
        if isinstance(v, str) and v == repr(value) and not isinstance(value, str):
            continue
        out[key] = v
    if "hidden_layer_sizes" in out and isinstance(out["hidden_layer_sizes"], list):
        out["hidden_layer_sizes"] = list(out["hidden_layer_sizes"])
    return out


def estimator_to_params(est: Any) -> tuple[Params, dict[str, Any]]:
    """Read a fitted estimator's arrays. Returns ``(params, architecture)``."""
    name = type(est).__name__
    if not is_sklearn_estimator(est):
        raise UnsupportedModelError(
            f"{name} is not a supported scikit-learn estimator; supported: {', '.join(SUPPORTED)}"
        )
    arch: dict[str, Any] = {
        "framework": "sklearn",
        "estimator": name,
        "init": _init_params(est),
        "n_features_in": int(getattr(est, "n_features_in_", 0)),
    }
    if hasattr(est, "classes_"):
        classes = np.asarray(est.classes_)
        arch["classes"] = classes.tolist()
        arch["classes_dtype"] = classes.dtype.str
    if hasattr(est, "feature_names_in_"):
        arch["feature_names_in"] = [str(f) for f in est.feature_names_in_]
    if name in MLP:
        if not hasattr(est, "coefs_"):
            raise InvalidInputError(f"{name} is not fitted; call fit() before registering it")
        params = {}
        for i, (w, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
            params[f"layers.{i}.weight"] = np.array(w)
            params[f"layers.{i}.bias"] = np.array(b)
        arch["out_activation"] = est.out_activation_
        arch["n_outputs"] = int(est.n_outputs_)
        return params, arch
    if not hasattr(est, "coef_"):
        raise InvalidInputError(f"{name} is not fitted; call fit() before registering it")
    coef = np.array(est.coef_)
    intercept = np.array(est.intercept_, dtype=coef.dtype if coef.dtype.kind == "f" else float)
    arch["coef_ndim"] = coef.ndim
    arch["intercept_ndim"] = np.ndim(est.intercept_)
    return {"coef": coef, "intercept": np.atleast_1d(intercept)}, arch


def params_to_estimator(params: Params, architecture: dict[str, Any]) -> Any:
    """Rebuild a fitted estimator from stored params and its architecture JSON."""
    import sklearn.linear_model as lm
    import sklearn.neural_network as nn
    from sklearn.preprocessing import LabelBinarizer

    from driftline.params.formats import is_structured, restore

    if is_structured(params):  # Pipelines, trees, boosters, ONNX: rebuilt from their parts
        return restore(params)
    name = architecture.get("estimator")
    if architecture.get("framework") != "sklearn" or name not in SUPPORTED:
        raise UnsupportedModelError(
            f"architecture does not describe a supported sklearn model: {name!r}"
        )
    cls = getattr(nn if name in MLP else lm, name)
    init = dict(architecture.get("init", {}))
    if "hidden_layer_sizes" in init:
        init["hidden_layer_sizes"] = tuple(init["hidden_layer_sizes"])
    est = cls(**init)
    if architecture.get("n_features_in"):
        est.n_features_in_ = int(architecture["n_features_in"])
    if "feature_names_in" in architecture:
        est.feature_names_in_ = np.asarray(architecture["feature_names_in"], dtype=object)
    if "classes" in architecture:
        est.classes_ = np.asarray(
            architecture["classes"], dtype=np.dtype(architecture["classes_dtype"])
        )
    if name in MLP:
        n = sum(1 for k in params if k.endswith(".weight"))
        try:
            est.coefs_ = [np.array(params[f"layers.{i}.weight"]) for i in range(n)]
            est.intercepts_ = [np.array(params[f"layers.{i}.bias"]) for i in range(n)]
        except KeyError as exc:
            raise InvalidInputError(f"MLP parameters are missing tensor {exc.args[0]!r}") from exc
        est.n_layers_ = n + 1
        est.n_outputs_ = int(architecture["n_outputs"])
        est.out_activation_ = architecture["out_activation"]
        # state that partial_fit expects on a warm estimator
        est.n_iter_ = 0
        est.t_ = 0
        est.loss_curve_ = []
        est.best_loss_ = np.inf
        est._no_improvement_count = 0
        est.validation_scores_ = None
        est.best_validation_score_ = None
        est._best_coefs = [c.copy() for c in est.coefs_]
        est._best_intercepts = [c.copy() for c in est.intercepts_]
        if name == "MLPClassifier":
            lb = LabelBinarizer()
            lb.fit(est.classes_)
            est._label_binarizer = lb
        return est
    coef = np.array(params["coef"])
    intercept = np.array(params["intercept"])
    est.coef_ = coef if architecture.get("coef_ndim", coef.ndim) == coef.ndim else coef.reshape(-1)
    est.intercept_ = (
        intercept.reshape(()).item() if architecture.get("intercept_ndim") == 0 else intercept
    )
    if name.startswith("SGD"):
        est.t_ = 1.0
        est.n_iter_ = 1
    return est
