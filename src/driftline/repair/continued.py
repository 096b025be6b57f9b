"""Continued training on a few labels, for any family that has a trainer.

* LightGBM: ``lgb.train(..., init_model=booster)`` adds ``rounds`` trees;
* XGBoost: ``xgb.train(..., xgb_model=booster)`` adds ``rounds`` trees;
* scikit-learn boosting / forests: ``warm_start=True`` with ``rounds`` more estimators
  (GradientBoosting, HistGradientBoosting: stages fitted to the new labels' residuals of the
  existing ensemble; RandomForest/ExtraTrees: new trees grown on the labels alongside the old);
* scikit-learn estimators with ``partial_fit`` (SGD, MLP, naive Bayes): ``rounds`` passes;
* Pipelines: the preprocessing is kept, the final step continues on the transformed labels;
* linear/MLP classifiers stored tensor by tensor and torch modules: gradient fine-tuning
  (:func:`driftline.repair.families.fine_tune`).

The first trees of a continued booster are byte-identical, so the store keeps them once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.params import as_model_params
from driftline.params.identity import Params
from driftline.repair.families import Predictor, fine_tune, supports_fine_tune
from driftline.repair.model_family import ModelFamily


@dataclass(frozen=True)
class ContinueSettings:
    """How much to continue: ``rounds`` trees / passes, ``learning_rate`` for boosters and
    gradient steps, ``min_leaf`` (LightGBM ``min_data_in_leaf``; few labels need small leaves)."""

    rounds: int = 20
    learning_rate: float = 0.1
    min_leaf: int = 5
    seed: int = 0


def can_continue(family: Predictor) -> bool:
    """Whether :func:`continue_training` has a trainer for this family."""
    if supports_fine_tune(family):
        return True
    if not isinstance(family, ModelFamily):
        return False
    return family.framework in ("lightgbm", "xgboost", "sklearn")


def continue_training(
    family: Predictor,
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    settings: ContinueSettings | None = None,
) -> Params:
    """New parameters: the model behind ``params`` trained further on ``(X, y)``."""
    s = settings or ContinueSettings()
    y = np.asarray(y)
    if len(X) != len(y) or len(X) == 0:
        raise InvalidInputError(f"continued training needs matching rows ({len(X)} vs {len(y)})")
    _check_known_labels(family, y)
    if isinstance(family, ModelFamily) and family.framework == "sklearn":
        # the estimator's own input: a table with its fitted names and column types (a
        # Pipeline's encoders take the text categories; never cast to float here)
        est = _sklearn(_fresh(params, family), family.as_input(X), y, s)
        new = as_model_params(est).params
        family.remember(new, est)
        return new
    X = np.asarray(X, dtype=np.float64)
    if not isinstance(family, ModelFamily):
        if supports_fine_tune(family):
            return fine_tune(
                family, params, X, y, steps=s.rounds, lr=s.learning_rate * 0.1, seed=s.seed
            )
        raise UnsupportedModelError(
            f"{type(family).__name__} has no trainer for continued training"
        )
    model = family.model(params)
    if family.framework == "lightgbm":
        new = _lightgbm(model, family, X, y, s)
    elif family.framework == "xgboost":
        new = _xgboost(model, family, X, y, s)
    else:
        raise UnsupportedModelError(
            f"{family.framework} models have no trainer in driftline; repair them in output "
            "space or by weight interpolation"
        )
    return new


def _check_known_labels(family: Predictor, y: np.ndarray) -> None:
    """A classifier continues only on labels among its classes: a forest would grow trees
    with more outputs than its old ones, a booster's class index would be wrong."""
    classes = getattr(family, "classes", None)
    if getattr(family, "task", "classifier") != "classifier" or classes is None:
        return
    known = set(np.asarray(classes).tolist())
    unknown = sorted({v for v in y.tolist() if v not in known}, key=str)
    if unknown:
        raise InvalidInputError(
            f"labels {unknown[:5]} are not among the model's classes: its training cannot "
            "continue on them"
        )


def _check_every_class(est: Any, y: np.ndarray) -> None:
    """warm_start refits ``classes_`` from the new labels: on labels missing one of the model's
    classes, forests grow trees with fewer outputs (predict fails), GradientBoosting silently
    drops the class and HistGradientBoosting corrupts memory. Refuse instead."""
    classes = getattr(est, "classes_", None)
    if classes is None:
        return
    missing = sorted(set(np.asarray(classes).tolist()) - set(np.asarray(y).tolist()), key=str)
    if missing:
        raise InvalidInputError(
            f"continuing {type(est).__name__} (warm_start) needs labels of every class it "
            f"predicts; none of {missing[:5]} among them"
        )


def _fresh(params: Params, family: ModelFamily) -> Any:
    """A new copy of the estimator (the family caches the one it predicts with)."""
    from driftline.params.sklearn import params_to_estimator

    return params_to_estimator(params, family.architecture)


def _class_index(family: ModelFamily, y: np.ndarray) -> np.ndarray:
    if family.task != "classifier":
        return y.astype(np.float64)
    classes = family.classes if family.classes is not None else np.unique(y)
    lookup = {c: i for i, c in enumerate(classes.tolist())}
    idx = np.array([lookup.get(v, -1) for v in y.tolist()])
    if (idx < 0).any():
        raise InvalidInputError("labels outside the model's classes cannot continue its training")
    return idx


def _extra(family: ModelFamily) -> dict[str, Any]:
    meta = family.architecture
    return {k: meta[k] for k in ("classes", "classes_dtype") if k in meta}


def _lightgbm(
    model: Any, family: ModelFamily, X: np.ndarray, y: np.ndarray, s: ContinueSettings
) -> Params:
    import lightgbm as lgb

    from driftline.params.boosters import lightgbm_text_to_parts

    meta = model.meta
    cfg = {
        "objective": str(meta["objective"]).split()[0],
        "learning_rate": s.learning_rate,
        "min_data_in_leaf": s.min_leaf,
        "verbose": -1,
        "seed": s.seed,
    }
    if int(meta.get("num_class") or 1) > 1:
        cfg["num_class"] = int(meta["num_class"])
    ds = lgb.Dataset(X, _class_index(family, y), free_raw_data=False)
    booster = lgb.train(
        cfg, ds, num_boost_round=s.rounds, init_model=model.booster, keep_training_booster=False
    )
    return lightgbm_text_to_parts(booster.model_to_string(), _extra(family))[0]


def _xgboost(
    model: Any, family: ModelFamily, X: np.ndarray, y: np.ndarray, s: ContinueSettings
) -> Params:
    import xgboost as xgb

    from driftline.params.boosters import xgboost_to_parts

    cfg = {"eta": s.learning_rate, "seed": s.seed, "min_child_weight": 1.0}
    booster = xgb.train(
        cfg, xgb.DMatrix(X, label=_class_index(family, y)), s.rounds, xgb_model=model.booster
    )
    params, _ = xgboost_to_parts(booster)
    from driftline.params.structured import meta_of, with_meta

    return with_meta(params, {**meta_of(params), **_extra(family)})


def _sklearn(est: Any, X: Any, y: np.ndarray, s: ContinueSettings) -> Any:
    """Continue a scikit-learn estimator in place and return it."""
    if hasattr(est, "steps"):  # Pipeline: keep the fitted preprocessing
        Xt = est[:-1].transform(X) if len(est.steps) > 1 else X
        _sklearn(est.steps[-1][1], Xt, y, s)
        return est
    params = est.get_params(deep=False)
    if "warm_start" in params and ("n_estimators" in params or "max_iter" in params):
        _check_every_class(est, y)
        key = "n_estimators" if "n_estimators" in params else "max_iter"
        extra = {"early_stopping": False} if "early_stopping" in params else {}
        est.set_params(warm_start=True, **{key: int(params[key]) + s.rounds}, **extra)
        est.fit(X, y)
        return est
    if hasattr(est, "partial_fit"):
        kw = {"classes": est.classes_} if hasattr(est, "classes_") else {}
        for _ in range(s.rounds):
            est.partial_fit(X, y, **kw)
        return est
    raise UnsupportedModelError(
        f"{type(est).__name__} has neither warm_start nor partial_fit: no continued training"
    )


__all__ = ["ContinueSettings", "can_continue", "continue_training"]
