"""PyTorch adapters (optional extra ``driftline[torch]``).

``module_to_params`` reads a module's ``state_dict`` (parameters and buffers) into numpy
arrays bit for bit, including bfloat16 (as ``ml_dtypes.bfloat16``). Checkpoints load only with
``torch.load(..., weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import ml_dtypes
import numpy as np

from driftline.errors import InvalidInputError, OptionalDependencyError
from driftline.params.identity import Params


def require_torch() -> Any:
    """Import torch or raise an error that says how to install the extra."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise OptionalDependencyError(
            "PyTorch support needs the torch extra: pip install 'driftline[torch]'"
        ) from exc
    return torch


def is_torch_object(obj: object) -> bool:
    """True for an ``nn.Module`` or a mapping of str to ``torch.Tensor``, without importing torch."""
    mod = type(obj).__module__
    if mod.startswith("torch"):
        return True
    if isinstance(obj, Mapping) and obj:
        first = next(iter(obj.values()))
        return type(first).__module__.startswith("torch")
    return hasattr(obj, "state_dict") and hasattr(obj, "parameters")


def tensor_to_numpy(t: Any) -> np.ndarray:
    """Exact numpy copy of a torch tensor (bfloat16 via a 16-bit view)."""
    torch = require_torch()
    t = t.detach().cpu().contiguous()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return t.numpy().copy()


def numpy_to_tensor(a: np.ndarray) -> Any:
    """Exact torch tensor from a numpy array (bfloat16 included)."""
    torch = require_torch()
    if a.dtype == np.dtype(ml_dtypes.bfloat16):
        return torch.from_numpy(np.ascontiguousarray(a).view(np.int16).copy()).view(torch.bfloat16)
    return torch.from_numpy(np.ascontiguousarray(a).copy())


def state_dict_to_params(state: Mapping[str, Any]) -> Params:
    """Convert a state dict (tensors) to a params dict; non-tensor entries are refused."""
    torch = require_torch()
    out: Params = {}
    for name, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise InvalidInputError(
                f"state dict entry {name!r} is a {type(value).__name__}, not a tensor"
            )
        out[name] = tensor_to_numpy(value)
    return out


def module_to_params(module: Any) -> Params:
    """Parameters and buffers of an ``nn.Module`` (its ``state_dict``) as numpy arrays."""
    return state_dict_to_params(module.state_dict())


def params_to_state_dict(params: Params) -> dict[str, Any]:
    """Params dict -> state dict of CPU tensors."""
    return {k: numpy_to_tensor(v) for k, v in params.items()}


def load_into_module(module: Any, params: Params, strict: bool = True) -> Any:
    """Load ``params`` into ``module`` (in place) and return it."""
    module.load_state_dict(params_to_state_dict(params), strict=strict)
    return module


def load_checkpoint(path: str | os.PathLike) -> Params:
    """Read a ``.pt`` state dict with ``weights_only=True`` (no arbitrary unpickling)."""
    torch = require_torch()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InvalidInputError(
            f"cannot load {path} with weights_only=True ({type(exc).__name__}); save a state_dict "
            "(torch.save(model.state_dict(), path)) or export to .safetensors"
        ) from exc
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if not isinstance(obj, Mapping):
        raise InvalidInputError(f"{path} does not hold a state dict")
    return state_dict_to_params(obj)
