"""What one repair did: :class:`RepairResult`, the JSON record stored per repair."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from driftline.jsonutil import jsonable
from driftline.statuses import RepairStatus
from driftline.store.repairs import Switch

__all__ = ["RepairResult"]


@dataclass
class RepairResult:
    """What a repair did; ``status`` is a :class:`~driftline.statuses.RepairStatus`.

    ``candidates`` is the candidate table (name → scores on the validation rows that chose),
    ``held_out`` the same candidates on rows that did not choose, ``chosen`` the row that was
    registered, ``before``/``after`` the drifted model's and the chosen row's scores.
    """

    status: RepairStatus
    drifted_id: str
    drift_report_id: int | None = None
    search: dict[str, Any] = field(default_factory=dict)
    ancestor_id: str | None = None
    healthy_ancestor: bool = False
    alpha: float | None = None
    alpha_objective: str | None = None
    alpha_evaluations: list[tuple[float, float]] = field(default_factory=list)
    per_tensor_alpha: dict[str, float] | None = None
    vector: dict[str, Any] = field(default_factory=dict)
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    candidates: dict[str, dict[str, float]] = field(default_factory=dict)
    #: each candidate on validation rows not used to fit or choose (repair.selection)
    held_out: dict[str, dict[str, float]] = field(default_factory=dict)
    #: label-free ranking score per candidate (repair.proxy; higher is better)
    proxy: dict[str, float] = field(default_factory=dict)
    selection: dict[str, Any] = field(default_factory=dict)  # rows that chose / held out
    chosen: str | None = None
    routing: dict[str, Any] = field(default_factory=dict)
    regime_mix: dict[str, float] = field(default_factory=dict)
    repaired_id: str | None = None
    repaired_ref: str | None = None
    deployment: str | None = None
    deployed: bool = False
    repair_id: int | None = None
    message: str = ""
    seconds: float = 0.0
    performance: dict[str, Any] = field(default_factory=dict)
    concept_drift: bool = False
    capability: dict[str, Any] = field(default_factory=dict)
    active: dict[str, Any] = field(default_factory=dict)  # what active learning did last
    #: the deployment switch to apply in the same transaction as the record (not stored)
    pending_switch: Switch | None = field(default=None, repr=False, compare=False)

    @property
    def needs_labels(self) -> bool:
        return self.status in (RepairStatus.NEEDS_LABELS, RepairStatus.WAITING_FOR_LABELS)

    def stage_deploy(self, model_id: str, reason: str, actor: str) -> None:
        """Mark as deployed; the switch happens when the record is written (one transaction)."""
        assert self.deployment is not None
        self.pending_switch = Switch(model_id, self.deployment, reason, actor)
        self.status, self.deployed = RepairStatus.DEPLOYED, True

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("pending_switch", None)
        d["status"] = str(self.status)
        out: dict[str, Any] = jsonable(d)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RepairResult:
        d = dict(d)
        d["alpha_evaluations"] = [tuple(x) for x in d.get("alpha_evaluations", [])]
        if "status" in d:
            d["status"] = RepairStatus(d["status"])
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})
