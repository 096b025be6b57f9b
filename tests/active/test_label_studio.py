"""Label Studio: tasks out (images when asked with an image shape), annotations back."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest

from driftline.active import (
    LabelQueue,
    export_label_studio,
    import_label_studio,
    import_labels,
    label_studio_config,
)
from driftline.store import Store

CLASSES = list(range(10))


def test_label_studio_round_trip(filled, tmp_path):
    q, X, y, ids = filled
    path = tmp_path / "tasks.json"
    assert export_label_studio(q, path, repair_id=3) == 5
    tasks = json.loads(path.read_text())
    t0 = tasks[0]
    assert t0["data"]["request_id"] == ids[0] and t0["meta"]["request_id"] == ids[0]
    assert t0["data"]["features"] == X[0].tolist()
    assert t0["data"]["image"].startswith("data:image/png;base64,")
    png = base64.b64decode(t0["data"]["image"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == (32, 32)  # 8×8 pixels, 4× each side
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


def test_images_only_when_asked_for(tmp_path):
    """64 values are not guessed to be an 8×8 digit: the request or the export says so."""
    q = LabelQueue(Store(tmp_path / "store"))
    q.request(
        np.random.default_rng(0).random((2, 64)),
        [0.5, 0.4],
        strategy="margin",
        round=1,
        repair_id=1,
        predictions=[{"label": 1, "classes": [0, 1]}] * 2,
    )
    path = tmp_path / "tasks.json"
    export_label_studio(q, path)
    tasks = json.loads(path.read_text())
    assert all("image" not in t["data"] for t in tasks)
    assert tasks[0]["predictions"][0]["result"][0]["to_name"] == "text"
    export_label_studio(q, path, image_shape=(8, 8))
    tasks = json.loads(path.read_text())
    assert all(t["data"]["image"].startswith("data:image/png;base64,") for t in tasks)


def test_a_regressors_requests_are_numbers_in_label_studio(tmp_path):
    """A regressor's tasks carried its prediction as a 'choices' result, no labelling config
    was written, and a <Number> answer ({"number": 150.5}) was not read back: a regressor
    could not be labelled through Label Studio."""
    import json

    from driftline.active import (
        LabelQueue,
        export_label_studio,
        import_label_studio,
        label_studio_config,
    )
    from driftline.store import Store

    q = LabelQueue(Store(tmp_path / "s"))
    ids = q.request(
        np.array([[0.1, 0.2], [0.3, 0.4]]),
        [2.0, 1.0],
        strategy="committee_variance",
        round=1,
        repair_id=1,
        predictions=[{"label": 337.6, "ref": "dia@2"}, {"label": 280.0, "ref": "dia@2"}],
    )
    path = tmp_path / "tasks.json"
    assert export_label_studio(q, path) == 2
    tasks = json.loads(path.read_text())
    result = tasks[0]["predictions"][0]["result"][0]
    assert result["type"] == "number" and result["value"] == {"number": 337.6}
    cfg = label_studio_config(None, image=False)
    assert '<Number name="label" toName="text"' in cfg
    tasks[0]["annotations"] = [{"result": [{"from_name": "label", "value": {"number": 150.5}}]}]
    path.write_text(json.dumps(tasks))
    summary = import_label_studio(q, path)
    assert summary.labelled == 1 and summary.unchanged == 1 and not summary.errors
    assert q.get(ids[0]).label == 150.5
