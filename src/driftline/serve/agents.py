"""The drift agent beside each deployment, fed by served (or observed) rows off the request
path.

Requests put ``(deployment, model id, rows)`` on a bounded queue and return; one worker thread
feeds each deployment's :class:`driftline.monitor.BoundAgent` (tumbling windows of
``settings.window`` rows), which saves every window's report and, on drift, runs the repair
pipeline (:func:`driftline.repair.repair`) in this worker — never in a request. Validation for
the repair is the deployment's feedback labels when there are at least ``settings.min_feedback``
of them; otherwise the repair runs unlabelled and waits for approval. Each report also gets the
signature of its window, so report pages can plot reference-vs-window distributions.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from driftline.drift import DriftReport, Signature
from driftline.serve.settings import ServeSettings
from driftline.store import Store, serving

log = logging.getLogger("driftline.serve")


def record_window(store: Store, report_id: int, window: Any, names: list[str] | None = None) -> str:
    """Save the signature of a report's window rows beside drift report ``report_id`` (any
    table, or a matrix whose columns are ``names``); returns the signature id."""
    if names is not None:
        window = {n: np.asarray(window)[:, i] for i, n in enumerate(names)}
    sid = store.put_signature(Signature.from_data(window))
    serving.save_window_signature(store.engine, report_id, sid)
    return sid


@dataclass
class AgentState:
    """One deployment's agent and what it has done (shown by the API and the dashboard)."""

    deployment: str
    bound: Any
    rows: list[dict[str, np.ndarray]] = field(default_factory=list)
    offset: int = 0
    rows_seen: int = 0
    reports: list[int] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)
    last_report: dict[str, Any] | None = None
    retired: set[str] = field(default_factory=set)  # models this agent has moved away from
    unfed: list[str] = field(default_factory=list)  # features served rows lack (ignored)

    def to_dict(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment,
            "model_id": self.bound.model_id,
            "rows_seen": self.rows_seen,
            "window": self.bound.agent.window,
            "rows_in_window": self.rows_seen - self.offset,
            "reports": self.reports[-50:],
            "repairs": self.repairs[-20:],
            "last_report": self.last_report,
            "unwatched": self.unfed,
        }


_FLUSH = object()  # queue marker: feed what is buffered now


Table = dict[str, np.ndarray]
#: (deployment, model id, model input matrix, its column names, the rows as sent or None)
Item = tuple[str, str, np.ndarray, tuple[str, ...] | None, Any]


def _n_rows(t: Table) -> int:
    return len(next(iter(t.values()))) if t else 0


def _joined(tables: list[Table]) -> Table:
    """Tables stacked by row; columns some of them lack are dropped."""
    tables = [t for t in tables if _n_rows(t)] or tables[:1]
    keys = [k for k in tables[0] if all(k in t for t in tables)]
    return {k: np.concatenate([t[k] for t in tables]) for k in keys}


def served_table(X: np.ndarray, names: tuple[str, ...] | None, raw: Any) -> Table | None:
    """What the agent sees of one request: every column the client sent (named JSON rows, an
    Arrow / Parquet table), else the model's input columns; None when they have no names."""
    from driftline.drift import to_columns

    if isinstance(raw, list) and raw and all(isinstance(r, dict) for r in raw):
        return to_columns(raw)
    if isinstance(raw, dict):
        return {str(k): np.asarray(v) for k, v in raw.items()}
    return None if names is None else {n: X[:, i] for i, n in enumerate(names)}


def _grouped(items: list[tuple[str, str, Table]]) -> list[tuple[str, str, Table]]:
    """Consecutive tables of the same deployment, model and columns stacked, in order."""
    out: list[tuple[str, str, list[Table]]] = []
    for dep, mid, t in items:
        if out and out[-1][:2] == (dep, mid) and set(out[-1][2][0]) == set(t):
            out[-1][2].append(t)
        else:
            out.append((dep, mid, [t]))
    return [(dep, mid, _joined(ts)) for dep, mid, ts in out]


class AgentHub:
    """Agents for every deployment that receives rows; see the module docstring."""

    def __init__(
        self,
        store: Store,
        settings: ServeSettings,
        on_model_change: Callable[[str], None],
        on_report: Callable[[str, DriftReport], None] | None = None,
        max_queue: int = 10_000,
    ) -> None:
        self.store = store
        self.settings = settings
        self.on_model_change = on_model_change
        self.on_report = on_report
        self.states: dict[str, AgentState] = {}
        self.dropped = 0
        self.errors: deque[str] = deque(maxlen=100)  # the latest agent failures
        self.error_count = 0
        #: deployment -> (model id, why its rows are not watched)
        self.unwatched: dict[str, tuple[str, str]] = {}
        self._q: queue.Queue[Any] = queue.Queue(max_queue)
        self._thread = threading.Thread(target=self._run, name="driftline-agents", daemon=True)
        self._thread.start()

    def submit(
        self,
        deployment: str,
        model_id: str,
        X: np.ndarray,
        names: list[str] | None = None,
        raw: Any = None,
    ) -> bool:
        """Queue rows for the deployment's agent: ``X`` the model's input matrix, ``names`` its
        columns (None: the training signature's features, in order), ``raw`` the rows as the
        client sent them (JSON objects or columns; the agent and the repair then see every
        column, not only the model's inputs). False (and counted) when the queue is full."""
        try:
            self._q.put_nowait((deployment, model_id, X, tuple(names) if names else None, raw))
            return True
        except queue.Full:
            self.dropped += len(X)
            return False

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Feed what is buffered now and block until it is processed (tests, shutdown)."""
        self._q.put(_FLUSH)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._q.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self._q.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        """Buffer queued rows; feed them when ``agent_batch_rows`` are waiting, the oldest has
        waited ``agent_max_delay`` seconds, or a flush is asked for. An agent update costs about
        the same for 1 row as for hundreds, so batching keeps the worker (and the GIL) mostly
        idle under request traffic; windows are unchanged (rows keep their order)."""
        buf: list[Item] = []
        n_items = rows = 0
        first = 0.0
        while True:
            wait = (
                None
                if not buf
                else max(0.0, first + self.settings.agent_max_delay - time.monotonic())
            )
            try:
                item = self._q.get(timeout=wait)
                n_items += 1
            except queue.Empty:
                item = _FLUSH
            if isinstance(item, tuple):
                if not buf:
                    first = time.monotonic()
                buf.append(item)
                rows += len(item[2])
            due = rows >= self.settings.agent_batch_rows or item is _FLUSH or item is None
            if buf and (due or time.monotonic() - first >= self.settings.agent_max_delay):
                self._feed_all(buf)
                buf, rows = [], 0
            if item is None or not buf:
                for _ in range(n_items):
                    self._q.task_done()
                n_items = 0
            if item is None:
                return

    def _feed_all(self, buf: list[Item]) -> None:
        tables = []
        for d, m, X, n, raw in buf:
            if not self._watchable(d, m):
                continue
            try:
                tables.append((d, m, self._table(d, m, X, n, raw)))
            except Exception as exc:
                self._failed(exc)
        for dep, mid, table in _grouped(tables):
            try:
                self._feed(dep, mid, table)
            except Exception as exc:  # a failing agent must not stop the worker
                self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        log.exception("drift agent failed")
        self.error_count += 1
        self.errors.append(f"{type(exc).__name__}: {exc}")

    def _watchable(self, deployment: str, model_id: str) -> bool:
        """False for a model without a training signature: nothing to compare its rows with.
        Noted once per model (``unwatched``), not as an agent failure per batch; checked again
        when no agent watches it yet, so a signature attached later is picked up."""
        st = self.states.get(deployment)
        if st is not None and (st.bound.model_id == model_id or model_id in st.retired):
            return True
        if self.store.get(model_id).signature_id is not None:
            self.unwatched.pop(deployment, None)
            return True
        if self.unwatched.get(deployment, ("",))[0] != model_id:
            why = (
                f"model {self.store.get(model_id).ref} has no training signature, so its rows "
                "are not watched for drift; attach one with 'driftline signature DATA --attach "
                "REF'"
            )
            log.warning("deployment %r: %s", deployment, why)
            self.unwatched[deployment] = (model_id, why)
        return False

    def _table(
        self, dep: str, mid: str, X: np.ndarray, names: tuple[str, ...] | None, raw: Any
    ) -> Table:
        t = served_table(X, names, raw)
        if t is not None:
            return t
        ref = self.store.signature(mid).feature_names
        if len(ref) != X.shape[1]:
            raise ValueError(
                f"deployment {dep!r}: served rows have {X.shape[1]} columns but the training "
                f"signature has {len(ref)} features and the model names none"
            )
        return {n: X[:, i] for i, n in enumerate(ref)}

    def _state(self, deployment: str, model_id: str, names: set[str]) -> AgentState:
        st = self.states.get(deployment)
        if st is None or (st.bound.model_id != model_id and model_id not in st.retired):
            bound, unfed = self._bound(deployment, names)
            old = st
            st = AgentState(deployment, bound, unfed=unfed)
            if old is not None:
                st.reports, st.repairs = old.reports, old.repairs
                st.retired = old.retired | {old.bound.model_id}
            self.states[deployment] = st
        return st

    def _bound(self, deployment: str, names: set[str]) -> tuple[Any, list[str]]:
        """A bound agent on the deployment's training signature. Rows sent as arrays carry the
        model's input columns only: signature features the model does not take then never
        reach the agent, so they are ignored (not reported missing in every window), and the
        agent runs no repair (the repair needs every training feature)."""
        from driftline.drift.roles import RoleSpec
        from driftline.monitor import BoundAgent

        kw = dict(self.settings.agent)
        if self.settings.drift_share is not None:
            kw["drift_share"] = self.settings.drift_share
        make = partial(BoundAgent, self.store, deployment, policy=self._policy())
        bound = make(window=self.settings.window, **kw)
        unfed = [f for f in bound.agent.reference.feature_names if f not in names]
        if unfed:
            roles = kw.pop("roles", None) or RoleSpec()
            roles = replace(roles, ignore=(*roles.ignore, *unfed))
            bound = make(window=self.settings.window, roles=roles, **kw)
            log.warning(
                "deployment %r: served rows lack %s; drift is watched on the rest and the agent "
                "runs no repair (send rows as objects with every column to enable it)",
                deployment,
                ", ".join(unfed),
            )
        return bound, unfed

    def _policy(self) -> Any:
        from driftline.repair import RepairPolicy

        return RepairPolicy(drift_share=self.settings.drift_share)

    def validation(self, deployment: str) -> tuple[np.ndarray, np.ndarray] | None:
        """The deployment's feedback-labelled rows as ``(X, y)``, or None below the minimum."""
        Xs, ys = [], []
        for r in serving.requests_of(self.store.engine, deployment, labelled_only=True):
            for row, lab in zip(r["features"], r["labels"] or [], strict=False):
                if lab is not None:
                    Xs.append(row)
                    ys.append(lab)
        if len(ys) < self.settings.min_feedback:
            return None
        return np.asarray(Xs, dtype=np.float64), np.asarray(ys)

    def _feed(self, deployment: str, model_id: str, table: Table) -> None:
        st = self._state(deployment, model_id, set(table))
        bound = st.bound
        if self.settings.auto_repair and not st.unfed:
            bound.repair_with = self.validation(deployment) or "unlabelled"
        st.rows.append(table)
        st.rows_seen += _n_rows(table)
        n_repairs, n_ids = len(bound.repairs), len(bound.report_ids)
        reports = bound.update(table)
        for report, rid in zip(reports, bound.report_ids[n_ids:], strict=False):
            self._after_report(st, report, rid)
        for result in bound.repairs[n_repairs:]:
            st.repairs.append(
                {
                    "repair_id": result.repair_id,
                    "status": result.status,
                    "repaired": result.repaired_ref,
                    "at": time.time(),
                    "message": result.message,
                }
            )
        if bound.model_id != model_id and model_id not in st.retired:
            # the repair deployed a new model and re-bound the agent (which replayed the rows
            # after the window): swap the new model in now
            st.retired.add(model_id)
            st.rows, st.offset = [], bound.agent.rows_seen
            st.rows_seen = bound.agent.rows_seen
            self.on_model_change(deployment)

    def _after_report(self, st: AgentState, report: DriftReport, rid: int) -> None:
        buf = _joined(st.rows)
        hi = min(max(report.end_row - st.offset, 0), _n_rows(buf))
        lo = max(hi - report.n_rows, 0)
        if hi > lo:
            record_window(self.store, rid, {k: v[lo:hi] for k, v in buf.items()})
        st.rows, st.offset = [{k: v[hi:] for k, v in buf.items()}], st.offset + hi
        st.reports.append(rid)
        st.last_report = {
            "id": rid,
            "drift": bool(report.drift),
            "n_rows": report.n_rows,
            "drifted": report.drifted_features[:20],
            "at": time.time(),
        }
        if self.on_report is not None:
            self.on_report(st.deployment, report)
