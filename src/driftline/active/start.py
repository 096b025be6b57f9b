"""Where active learning starts: the best model in the repair's candidate table that has
parameters to refine — the pipeline's repair, the drifted model, the chosen ancestor and the
drifted model's ancestors within ``hops`` (a rollback-able state), also after a ``no-drift``
result. Scored on the validation data by (accuracy, −log-loss) (:func:`repair.decide.rank_key`);
ties keep the earlier one in that order. Without validation data: the pipeline's repair.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.repair.decide import rank_key
from driftline.repair.evaluation import score

__all__ = ["start_candidates", "best_start"]


def start_candidates(store: Any, result: Any, hops: int) -> list[str]:
    """Model ids in preference order: repaired, drifted, ancestor, then lineage ancestors."""
    ids = [result.repaired_id, result.drifted_id, result.ancestor_id]
    ids += [rel.id for rel in store.ancestors(result.drifted_id, max_hops=hops)]
    return list(dict.fromkeys(i for i in ids if i))


def best_start(
    store: Any,
    result: Any,
    family: Any,
    names: set[str],
    validation: tuple[np.ndarray, np.ndarray] | None,
    classes: np.ndarray,
    hops: int,
) -> tuple[str, Any, dict[str, float]] | None:
    """``(id, params, validation scores)`` of the best start, or None without validation."""
    if validation is None:
        return None
    X_val, y_val = validation
    best = None
    for mid in start_candidates(store, result, hops):
        try:
            params = store.load(mid)
            if set(params) != names:
                continue  # another architecture (a routed repair): nothing to refine
            s = score(family.predict_proba(params, X_val), y_val, classes).to_dict()
        except (UnsupportedModelError, InvalidInputError, ValueError, KeyError):
            continue
        if best is None or rank_key(s) > rank_key(best[2]):
            best = (mid, params, s)
    return best
