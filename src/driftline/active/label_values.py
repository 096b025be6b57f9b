"""Label values from people and files: typed into the model's label type, then applied to the
queue with every problem collected (one bad row does not stop an import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from driftline.active.queue import LabelQueue, LabelRequest
from driftline.errors import InvalidInputError, UnknownReferenceError

__all__ = ["ImportSummary", "apply_label", "coerce_label"]


def _number(text: Any, what: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"label {text!r} is not {what}") from exc


def coerce_label(value: Any, like: Any = None, classes: Sequence[Any] | None = None) -> Any:
    """Turn a typed/imported label (often text) into the model's label type.

    ``like`` is an example label (the model's prediction): int → the text must be an integer
    ("3" or "3.0"), float → a number, str → kept as text. Without ``like`` an integer, then a
    float, then the text is tried. With ``classes`` the result must be one of them.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if classes:
        like = classes[0] if like is None else like
    text = value.strip() if isinstance(value, str) else value
    if text is None or text == "":
        raise InvalidInputError("empty label")
    out: Any
    if isinstance(like, bool) or isinstance(like, str):
        out = str(text)
    elif isinstance(like, int | np.integer):
        f = _number(text, "an integer class label")
        if not np.isfinite(f) or f != int(f):
            raise InvalidInputError(f"label {text!r} is not an integer class label")
        out = int(f)
    elif isinstance(like, float | np.floating):
        out = _number(text, "a number")
    elif isinstance(text, str):
        try:
            out = int(text)
        except ValueError:
            try:
                out = float(text)
            except ValueError:
                out = text
    else:
        out = text
    if classes and out not in list(classes):
        shown = ", ".join(str(c) for c in list(classes)[:20])
        raise InvalidInputError(f"label {out!r} is not one of the model's classes: {shown}")
    return out


def _coerce_for(req: LabelRequest, value: Any) -> Any:
    return coerce_label(value, req.predicted, req.predictions.get("classes"))


@dataclass
class ImportSummary:
    """What an import did: requests labelled, rows without a label, unknown request ids, and
    per-row problems (the rest of the file is still imported)."""

    labelled: int = 0
    unchanged: int = 0
    unknown: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "unchanged": self.unchanged,
            "unknown": list(self.unknown),
            "errors": list(self.errors),
        }


def apply_label(
    queue: LabelQueue,
    summary: ImportSummary,
    rid: Any,
    value: Any,
    annotator: str,
    expected_hash: str | None = None,
    where: str = "",
) -> None:
    """Label one request from an imported row, recording problems in ``summary``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        summary.unchanged += 1
        return
    try:
        req_id = int(rid)
    except (TypeError, ValueError):
        summary.errors.append(f"{where}: request id {rid!r} is not a number")
        return
    try:
        req = queue.get(req_id)
    except UnknownReferenceError:
        summary.unknown.append(req_id)
        return
    if expected_hash and expected_hash != req.point_hash:
        summary.errors.append(
            f"{where}: request #{req_id} holds a different point than the file "
            "(features changed?); not imported"
        )
        return
    try:
        queue.label(req_id, _coerce_for(req, value), annotator=annotator)
    except (InvalidInputError, UnknownReferenceError) as exc:  # a cancelled request, a bad value
        summary.errors.append(f"{where}: request #{req_id}: {exc}")
        return
    summary.labelled += 1
