"""Who answers label requests: a simulated oracle (held-out truth), humans through files.

File formats (all keyed by the request id, so answers go back to the right request):

- CSV: ``request_id, repair_id, round, strategy, score, predicted, label, point_hash, f0 … f{d−1}``;
  fill the ``label`` column, leave it empty to keep the request pending.
- JSON lines: one request per line (``request_id``, ``label`` (null), ``predicted``,
  ``predictions``, ``features``, ...); set ``label``.
- Label Studio: a JSON list of tasks ``{"data": {...}, "predictions": [...], "meta": {...}}``.
  ``data`` holds ``request_id``, the ``features``, a ``text`` rendering and, for 64-feature
  inputs, ``image``: the 8×8 digit as a PNG data URI (ink dark). ``predictions`` carry the
  model's predicted class as a ``choices`` result with ``score`` = the model's confidence (sort
  ascending in the Data Manager for the least confident first); ``data.uncertainty`` is the
  strategy's informativeness score. Labelling config: :func:`label_studio_config`. The import
  reads Label Studio's JSON export (``annotations[].result[].value.choices`` or ``.labels``;
  the newest non-cancelled annotation wins) and its JSON-MIN export.
"""

from __future__ import annotations

import base64
import csv
import json
import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from driftline.active.queue import LabelQueue, LabelRequest, point_hash
from driftline.active.records import is_image, record_of, record_text
from driftline.errors import DriftlineError, InvalidInputError
from driftline.safefile import atomic_writer, write_atomic

__all__ = [
    "EXPORT_FORMATS",
    "HumanOracle",
    "ImportSummary",
    "Oracle",
    "SimulatedOracle",
    "coerce_label",
    "digit_data_uri",
    "digit_png",
    "export_label_studio",
    "export_requests",
    "import_label_studio",
    "import_labels",
    "label_studio_config",
]

#: Formats accepted by :func:`export_requests` (plus "label-studio" via the CLI).
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
_FIXED_COLUMNS = (
    "request_id",
    "repair_id",
    "round",
    "strategy",
    "score",
    "predicted",
    "label",
    "point_hash",
)


# ----------------------------------------------------------------------------- oracles


@runtime_checkable
class Oracle(Protocol):
    """Answers pending requests. ``interactive`` oracles (humans) answer later, outside the
    loop: the refinement loop stops after queueing and waits for them."""

    interactive: bool

    def answer(self, queue: LabelQueue, requests: Sequence[LabelRequest]) -> int:
        """Label (or skip) ``requests`` in ``queue``; return how many were labelled."""
        ...


class SimulatedOracle:
    """Labels from a held-out truth: ``y_pool[i]`` for the row equal to ``X_pool[i]``.

    Points are looked up by :func:`~driftline.active.queue.point_hash`, so any copy of a pool row
    (e.g. the features read back from the store) finds its label. A point outside the pool is
    skipped (``missing="skip"``) or raises (``missing="raise"``)."""

    interactive = False

    def __init__(
        self,
        X_pool: np.ndarray,
        y_pool: np.ndarray,
        *,
        annotator: str = "simulated",
        missing: str = "raise",
    ) -> None:
        X = np.asarray(X_pool, dtype=np.float64)
        y = np.asarray(y_pool)
        if X.ndim != 2 or len(X) != len(y):
            raise InvalidInputError(
                f"X_pool must be n × d with one label each ({X.shape}, {y.shape})"
            )
        if missing not in ("skip", "raise"):
            raise InvalidInputError(f"missing must be 'skip' or 'raise', got {missing!r}")
        self.annotator = annotator
        self.missing = missing
        self._truth: dict[str, Any] = {point_hash(r): v for r, v in zip(X, y.tolist(), strict=True)}
        self.asked = 0

    def __len__(self) -> int:
        return len(self._truth)

    def label_of(self, row: np.ndarray | Sequence[float]) -> Any:
        """The true label of one point, or None when it is not in the pool."""
        return self._truth.get(point_hash(row))

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """True labels of the rows of ``X`` (raises when a row is not in the pool)."""
        out = []
        for row in np.atleast_2d(np.asarray(X, dtype=np.float64)):
            v = self.label_of(row)
            if v is None:
                raise InvalidInputError(
                    "the simulated oracle has no label for a point outside its pool"
                )
            out.append(v)
        self.asked += len(out)
        return np.asarray(out)

    def answer(self, queue: LabelQueue, requests: Sequence[LabelRequest]) -> int:
        n = 0
        for req in requests:
            v = self._truth.get(req.point_hash)
            if v is None:
                if self.missing == "raise":
                    raise InvalidInputError(
                        f"the simulated oracle has no label for request #{req.id} (point not in its pool)"
                    )
                queue.skip(req.id)
                continue
            queue.label(req.id, v, annotator=self.annotator)
            n += 1
        self.asked += n
        return n


class HumanOracle:
    """Humans answer through ``driftline label`` or exported files: nothing is answered inside
    the loop, which stops with status ``waiting-for-labels``."""

    interactive = True

    def answer(self, queue: LabelQueue, requests: Sequence[LabelRequest]) -> int:
        return 0


# ----------------------------------------------------------------------------- label values


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
        try:
            f = float(text)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"label {text!r} is not an integer class label") from exc
        if not np.isfinite(f) or f != int(f):
            raise InvalidInputError(f"label {text!r} is not an integer class label")
        out = int(f)
    elif isinstance(like, float | np.floating):
        try:
            out = float(text)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"label {text!r} is not a number") from exc
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


# ----------------------------------------------------------------------------- CSV / JSON lines


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


def _export_rows(queue: LabelQueue, repair_id: int | None) -> list[LabelRequest]:
    return queue.pending(repair_id)


def export_requests(
    queue: LabelQueue, path: str | Path, fmt: str = "csv", repair_id: int | None = None
) -> int:
    """Write the pending requests (of one repair, or all) to ``path`` as ``fmt`` ("csv" or
    "jsonl"); return how many were written."""
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"unknown format {fmt!r}; use one of: {', '.join(EXPORT_FORMATS)}")
    reqs = _export_rows(queue, repair_id)
    path = Path(path)
    if fmt == "csv":
        _write_csv(path, reqs)
    else:
        with atomic_writer(path, "w") as fh:
            for r in reqs:
                d = {
                    "request_id": r.id,
                    "repair_id": r.repair_id,
                    "round": r.round,
                    "strategy": r.strategy,
                    "score": r.score,
                    "predicted": r.predicted,
                    "label": None,
                    "point_hash": r.point_hash,
                    "predictions": r.predictions,
                    "features": r.features.tolist(),
                }
                rec = record_of(r)
                if rec is not None:
                    d["record"] = rec  # original column names and raw values
                fh.write(json.dumps(d) + "\n")
    return len(reqs)


def _write_csv(path: Path, reqs: Sequence[LabelRequest]) -> None:
    """Fixed columns, then the record's original columns (raw values) when the requests have
    one, else the model inputs ``f0..``."""
    names: dict[str, None] = {}
    for r in reqs:
        names.update(dict.fromkeys(record_of(r) or {}))
    width = 0 if names else max((r.features.size for r in reqs), default=0)
    with atomic_writer(path, "w") as fh:
        w = csv.writer(fh)
        w.writerow([*_FIXED_COLUMNS, *names, *(f"f{j}" for j in range(width))])
        for r in reqs:
            if names:
                rec = record_of(r) or {}
                cells = ["" if rec.get(k) is None else rec[k] for k in names]
            else:
                cells = [repr(float(v)) for v in r.features]
                cells += [""] * (width - len(cells))
            w.writerow(
                [
                    r.id,
                    "" if r.repair_id is None else r.repair_id,
                    r.round,
                    r.strategy,
                    repr(r.score),
                    "" if r.predicted is None else r.predicted,
                    "",
                    r.point_hash,
                    *cells,
                ]
            )


def _apply(
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
    except DriftlineError:
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
    except DriftlineError as exc:
        summary.errors.append(f"{where}: request #{req_id}: {exc}")
        return
    summary.labelled += 1


def _detect_format(path: Path) -> str:
    ext = path.suffix.lower()
    if ext == ".csv":
        return "csv"
    if ext in (".jsonl", ".ndjson"):
        return "jsonl"
    with path.open(encoding="utf-8") as fh:
        head = fh.read(4096).lstrip()
    if head.startswith("["):
        return "label-studio"
    if head.startswith("{"):
        return "jsonl"
    if head.startswith("request_id"):
        return "csv"
    raise InvalidInputError(
        f"cannot tell the format of {path}: use a .csv, .jsonl or Label Studio .json export"
    )


def import_labels(
    queue: LabelQueue, path: str | Path, fmt: str | None = None, annotator: str | None = None
) -> ImportSummary:
    """Read labels from a CSV, JSON-lines or Label Studio export file into the queue.

    ``fmt`` is "csv", "jsonl" or "label-studio" (default: from the extension/content). Rows with
    an empty label leave their request untouched. Each label commits as it is read.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    fmt = fmt or _detect_format(path)
    if fmt == "label-studio":
        return import_label_studio(queue, path, annotator=annotator)
    summary = ImportSummary()
    who = annotator or f"import:{path.name}"
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            cols = reader.fieldnames or []
            if "request_id" not in cols or "label" not in cols:
                raise InvalidInputError(
                    f"{path} needs 'request_id' and 'label' columns "
                    "(export one with 'driftline label export --format csv')"
                )
            for i, row in enumerate(reader, start=2):
                _apply(
                    queue,
                    summary,
                    row.get("request_id"),
                    row.get("label"),
                    row.get("annotator") or who,
                    row.get("point_hash") or None,
                    f"{path.name} line {i}",
                )
        return summary
    if fmt != "jsonl":
        raise InvalidInputError(f"unknown format {fmt!r}; use csv, jsonl or label-studio")
    with path.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as exc:
                summary.errors.append(f"{path.name} line {i}: not JSON ({exc.msg})")
                continue
            if not isinstance(d, dict):
                summary.errors.append(f"{path.name} line {i}: expected an object")
                continue
            _apply(
                queue,
                summary,
                d.get("request_id", d.get("id")),
                d.get("label"),
                d.get("annotator") or who,
                d.get("point_hash"),
                f"{path.name} line {i}",
            )
    return summary


# ----------------------------------------------------------------------------- PNG rendering


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def digit_png(features: np.ndarray | Sequence[float], scale: int = 4) -> bytes:
    """An 8-bit grayscale PNG of a square image given as flat features (64 → 8×8), each pixel
    repeated ``scale`` times per side. Values are min-max scaled to [0, 1] unless they already
    lie in [0, 1]; ink (1) is drawn black on white. Plain numpy + zlib."""
    x = np.asarray(features, dtype=np.float64).reshape(-1)
    side = int(round(np.sqrt(x.size)))
    if side * side != x.size or side == 0:
        raise InvalidInputError(f"{x.size} features do not form a square image")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    img = np.round(255.0 * (1.0 - x)).astype(np.uint8).reshape(side, side)
    img = np.kron(img, np.ones((scale, scale), dtype=np.uint8))
    h, w = img.shape
    raw = b"".join(b"\x00" + img[i].tobytes() for i in range(h))
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def digit_data_uri(features: np.ndarray | Sequence[float], scale: int = 4) -> str:
    """``data:image/png;base64,...`` of :func:`digit_png`."""
    return "data:image/png;base64," + base64.b64encode(digit_png(features, scale)).decode("ascii")


# ----------------------------------------------------------------------------- Label Studio


def label_studio_config(classes: Iterable[Any], image: bool = True, table: bool = False) -> str:
    """A Label Studio labelling config matching the exported tasks (choices named "label" on
    the "image" or "text" object; ``table``: the record shown as a table of its columns)."""
    obj = (
        '<Image name="image" value="$image" zoom="true"/>'
        if image
        else '<Text name="text" value="$text"/>'
    )
    if table and not image:
        obj = '<Table name="record" value="$record"/>\n  ' + obj
    to = "image" if image else "text"
    choices = "\n".join(f'    <Choice value="{c}"/>' for c in classes)
    return (
        f'<View>\n  {obj}\n  <Choices name="label" toName="{to}" choice="single" '
        f'showInline="true">\n{choices}\n  </Choices>\n</View>\n'
    )


def _task(req: LabelRequest) -> dict[str, Any]:
    image = is_image(req)
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
        data["image"] = digit_data_uri(req.features)
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
        pred: dict[str, Any] = {
            "model_version": str(req.predictions.get("ref") or "driftline"),
            "result": [
                {
                    "from_name": "label",
                    "to_name": to_name,
                    "type": "choices",
                    "value": {"choices": [str(req.predicted)]},
                }
            ],
        }
        if conf is not None:
            pred["score"] = float(conf)
        task["predictions"].append(pred)
    return task


def export_label_studio(queue: LabelQueue, path: str | Path, repair_id: int | None = None) -> int:
    """Write the pending requests as a Label Studio tasks JSON list; return the task count."""
    tasks = [_task(r) for r in _export_rows(queue, repair_id)]
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
        data = task.get("data") if isinstance(task.get("data"), dict) else task
        meta = task.get("meta") if isinstance(task.get("meta"), dict) else {}
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
        _apply(
            queue,
            summary,
            rid,
            value,
            annotator or who or "label-studio",
            data.get("point_hash"),
            where,
        )
    return summary
