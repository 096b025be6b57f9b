"""Parameter dicts (``dict[str, np.ndarray]``), canonical identity and framework adapters."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from driftline.errors import UnsupportedModelError
from driftline.params.formats import (
    FORMAT_FRAMEWORK,
    is_structured,
    read_file,
    read_object,
    unsupported_message,
)
from driftline.params.identity import Params, model_id, tensor_hash, validate_params
from driftline.params.io import (
    load_npz,
    load_params_file,
    load_safetensors,
    save_npz,
    save_safetensors,
)
from driftline.params.sklearn import estimator_to_params, is_sklearn_estimator, params_to_estimator
from driftline.params.structured import meta_of

__all__ = [
    "Params",
    "ModelParams",
    "as_model_params",
    "model_id",
    "tensor_hash",
    "validate_params",
    "load_npz",
    "save_npz",
    "load_safetensors",
    "save_safetensors",
    "load_params_file",
    "estimator_to_params",
    "params_to_estimator",
]


@dataclass(frozen=True)
class ModelParams:
    """Parameters plus what is needed to rebuild the model around them."""

    params: Params
    framework: str
    architecture: dict[str, Any] = field(default_factory=dict)


def as_model_params(obj: Any, *, mmap: bool = False) -> ModelParams:
    """Read parameters from a numpy dict, a file path, a scikit-learn estimator or PyTorch object
    (``mmap=True``: a ``.safetensors`` file's tensors are read-only memory maps)."""
    if isinstance(obj, ModelParams):
        return obj
    if isinstance(obj, str | os.PathLike):
        path = Path(obj)
        from driftline.params.hf_folder import is_hf_folder, read_hf_folder

        if is_hf_folder(path):  # a Hugging Face checkpoint or PEFT adapter folder
            params, framework, arch = read_hf_folder(path)
            if not mmap:
                params = {k: np.array(v) for k, v in params.items()}
            return ModelParams(params, framework, arch)
        structured = read_file(path)
        if structured is not None:
            return ModelParams(*structured)
        params = load_params_file(path, mmap=mmap)
        if is_structured(params):  # an exported structured model: its parts name the format
            meta = meta_of(params)
            framework = FORMAT_FRAMEWORK.get(str(meta["format"]), "numpy")
            return ModelParams(params, framework, {"framework": framework, **meta})
        from driftline.params.file_meta import file_architecture

        recorded = file_architecture(path)  # a file that says which model it is
        if recorded is not None:
            return ModelParams(params, *recorded)
        framework = "torch" if path.suffix.lower() in {".pt", ".pth", ".bin", ".ckpt"} else "numpy"
        return ModelParams(params, framework, {})
    if isinstance(obj, Mapping) and obj and all(isinstance(v, np.ndarray) for v in obj.values()):
        params = {str(k): v for k, v in obj.items()}
        validate_params(params)
        return ModelParams(params, "numpy", {})
    if is_sklearn_estimator(obj):
        params, arch = estimator_to_params(obj)
        return ModelParams(params, "sklearn", arch)
    structured = read_object(obj)
    if structured is not None:
        return ModelParams(*structured)
    from driftline.params.torch_adapter import is_torch_object

    if is_torch_object(obj):
        from driftline.params.torch_adapter import module_to_params, state_dict_to_params

        if isinstance(obj, Mapping):
            return ModelParams(state_dict_to_params(obj), "torch", {})
        arch = {"framework": "torch", "class": f"{type(obj).__module__}.{type(obj).__qualname__}"}
        return ModelParams(module_to_params(obj), "torch", arch)
    raise UnsupportedModelError(unsupported_message(type(obj).__name__))
