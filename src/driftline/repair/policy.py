"""What a repair may do and when it may deploy: :class:`RepairPolicy` (frozen settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RepairPolicy"]


@dataclass(frozen=True)
class RepairPolicy:
    """What the pipeline may do and when it may deploy.

    The repaired model is deployed when validation labels exist, its validation accuracy is at
    least ``target_accuracy`` (if set) and beats the drifted model's by at least ``min_gain``
    (default one percentage point: a repair that changes nothing measurable is not deployed).
    ``drift_share``/``thresholds`` configure the drift agent used for detection and for judging
    ancestors (``drift_share`` 0.4: a data set drifts when 40% of its features drift — suited to
    wide, redundant inputs such as pixels; None: any drifting feature).
    """

    target_accuracy: float | None = None
    min_gain: float = 0.01
    alpha_range: tuple[float, float] = (0.0, 1.0)
    max_evals: int = 12
    per_tensor: bool = False
    per_tensor_evals: int = 16
    sparse_fraction: float | None = None
    drift_share: float | None = None
    thresholds: Mapping[str, float | None] | None = None
    max_hops: int | None = None
    auto_deploy: bool = True
    force: bool = False
    routing: bool = True
    routing_mix_threshold: float = 0.9
    #: labels: the deployed model is "performing" unless below its reference accuracy with
    #: p < performance_alpha and by >= min_performance_drop (see repair.concept)
    performance_alpha: float = 0.01
    min_performance_drop: float = 0.05
    #: repair drifting inputs only when the (estimated) accuracy drop reaches this; None = always
    min_estimated_drop: float | None = None
    #: how an ancestor's training data is judged against today's window: "effect" (default:
    #: materially similar, every effect size below its threshold; a calibrated test at large n
    #: also flags small real differences that do not make a poor starting point) or any agent
    #: rule ("calibrated", "bonferroni", "bh"). Detection always uses the agent's default rule.
    ancestor_rule: str = "effect"
    regression_loss: str = "mse"  # or "mae": α and decisions for regressors
    #: selection without overfitting (repair.selection): with at least ``min_held_out_labels``
    #: labels this share of them is held out (nothing fitted or chosen there) and reported as
    #: the candidate table's ``held_out`` column; the winner must beat the drifted model there
    #: by at least one paired standard error (or match it row for row)
    held_out_fraction: float = 1 / 3
    min_held_out_labels: int = 40
    #: continued training from the best weight-space row (gradient families): steps, learning
    #: rate and L2 pull toward the starting parameters; 0 steps = no continued-training row
    continued_steps: int = 20
    continued_lr: float = 0.01
    continued_l2: float = 0.01

    def agent_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.drift_share is not None:
            kw["drift_share"] = self.drift_share
        if self.thresholds:
            kw["thresholds"] = dict(self.thresholds)
        return kw

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["alpha_range"] = list(self.alpha_range)
        d["thresholds"] = dict(self.thresholds or {})
        return d
