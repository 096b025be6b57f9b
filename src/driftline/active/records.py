"""The record a label request shows: the row as the user knows it (original column names and
raw values, before the model's own preprocessing), stored with the request as
``predictions["record"]`` when the pool was a named table.

Display rule: a request is drawn as a picture only when it was asked with an image shape
(``predictions["image_shape"] = [height, width]``, set from
:attr:`~driftline.active.RefineSettings.image_shape`, e.g. ``(8, 8)`` for the digits); otherwise
a named record is shown as a table of its columns and a bare point as its features.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

RECORD_KEY = "record"
IMAGE_KEY = "image_shape"


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
    predictions: list[dict[str, Any]],
    pool: Any,
    indices: Sequence[int] | np.ndarray,
    image_shape: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """``predictions`` with each request's record added (none for a bare-array pool) and, with
    ``image_shape``, the shape its point is drawn as."""
    recs = pool_records(pool, indices)
    out = predictions
    if recs is not None:
        out = [{**p, RECORD_KEY: r} for p, r in zip(out, recs, strict=True)]
    if image_shape is not None:
        out = [{**p, IMAGE_KEY: list(image_shape)} for p in out]
    return out


def record_of(req: Any) -> dict[str, Any] | None:
    """The named record stored with a request, if any."""
    rec = (getattr(req, "predictions", None) or {}).get(RECORD_KEY)
    return dict(rec) if isinstance(rec, Mapping) else None


def image_shape(req: Any) -> tuple[int, int] | None:
    """The ``(height, width)`` a request is drawn as, or None (see the module docstring)."""
    shape = (getattr(req, "predictions", None) or {}).get(IMAGE_KEY)
    if not isinstance(shape, Sequence) or len(shape) != 2:
        return None
    h, w = (int(v) for v in shape)
    return (h, w) if h * w == int(np.asarray(req.features).size) else None


def is_image(req: Any) -> bool:
    """Draw the request as a picture? Only when it was asked with an image shape."""
    return image_shape(req) is not None


def record_text(req: Any) -> str:
    """``name=value`` pairs of the record (or of ``f0..`` features without one)."""
    rec = record_of(req)
    if rec is None:
        return ", ".join(f"f{j}={v:.4g}" for j, v in enumerate(np.asarray(req.features).tolist()))
    return ", ".join(f"{k}={'' if v is None else v}" for k, v in rec.items())
