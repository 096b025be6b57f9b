"""A drift agent bound to a stored model or deployment: reports go to the store, drift fires a
callback, and (optionally) the repair pipeline runs on the drifted window.

    agent = driftline.monitor(store, "digits", on_drift=print,
                              repair_with=(X_val, y_val), policy=RepairPolicy(drift_share=0.4))
    for batch in stream:
        agent.update(batch)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from driftline.drift import DriftAgent, DriftReport, to_columns
from driftline.store import Store


class BoundAgent:
    """A :class:`~driftline.drift.DriftAgent` on the training signature of the model behind
    ``target`` (a deployment name or model reference).

    Every finished window's report is saved with :meth:`Store.save_drift_report`; a drifting one
    calls ``on_drift(report)``. With ``repair_with=(X_val, y_val)`` (or ``repair_with="unlabelled"``)
    the bound agent also keeps the current window's rows (memory: one window) and runs
    :func:`driftline.repair.repair` on them; after a deployment switch it re-binds to the new
    model's signature. Without it the agent holds only O(features × bins) state.
    """

    def __init__(
        self,
        store: Store,
        target: str,
        *,
        on_drift: Callable[[DriftReport], Any] | None = None,
        repair_with: tuple[Any, Any] | str | None = None,
        policy: Any = None,
        **agent_kwargs: Any,
    ) -> None:
        from driftline.repair.pipeline import resolve_target

        self.store = store
        self.target = target
        self.model_id, self.deployment = resolve_target(store, target)
        self.on_drift = on_drift
        self.repair_with = repair_with
        self.policy = policy
        self.agent_kwargs = agent_kwargs
        self.repairs: list[Any] = []
        self.reports: list[DriftReport] = []
        self.report_ids: list[int] = []  # store ids of the saved reports, in order
        self._bind()

    def _bind(self) -> None:
        self.agent = DriftAgent(self.store.signature(self.model_id), **self.agent_kwargs)
        self._rows: list[np.ndarray] = []
        self._offset = 0  # global row index (in this agent's count) of the first buffered row

    def update(self, batch: Any) -> list[DriftReport]:
        """Feed a batch; returns the reports of the windows it completed."""
        if self.repair_with is not None:
            cols = to_columns(batch)
            names = self.agent.reference.feature_names
            if all(n in cols for n in names):
                self._rows.append(
                    np.column_stack([np.asarray(cols[n], dtype=np.float64) for n in names])
                )
        out: list[DriftReport] = []
        for r in self.agent.update(batch):
            out.append(r)
            leftover = self._handle(r)
            if leftover is not None:  # re-bound to a repaired model: replay the rest of the batch
                if len(leftover):
                    names = self.agent.reference.feature_names
                    out += self.update({n: leftover[:, i] for i, n in enumerate(names)})
                break
        return out

    def _window_rows(self, report: DriftReport) -> tuple[np.ndarray, np.ndarray] | None:
        """(rows [start_row, end_row) of the report, rows after it); drops buffered rows before
        start_row."""
        if self.repair_with is None or not self._rows:
            return None
        buf = np.vstack(self._rows)
        lo, hi = max(report.start_row - self._offset, 0), report.end_row - self._offset
        self._rows, self._offset = [buf[lo:]], self._offset + lo
        return buf[lo:hi], buf[hi:]

    def _handle(self, report: DriftReport) -> np.ndarray | None:
        """Save, call back, repair; returns the rows after the window when it re-bound."""
        self.reports.append(report)
        self.report_ids.append(self.store.save_drift_report(self.model_id, report, self.deployment))
        rows = self._window_rows(report)
        if not report.drift:
            return None
        if self.on_drift is not None:
            self.on_drift(report)
        if rows is not None and len(rows[0]):
            window, after = rows
            from driftline.repair import repair

            validation = None if isinstance(self.repair_with, str) else self.repair_with
            result = repair(self.store, self.target, window, validation, policy=self.policy)
            self.repairs.append(result)
            if result.deployed and result.repaired_id:
                self.model_id = result.repaired_id
                self._bind()
                return after
        return None


def monitor(store: Store, target: str, **kwargs: Any) -> BoundAgent:
    """Bind a drift agent to a deployment or model; see :class:`BoundAgent`."""
    return BoundAgent(store, target, **kwargs)
