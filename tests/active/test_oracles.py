"""Oracles and label files: simulated truth, CSV / JSON lines, Label Studio round trips."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import numpy as np
import pytest

from driftline.active import (
    LabelQueue,
    SimulatedOracle,
    coerce_label,
    digit_png,
    export_label_studio,
    export_requests,
    import_label_studio,
    import_labels,
    label_studio_config,
)
from driftline.errors import InvalidInputError
from driftline.store import Store

CLASSES = list(range(10))


@pytest.fixture()
def filled(tmp_path):
    """A queue with 5 pending 64-feature requests for repair 3 (truth: y) + 1 for repair 4."""
    q = LabelQueue(Store(tmp_path / "store"))
    rng = np.random.default_rng(1)
    X = rng.random((6, 64))
    y = np.array([3, 1, 4, 1, 5, 9])
    preds = [
        {
            "label": int((v + 1) % 10),
            "confidence": 0.4 + 0.1 * i,
            "ref": "digits@5",
            "classes": CLASSES,
            "image_shape": [8, 8],  # asked as 8×8 digits (RefineSettings.image_shape)
        }
        for i, v in enumerate(y)
    ]
    ids = q.request(
        X[:5],
        np.linspace(1, 0.5, 5),
        strategy="qbc_vote",
        round=1,
        repair_id=3,
        predictions=preds[:5],
    )
    ids += q.request(X[5:], [0.1], strategy="margin", round=1, repair_id=4, predictions=preds[5:])
    return q, X, y, ids


def test_simulated_oracle_looks_points_up_by_hash(filled):
    q, X, y, ids = filled
    oracle = SimulatedOracle(X, y)
    assert oracle(X[[4, 0]]).tolist() == [5, 3]
    assert oracle.label_of(X[2].astype(np.float64).copy()) == 4
    assert oracle.label_of(X[2] + 1e-12) is None
    n = oracle.answer(q, q.pending(3))
    assert n == 5
    Xl, yl = q.labelled(3)
    assert np.array_equal(Xl, X[:5]) and yl.tolist() == y[:5].tolist()
    assert q.get(ids[0]).annotator == "simulated"
    with pytest.raises(InvalidInputError):
        SimulatedOracle(X[:2], y[:2]).answer(q, q.pending(4))
    assert SimulatedOracle(X[:2], y[:2], missing="skip").answer(q, q.pending(4)) == 0
    assert q.get(ids[5]).status == "skipped"


def test_coerce_label():
    assert coerce_label("3", like=7) == 3
    assert coerce_label(" 3.0 ", like=7) == 3
    assert coerce_label("cat", like="dog") == "cat"
    assert coerce_label("2.5", like=1.0) == 2.5
    assert coerce_label("4") == 4 and coerce_label("x") == "x"
    with pytest.raises(InvalidInputError):
        coerce_label("3.5", like=7)
    with pytest.raises(InvalidInputError, match="not one of"):
        coerce_label("12", classes=CLASSES)


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


def _png_pixels(data: bytes) -> np.ndarray:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + n]
        (crc,) = struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = body
        pos += 12 + n
    w, h, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, color) == (8, 0)
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[i * (w + 1) : (i + 1) * (w + 1)] for i in range(h)]
    assert all(r[0] == 0 for r in rows)
    return np.array([list(r[1:]) for r in rows], dtype=np.uint8)


def test_digit_png_is_a_valid_grayscale_image():
    x = np.zeros(64)
    x[9] = 1.0  # row 1, col 1: ink
    px = _png_pixels(digit_png(x, scale=2))
    assert px.shape == (16, 16)
    assert px[2, 2] == 0 and px[0, 0] == 255  # ink dark on white


def test_label_studio_round_trip(filled, tmp_path):
    q, X, y, ids = filled
    path = tmp_path / "tasks.json"
    assert export_label_studio(q, path, repair_id=3) == 5
    tasks = json.loads(path.read_text())
    t0 = tasks[0]
    assert t0["data"]["request_id"] == ids[0] and t0["meta"]["request_id"] == ids[0]
    assert t0["data"]["features"] == X[0].tolist()
    assert t0["data"]["image"].startswith("data:image/png;base64,")
    _png_pixels(base64.b64decode(t0["data"]["image"].split(",", 1)[1]))
    pred = t0["predictions"][0]
    assert pred["result"][0]["value"]["choices"] == ["4"] and pred["score"] == pytest.approx(0.4)
    assert pred["result"][0]["from_name"] == "label" and pred["result"][0]["to_name"] == "image"
    assert 'toName="image"' in label_studio_config(CLASSES)
    # what Label Studio's JSON export looks like after annotating
    exported = []
    for i, (t, v) in enumerate(zip(tasks, y, strict=False)):
        t = {"id": 100 + i, **t, "annotations": []}
        if i < 3:
            t["annotations"] = [
                {
                    "id": 1,
                    "completed_by": 7,
                    "was_cancelled": False,
                    "created_at": "2024-01-01T00:00:00Z",
                    "result": [
                        {
                            "from_name": "label",
                            "to_name": "image",
                            "type": "choices",
                            "value": {"choices": ["0"]},
                        }
                    ],
                },
                {
                    "id": 2,
                    "completed_by": {"id": 8, "email": "b@x.org"},
                    "was_cancelled": False,
                    "created_at": "2024-01-02T00:00:00Z",
                    "result": [
                        {
                            "from_name": "label",
                            "to_name": "image",
                            "type": "choices",
                            "value": {"choices": [str(v)]},
                        }
                    ],
                },
            ]
        elif i == 3:  # cancelled annotations do not count; `labels` results are read too
            t["annotations"] = [
                {"id": 3, "was_cancelled": True, "result": [{"value": {"labels": ["2"]}}]}
            ]
        exported.append(t)
    back = tmp_path / "export.json"
    back.write_text(json.dumps(exported))
    s = import_labels(q, back)  # detected as Label Studio by its content
    assert s.labelled == 3 and s.unchanged == 2 and not s.errors
    assert q.labelled(3)[1].tolist() == y[:3].tolist()
    assert q.get(ids[0]).annotator == "label-studio:b@x.org"
    assert [r.id for r in q.pending(3)] == ids[3:5]
    # JSON-MIN export: the control name is a top-level key
    back.write_text(json.dumps([{"request_id": ids[3], "label": "1", "annotator": 5}]))
    assert import_label_studio(q, back).labelled == 1
    assert q.get(ids[3]).label == 1
