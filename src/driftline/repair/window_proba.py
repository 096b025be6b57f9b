"""A stored model as the ``predict_proba`` of a drift agent's model-aware report.

The agent hands the window's rows as named columns; the model gets exactly its input columns,
by name and in its order (:func:`~driftline.repair.model_input.model_matrix`). The CBPE
calibration is the model metric ``cbpe`` when it was registered with one, else none (raw
top-class probability, see :mod:`driftline.drift.model_aware`). A model metric ``lineage_cbpe``
(``{"parts": [CBPE dicts], "regimes": [model refs or signature ids]}``, one per lineage regime)
makes the reported estimate the lineage-aware one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.drift.model_aware import ModelAwareSettings
from driftline.drift.performance import CBPE, LineageCBPE
from driftline.drift.tabular import Columns
from driftline.repair.evaluation import family_for
from driftline.repair.model_input import input_names, model_matrix
from driftline.store import Model, Store


def window_proba(store: Store, model: Model, signature: Any) -> Callable[[Columns], np.ndarray]:
    """``cols -> (rows, classes)`` probabilities of ``model`` (raises if it cannot predict)."""
    fam = family_for(model)
    params = store.load(model.id)
    names = input_names(model, signature)

    def proba(cols: Columns) -> np.ndarray:
        return np.asarray(fam.predict_proba(params, model_matrix(cols, names)), np.float64)

    return proba


def model_aware_settings(
    store: Store, model: Model, signature: Any, *, estimate: bool, multivariate: bool
) -> ModelAwareSettings | None:
    """Settings for ``driftline agent --estimate-accuracy / --multivariate`` (None: both off)."""
    if not (estimate or multivariate):
        return None
    cbpe = (model.metrics or {}).get("cbpe")
    lineage = (model.metrics or {}).get("lineage_cbpe")
    lineage = lineage if estimate and isinstance(lineage, dict) else None
    return ModelAwareSettings(
        predict_proba=window_proba(store, model, signature) if estimate else None,
        cbpe=CBPE.from_dict(cbpe) if estimate and isinstance(cbpe, dict) else None,
        multivariate=multivariate,
        lineage_cbpe=LineageCBPE.from_dict(lineage) if lineage else None,
        regime_signatures=[store.signature(r) for r in lineage["regimes"]] if lineage else (),
    )
