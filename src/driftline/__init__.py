"""driftline: model lineage, drift agents and lineage-guided repair in one loop.

Quick start::

    import driftline
    store = driftline.open()                      # ./.driftline, or $DRIFTLINE_STORE, or a URL
    base = store.register(model, name="digits", data=X_train)
    child = store.register(tuned, name="digits", parents=[base], transform="finetune",
                           params={"epochs": 3}, metrics={"acc": 0.97}, data=X_new)
    store.ancestors(child)                        # [(id, hops, name, version), ...]
    params = store.load("digits@1")               # dict[str, np.ndarray]
"""

from __future__ import annotations

import os

from driftline import errors
from driftline.store import Edge, Model, Relative, Store
from driftline.store.training_data import TrainingStatistics, set_default_statistics

__version__ = "0.1.0"


def _drift_statistics() -> TrainingStatistics:
    """The store's default training statistics (imported when first needed: the store may not
    import drift's computing modules, and importing the package stays light)."""
    from driftline.drift.lineage_stats import DriftStatistics

    return DriftStatistics()


set_default_statistics(_drift_statistics)

__all__ = ["open", "monitor", "Store", "Model", "Edge", "Relative", "errors", "__version__"]

# Load the submodule first: importing driftline.monitor later (e.g. by driftline.serve) would
# otherwise replace the function below with the module on the package.
from driftline import monitor as _monitor_module  # noqa: E402, F401


def monitor(store: Store, target: str, **kwargs: object):  # type: ignore[no-untyped-def]
    """A drift agent bound to a deployment or model (see :class:`driftline.monitor.BoundAgent`)."""
    from driftline.monitor import BoundAgent

    return BoundAgent(store, target, **kwargs)  # type: ignore[arg-type]


def open(location: str | os.PathLike | None = None, **kwargs: object) -> Store:  # noqa: A001
    """Open (creating if needed) a store: a folder, a database URL, or the default location."""
    return Store(location, **kwargs)  # type: ignore[arg-type]
