"""Canonical content of models that are not (only) tensors: trees, pipelines, graphs.

A structured model is stored like any other model, as named tensors, so identity (the Merkle
root of :mod:`driftline.params.identity`) and the content-addressed blob store apply unchanged:

* numeric arrays (coefficients, scaler statistics, ONNX float initializers) are real tensors,
  so weight interpolation sees them;
* everything else is a *text part*: canonical UTF-8 (sorted-key JSON, or a format's native text)
  stored as a ``uint8`` tensor. Parts are cut where models share content across versions (one per
  pipeline step or estimator, one per boosted tree), so unchanged steps and the first k trees of
  a continued booster hash to the same blobs and are stored once;
* ``__meta__`` holds what is needed to rebuild and score the model (format, task, classes), so
  it is covered by the identity too.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, OptionalDependencyError
from driftline.params.identity import Params

META = "__meta__"


def require_extra(module: str, extra: str, what: str) -> Any:
    """Import an optional dependency or raise an error naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError(
            f"{what} need the {extra} extra: pip install 'driftline[{extra}]'"
        ) from exc


def canonical_json(value: Any) -> bytes:
    """Sorted-key, compact, UTF-8 JSON: equal values give equal bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def text_tensor(data: bytes | str) -> np.ndarray:
    """Bytes (or text, UTF-8) as a 1-D ``uint8`` tensor."""
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return np.frombuffer(raw, dtype=np.uint8).copy()


def tensor_bytes(params: Params, name: str, what: str = "model") -> bytes:
    """The bytes of a text part, with a clear error when it is missing or not ``uint8``."""
    arr = params.get(name)
    if arr is None:
        raise InvalidInputError(
            f"{what} is missing its part {name!r}; the stored model is incomplete"
        )
    if arr.dtype != np.uint8:
        raise InvalidInputError(f"{what} part {name!r} must be uint8 text, got {arr.dtype}")
    return np.ascontiguousarray(arr).tobytes()


def json_part(params: Params, name: str, what: str = "model") -> Any:
    """Decode a JSON text part."""
    try:
        return json.loads(tensor_bytes(params, name, what).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{what} part {name!r} is not valid JSON: {exc}") from exc


def meta_of(params: Params) -> dict[str, Any]:
    """The ``__meta__`` part (empty dict when absent)."""
    return dict(json_part(params, META)) if META in params else {}


def with_meta(params: Params, meta: dict[str, Any]) -> Params:
    """``params`` plus the canonical ``__meta__`` part."""
    out = dict(params)
    out[META] = text_tensor(canonical_json(meta))
    return out


def classes_meta(est: Any) -> dict[str, Any]:
    """``classes`` (JSON list) and ``classes_dtype`` of a fitted classifier, or {}."""
    classes = getattr(est, "classes_", None)
    if classes is None:
        return {}
    arr = np.asarray(classes)
    return {"classes": arr.tolist(), "classes_dtype": arr.dtype.str}
