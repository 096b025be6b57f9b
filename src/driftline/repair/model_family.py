"""Stored estimators the params adapters rebuild (:class:`ModelFamily`): scikit-learn incl.
Pipelines/trees/boosting, LightGBM, XGBoost, ONNX — asked for ``predict_proba`` or ``predict``."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from driftline.errors import UnsupportedModelError
from driftline.repair.families import _softmax
from driftline.repair.vector import Params

__all__ = ["ModelFamily"]

REBUILT_CACHE = 8
_REBUILT: OrderedDict[str, Any] = OrderedDict()


class ModelFamily:
    """Any model the params adapters can rebuild (scikit-learn incl. Pipelines/trees/boosting,
    LightGBM, XGBoost, ONNX): the model is rebuilt from the parameters with
    :func:`driftline.params.sklearn.params_to_estimator` and asked for ``predict_proba``
    (classifiers) or ``predict`` (regressors). ``task`` is "classifier" or "regressor";
    ``parametric`` says whether weight-space interpolation is meaningful (linear models, MLPs,
    scalers, ONNX float initializers) rather than only output-space repair (trees)."""

    def __init__(self, architecture: Mapping[str, Any], framework: str = "sklearn") -> None:
        self.architecture = dict(architecture)
        self.framework = framework
        arch = self.architecture
        self.task = str(arch.get("task") or ("classifier" if "classes" in arch else "regressor"))
        self.classes = (
            np.asarray(arch["classes"], dtype=np.dtype(arch.get("classes_dtype", "<i8")))
            if "classes" in arch
            else None
        )
        fmt = arch.get("format")
        self.parametric = bool(arch.get("parametric", fmt in (None, "onnx")))
        self._arch_key = hashlib.sha256(
            json.dumps(self.architecture, sort_keys=True, default=str).encode()
        ).hexdigest()

    def model(self, params: Params) -> Any:
        """The rebuilt model; the last :data:`REBUILT_CACHE` rebuilt models are shared by every
        family, keyed by content id and architecture (a repair asks for the drifted model, the
        ancestor and each candidate several times). Callers must not modify it."""
        from driftline.params.sklearn import params_to_estimator

        key = self._key(params)
        if key in _REBUILT:
            _REBUILT.move_to_end(key)
            return _REBUILT[key]
        model = params_to_estimator(params, self.architecture)
        self.remember(params, model)
        return model

    def remember(self, params: Params, model: Any) -> None:
        """Cache ``model`` as what ``params`` rebuild to (e.g. an estimator just trained,
        whose parameters were read from it), so :meth:`model` need not rebuild it."""
        _REBUILT[self._key(params)] = model
        while len(_REBUILT) > REBUILT_CACHE:
            _REBUILT.popitem(last=False)

    def _key(self, params: Params) -> str:
        from driftline.params import model_id

        params = {k: np.asarray(v) for k, v in params.items()}  # 0-d tensors may come as scalars
        return f"{model_id(params)}:{self._arch_key}"

    def as_input(self, X: np.ndarray) -> Any:
        """What the estimator is called with: a DataFrame with its fitted column names when it
        was fitted on a named table (scikit-learn), else ``X`` unchanged."""
        names = self.architecture.get("feature_names_in")
        if self.framework == "sklearn" and names and len(names) == np.shape(X)[1]:
            import pandas as pd  # fitted on a named table: give it the names back

            return pd.DataFrame(np.asarray(X), columns=list(names)).infer_objects()
        return X

    def predict_proba(self, params: Params, X: np.ndarray) -> np.ndarray:
        if self.task != "classifier":
            raise UnsupportedModelError(
                f"{self.architecture.get('estimator', self.framework)} is a regressor: use predict"
            )
        est = self.model(params)
        if hasattr(est, "predict_proba"):
            return np.asarray(est.predict_proba(self.as_input(X)), dtype=np.float64)
        d = np.asarray(est.decision_function(self.as_input(X)), dtype=np.float64)
        return (
            np.column_stack([1 / (1 + np.exp(d)), 1 / (1 + np.exp(-d))])
            if d.ndim == 1
            else _softmax(d)
        )

    def predict(self, params: Params, X: np.ndarray) -> np.ndarray:
        """Regression values (classifiers: the most probable class)."""
        if self.task == "classifier":
            p = self.predict_proba(params, X)
            classes = self.classes if self.classes is not None else np.arange(p.shape[1])
            return classes[np.argmax(p, axis=1)]
        return np.asarray(self.model(params).predict(self.as_input(X)), dtype=np.float64).reshape(
            len(X)
        )
