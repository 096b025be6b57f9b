"""What a refinement run returns: one :class:`RoundRecord` per round and the
:class:`ActiveLearningResult` of the whole run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from driftline.statuses import RefinementStatus

__all__ = ["ActiveLearningResult", "RoundRecord"]


@dataclass
class RoundRecord:
    """One refinement round: labels used so far, the round's model, α, fine-tuning, and
    validation scores of the previous round's model (``before``) and this one (``after``).
    ``origin``: which candidate won (alpha | fine-tuned | fresh)."""

    round: int
    labels: int
    strategy: str
    model_id: str
    model_ref: str
    alpha: float | None
    per_tensor_alpha: dict[str, float] | None
    fine_tuned: bool
    lr: float | None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    origin: str = "alpha"


@dataclass
class ActiveLearningResult:
    """What the loop did. ``status``: a :class:`~driftline.statuses.RefinementStatus`
    (waiting-for-labels | target-met | deployed | budget-exhausted | pool-exhausted)."""

    status: str
    repair_id: int
    start_id: str
    final_id: str
    final_ref: str
    rounds: list[RoundRecord] = field(default_factory=list)
    labels_used: int = 0
    pending: list[int] = field(default_factory=list)
    requested: list[int] = field(default_factory=list)
    deployed: bool = False
    deployment: str | None = None
    before: dict[str, float] = field(default_factory=dict)
    after: dict[str, float] = field(default_factory=dict)
    message: str = ""
    #: whether running the repair again re-fits on the answered labels (not for a regressor:
    #: its labels are for repairing again with them as validation rows)
    refits: bool = True

    @property
    def waiting(self) -> bool:
        return self.status == RefinementStatus.WAITING_FOR_LABELS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
