"""Rollback rows of the candidate table: every lineage member within reach (the ancestor
search's rows) that has the drifted model's tensors, scored on the same validation rows as it
serves (no re-estimation). A rollback row that wins and clears the policy deploys that member
itself — no new node."""

from __future__ import annotations

from typing import Any

import numpy as np

from driftline.errors import InvalidInputError, UnsupportedModelError
from driftline.repair.evaluation import score

PREFIX = "rollback "

__all__ = ["PREFIX", "score_rollbacks"]


def score_rollbacks(
    store: Any,
    family: Any,
    search: Any,
    names: set[str],
    X_val: np.ndarray,
    y_val: np.ndarray,
    classes: np.ndarray,
) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """(``{"rollback name@v": id}``, ``{"rollback name@v": validation scores}``)."""
    ids: dict[str, str] = {}
    rows: dict[str, dict[str, float]] = {}
    for r in search.rows:
        try:
            params = store.load(r.id)
            if set(params) != names:
                continue
            s = score(family.predict_proba(params, X_val), y_val, classes).to_dict()
        except (UnsupportedModelError, InvalidInputError, ValueError, KeyError):
            continue
        ids[PREFIX + r.ref], rows[PREFIX + r.ref] = r.id, s
    return ids, rows
