"""store.labels: label request rows persist without the active-learning package (both backends)."""

from __future__ import annotations

import pytest

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.statuses import LabelStatus
from driftline.store import Store
from driftline.store import labels as rows


def _new(h: str, score: float = 0.5) -> rows.NewRequest:
    return rows.NewRequest(point_hash=h, features=[1.0, 2.0], score=score, predictions={"k": 1})


def test_requests_labels_and_statuses(store_location):
    store = Store(store_location)
    ids = rows.add_requests(
        store, [_new("a" * 64), _new("b" * 64)], strategy="margin", round=1, repair_id=7
    )
    # the same point for the same repair is one request; for another repair a new one
    assert rows.add_requests(store, [_new("a" * 64, 0.9)], strategy="x", round=2, repair_id=7) == [
        ids[0]
    ]
    other = rows.add_requests(store, [_new("a" * 64)], strategy="margin", round=1, repair_id=None)
    assert other[0] not in ids
    assert set(rows.repair_ids(store)) == {None, 7}  # NULL sorts first or last by backend
    rows.add_label(store, ids[0], 3, "ann")
    rows.add_label(store, ids[0], 4, "ann2")  # the newest label wins
    got = rows.get_request(store, ids[0])
    assert (got.status, got.label, got.annotator, got.score) == ("labelled", 4, "ann2", 0.5)
    assert got.features.tolist() == [1.0, 2.0] and got.predictions == {"k": 1}
    rows.set_status(store, ids[1], LabelStatus.CANCELLED, (LabelStatus.PENDING,))
    with pytest.raises(InvalidInputError, match="cancelled; it needs no label"):
        rows.add_label(store, ids[1], 1, "ann")
    with pytest.raises(InvalidInputError, match="only a request that is pending can be skipped"):
        rows.set_status(store, ids[1], LabelStatus.SKIPPED, (LabelStatus.PENDING,))
    # re-asking a cancelled point re-opens it
    rows.add_requests(store, [_new("b" * 64)], strategy="margin", round=3, repair_id=7)
    assert rows.get_request(store, ids[1]).status == LabelStatus.PENDING
    assert rows.count_by_status(store, 7) == {
        "pending": 1,
        "labelled": 1,
        "skipped": 0,
        "cancelled": 0,
    }
    assert [r.id for r in rows.read_requests(store, statuses=[LabelStatus.PENDING])] == [
        ids[1],
        other[0],
    ]
    with pytest.raises(UnknownReferenceError, match="no label request #999"):
        rows.get_request(store, 999)
