"""The label queue: deduplication, statuses, labels, persistence across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from driftline.active import LabelQueue, point_hash
from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.store import Store


@pytest.fixture()
def queue(tmp_path):
    return LabelQueue(Store(tmp_path / "store"))


def points(n: int = 4, d: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, d))


def test_point_hash_is_sha256_of_float64_le_bytes():
    row = np.array([1.0, 2.5, -3.0], dtype=np.float32)
    import hashlib

    expected = hashlib.sha256(np.array([1.0, 2.5, -3.0], dtype="<f8").tobytes()).hexdigest()
    assert point_hash(row) == expected
    assert point_hash([1.0, 2.5, -3.0]) == expected
    assert point_hash([1.0, 2.5, -3.0000001]) != expected


def test_request_is_idempotent_per_point_and_repair(queue):
    X = points()
    ids = queue.request(X, [0.1, 0.2, 0.3, 0.4], strategy="entropy", round=1, repair_id=7)
    assert len(set(ids)) == 4
    again = queue.request(X[[2, 0]], [9, 9], strategy="margin", round=2, repair_id=7)
    assert again == [ids[2], ids[0]]
    assert len(queue.requests(7)) == 4
    # the stored request keeps its first score and strategy
    assert queue.get(ids[0]).strategy == "entropy" and queue.get(ids[0]).score == pytest.approx(0.1)
    # another repair (or none) is a different request; None is deduplicated too
    other = queue.request(X[:1], [1], strategy="entropy", round=1, repair_id=8)
    assert other[0] not in ids
    n1 = queue.request(X[:1], [1], strategy="entropy", round=1, repair_id=None)
    n2 = queue.request(X[:1], [1], strategy="entropy", round=1, repair_id=None)
    assert n1 == n2
    # duplicate rows inside one batch map to one request
    dup = queue.request(np.vstack([X[3], X[3]]), [1, 1], strategy="e", round=3, repair_id=9)
    assert dup[0] == dup[1]


def test_features_round_trip_exactly_and_predictions_kept(queue):
    X = points(2, 5) * 1e-7 + np.pi
    ids = queue.request(
        X,
        [0.5, 0.25],
        strategy="qbc_vote",
        round=3,
        repair_id=1,
        predictions=[{"label": 4, "confidence": 0.5}, {"label": 1}],
    )
    req = queue.get(ids[0])
    assert np.array_equal(req.features, X[0])
    assert point_hash(req.features) == req.point_hash == point_hash(X[0])
    assert req.predicted == 4 and req.round == 3 and req.status == "pending"


def test_label_skip_cancel_and_labelled(queue):
    X = points()
    ids = queue.request(X, np.zeros(4), strategy="entropy", round=1, repair_id=1)
    r = queue.label(ids[0], 3, annotator="ann")
    assert r.status == "labelled" and r.label == 3 and r.annotator == "ann" and r.labelled_at
    queue.label(ids[1], np.int64(5))
    assert queue.skip(ids[2]).status == "skipped"
    assert queue.cancel(ids[3]).status == "cancelled"
    assert [p.id for p in queue.pending(1)] == []
    Xl, yl = queue.labelled(1)
    assert np.array_equal(Xl, X[:2]) and yl.tolist() == [3, 5]
    # relabelling appends a newer label that wins
    queue.label(ids[0], 8, annotator="second")
    assert queue.labelled(1)[1].tolist() == [8, 5]
    assert queue.get(ids[0]).annotator == "second"
    # a skipped request may still be labelled; a cancelled one refuses
    queue.label(ids[2], 1)
    with pytest.raises(InvalidInputError, match="cancelled"):
        queue.label(ids[3], 1)
    with pytest.raises(InvalidInputError):
        queue.skip(ids[0])  # labelled: nothing to skip
    with pytest.raises(UnknownReferenceError):
        queue.label(999, 1)
    with pytest.raises(InvalidInputError):
        queue.label(ids[0], "  ")
    assert queue.counts(1) == {"pending": 0, "labelled": 3, "skipped": 0, "cancelled": 1}
    # asking again for a cancelled point re-opens it
    again = queue.request(X[3:], [1], strategy="entropy", round=2, repair_id=1)
    assert again == [ids[3]] and queue.get(ids[3]).status == "pending"


def test_bad_inputs(queue):
    with pytest.raises(InvalidInputError):
        queue.request(points(2), [1.0], strategy="e", round=1, repair_id=1)
    with pytest.raises(InvalidInputError):
        queue.request(np.array([[np.nan, 1.0]]), [1.0], strategy="e", round=1, repair_id=1)
    with pytest.raises(InvalidInputError):
        queue.requests(status="done")


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_queue_survives_a_process_restart(tmp_path):
    loc = str(tmp_path / "store")
    ids = json.loads(
        _run(f"""
        import json, numpy as np
        from driftline.active import LabelQueue
        from driftline.store import Store
        q = LabelQueue(Store({loc!r}))
        X = np.arange(12, dtype=float).reshape(3, 4) / 7
        ids = q.request(X, [0.3, 0.2, 0.1], strategy="margin", round=1, repair_id=2)
        q.label(ids[0], 6, annotator="alice")
        q.skip(ids[1])
        print(json.dumps(ids))
    """)
    )
    out = json.loads(
        _run(f"""
        import json, numpy as np
        from driftline.active import LabelQueue
        from driftline.store import Store
        q = LabelQueue(Store({loc!r}))
        X, y = q.labelled(2)
        again = q.request(np.arange(12, dtype=float).reshape(3, 4) / 7, [1, 1, 1],
                          strategy="margin", round=2, repair_id=2)
        print(json.dumps({{"X": X.tolist(), "y": y.tolist(), "pending": [r.id for r in q.pending(2)],
                           "again": again, "who": q.get(again[0]).annotator}}))
    """)
    )
    assert out["y"] == [6] and out["who"] == "alice"
    assert np.array_equal(np.asarray(out["X"]), (np.arange(12, dtype=float).reshape(3, 4) / 7)[:1])
    assert out["again"] == ids and out["pending"] == [ids[2]]


def test_label_must_fit_the_requests_classes(queue):
    """The Python API checks a label like the files and the terminal do: a value that is not
    one of the model's classes is refused at once (it used to be stored, and the next repair
    run failed with "labels not among the model's classes")."""
    preds = [{"label": "barolo", "classes": ["barbera", "barolo", "grignolino"]}] * 2
    ids = queue.request(
        points(2), [1, 1], strategy="entropy", round=1, repair_id=1, predictions=preds
    )
    for bad in (5, "merlot", True):
        with pytest.raises(InvalidInputError, match="class"):
            queue.label(ids[0], bad)
    assert queue.get(ids[0]).status == "pending"
    assert queue.label(ids[0], " barbera ").label == "barbera"
    int_preds = [{"label": 1, "classes": [0, 1]}]
    (i,) = queue.request(
        points(1, seed=3), [1], strategy="entropy", round=1, repair_id=2, predictions=int_preds
    )
    assert queue.label(i, "1").label == 1
    with pytest.raises(InvalidInputError):
        queue.label(i, True)
