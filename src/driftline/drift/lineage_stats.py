"""Statistics a lineage edge records about its training data: moments and drift vs parents.

Pure functions over signatures and tables (no store). :class:`DriftStatistics` bundles them as the
training-statistics strategy that :meth:`driftline.store.Store.register` calls *before* its write
transaction (see :mod:`driftline.store.training_data`), so a large table's comparison with its
parents never holds the store's write lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from driftline.drift.agent import compare
from driftline.drift.report import drift_score
from driftline.drift.roles import input_schema
from driftline.drift.signature import Signature

_MAX_METRICS = ("psi", "ks", "kl", "js")


def training_stats(signature: Signature) -> dict[str, Any]:
    """``{signature_id, n_rows, moments}``: the data's identity, size and per-feature moments
    (:meth:`Signature.summary`)."""
    return {
        "signature_id": signature.id,
        "n_rows": int(signature.n_rows),
        "moments": signature.summary(),
    }


def parent_drift(data: Any, parent_signatures: Mapping[str, Signature]) -> dict[str, Any]:
    """Drift of ``data`` against each parent's training signature (one window, :func:`compare`):
    per parent key, ``{parent_signature_id, drift, score, drifted_features, n_features, max}``
    with ``score`` = :func:`drift_score` (the largest PSI) and ``max`` the largest PSI, KS, KL
    and JS over features.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> parent = Signature.from_data(rng.normal(size=(2000, 2)))
    >>> out = parent_drift(rng.normal(3.0, 1.0, size=(2000, 2)), {"p": parent})
    >>> out["p"]["drift"], out["p"]["n_features"]
    (True, 2)
    """
    out: dict[str, Any] = {}
    for key, psig in parent_signatures.items():
        report = compare(psig, data)
        out[key] = {
            "parent_signature_id": psig.id,
            "drift": bool(report.drift),
            "score": float(drift_score(report)),
            "drifted_features": report.drifted_features,
            "n_features": len(report.features),
            "max": {m: max(report.metric(m).values(), default=None) for m in _MAX_METRICS},
        }
    return out


class DriftStatistics:
    """The training-statistics strategy of :meth:`driftline.store.Store.register` (structurally a
    :class:`driftline.store.training_data.TrainingStatistics`)."""

    def signature(self, data: object) -> Signature:
        """:meth:`Signature.from_data` of the training table."""
        return Signature.from_data(data)

    def input_schema(self, data: object, signature: Signature) -> dict[str, Any]:
        """:func:`driftline.drift.roles.input_schema`."""
        return input_schema(data, signature)

    def edge_stats(
        self, signature: Signature, data: object | None, parents: Mapping[str, Signature]
    ) -> dict[str, Any]:
        """:func:`training_stats` plus ``drift_vs_parent`` (:func:`parent_drift`, with data)."""
        stats = training_stats(signature)
        if data is not None and parents:
            drift = parent_drift(data, parents)
            if drift:
                stats["drift_vs_parent"] = drift
        return stats
