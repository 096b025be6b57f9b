"""Label values from people and files: typed into the model's label type, then applied to the
queue with every problem collected (one bad row does not stop an import).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.errors import InvalidInputError, UnknownReferenceError

if TYPE_CHECKING:  # the queue checks every label with coerce_label: no import cycle at run time
    from driftline.active.queue import LabelQueue, LabelRequest

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
    if isinstance(text, bool) and not isinstance(like, bool):
        raise InvalidInputError(f"label {text!r} is a yes/no value, not a class label or number")
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
    #: rows repeating an earlier row's request and label (not counted again)
    duplicates: int = 0
    #: request id → the label an earlier row of the same file gave it
    seen: dict[int, Any] = field(default_factory=dict, repr=False)
    #: repairs whose requests this import labelled
    repairs: set[int] = field(default_factory=set, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "labelled": self.labelled,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "unknown": list(self.unknown),
            "errors": list(self.errors),
        }


def _request_id(rid: Any) -> int | None:
    """A request id from a file cell: an integer, its text ("12") or an integral float; None
    for anything else (true, 5.7, "abc")."""
    if isinstance(rid, bool):
        return None
    if isinstance(rid, int | np.integer):
        return int(rid)
    if isinstance(rid, float) and rid.is_integer():
        return int(rid)
    if isinstance(rid, str) and rid.strip().isdigit():
        return int(rid.strip())
    return None


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
    req_id = _request_id(rid)
    if req_id is None:
        summary.errors.append(f"{where}: request id {rid!r} is not a request number")
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
        value = _coerce_for(req, value)
        if req_id in summary.seen:
            _repeated(summary, req_id, value, where)
            return
        queue.label(req_id, value, annotator=annotator)
    except (InvalidInputError, UnknownReferenceError) as exc:  # a cancelled request, a bad value
        summary.errors.append(f"{where}: request #{req_id}: {exc}")
        return
    summary.seen[req_id] = value
    summary.labelled += 1
    if req.repair_id is not None:
        summary.repairs.add(req.repair_id)


def _repeated(summary: ImportSummary, req_id: int, value: Any, where: str) -> None:
    """A second row for a request already labelled by this file: the same label is a
    duplicate; a different one is a conflict, reported and not imported (the first row's
    label stays)."""
    first = summary.seen[req_id]
    if first == value:
        summary.duplicates += 1
        return
    summary.errors.append(
        f"{where}: request #{req_id} was labelled {first!r} by an earlier row of this file; "
        f"this row says {value!r}: not imported (keep one row per request)"
    )
