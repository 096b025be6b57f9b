"""driftline: model lineage, drift agents and lineage-guided repair in one loop.

Quick start::

    import driftline
    store = driftline.open()                      # ./.driftline, or $DRIFTLINE_STORE, or a URL
    base = store.register(model, name="digits", data=X_train)
    child = store.register(tuned, name="digits", parents=[base], transform="finetune",
                           params={"epochs": 3}, metrics={"acc": 0.97}, data=X_new)
    store.ancestors(child)                        # [(id, hops, name, version), ...]
    params = store.load("digits@1")               # dict[str, np.ndarray]

``import driftline`` is cheap: ``Store``, ``Model``, ``Edge`` and ``Relative`` are loaded on
first use (module ``__getattr__``), so the ``driftline`` command starts without SQLAlchemy,
NumPy or SciPy until a command needs them.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from driftline import errors

# Load the (light) submodule first: importing driftline.monitor later (e.g. by driftline.serve)
# would otherwise replace the function below with the module on the package.
from driftline import monitor as _monitor_module  # noqa: F401

# The store package and its training_data module are light (lazy exports, no SQLAlchemy yet).
from driftline.store.training_data import TrainingStatistics, set_default_statistics

if TYPE_CHECKING:
    from driftline.monitor import BoundAgent
    from driftline.store import Edge, Model, Relative, Store

__version__ = "0.1.0"


def _drift_statistics() -> TrainingStatistics:
    """The store's default training statistics (imported when first needed: the store may not
    import drift's computing modules, and importing the package stays light)."""
    from driftline.drift.lineage_stats import DriftStatistics

    return DriftStatistics()


set_default_statistics(_drift_statistics)

__all__ = ["open", "monitor", "Store", "Model", "Edge", "Relative", "errors", "__version__"]

_LAZY = {"Store": "driftline.store", "Model": "driftline.store", "Edge": "driftline.store"}
_LAZY["Relative"] = "driftline.store"


def __getattr__(name: str) -> Any:
    """The store's public classes, imported on first access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'driftline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def monitor(store: Store, target: str, **kwargs: Any) -> BoundAgent:
    """A drift agent bound to a deployment or model (see :class:`driftline.monitor.BoundAgent`)."""
    from driftline.monitor import BoundAgent

    return BoundAgent(store, target, **kwargs)


def open(location: str | os.PathLike[str] | None = None, **kwargs: Any) -> Store:  # noqa: A001
    """Open (creating if needed) a store: a folder, a database URL, or the default location."""
    from driftline.store import Store

    return Store(location, **kwargs)
