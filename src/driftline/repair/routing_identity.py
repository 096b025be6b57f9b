"""Identity of a routed model: a content hash of its members, priors and settings."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError

__all__ = ["routing_id"]


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return [_canonical(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, float):
        if math.isnan(value):
            raise InvalidInputError("routing settings must not contain NaN.")
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if value is None or isinstance(value, (str, int, bool)):
        return value
    raise InvalidInputError(
        f"routing settings must be JSON-like (got {type(value).__name__}); pass plain values."
    )


def routing_id(member_ids: Sequence[str], settings: Mapping[str, Any]) -> str:
    """Identity of a routed model: SHA-256 (hex) of canonical JSON of its members and settings.

    Members are sorted by id; ``settings["priors"]`` (a list aligned with ``member_ids`` or a
    mapping id → prior) travels with its member, so the id does not depend on member order. Other
    settings (temperature, likelihood kind, ...) are hashed with sorted keys; infinities become the
    strings ``"inf"``/``"-inf"``.
    """
    ids = [str(i) for i in member_ids]
    if not ids:
        raise InvalidInputError("a routed model needs at least one member id.")
    if len(set(ids)) != len(ids):
        raise InvalidInputError("member ids must be distinct.")
    rest = {k: v for k, v in dict(settings).items() if k != "priors"}
    raw = dict(settings).get("priors")
    priors: dict[str, Any] | None = None
    if raw is not None:
        if isinstance(raw, Mapping):
            if set(map(str, raw)) != set(ids):
                raise InvalidInputError("priors mapping must have exactly one entry per member id.")
            priors = {str(k): v for k, v in raw.items()}
        else:
            vals = list(np.asarray(raw).reshape(-1).tolist())
            if len(vals) != len(ids):
                raise InvalidInputError(
                    f"priors has {len(vals)} entries for {len(ids)} members; align them."
                )
            priors = dict(zip(ids, vals, strict=True))
    members = [
        {"id": i, **({"prior": _canonical(float(priors[i]))} if priors is not None else {})}
        for i in sorted(ids)
    ]
    doc = {"members": members, "settings": _canonical(rest)}
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
