"""How a ``.safetensors`` file carries what rebuilds its model: two string entries of the
standard ``__metadata__`` header, ``driftline.framework`` and ``driftline.architecture`` (JSON).

A file with them registers as that framework (e.g. a scikit-learn estimator that repair can
predict with); a file without them stays a plain ``numpy`` parameter set. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from driftline.errors import InvalidInputError

FRAMEWORK_KEY = "driftline.framework"
ARCHITECTURE_KEY = "driftline.architecture"


def architecture_metadata(framework: str, architecture: dict[str, Any]) -> dict[str, str]:
    """The ``__metadata__`` entries for :func:`driftline.params.save_safetensors`."""
    return {
        FRAMEWORK_KEY: framework,
        ARCHITECTURE_KEY: json.dumps(architecture, sort_keys=True, default=str),
    }


def file_architecture(path: str | os.PathLike) -> tuple[str, dict[str, Any]] | None:
    """``(framework, architecture)`` recorded in a ``.safetensors`` file, or None."""
    p = Path(path)
    if p.suffix.lower() != ".safetensors":
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(p), framework="numpy") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # the library raises its own error types for bad headers
        raise InvalidInputError(f"cannot read the header of {p}: {exc}") from exc
    if FRAMEWORK_KEY not in meta or ARCHITECTURE_KEY not in meta:
        return None
    try:
        arch = json.loads(meta[ARCHITECTURE_KEY])
    except ValueError as exc:
        raise InvalidInputError(f"{p}: corrupt {ARCHITECTURE_KEY} metadata: {exc}") from exc
    return str(meta[FRAMEWORK_KEY]), dict(arch)
