"""A drift agent bound to a stored model or deployment: reports go to the store, drift fires a
callback, and (optionally) the repair pipeline runs on the drifted window.

    agent = driftline.monitor(store, "digits", on_drift=print,
                              repair_with=(X_val, y_val), policy=RepairPolicy(drift_share=0.4))
    for batch in stream:
        agent.update(batch)

The package imports this module eagerly (so that ``driftline.monitor`` stays the function, see
``driftline/__init__.py``); it therefore imports numpy and the drift package only where used.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: ``import driftline`` loads this module (the name clash)
    from driftline.drift import DriftReport
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
        from driftline.drift import DriftAgent

        self.agent = DriftAgent(self.store.signature(self.model_id), **self.agent_kwargs)
        self._rows = WindowRows(self.agent.reference.feature_names)
        self._offset = 0  # global row index (in this agent's count) of the first buffered row

    def update(self, batch: Any) -> list[DriftReport]:
        """Feed a batch; returns the reports of the windows it completed."""
        if self.repair_with is not None:
            self._rows.add(batch)
        out: list[DriftReport] = []
        for r in self.agent.update(batch):
            out.append(r)
            leftover = self._handle(r)
            if leftover is not None:  # re-bound to a repaired model: replay the rest of the batch
                if rows_of(leftover):
                    out += self.update(leftover)
                break
        return out

    def _window_rows(self, report: DriftReport) -> tuple[Any, Any] | None:
        """(rows [start_row, end_row) of the report, rows after it); drops buffered rows before
        start_row."""
        if self.repair_with is None or not self._rows.parts:
            return None
        lo, hi = max(report.start_row - self._offset, 0), report.end_row - self._offset
        window, after = self._rows.split(lo, hi)
        self._offset += lo
        return window, after

    def _handle(self, report: DriftReport) -> Any:
        """Save, call back, repair; returns the rows after the window when it re-bound."""
        self.reports.append(report)
        self.report_ids.append(self.store.save_drift_report(self.model_id, report, self.deployment))
        rows = self._window_rows(report)
        if not report.drift:
            return None
        if self.on_drift is not None:
            self.on_drift(report)
        if rows is not None and rows_of(rows[0]):
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


class WindowRows:
    """The buffered rows of the current window, kept as the batches gave them: a 2-D array's
    rows, or named columns (every column, categories and dates included), so the model later
    gets its own inputs by name (:mod:`driftline.repair.model_input`), not a float matrix of
    the signature's features. A bare array in a stream of tables is named after ``names``."""

    def __init__(self, names: list[str]) -> None:
        self.names = list(names)
        self.parts: list[Any] = []

    def add(self, batch: Any) -> None:
        import numpy as np

        from driftline.drift import to_columns

        if isinstance(batch, np.ndarray) and batch.ndim == 2:
            self.parts.append(batch)
        else:
            self.parts.append(to_columns(batch))

    def _joined(self) -> Any:
        import numpy as np

        from driftline.drift import to_columns

        if all(isinstance(p, np.ndarray) for p in self.parts):
            return np.vstack(self.parts)
        tables = [to_columns(p, self.names) if isinstance(p, np.ndarray) else p for p in self.parts]
        keys = [k for k in tables[0] if all(k in t for t in tables)]
        return {k: np.concatenate([t[k] for t in tables]) for k in keys}

    def split(self, lo: int, hi: int) -> tuple[Any, Any]:
        """(rows [lo, hi), rows from hi on); keeps rows from ``lo`` on."""
        buf = self._joined()
        self.parts = [_rows(buf, lo, None)]
        return _rows(buf, lo, hi), _rows(buf, hi, None)


def _rows(data: Any, lo: int, hi: int | None) -> Any:
    import numpy as np

    if isinstance(data, np.ndarray):
        return data[lo:hi]
    return {k: v[lo:hi] for k, v in data.items()}


def rows_of(data: Any) -> int:
    """Row count of a 2-D array or of named columns."""
    import numpy as np

    if isinstance(data, np.ndarray):
        return len(data)
    return len(next(iter(data.values()))) if data else 0


def monitor(store: Store, target: str, **kwargs: Any) -> BoundAgent:
    """Bind a drift agent to a deployment or model; see :class:`BoundAgent`."""
    return BoundAgent(store, target, **kwargs)
