"""Label request files for people and other tools: CSV and JSON lines (Label Studio has its own
module, :mod:`driftline.active.label_studio`). Every file is keyed by the request id, so answers
go back to the right request:

- CSV: ``request_id, repair_id, round, strategy, score, predicted, label, point_hash``, then the
  record's original columns (or the features ``f0 … f{d−1}``); fill the ``label`` column, leave
  it empty to keep the request pending.
- JSON lines: one request per line (``request_id``, ``label`` (null), ``predicted``,
  ``predictions``, ``features``, ``record``, ...); set ``label``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from driftline.active.label_studio import import_label_studio
from driftline.active.label_values import ImportSummary, apply_label
from driftline.active.queue import LabelQueue, LabelRequest
from driftline.active.records import record_of
from driftline.active.repair_record import sync_queue
from driftline.errors import InvalidInputError
from driftline.safefile import atomic_writer
from driftline.validation import check_choice

__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "export_requests", "import_labels"]

#: Formats accepted by :func:`export_requests` (plus "label-studio" via the CLI).
EXPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
#: Formats accepted by :func:`import_labels`.
IMPORT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "label-studio")
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


def export_requests(
    queue: LabelQueue, path: str | Path, fmt: str = "csv", repair_id: int | None = None
) -> int:
    """Write the pending requests (of one repair, or all) to ``path`` as ``fmt`` ("csv" or
    "jsonl"); return how many were written."""
    check_choice("format", fmt, EXPORT_FORMATS)
    reqs = queue.pending(repair_id)
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

    ``fmt`` is one of :data:`IMPORT_FORMATS` (default: from the extension/content). Rows with
    an empty label leave their request untouched. Each label commits as it is read; then the
    records of the repairs it answered are brought in line with the queue
    (:func:`~driftline.active.repair_record.sync_queue`).
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no such file: {path}")
    fmt = check_choice("format", fmt or _detect_format(path), IMPORT_FORMATS)
    who = annotator or f"import:{path.name}"
    if fmt == "label-studio":
        summary = import_label_studio(queue, path, annotator=annotator)
    elif fmt == "csv":
        summary = _import_csv(queue, path, who)
    else:
        summary = _import_jsonl(queue, path, who)
    sync_queue(queue.store, summary.repairs)
    return summary


def _import_csv(queue: LabelQueue, path: Path, who: str) -> ImportSummary:
    summary = ImportSummary()
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        if "request_id" not in cols or "label" not in cols:
            raise InvalidInputError(
                f"{path} needs 'request_id' and 'label' columns "
                "(export one with 'driftline label export --format csv')"
            )
        for i, row in enumerate(reader, start=2):
            apply_label(
                queue,
                summary,
                row.get("request_id"),
                row.get("label"),
                row.get("annotator") or who,
                row.get("point_hash") or None,
                f"{path.name} line {i}",
            )
    return summary


def _import_jsonl(queue: LabelQueue, path: Path, who: str) -> ImportSummary:
    summary = ImportSummary()
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
            apply_label(
                queue,
                summary,
                d.get("request_id", d.get("id")),
                d.get("label"),
                d.get("annotator") or who,
                d.get("point_hash"),
                f"{path.name} line {i}",
            )
    return summary
