"""A model's training data as :meth:`Store.register` persists it, computed before the write.

The store persists and never computes statistics. What registration records about training data
(the signature, the input schema, and each edge's ``data_stats``: moments and drift against every
parent's training signature) is computed by a :class:`TrainingStatistics` strategy, outside any
transaction, from the parents' signatures read beforehand; the write transaction only stores the
result. The strategy lives above the store (:class:`driftline.drift.lineage_stats.DriftStatistics`)
and is injected with ``Store(statistics=...)``; the package root (``driftline/__init__.py``)
wires it as the default with :func:`set_default_statistics`, lazily, so importing the store
stays light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from driftline.errors import InvalidInputError

if TYPE_CHECKING:
    from driftline.drift.signature import Signature


class TrainingStatistics(Protocol):
    """What registration needs computed about training data (implemented above the store)."""

    def signature(self, data: object) -> Signature:
        """The signature (sketch) of a training table."""
        ...

    def input_schema(self, data: object, signature: Signature) -> dict[str, Any]:
        """The model's input schema (names, dtypes, categories, roles; JSON-able)."""
        ...

    def edge_stats(
        self, signature: Signature, data: object | None, parents: Mapping[str, Signature]
    ) -> dict[str, Any]:
        """An edge's ``data_stats``: the data's moments and, with ``data``, its drift against
        each parent's training signature (``parents``: parent model id -> signature)."""
        ...


@dataclass(frozen=True)
class TrainingData:
    """The computed record of a model's training data, ready to store."""

    signature: Signature
    edge_stats: dict[str, Any] = field(default_factory=dict)
    input_schema: dict[str, Any] | None = None


_default: list[Callable[[], TrainingStatistics]] = []


def set_default_statistics(factory: Callable[[], TrainingStatistics]) -> None:
    """Make ``factory()`` the strategy of every store built without ``statistics=`` (called
    once by the package root; the factory runs at the first registration with data)."""
    _default[:] = [factory]


def default_statistics() -> TrainingStatistics:
    """The wired default strategy (see :func:`set_default_statistics`)."""
    if not _default:
        raise InvalidInputError(
            "register(data=/signature=) needs a training-statistics strategy: import driftline "
            "(which wires driftline.drift.lineage_stats.DriftStatistics) or pass "
            "Store(statistics=...)"
        )
    return _default[0]()


def is_signature(obj: object) -> bool:
    """Whether ``obj`` has the shape of a :class:`~driftline.drift.Signature` (checked without
    importing drift's computing modules)."""
    return all(hasattr(obj, a) for a in ("to_bytes", "id", "features", "n_rows"))


def describe(
    stats: TrainingStatistics,
    data: object | None,
    signature: Signature | None,
    parents: Mapping[str, Signature],
    *,
    needs_schema: bool,
) -> TrainingData:
    """Compute everything registration stores about the training data (no store access):
    the signature (``signature`` or built from ``data``), the input schema (with ``data``,
    when ``needs_schema``) and the edge statistics against ``parents``."""
    if signature is None:
        signature = stats.signature(data)
    if not is_signature(signature):
        raise InvalidInputError("signature= must be a driftline.drift.Signature")
    schema = stats.input_schema(data, signature) if data is not None and needs_schema else None
    edge = stats.edge_stats(signature, data, parents if data is not None else {})
    return TrainingData(signature, edge, schema)
