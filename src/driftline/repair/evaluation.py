"""Turning stored models into predictions: pick the family, evaluate on labelled data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import UnsupportedModelError
from driftline.losses import log_loss
from driftline.repair.families import Predictor, SklearnFamily
from driftline.repair.model_family import ModelFamily
from driftline.store import Model
from driftline.validation import check_same_length

Families = Mapping[str, Predictor]


def family_for(model: Model, family: Predictor | Families | None = None) -> Predictor:
    """The family that rebuilds ``model``: an explicit one, one from a ``{name: family}`` map,
    or, for scikit-learn models, one built from the stored architecture."""
    if family is not None and not isinstance(family, Mapping):
        return family
    if isinstance(family, Mapping) and model.name in family:
        return family[model.name]
    if model.framework == "sklearn" and _classic_classifier(model.architecture):
        return SklearnFamily(model.architecture)
    if model.framework in ("sklearn", "lightgbm", "xgboost", "onnx"):
        return ModelFamily(model.architecture, model.framework)
    raise UnsupportedModelError(
        f"model {model.ref} ({model.framework}) needs a model family to predict: pass "
        "family=TorchFamily(factory) for PyTorch, or CallableFamily(fn) for anything else"
    )


def _classic_classifier(arch: Mapping[str, Any]) -> bool:
    """A linear/MLP classifier stored tensor by tensor (the original adapter, fine-tunable)."""
    return "format" not in arch and "classes" in arch


def classes_of(family: Predictor, n_columns: int) -> np.ndarray:
    """Class labels of the probability columns (default 0..K-1)."""
    classes = getattr(family, "classes", None)
    return np.arange(n_columns) if classes is None else np.asarray(classes)


def union_classes(*labels: Any) -> np.ndarray:
    """Every class of ``labels`` (arrays of class labels), the first array's order first, then
    each class the later ones add, in their order: the columns two lineage members share when
    one was trained on data missing a class of the other."""
    seen: list[Any] = []
    for cl in labels:
        seen.extend(c for c in np.asarray(cl).tolist() if c not in seen)
    return np.asarray(seen, dtype=np.result_type(*[np.asarray(c).dtype for c in labels]))


def class_columns(proba: np.ndarray, own: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """``proba`` (columns in ``own`` order) with columns in ``classes`` order; a class the
    model does not know gets probability 0."""
    proba = np.asarray(proba, dtype=np.float64)
    pos = {c: i for i, c in enumerate(np.asarray(own).tolist())}
    wanted = np.asarray(classes).tolist()
    if np.asarray(own).tolist() == wanted:
        return proba
    out = np.zeros((proba.shape[0], len(wanted)), dtype=np.float64)
    for j, c in enumerate(wanted):
        if c in pos:
            out[:, j] = proba[:, pos[c]]
    return out


@dataclass(frozen=True)
class Scores:
    """Accuracy and log-loss on labelled data (NaN where not defined)."""

    accuracy: float
    log_loss: float
    n: int

    def to_dict(self) -> dict[str, float]:
        return {"accuracy": self.accuracy, "log_loss": self.log_loss, "n": self.n}


def score(proba: np.ndarray, y: np.ndarray, classes: np.ndarray) -> Scores:
    """Accuracy of argmax and mean log-loss −(1/n) Σ log p(y_i | x_i)
    (:func:`driftline.losses.log_loss`, p clipped at 1e-15; a label the model never predicts
    costs −ln 1e-15)."""
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y)
    check_same_length(y, proba, per="predictions")
    if not len(y):
        return Scores(float("nan"), float("nan"), 0)
    acc = float(np.mean(classes[np.argmax(proba, axis=1)] == y))
    return Scores(acc, log_loss(y, proba, classes=classes, unseen="zero"), int(len(y)))


def row_values(
    task: str, out: np.ndarray, y: np.ndarray, classes: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Per-row terms whose means are the scores: 1 where the argmax is right (``accuracy``,
    classifiers); squared and absolute errors (``mse``, ``mae``, regressors)."""
    if task == "classifier":
        hits = np.asarray(classes)[np.argmax(out, axis=1)] == np.asarray(y)
        return {"accuracy": hits.astype(np.float64)}
    err = np.asarray(out, dtype=np.float64).reshape(-1) - np.asarray(y, dtype=np.float64)
    return {"mse": err**2, "mae": np.abs(err)}


def as_matrix(data: Any, feature_names: list[str] | None = None) -> np.ndarray:
    """A 2-D float array from any table :func:`driftline.drift.to_columns` accepts, with columns
    in ``feature_names`` order when given (see :mod:`driftline.repair.model_input`)."""
    from driftline.repair.model_input import model_matrix

    return model_matrix(data, feature_names)
