"""Label files: CSV and JSON lines round trips; bad rows are reported, the rest imported."""

from __future__ import annotations

import json

import numpy as np
import pytest

from driftline.active import export_requests, import_labels
from driftline.errors import InvalidInputError


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_csv_and_jsonl_round_trip(filled, tmp_path, fmt):
    q, X, y, ids = filled
    path = tmp_path / f"requests.{fmt}"
    assert export_requests(q, path, fmt, repair_id=3) == 5
    if fmt == "csv":
        lines = path.read_text().splitlines()
        header = lines[0].split(",")
        assert header[:2] == ["request_id", "repair_id"] and header[-1] == "f63"
        rows = [line.split(",") for line in lines[1:]]
        li = header.index("label")
        assert [float(v) for v in rows[0][header.index("f0") :]] == X[0].tolist()
        for r, v in zip(rows[:4], y[:4], strict=True):  # leave the last one empty
            r[li] = str(v)
        path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    else:
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        assert recs[0]["features"] == X[0].tolist() and recs[0]["label"] is None
        for r, v in zip(recs[:4], y[:4], strict=True):
            r["label"] = int(v)
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    summary = import_labels(q, path)
    assert summary.labelled == 4 and summary.unchanged == 1 and not summary.errors
    Xl, yl = q.labelled(3)
    assert yl.tolist() == y[:4].tolist() and np.array_equal(Xl, X[:4])
    assert isinstance(yl.tolist()[0], int)
    assert [r.id for r in q.pending(3)] == [ids[4]]


def test_import_reports_bad_rows_and_keeps_the_rest(filled, tmp_path):
    q, X, y, ids = filled
    path = tmp_path / "labels.jsonl"
    rows = [
        {"request_id": ids[0], "label": 3},
        {"request_id": 999, "label": 1},
        {"request_id": ids[1], "label": "eleven"},
        {"request_id": ids[2], "label": 4, "point_hash": "0" * 64},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + "not json\n")
    s = import_labels(q, path)
    assert s.labelled == 1 and s.unknown == [999] and len(s.errors) == 3
    with pytest.raises(InvalidInputError):
        import_labels(q, tmp_path / "missing.csv")


def test_request_ids_must_be_whole_numbers_and_repeats_do_not_conflict(filled, tmp_path):
    """A JSON id of true or 5.7 is not a request number (it labelled request 1 / 5); a request
    named twice in one file counts once, and a second, different label is reported and not
    imported instead of silently replacing the first."""
    q, X, y, ids = filled
    path = tmp_path / "answers.jsonl"
    rows = [
        {"request_id": True, "label": 3},
        {"request_id": float(ids[0]) + 0.7, "label": 3},
        {"request_id": float(ids[1]), "label": 1},
        {"request_id": str(ids[2]), "label": 4},
        {"request_id": ids[2], "label": 4},
        {"request_id": ids[2], "label": 7},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    summary = import_labels(q, path)
    assert summary.labelled == 2 and summary.duplicates == 1
    assert len(summary.errors) == 3
    assert "line 6" in summary.errors[2] and "earlier row" in summary.errors[2]
    assert q.get(ids[0]).status == "pending"
    assert q.get(ids[1]).label == 1 and q.get(ids[2]).label == 4
