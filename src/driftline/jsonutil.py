"""Turning numpy-laden values into what a JSON column accepts."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def jsonable(value: Any, *, keep_inf: bool = False) -> Any:
    """Recursively convert numpy scalars/arrays and tuples to plain JSON values.

    NaN becomes None; ±inf becomes None, or the strings "inf"/"-inf" with ``keep_inf``.
    """
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, keep_inf=keep_inf) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, keep_inf=keep_inf) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), keep_inf=keep_inf)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        if keep_inf and not math.isnan(value):
            return "inf" if value > 0 else "-inf"
        return None
    return value
