"""Who answers label requests: a simulated oracle (held-out truth) inside the loop, or humans
later, through ``driftline label`` or the label files (:mod:`driftline.active.label_files`,
:mod:`driftline.active.label_studio`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from driftline.active.queue import LabelQueue, LabelRequest, point_hash
from driftline.errors import InvalidInputError
from driftline.validation import check_choice, check_same_length

__all__ = ["HumanOracle", "Oracle", "SimulatedOracle"]


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
        if X.ndim != 2:
            raise InvalidInputError(f"X_pool must be n × d, got shape {X.shape}")
        check_same_length(y, X, what="pool labels")
        check_choice("missing", missing, ("skip", "raise"))
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
