"""LightGBM (native model text) and XGBoost (native JSON / UBJSON), one part per tree.

LightGBM's text is cut at its ``Tree=i`` blocks: ``lgb.header``, ``lgb.tree.00000``, ...,
``lgb.footer``; joining the parts gives the exact text ``Booster(model_str=...)`` reads. XGBoost's
JSON model is parsed, each tree becomes a canonical JSON part ``xgb.tree.00000`` and the rest
``xgb.model``. A booster continued for more rounds repeats its first k trees byte for byte, so
they are the same blobs. Both libraries are optional extras (``driftline[lightgbm]``,
``driftline[xgboost]``); nothing is unpickled.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError
from driftline.params.identity import Params
from driftline.params.structured import (
    canonical_json,
    classes_meta,
    json_part,
    meta_of,
    require_extra,
    tensor_bytes,
    text_tensor,
    with_meta,
)

_TREE = re.compile(r"^Tree=\d+$", re.MULTILINE)


def require(module: str) -> Any:
    """Import ``lightgbm``/``xgboost`` or say which extra to install."""
    return require_extra(module, module, f"{module} models")


def _task(objective: str) -> str:
    o = objective.lower()
    if o.startswith(("binary", "multi", "cross_entropy", "xentropy", "multiclass", "softmax")):
        return "classifier"
    if o.startswith(("rank", "lambdarank")):
        return "ranker"
    return "regressor"


# ----------------------------------------------------------------------------- LightGBM


def is_lightgbm(obj: object) -> bool:
    return type(obj).__module__.startswith("lightgbm")


def lightgbm_to_parts(obj: Any) -> tuple[Params, dict[str, Any]]:
    """An ``lgb.Booster`` or fitted ``LGBMModel`` as per-tree text parts."""
    require("lightgbm")
    booster = getattr(obj, "booster_", obj) if not hasattr(obj, "model_to_string") else obj
    if not hasattr(booster, "model_to_string"):
        raise InvalidInputError(
            f"{type(obj).__name__} is not fitted; call fit() before registering"
        )
    return lightgbm_text_to_parts(booster.model_to_string(), classes_meta(obj))


def lightgbm_text_to_parts(
    text: str, extra: dict[str, Any] | None = None
) -> tuple[Params, dict[str, Any]]:
    """LightGBM model text (``model_to_string`` / a saved ``.txt``) as parts."""
    if not text.startswith("tree\n"):
        raise InvalidInputError("not a LightGBM model text (it must start with 'tree')")
    starts = [m.start() for m in _TREE.finditer(text)]
    end = text.find("end of trees")
    if not starts or end < 0:
        raise InvalidInputError("LightGBM model text has no trees")
    params: Params = {"lgb.header": text_tensor(text[: starts[0]])}
    for i, (a, b) in enumerate(zip(starts, [*starts[1:], end], strict=True)):
        params[f"lgb.tree.{i:05d}"] = text_tensor(text[a:b])
    params["lgb.footer"] = text_tensor(text[end:])
    header = text[: starts[0]]
    objective = re.search(r"^objective=(\S+)", header, re.MULTILINE)
    n_class = re.search(r"^num_class=(\d+)", header, re.MULTILINE)
    n_feat = re.search(r"^max_feature_idx=(\d+)", header, re.MULTILINE)
    names = re.search(r"^feature_names=(.*)$", header, re.MULTILINE)
    meta: dict[str, Any] = {
        "format": "lightgbm",
        "objective": objective.group(1) if objective else "regression",
        "num_class": int(n_class.group(1)) if n_class else 1,
        "n_features_in": int(n_feat.group(1)) + 1 if n_feat else 0,
        "n_trees": len(starts),
        **(extra or {}),
    }
    meta["task"] = _task(meta["objective"])
    fitted = names.group(1).split() if names else []
    if fitted and fitted != [f"Column_{i}" for i in range(len(fitted))]:
        meta["feature_names_in"] = fitted  # LightGBM's Column_i stand for "fitted on a matrix"
    return with_meta(params, meta), {"framework": "lightgbm", **meta}


def lightgbm_text(params: Params) -> str:
    """The exact model text back from its parts."""
    trees = sorted(k for k in params if k.startswith("lgb.tree."))
    parts = ["lgb.header", *trees, "lgb.footer"]
    return "".join(tensor_bytes(params, k, "LightGBM model").decode("utf-8") for k in parts)


# ----------------------------------------------------------------------------- XGBoost


def is_xgboost(obj: object) -> bool:
    return type(obj).__module__.startswith("xgboost")


def xgboost_to_parts(obj: Any) -> tuple[Params, dict[str, Any]]:
    """An ``xgb.Booster`` or fitted ``XGBModel`` as per-tree canonical JSON parts."""
    require("xgboost")
    booster = obj.get_booster() if hasattr(obj, "get_booster") else obj
    return xgboost_json_to_parts(bytes(booster.save_raw("json")), classes_meta(obj))


def xgboost_json_to_parts(
    raw: bytes, extra: dict[str, Any] | None = None
) -> tuple[Params, dict[str, Any]]:
    """XGBoost's JSON model bytes as parts (UBJSON: load it with xgboost first)."""
    try:
        model = json.loads(raw)
        gb = model["learner"]["gradient_booster"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"not an XGBoost JSON model: {exc}") from exc
    inner = gb.get("model", gb.get("gbtree", {}).get("model", {}))
    trees = list(inner.get("trees", []))
    inner["trees"] = []
    params: Params = {
        f"xgb.tree.{i:05d}": text_tensor(canonical_json(t)) for i, t in enumerate(trees)
    }
    params["xgb.model"] = text_tensor(canonical_json(model))
    learner = model["learner"]
    objective = str(learner.get("objective", {}).get("name", "reg:squarederror"))
    lmp = learner.get("learner_model_param", {})
    meta: dict[str, Any] = {
        "format": "xgboost",
        "objective": objective,
        "num_class": int(lmp.get("num_class", 0) or 0),
        "n_features_in": int(lmp.get("num_feature", 0) or 0),
        "n_trees": len(trees),
        "task": _task(objective.split(":")[0] if ":" in objective else objective),
        **(extra or {}),
    }
    if objective.startswith(("reg:logistic",)):
        meta["task"] = "regressor"
    return with_meta(params, meta), {"framework": "xgboost", **meta}


def xgboost_json(params: Params) -> bytes:
    model = json_part(params, "xgb.model", "XGBoost model")
    trees = [
        json_part(params, k, "XGBoost model") for k in sorted(params) if k.startswith("xgb.tree.")
    ]
    gb = model["learner"]["gradient_booster"]
    inner = gb["model"] if "model" in gb else gb["gbtree"]["model"]
    inner["trees"] = trees
    return json.dumps(model).encode()


# ----------------------------------------------------------------------------- predictors


@dataclass
class BoosterModel:
    """A reloaded LightGBM / XGBoost booster with scikit-learn style ``predict``/``predict_proba``.

    ``classes_`` are the wrapper's classes (``LGBMClassifier``/``XGBClassifier``) or 0..K−1."""

    booster: Any
    meta: dict[str, Any]

    @property
    def classes_(self) -> np.ndarray | None:
        if self.meta.get("task") != "classifier":
            return None
        if "classes" in self.meta:
            return np.asarray(self.meta["classes"], dtype=np.dtype(self.meta["classes_dtype"]))
        k = max(2, int(self.meta.get("num_class") or 1))
        return np.arange(k)

    def raw(self, X: Any) -> np.ndarray:
        if self.meta["format"] == "xgboost":
            xgb = require("xgboost")
            return np.asarray(self.booster.predict(xgb.DMatrix(np.asarray(X, dtype=np.float64))))
        return np.asarray(self.booster.predict(np.asarray(X, dtype=np.float64)))

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.meta.get("task") != "classifier":
            raise InvalidInputError(
                f"a {self.meta.get('objective')} booster has no class probabilities"
            )
        p = self.raw(X)
        if p.ndim == 1:
            return np.column_stack([1.0 - p, p])
        return p

    def predict(self, X: Any) -> np.ndarray:
        classes = self.classes_
        if classes is not None:
            return classes[np.argmax(self.predict_proba(X), axis=1)]
        return self.raw(X)


def restore_booster(params: Params) -> BoosterModel:
    """Rebuild a stored LightGBM / XGBoost model."""
    meta = meta_of(params)
    if meta.get("format") == "lightgbm":
        lgb = require("lightgbm")
        return BoosterModel(lgb.Booster(model_str=lightgbm_text(params)), meta)
    xgb = require("xgboost")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(xgboost_json(params)))
    except xgb.core.XGBoostError as exc:
        raise InvalidInputError(f"the stored XGBoost model cannot be rebuilt: {exc}") from exc
    return BoosterModel(booster, meta)
