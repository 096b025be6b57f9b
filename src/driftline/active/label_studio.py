"""Label Studio: tasks out, annotations back.

Export: a JSON list of tasks ``{"data": {...}, "predictions": [...], "meta": {...}}``. ``data``
holds ``request_id``, the ``features``, a ``text`` rendering, the named ``record`` and, for a
request asked with an image shape (or with ``image_shape`` given here), ``image``: the point as
a PNG data URI (ink dark). ``predictions`` carry the model's predicted class as a ``choices``
result with ``score`` = the model's confidence (sort ascending in the Data Manager for the least
confident first); ``data.uncertainty`` is the strategy's informativeness score. Labelling
config: :func:`label_studio_config`.

Import: Label Studio's JSON export (``annotations[].result[].value.choices`` or ``.labels``; the
newest non-cancelled annotation wins) and its JSON-MIN export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from driftline.active.images import digit_data_uri
from driftline.active.label_values import ImportSummary, apply_label
from driftline.active.queue import LabelQueue, LabelRequest
from driftline.active.records import image_shape as stored_image_shape
from driftline.active.records import record_of, record_text
from driftline.errors import InvalidInputError
from driftline.safefile import write_atomic

__all__ = ["export_label_studio", "import_label_studio", "label_studio_config"]


def label_studio_config(
    classes: Iterable[Any] | None, image: bool = True, table: bool = False
) -> str:
    """A Label Studio labelling config matching the exported tasks (choices named "label" on
    the "image" or "text" object; ``table``: the record shown as a table of its columns);
    ``classes`` None (a regressor): a ``<Number>`` control named "label" instead."""
    obj = (
        '<Image name="image" value="$image" zoom="true"/>'
        if image
        else '<Text name="text" value="$text"/>'
    )
    if table and not image:
        obj = '<Table name="record" value="$record"/>\n  ' + obj
    to = "image" if image else "text"
    if classes is None:  # a regressor: a number per task
        return f'<View>\n  {obj}\n  <Number name="label" toName="{to}" required="true"/>\n</View>\n'
    choices = "\n".join(f'    <Choice value="{c}"/>' for c in classes)
    return (
        f'<View>\n  {obj}\n  <Choices name="label" toName="{to}" choice="single" '
        f'showInline="true">\n{choices}\n  </Choices>\n</View>\n'
    )


def _task(req: LabelRequest, image_shape: tuple[int, int] | None) -> dict[str, Any]:
    shape = image_shape or stored_image_shape(req)
    image = shape is not None
    to_name = "image" if image else "text"
    data: dict[str, Any] = {
        "request_id": req.id,
        "repair_id": req.repair_id,
        "point_hash": req.point_hash,
        "uncertainty": req.score,
        "strategy": req.strategy,
        "features": req.features.tolist(),
        "text": record_text(req),
    }
    rec = record_of(req)
    if rec is not None:
        data["record"] = rec  # Label Studio's <Table> shows it with the original names
    if image:
        data["image"] = digit_data_uri(req.features, shape=shape)
    task: dict[str, Any] = {
        "data": data,
        "meta": {
            "request_id": req.id,
            "repair_id": req.repair_id,
            "strategy": req.strategy,
            "round": req.round,
            "score": req.score,
        },
        "predictions": [],
    }
    if req.predicted is not None:
        conf = req.predictions.get("confidence")
        number = not req.predictions.get("classes") and isinstance(req.predicted, float)
        pred: dict[str, Any] = {
            "model_version": str(req.predictions.get("ref") or "driftline"),
            "result": [
                {
                    "from_name": "label",
                    "to_name": to_name,
                    "type": "number" if number else "choices",
                    "value": {"number": req.predicted}
                    if number
                    else {"choices": [str(req.predicted)]},
                }
            ],
        }
        if conf is not None:
            pred["score"] = float(conf)
        task["predictions"].append(pred)
    return task


def export_label_studio(
    queue: LabelQueue,
    path: str | Path,
    repair_id: int | None = None,
    *,
    image_shape: tuple[int, int] | None = None,
) -> int:
    """Write the pending requests as a Label Studio tasks JSON list; return the task count.

    Each request is drawn as an image when it was asked with an image shape; ``image_shape``
    (height, width) draws every request with that shape instead."""
    tasks = [_task(r, image_shape) for r in queue.pending(repair_id)]
    write_atomic(path, json.dumps(tasks, indent=1))
    return len(tasks)


def _value_of(result: Iterable[Any]) -> Any:
    """First choice / label in a list of Label Studio result items."""
    for item in result or []:
        if not isinstance(item, dict):
            continue
        value = item.get("value") or {}
        for key in ("choices", "labels", "rectanglelabels", "polygonlabels", "taxonomy"):
            got = value.get(key)
            if got:
                first = got[0]
                return first[0] if isinstance(first, list) and first else first
        if isinstance(value.get("number"), int | float) and not isinstance(value["number"], bool):
            return value["number"]  # a <Number> control (a regressor's answer)
        if "text" in value and value["text"]:
            t = value["text"]
            return t[0] if isinstance(t, list) else t
    return None


def _annotation_label(task: dict[str, Any]) -> tuple[Any, str | None]:
    anns = [
        a
        for a in task.get("annotations") or []
        if isinstance(a, dict) and not a.get("was_cancelled")
    ]
    anns.sort(
        key=lambda a: (str(a.get("updated_at") or a.get("created_at") or ""), str(a.get("id", "")))
    )
    for ann in reversed(anns):
        v = _value_of(ann.get("result") or [])
        if v is not None:
            who = ann.get("completed_by")
            if isinstance(who, dict):
                who = who.get("email") or who.get("id")
            return v, None if who is None else f"label-studio:{who}"
    return None, None


def import_label_studio(
    queue: LabelQueue, path: str | Path, annotator: str | None = None
) -> ImportSummary:
    """Read a Label Studio JSON (or JSON-MIN) export and label the matching requests.

    A task maps back through ``data.request_id`` (or ``meta.request_id``); its label is the
    first choice/label of the newest non-cancelled annotation. Tasks without an annotation stay
    pending."""
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{path} is not a Label Studio JSON export ({exc})") from exc
    if isinstance(tasks, dict):
        tasks = [tasks]
    if not isinstance(tasks, list):
        raise InvalidInputError(f"{path}: expected a JSON list of tasks")
    summary = ImportSummary()
    for i, task in enumerate(tasks):
        where = f"{path.name} task {i}"
        if not isinstance(task, dict):
            summary.errors.append(f"{where}: not an object")
            continue
        raw_data, raw_meta = task.get("data"), task.get("meta")
        data = raw_data if isinstance(raw_data, dict) else task
        meta = raw_meta if isinstance(raw_meta, dict) else {}
        rid = data.get("request_id", meta.get("request_id"))
        if rid is None:
            summary.errors.append(f"{where}: no request_id in data or meta (not a driftline task)")
            continue
        if "annotations" in task:
            value, who = _annotation_label(task)
        else:  # JSON-MIN: the control's name is a top-level key
            raw = task.get("label")
            value = raw.get("choices", [None])[0] if isinstance(raw, dict) else raw
            if isinstance(value, list):
                value = value[0] if value else None
            who = f"label-studio:{task['annotator']}" if task.get("annotator") is not None else None
        apply_label(
            queue,
            summary,
            rid,
            value,
            annotator or who or "label-studio",
            data.get("point_hash"),
            where,
        )
    return summary
