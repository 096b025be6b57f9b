"""Lineage-guided repair: healthy-ancestor search, repair vectors, α search, the pipeline."""

from driftline.repair.ancestors import AncestorRow, AncestorSearch, find_healthy_ancestor
from driftline.repair.families import CallableFamily, Predictor, SklearnFamily, TorchFamily
from driftline.repair.pipeline import (
    RepairPolicy,
    RepairResult,
    approve_repair,
    list_repairs,
    load_repair,
    repair,
)

__all__ = [
    "AncestorRow",
    "AncestorSearch",
    "CallableFamily",
    "Predictor",
    "RepairPolicy",
    "RepairResult",
    "SklearnFamily",
    "TorchFamily",
    "approve_repair",
    "find_healthy_ancestor",
    "list_repairs",
    "load_repair",
    "repair",
]
