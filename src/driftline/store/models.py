"""Plain records returned by the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EDGE_KINDS = (
    "finetune",
    "prune",
    "distill",
    "merge",
    "quantize",
    "adapter",
    "repair",
    "route",
    "other",
)
"""The kinds of transformation an edge records (``Store.register(transform=...)``)."""


@dataclass(frozen=True)
class Model:
    """A lineage node: a model version identified by the Merkle root of its tensors."""

    id: str
    name: str
    version: int
    framework: str
    architecture: dict[str, Any] = field(default_factory=dict)
    signature_id: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    kind: str = "model"

    @property
    def ref(self) -> str:
        """Human reference ``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def short_id(self) -> str:
        return self.id[:12]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "ref": self.ref,
            "kind": self.kind,
            "framework": self.framework,
            "architecture": self.architecture,
            "signature_id": self.signature_id,
            "metrics": self.metrics,
            "tags": self.tags,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class Edge:
    """A typed transformation from ``parent`` to ``child``."""

    parent: str
    child: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    data_stats: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "parent": self.parent,
            "child": self.child,
            "kind": self.kind,
            "params": self.params,
            "metrics": self.metrics,
            "data_stats": self.data_stats,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class TensorInfo:
    """One row of a model's tensor manifest."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    blob: str


@dataclass(frozen=True)
class Relative:
    """A node reached from another, with its shortest hop count."""

    id: str
    hops: int
    name: str
    version: int


def model_from_row(row: Any) -> Model:
    """A :class:`Model` from a ``models`` row."""
    return Model(
        id=row.id,
        name=row.name,
        version=row.version,
        framework=row.framework,
        architecture=row.architecture or {},
        signature_id=row.signature_id,
        metrics=row.metrics or {},
        tags=row.tags or {},
        created_at=row.created_at,
        kind=row.kind,
    )


def edge_from_row(row: Any) -> Edge:
    """An :class:`Edge` from an ``edges`` row."""
    return Edge(
        parent=row.parent,
        child=row.child,
        kind=row.kind,
        params=row.params or {},
        metrics=row.metrics or {},
        data_stats=row.data_stats or {},
        created_at=row.created_at,
    )
