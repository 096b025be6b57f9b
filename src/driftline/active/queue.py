"""The persistent label queue: requests for human labels and the answers, kept in the store.

A request is one pool point that a strategy found informative, for one repair:
``(point_hash, repair_id)`` is unique, where ``point_hash = SHA-256(row as float64
little-endian bytes)``. The row itself is stored as a JSON list of floats (JSON floats round-trip
float64 exactly, so the hash can be recomputed from the stored features). Status moves
``pending → labelled | skipped | cancelled``; a skipped request may still be labelled later, a
labelled one may be labelled again (the newest label wins; labels are append-only rows with value,
annotator and time). Every call commits its own transaction, so each answer survives a crash or a
restart the moment the call returns.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.errors import InvalidInputError
from driftline.jsonutil import jsonable as _jsonable
from driftline.statuses import LabelStatus
from driftline.store import Store
from driftline.store import labels as rows
from driftline.store.labels import LabelRequest
from driftline.validation import check_choice, check_same_length

__all__ = ["STATUSES", "LabelQueue", "LabelRequest", "point_hash"]

#: Request statuses (the members of :class:`~driftline.statuses.LabelStatus`, as strings).
STATUSES: tuple[str, ...] = tuple(LabelStatus)


def point_hash(row: np.ndarray | Sequence[float]) -> str:
    """SHA-256 hex digest of a point's features as contiguous float64 little-endian bytes."""
    a = np.ascontiguousarray(np.asarray(row, dtype="<f8").reshape(-1))
    return hashlib.sha256(a.tobytes()).hexdigest()


def _check_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidInputError("a label cannot be empty; use skip to pass on a point")
    if isinstance(value, float) and not np.isfinite(value):
        raise InvalidInputError(f"a label must be finite, got {value!r}")
    if not isinstance(value, str | int | float | bool):
        raise InvalidInputError(f"a label must be a string or a number, got {type(value).__name__}")
    return value


def _points(points: np.ndarray) -> np.ndarray:
    X = np.asarray(points, dtype=np.float64)
    if X.ndim == 1:
        X = X[None, :]
    if X.ndim != 2:
        raise InvalidInputError(f"points must be n × d, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise InvalidInputError("points contain NaN or infinite values; impute them first")
    return X


class LabelQueue:
    """Label requests and labels in a :class:`~driftline.store.Store` (rows kept by
    :mod:`driftline.store.labels`)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- asking -------------------------------------------------------------------------------
    def request(
        self,
        points: np.ndarray,
        scores: Sequence[float] | np.ndarray,
        *,
        strategy: str,
        round: int,
        repair_id: int | None,
        predictions: Sequence[dict[str, Any]] | None = None,
    ) -> list[int]:
        """Queue ``points`` (``n × d``) for labelling; return one request id per row.

        A point already requested for the same repair is not queued again: its existing id is
        returned (a cancelled request is re-opened as pending; its score/strategy/round are kept).
        Repeated rows within ``points`` map to one request. One transaction for the batch.
        """
        X = _points(points)
        s = np.asarray(scores, dtype=np.float64).reshape(-1)
        check_same_length(s, X, what="scores", per="points")
        if predictions is not None:
            check_same_length(predictions, X, what="predictions", per="points")
        if not strategy or len(strategy) > 32:
            raise InvalidInputError("strategy must be a non-empty name of at most 32 characters")
        new = [
            rows.NewRequest(
                point_hash=point_hash(row),
                features=row.tolist(),
                score=float(s[i]) if np.isfinite(s[i]) else 0.0,
                predictions=_jsonable(dict(predictions[i])) if predictions else {},
            )
            for i, row in enumerate(X)
        ]
        rid = None if repair_id is None else int(repair_id)
        return rows.add_requests(self.store, new, strategy=strategy, round=round, repair_id=rid)

    # -- reading ------------------------------------------------------------------------------
    def requests(
        self, repair_id: int | None = None, status: str | Sequence[str] | None = None
    ) -> list[LabelRequest]:
        """Requests (oldest first), optionally for one repair and/or with given status(es)."""
        wanted = None
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            for s in wanted:
                check_choice("status", s, STATUSES)
        return rows.read_requests(self.store, repair_id=repair_id, statuses=wanted)

    def pending(self, repair_id: int | None = None) -> list[LabelRequest]:
        """Pending requests (all repairs when ``repair_id`` is None), oldest first."""
        return self.requests(repair_id, LabelStatus.PENDING)

    def get(self, request_id: int) -> LabelRequest:
        """One request by id (raises :class:`UnknownReferenceError` when there is none)."""
        return rows.get_request(self.store, request_id)

    def labelled(self, repair_id: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` of every labelled request (newest label each), in request order."""
        done = self.requests(repair_id, LabelStatus.LABELLED)
        if not done:
            return np.zeros((0, 0)), np.zeros(0)
        X = np.vstack([r.features for r in done])
        return X, np.asarray([r.label for r in done])

    def counts(self, repair_id: int | None = None) -> dict[str, int]:
        """Number of requests per status."""
        return rows.count_by_status(self.store, repair_id)

    def repair_ids(self) -> list[int | None]:
        """Repairs that have requests."""
        return rows.repair_ids(self.store)

    # -- answering ----------------------------------------------------------------------------
    def label(self, request_id: int, value: Any, annotator: str = "human") -> LabelRequest:
        """Record ``value`` as the label of a request (status → labelled), committed at once.

        Labelling a labelled request again appends a newer label; a cancelled request refuses.
        The value is typed like the request's prediction and must be one of the model's
        classes when the request names them (:func:`~driftline.active.label_values.
        coerce_label`): a label the refit could not use is refused here, not rounds later.
        """
        from driftline.active.label_values import coerce_label

        value = _check_value(value)
        if not annotator or len(annotator) > 200:
            raise InvalidInputError("annotator must be a non-empty name of at most 200 characters")
        req = self.get(request_id)
        value = coerce_label(value, req.predicted, req.predictions.get("classes"))
        rows.add_label(self.store, request_id, value, annotator)
        return self.get(request_id)

    def skip(self, request_id: int) -> LabelRequest:
        """Pass on a pending request (status → skipped; it may still be labelled later)."""
        rows.set_status(self.store, request_id, LabelStatus.SKIPPED, (LabelStatus.PENDING,))
        return self.get(request_id)

    def cancel(self, request_id: int) -> LabelRequest:
        """Withdraw a request that is pending or skipped (status → cancelled)."""
        allowed = (LabelStatus.PENDING, LabelStatus.SKIPPED)
        rows.set_status(self.store, request_id, LabelStatus.CANCELLED, allowed)
        return self.get(request_id)
