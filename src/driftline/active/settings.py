"""Settings of a refinement run, in one frozen object (like :class:`~driftline.repair.RepairPolicy`).

:func:`~driftline.active.run_active_learning` and :func:`~driftline.active.accuracy_vs_labels`
take a :class:`RefineSettings`; :func:`~driftline.active.refit` reads its re-fitting fields.
Keyword arguments named like a field are applied on top (``with_changes``), so
``run_active_learning(..., budget=60)`` and ``run_active_learning(..., settings=
RefineSettings(budget=60))`` are the same call.

>>> s = RefineSettings(budget=60, batch=20)
>>> s.batch_size(0), s.with_changes(batch=None).batch_size(40)
(20, 20)
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from driftline.active.strategies import STRATEGIES
from driftline.errors import InvalidInputError
from driftline.validation import check_choice

__all__ = ["Progress", "RefineSettings", "single_thread"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class RefineSettings:
    """How active learning chooses, asks and re-fits. Defaults are the store loop's.

    Choosing: ``strategy`` (one of :data:`~driftline.active.STRATEGIES`), ``diversity``
    (k-center greedy over the top candidates), ``cold_start`` (a representative batch while the
    validation accuracy is below it or there are no labels; None: never), ``committee_hops`` /
    ``committee_size`` (the lineage committee). Asking: ``batch`` labels per round (None:
    ``max(10, n/2)`` with ``n`` labels so far), ``budget`` labels in all. Stopping and deploying:
    ``target_accuracy`` on validation, ``deploy`` when the policy is met. Re-fitting (see
    :func:`~driftline.active.refit`): ``fine_tune_steps`` minibatch updates per learning rate in
    ``lrs`` with an ``l2`` pull, at most ``max_epochs`` epochs; ``per_tensor`` α; ``alpha_evals``
    log-loss evaluations of the α search; ``fresh`` also trains a new initialisation for
    ``fresh_steps`` updates at ``fresh_lr`` (scikit-learn: epochs clipped to ``fresh_epochs``).
    ``seed`` makes every run repeatable. ``image_shape`` (height, width): show and export the
    pool's rows as grayscale images of that shape (the digits are ``(8, 8)``); None shows
    records or feature tables.
    """

    budget: int = 100
    batch: int | None = 20
    strategy: str = "qbc_vote"
    diversity: bool = True
    target_accuracy: float | None = None
    cold_start: float | None = 0.5
    committee_hops: int = 3
    committee_size: int = 6
    deploy: bool = True
    fine_tune_steps: int = 300
    lrs: tuple[float, ...] = (1e-2,)
    l2: float = 1e-2
    per_tensor: bool = True
    alpha_evals: int = 10
    max_epochs: int = 30
    fresh: bool = True
    fresh_lr: float = 3e-3
    fresh_steps: int = 1000
    fresh_epochs: tuple[int, int] = (50, 200)
    seed: int = 0
    image_shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        check_choice("strategy", self.strategy, STRATEGIES)
        if self.budget < 1 or (self.batch is not None and self.batch < 1):
            raise InvalidInputError("budget and batch must be >= 1")
        object.__setattr__(self, "lrs", tuple(float(v) for v in self.lrs))
        if self.image_shape is not None:
            h, w = (int(v) for v in self.image_shape)
            if h < 1 or w < 1:
                raise InvalidInputError(
                    f"image_shape must be two sizes >= 1, got {self.image_shape}"
                )
            object.__setattr__(self, "image_shape", (h, w))

    @property
    def committee_strategy(self) -> bool:
        """Does the strategy read a committee (query-by-committee)?"""
        return self.strategy.startswith("qbc")

    def batch_size(self, n_labels: int) -> int:
        """Labels to ask for in a round that starts with ``n_labels`` labels."""
        return self.batch if self.batch is not None else max(10, n_labels // 2)

    def with_changes(self, **changes: Any) -> RefineSettings:
        """A copy with the named fields replaced (an unknown name is a ``TypeError``)."""
        return dataclasses.replace(self, **changes) if changes else self


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Limit BLAS to one thread: the matrices here are tiny and threads only add overhead."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")  # untyped: import as Any
    except ImportError:  # pragma: no cover - threadpoolctl ships with scikit-learn
        yield
        return
    with threadpoolctl.threadpool_limits(limits=1):
        yield
