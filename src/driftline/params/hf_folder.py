"""Hugging Face-style checkpoint folders: sharded safetensors and PEFT/LoRA adapters.

A *model folder* holds ``model.safetensors`` or shards ``model-0000i-of-0000n.safetensors``
listed by ``model.safetensors.index.json`` (``{"weight_map": {tensor: shard file}}``), and
usually a ``config.json``. An *adapter folder* (PEFT) holds ``adapter_model.safetensors`` and
``adapter_config.json``. Shards are memory-mapped (:func:`~driftline.params.io.mmap_safetensors`);
every tensor listed in the index must be in the shard the index names, and no shard may hold
a tensor the index does not list. The JSON configs are kept as the model's architecture
(``hf_config`` / ``adapter_config``); an adapter is registered with ``kind = "adapter"`` so that
``register(folder, parents=[base], transform="adapter")`` stores the adapter's tensors alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from driftline.errors import InvalidInputError
from driftline.params.identity import Params
from driftline.params.io import mmap_safetensors

INDEX = "model.safetensors.index.json"
SINGLE = "model.safetensors"
ADAPTER = "adapter_model.safetensors"


def is_hf_folder(path: Path) -> bool:
    """True for a folder holding a model index, a single model file or an adapter."""
    return path.is_dir() and any((path / n).is_file() for n in (INDEX, SINGLE, ADAPTER))


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path} must hold a JSON object")
    return data


def _sharded(folder: Path) -> Params:
    weight_map = _json(folder / INDEX).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise InvalidInputError(f"{folder / INDEX} has no weight_map; is the index complete?")
    out: Params = {}
    for shard in sorted(set(weight_map.values())):
        path = folder / str(shard)
        if "/" in str(shard) or not path.is_file():
            raise InvalidInputError(
                f"{folder / INDEX} names shard {shard!r}, which is not in "
                f"{folder}; copy every shard of the checkpoint"
            )
        tensors = mmap_safetensors(path)
        listed = {n for n, s in weight_map.items() if s == shard}
        if set(tensors) != listed:
            extra = sorted(set(tensors) - listed)[:3]
            missing = sorted(listed - set(tensors))[:3]
            raise InvalidInputError(
                f"shard {shard} does not match {INDEX}: missing {missing}, unlisted {extra}"
            )
        out.update(tensors)
    return out


def read_hf_folder(folder: str | Path) -> tuple[Params, str, dict[str, Any]]:
    """``(params, framework, architecture)`` of a model or adapter folder (see module doc)."""
    p = Path(folder)
    if (p / ADAPTER).is_file():
        config = _json(p / "adapter_config.json")
        adapter_arch: dict[str, Any] = {
            "_kind": "adapter",
            "adapter_config": config,
            "adapter_type": str(config.get("peft_type", "LORA")).lower(),
        }
        return mmap_safetensors(p / ADAPTER), "torch", adapter_arch
    params = _sharded(p) if (p / INDEX).is_file() else mmap_safetensors(p / SINGLE)
    config = _json(p / "config.json")
    arch: dict[str, Any] = {"hf_config": config} if config else {}
    return params, "torch", arch


def merge_lora(base: Params, adapter: Params, config: dict[str, Any]) -> Params:
    """The base model with a LoRA adapter merged in: W' = W + (lora_alpha / r) · B @ A for each
    ``<prefix><module>.lora_A.weight`` / ``lora_B.weight`` pair (PEFT names, with the
    ``base_model.model.`` prefix stripped); other tensors are the base's. Repair across an
    adapter edge then interpolates between the base and this merged model."""
    r = int(config.get("r", 0)) or None
    out = dict(base)
    for name, a in adapter.items():
        if ".lora_A." not in name:
            continue
        module = name.split(".lora_A.")[0].removeprefix("base_model.model.")
        target = f"{module}.weight"
        b = adapter.get(name.replace(".lora_A.", ".lora_B."))
        if b is None or target not in base:
            raise InvalidInputError(
                f"adapter tensor {name!r} has no lora_B partner or no base tensor {target!r}; "
                "is this adapter for this base model?"
            )
        rank = r or a.shape[0]
        lora_alpha: Any = config.get("lora_alpha", rank)
        scale = float(lora_alpha) / rank
        w = base[target]
        if b.shape[0] != w.shape[0] or a.shape[1] != w.shape[1]:
            raise InvalidInputError(f"{name}: LoRA shapes {b.shape}@{a.shape} do not fit {w.shape}")
        out[target] = (
            w.astype("float64") + scale * (b.astype("float64") @ a.astype("float64"))
        ).astype(w.dtype)
    return out
