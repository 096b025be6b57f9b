"""``driftline register FILE``: read any supported model file, optionally naming the
architecture of a plain tensor file."""

from __future__ import annotations

import json
from pathlib import Path

from driftline.errors import InvalidInputError
from driftline.params import ModelParams, as_model_params


def parse_architecture(text: str | None) -> dict | None:
    """``--architecture``: inline JSON or ``@path/to/file.json``."""
    if not text:
        return None
    raw = Path(text[1:]).read_text(encoding="utf-8") if text.startswith("@") else text
    try:
        arch = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"--architecture is not valid JSON: {exc}") from exc
    if not isinstance(arch, dict):
        raise InvalidInputError('--architecture must be a JSON object, e.g. {"framework": "torch"}')
    return arch


def read_model_file(path: Path, architecture: str | None = None) -> ModelParams:
    """The file's parameters; a named architecture overrides framework/architecture."""
    mp = as_model_params(path)
    arch = parse_architecture(architecture)
    if arch is None:
        return mp
    return ModelParams(
        mp.params, str(arch.get("framework", mp.framework)), {**mp.architecture, **arch}
    )
