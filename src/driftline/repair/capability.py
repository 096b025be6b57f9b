"""Repair by capability: which repairs a model admits, chosen automatically and explained.

* **weight space** — parametric classifiers whose tensors match the ancestor's (linear, MLP,
  torch with the original families): the pipeline's own path (weight interpolation, routing).
* **candidate table** — everything else: trees, forests, boosters (LightGBM, XGBoost,
  HistGradientBoosting), Pipelines, ONNX graphs, regressors, and children whose shapes differ
  from their ancestor (distilled, pruned). Rows, each scored on the same labelled rows:

  - ``drifted`` (as it serves) and ``rollback`` (the ancestor);
  - ``output-interpolation``: p = (1 − α)·p_d + α·p_a (any family);
  - ``weight-interpolation``: θ(α) = θ_d + α·(θ_a − θ_d) when the family is parametric and the
    tensors match (scalers and coefficients of a Pipeline together, ONNX float initializers);
  - ``continued-training`` from the better of drifted/ancestor (:mod:`continued`);
  - ``routing`` (classifiers): the lineage mixture of :mod:`driftline.repair.routed_model`.

  Which labels fit, choose and only report: :mod:`driftline.repair.capability_select`
  (held-out rows, then rows fitted on one half of the choose rows and scored on the other, both
  ways; the winner is refitted on every choose row and must not be worse than the drifted model
  on the held-out rows).
  The α search is the pipeline's (grid + golden section, ≤ ``policy.max_evals``) on calibrated
  log-loss for classifiers and ``policy.regression_loss`` (MSE or MAE) for regressors.
  Deploy rule: classifiers as the pipeline (accuracy gain ≥ ``min_gain``); regressors when the
  loss falls by at least ``min_gain`` relative to the drifted model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from driftline.repair.evaluation import family_for
from driftline.repair.model_family import ModelFamily
from driftline.store import Model, Store


class Capability(StrEnum):
    WEIGHT_SPACE = "weight-space"
    CANDIDATE_TABLE = "candidate-table"


@dataclass(frozen=True)
class Plan:
    """What the drifted model admits, and why."""

    capability: Capability
    task: str
    parametric: bool
    same_shapes: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "capability": self.capability.value,
            "task": self.task,
            "parametric": self.parametric,
            "same_shapes": self.same_shapes,
            "reason": self.reason,
        }


def _same_shapes(store: Store, a: str, b: str) -> bool:
    ma = {(t.name, t.dtype, tuple(t.shape)) for t in store.manifest(a)}
    mb = {(t.name, t.dtype, tuple(t.shape)) for t in store.manifest(b)}
    return ma == mb


def _same_classes(a: Model, b: Model) -> bool:
    """Whether both record the same class labels in the same order (or neither records any):
    weights of equally shaped models trained on other labels (one of them without a class,
    the other with a new one) belong to other classes row by row and must not be mixed."""
    ca, cb = a.architecture.get("classes"), b.architecture.get("classes")
    return ca is None or cb is None or list(ca) == list(cb)


def plan_repair(store: Store, drifted: Model, ancestor_id: str, family: Any = None) -> Plan:
    """Choose the repair path for ``drifted`` toward ``ancestor_id``."""
    fam = family_for(drifted, family)
    task = str(getattr(fam, "task", "classifier"))
    parametric = bool(getattr(fam, "parametric", True))
    same = _same_shapes(store, drifted.id, ancestor_id)
    same_classes = _same_classes(drifted, store.get(ancestor_id))
    if not isinstance(fam, ModelFamily) and task == "classifier" and same and same_classes:
        return Plan(
            Capability.WEIGHT_SPACE,
            task,
            True,
            True,
            "parametric classifier with the ancestor's tensors: weight interpolation",
        )
    why = []
    if task != "classifier":
        why.append("a regressor (decisions on validation loss)")
    if not parametric:
        why.append(
            f"{drifted.framework} {drifted.architecture.get('estimator', '')}".strip()
            + " has no meaningful weight space"
        )
    if not same:
        why.append("its tensors differ from the ancestor's (distilled/pruned/retrained)")
    if not same_classes:
        why.append("it predicts other classes than the ancestor (outputs aligned by label)")
    if not why:
        why.append("structured model: every repair is compared")
    return Plan(Capability.CANDIDATE_TABLE, task, parametric, same, "; ".join(why))
