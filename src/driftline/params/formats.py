"""Which model formats driftline reads, and how each is rebuilt. Nothing is ever unpickled.

``read_object(obj)`` / ``read_file(path)`` give ``(params, framework, architecture)`` for the
structured formats; ``restore(params)`` rebuilds a predictor from stored parameters whose
``__meta__`` part names the format. Pickle files (``.pkl``, ``.joblib``, or pickle bytes under any
name) are refused before anything is parsed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.params.identity import Params
from driftline.params.structured import META, meta_of

SUPPORTED_OBJECTS = (
    "a dict of numpy arrays",
    "scikit-learn estimators, Pipelines and ColumnTransformers (linear, trees, forests, "
    "boosting, MLPs, scalers, encoders, imputers; extra 'skops' beyond linear/MLP)",
    "lightgbm.Booster / LGBMModel (extra 'lightgbm')",
    "xgboost.Booster / XGBModel (extra 'xgboost')",
    "onnx.ModelProto (extra 'onnx')",
    "PyTorch modules and state dicts (extra 'torch')",
)
SUPPORTED_FILES = (
    ".safetensors",
    ".npz",
    ".pt/.pth (weights only)",
    ".skops",
    ".onnx",
    ".txt (LightGBM model text)",
    ".json/.ubj (XGBoost)",
)
FORMAT_FRAMEWORK = {
    "skops": "sklearn",
    "lightgbm": "lightgbm",
    "xgboost": "xgboost",
    "onnx": "onnx",
}
PICKLE_SUFFIXES = {".pkl", ".pickle", ".joblib", ".sav", ".dill", ".cloudpickle"}


def unsupported_message(what: str) -> str:
    """The error for an unknown type: what is supported and how to register anyway."""
    return (
        f"cannot register a {what}: supported objects are {'; '.join(SUPPORTED_OBJECTS)}; "
        f"files: {', '.join(SUPPORTED_FILES)}. For anything else register its tensors as a dict "
        "of numpy arrays and repair it with family=CallableFamily(fn)"
    )


def read_object(obj: Any) -> tuple[Params, str, dict[str, Any]] | None:
    """Structured formats for a live object, or None when it is none of them."""
    from driftline.params.boosters import (
        is_lightgbm,
        is_xgboost,
        lightgbm_to_parts,
        xgboost_to_parts,
    )
    from driftline.params.onnx_format import is_onnx, onnx_to_parts
    from driftline.params.skops_format import estimator_to_parts, is_sklearn_object

    for test, fn, framework in (
        (is_lightgbm, lightgbm_to_parts, "lightgbm"),
        (is_xgboost, xgboost_to_parts, "xgboost"),
        (is_onnx, onnx_to_parts, "onnx"),
        (is_sklearn_object, estimator_to_parts, "sklearn"),
    ):
        if test(obj):
            params, arch = fn(obj)
            return params, framework, arch
    return None


def _is_pickle(head: bytes) -> bool:
    # protocol 2+ starts with PROTO (0x80) and the protocol number; protocols 0/1 start with an
    # opcode such as '(' or ']' and end with '.', which no supported format does
    return (len(head) >= 2 and head[0] == 0x80 and head[1] <= 5) or head[:1] in (b"(", b"]", b"}")


def refuse_pickle(path: Path, head: bytes) -> None:
    """Raise for pickle files, by name or by content, without parsing them."""
    if path.suffix.lower() in PICKLE_SUFFIXES or (head and _is_pickle(head)):
        raise InvalidInputError(
            f"{path.name} is a pickle file; driftline never unpickles (it can run arbitrary "
            "code). Save the model with skops.io.dump (.skops), its native format (LightGBM "
            ".txt, XGBoost .json/.ubj), ONNX, or its tensors as .safetensors"
        )


def read_file(path: str | os.PathLike) -> tuple[Params, str, dict[str, Any]] | None:
    """Structured formats for a file, or None for tensor files (``.safetensors``/``.npz``/``.pt``)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"no such file: {p}; supported files: {', '.join(SUPPORTED_FILES)}")
    with p.open("rb") as fh:
        head = fh.read(16)
    suffix = p.suffix.lower()
    # by content only where a parser would otherwise see the bytes: tensor files have their own
    # pickle-free readers (safetensors' header length can start with 0x80; torch: weights_only)
    tensor_file = suffix in {".safetensors", ".npz", ".pt", ".pth", ".bin", ".ckpt"}
    refuse_pickle(p, b"" if tensor_file else head)
    if suffix == ".skops":
        from driftline.params.skops_format import estimator_to_parts, load_skops_file

        params, arch = estimator_to_parts(load_skops_file(p.read_bytes()))
        return params, "sklearn", arch
    if suffix == ".onnx":
        from driftline.params.onnx_format import onnx_to_parts

        params, arch = onnx_to_parts(p.read_bytes())
        return params, "onnx", arch
    if suffix in {".txt", ".lgb", ".lgbm"} or head.startswith(b"tree\n"):
        from driftline.params.boosters import lightgbm_text_to_parts

        params, arch = lightgbm_text_to_parts(p.read_text(encoding="utf-8"))
        return params, "lightgbm", arch
    if suffix in {".json", ".ubj"}:
        return _read_xgboost(p)
    if suffix in {".safetensors", ".npz", ".pt", ".pth", ".bin", ".ckpt"}:
        return None
    raise InvalidInputError(
        f"unsupported model file {p.name!r}; supported files: {', '.join(SUPPORTED_FILES)}"
    )


def _read_xgboost(p: Path) -> tuple[Params, str, dict[str, Any]]:
    from driftline.params.boosters import require, xgboost_to_parts

    xgb = require("xgboost")
    booster = xgb.Booster()
    try:
        booster.load_model(str(p))
    except xgb.core.XGBoostError as exc:
        raise InvalidInputError(
            f"{p.name} is not an XGBoost model ({_xgboost_reason(exc)}); .json and .ubj files "
            "are read as XGBoost's save_model output"
        ) from exc
    params, arch = xgboost_to_parts(booster)
    return params, "xgboost", arch


def is_structured(params: Params) -> bool:
    """Whether the parameters carry a ``__meta__`` part naming a structured format."""
    return META in params and "format" in meta_of(params)


def restore(params: Params) -> Any:
    """The predictor behind stored structured parameters: a scikit-learn estimator, a
    :class:`~driftline.params.boosters.BoosterModel` or an
    :class:`~driftline.params.onnx_format.OnnxModel`."""
    fmt = meta_of(params).get("format")
    if fmt == "skops":
        from driftline.params.skops_format import parts_to_estimator

        return parts_to_estimator(params)
    if fmt in ("lightgbm", "xgboost"):
        from driftline.params.boosters import restore_booster

        return restore_booster(params)
    if fmt == "onnx":
        from driftline.params.onnx_format import restore_onnx

        return restore_onnx(params)
    raise UnsupportedModelError(f"stored parameters name an unknown format {fmt!r}")


def _xgboost_reason(exc: Exception) -> str:
    """XGBoost's message without its time stamp, source location and native stack trace."""
    import re

    text = str(exc).split("Stack trace")[0].strip().splitlines()
    first = text[0] if text else type(exc).__name__
    first = re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", first)
    return re.sub(r"\s*\($", "", first).strip() or type(exc).__name__
