"""The record a label request shows: the row as the user knows it (original column names and
raw values, before the model's own preprocessing), stored with the request as
``predictions["record"]`` when the pool was a named table.

Display rule: the 8×8 picture is drawn only for requests without a named record whose points
are 64 unnamed values (the digits); a named table row is always shown as a table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

RECORD_KEY = "record"


def _plain(v: Any) -> Any:
    """A JSON-safe raw value: NaN/NaT/None -> None, timestamps -> ISO text, numpy -> Python."""
    if v is None:
        return None
    if hasattr(v, "isoformat"):
        try:
            return None if v != v else v.isoformat()  # NaT != NaT
        except (TypeError, ValueError):
            return str(v)
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, bool | int | float | str):
        return v
    return str(v)


def pool_records(pool: Any, indices: Sequence[int] | np.ndarray) -> list[dict[str, Any]] | None:
    """Rows ``indices`` of a named pool as ``{column: raw value}`` (None for a bare array)."""
    if isinstance(pool, np.ndarray):
        return None
    idx = [int(i) for i in np.asarray(indices).reshape(-1)]
    mod = type(pool).__module__.split(".")[0]
    if mod == "pandas" and hasattr(pool, "iloc"):
        sub = pool.iloc[idx]
        return [{str(k): _plain(v) for k, v in row.items()} for _, row in sub.iterrows()]
    if mod == "polars" and hasattr(pool, "row"):
        return [{k: _plain(v) for k, v in pool.row(i, named=True).items()} for i in idx]
    from driftline.drift.tabular import to_columns

    cols = pool if isinstance(pool, Mapping) else to_columns(pool)
    return [{str(k): _plain(np.asarray(v)[i]) for k, v in cols.items()} for i in idx]


def attach_records(
    predictions: list[dict[str, Any]], pool: Any, indices: Sequence[int] | np.ndarray
) -> list[dict[str, Any]]:
    """``predictions`` with each request's record added (unchanged for a bare-array pool)."""
    recs = pool_records(pool, indices)
    if recs is None:
        return predictions
    return [{**p, RECORD_KEY: r} for p, r in zip(predictions, recs, strict=True)]


def record_of(req: Any) -> dict[str, Any] | None:
    """The named record stored with a request, if any."""
    rec = (getattr(req, "predictions", None) or {}).get(RECORD_KEY)
    return dict(rec) if isinstance(rec, Mapping) else None


def is_image(req: Any) -> bool:
    """Draw the request as an 8×8 picture? Only unnamed 64-value points (see module docstring)."""
    return record_of(req) is None and int(np.asarray(req.features).size) == 64


def record_text(req: Any) -> str:
    """``name=value`` pairs of the record (or of ``f0..`` features without one)."""
    rec = record_of(req)
    if rec is None:
        return ", ".join(f"f{j}={v:.4g}" for j, v in enumerate(np.asarray(req.features).tolist()))
    return ", ".join(f"{k}={'' if v is None else v}" for k, v in rec.items())
