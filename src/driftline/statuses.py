"""Every status a record or result can carry, as string enums (``StrEnum``: each member *is* its
string, so stored rows, JSON and comparisons with plain strings keep working).

One module for all three families, so the store can persist them without importing the packages
that produce them.

>>> RepairStatus("needs-labels") is RepairStatus.NEEDS_LABELS
True
>>> RepairStatus.DEPLOYED == "deployed"
True
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["LabelStatus", "RefinementStatus", "RepairStatus"]


class RepairStatus(StrEnum):
    """Outcome of one ``repair()`` call, stored in the repair record."""

    NO_DRIFT = "no-drift"  # inputs and (given labels) performance unchanged
    HARMLESS_DRIFT = "harmless-drift"  # inputs moved, estimated performance did not
    DEPLOYED = "deployed"  # a candidate cleared the policy and now serves
    AWAITING_APPROVAL = "awaiting-approval"  # a candidate waits for `driftline approve`
    NOT_DEPLOYED = "not-deployed"  # registered only (no deployment named)
    NEEDS_LABELS = "needs-labels"  # no candidate clears the policy; label to go on
    WAITING_FOR_LABELS = "waiting-for-labels"  # label requests are queued for this repair


class LabelStatus(StrEnum):
    """State of one label request in the queue."""

    PENDING = "pending"
    LABELLED = "labelled"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class RefinementStatus(StrEnum):
    """Why an active-learning run stopped."""

    WAITING_FOR_LABELS = "waiting-for-labels"
    TARGET_MET = "target-met"
    DEPLOYED = "deployed"
    BUDGET_EXHAUSTED = "budget-exhausted"
    POOL_EXHAUSTED = "pool-exhausted"
