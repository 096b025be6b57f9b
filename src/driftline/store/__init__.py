"""The lineage store: models, edges, tensors, signatures, deployments.

The public names load on first access (module ``__getattr__``), so importing a light submodule
such as :mod:`driftline.store.training_data` does not pull in SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftline.store.graph import Relative
    from driftline.store.models import Edge, Model, TensorInfo
    from driftline.store.schema import SCHEMA_VERSION
    from driftline.store.store import EDGE_KINDS, Store

__all__ = ["Store", "Model", "Edge", "TensorInfo", "Relative", "EDGE_KINDS", "SCHEMA_VERSION"]

_HOME = {
    "Store": "driftline.store.store",
    "EDGE_KINDS": "driftline.store.store",
    "Model": "driftline.store.models",
    "Edge": "driftline.store.models",
    "TensorInfo": "driftline.store.models",
    "Relative": "driftline.store.graph",
    "SCHEMA_VERSION": "driftline.store.schema",
}


def __getattr__(name: str) -> Any:
    """The package's public names, imported on first access."""
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'driftline.store' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
