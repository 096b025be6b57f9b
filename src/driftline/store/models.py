"""Plain records returned by the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
