"""Agent window states that serialise and merge: N agents on N hosts, one report per window.

A window's state is what a :class:`~driftline.drift.agent.DriftAgent` holds for it: per feature
the counts ``le`` / ``lt`` of window values at or below / below every reference sketch point,
the centred sums ``sle`` / ``slt`` / ``s1`` / ``s2``, the missing count (numeric), or the label
counts (categorical), plus schema issues, the row count and the time range. Every part is a sum
over rows, so the state of the union of two hosts' rows is the element-wise sum of their states
(:func:`merge_states`): the merged report's counts-based metrics (PSI, KS, KL, JS, chi-square,
missing change) are exactly those of one agent that saw all the rows; the float sums (mean,
Wasserstein) agree to rounding.

Bytes (no pickle): ``b"DLAGS1"``, a little-endian u32 header length, a canonical JSON header
(reference id, window key, host, rows, times, issues, per-feature scalars), then per numeric
feature ``le``, ``lt`` (``<i8``) and ``sle``, ``slt`` (``<f8``). A state only loads against the
reference it was built on (same signature id, same sketch points).

Windows across hosts. A window is named by its **key**: with time windows
(``time_column`` + ``window_seconds``) the key is ``⌊t / window_seconds⌋``, the same interval on
every host; with row-count windows it is the host's own window index (meaningful when a load
balancer spreads traffic evenly). Each host runs a :class:`HostAgent` that ships the state of
every window it closes. A :class:`WindowMerger` keeps, per host, the highest key that host has
closed (its watermark: a host closes windows in key order, so it will send nothing more for
lower keys). Window ``k`` is reported once every expected host's watermark has reached ``k`` —
hosts may close ``k`` at quite different times, the report waits for the slowest. A state that
arrives for a window already reported is *late*: it is kept in :attr:`WindowMerger.late` and
never produces a second report. :meth:`WindowMerger.flush` reports what is pending (end of stream
or a host gone for good) with ``complete=False`` where some host has not closed the window.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from driftline.drift.report import DriftReport, SchemaIssue
from driftline.drift.windows import (
    CategoricalWindow,
    FeatureReference,
    FeatureWindow,
    NumericWindow,
    new_window,
)
from driftline.errors import InvalidInputError, SchemaMismatchError

if TYPE_CHECKING:
    from driftline.drift.agent import DriftAgent, _Pane
    from driftline.drift.signature import Signature

_MAGIC = b"DLAGS1"


@dataclass
class WindowState:
    """The mergeable state of one window (see module docstring)."""

    reference_id: str
    key: int
    windows: dict[str, FeatureWindow]
    host: str = ""
    n_rows: int = 0
    start_row: int = 0
    t_min: float | None = None
    t_max: float | None = None
    closed: bool = False
    issues: list[SchemaIssue] = field(default_factory=list)
    hosts: tuple[str, ...] = ()
    #: model-aware sums of the window (:mod:`driftline.drift.model_aware`), empty when off
    model_sums: dict[str, float] = field(default_factory=dict)

    # ------------------------------------------------------------------ bytes
    def to_bytes(self) -> bytes:
        feats, arrays = [], []
        for name, w in self.windows.items():
            if isinstance(w, NumericWindow):
                feats.append(
                    {
                        "name": name,
                        "kind": "numeric",
                        "n": w.n,
                        "missing": w.missing,
                        "m": int(w.le.size),
                        "s1": w.s1.hex(),
                        "s2": w.s2.hex(),
                    }
                )
                arrays += [
                    w.le.astype("<i8").tobytes(),
                    w.lt.astype("<i8").tobytes(),
                    w.sle.astype("<f8").tobytes(),
                    w.slt.astype("<f8").tobytes(),
                ]
            else:
                feats.append(
                    {
                        "name": name,
                        "kind": "categorical",
                        "missing": w.missing,
                        "counts": dict(w.counts),
                    }
                )
        head = {
            "format": 1,
            "reference_id": self.reference_id,
            "key": self.key,
            "host": self.host,
            "hosts": list(self.hosts),
            "n_rows": self.n_rows,
            "start_row": self.start_row,
            "t_min": self.t_min,
            "t_max": self.t_max,
            "closed": self.closed,
            "issues": [[i.feature, i.issue, i.detail, i.rows] for i in self.issues],
            "features": feats,
            "model": {k: float(v).hex() for k, v in self.model_sums.items()},
        }
        hb = json.dumps(head, sort_keys=True, separators=(",", ":")).encode()
        return b"".join([_MAGIC, struct.pack("<I", len(hb)), hb, *arrays])

    @classmethod
    def from_bytes(
        cls, data: bytes, refs: Mapping[str, FeatureReference], reference_id: str
    ) -> WindowState:
        """Load a state against the prepared reference it was built on (``agent.refs``)."""
        if not bytes(data[:6]) == _MAGIC:
            raise InvalidInputError("not a driftline agent window state (bad magic bytes)")
        (hl,) = struct.unpack_from("<I", data, len(_MAGIC))
        p = len(_MAGIC) + 4
        head = json.loads(bytes(data[p : p + hl]))
        p += hl
        if head["reference_id"] != reference_id:
            raise SchemaMismatchError(
                f"window state of host {head['host']!r} was built on reference "
                f"{head['reference_id'][:12]}, not {reference_id[:12]}; merge only agents that "
                "watch the same deployment with the same reference signature"
            )
        windows: dict[str, FeatureWindow] = {}
        for f in head["features"]:
            ref = refs.get(f["name"])
            if ref is None or ref.kind != f["kind"]:
                raise SchemaMismatchError(
                    f"window state feature {f['name']!r} is not a "
                    f"{f['kind']} feature of the reference"
                )
            w = new_window(ref)
            w.missing = int(f["missing"])
            if isinstance(w, NumericWindow):
                m = int(f["m"])
                if m != w.le.size:
                    raise SchemaMismatchError(
                        f"window state of {f['name']!r} has {m} sketch "
                        f"points, the reference {w.le.size}"
                    )
                w.n, w.s1, w.s2 = int(f["n"]), float.fromhex(f["s1"]), float.fromhex(f["s2"])
                w.le, p = _take(data, p, "<i8", m, np.int64)
                w.lt, p = _take(data, p, "<i8", m, np.int64)
                w.sle, p = _take(data, p, "<f8", m, np.float64)
                w.slt, p = _take(data, p, "<f8", m, np.float64)
            else:
                assert isinstance(w, CategoricalWindow)
                w.counts = {str(k): int(v) for k, v in f["counts"].items()}
            windows[f["name"]] = w
        if p != len(data):
            raise InvalidInputError("corrupt agent window state: trailing or missing bytes")
        return cls(
            reference_id=head["reference_id"],
            key=int(head["key"]),
            windows=windows,
            host=head["host"],
            n_rows=int(head["n_rows"]),
            start_row=int(head["start_row"]),
            t_min=head["t_min"],
            t_max=head["t_max"],
            closed=bool(head["closed"]),
            issues=[SchemaIssue(*i) for i in head["issues"]],
            hosts=tuple(head["hosts"]),
            model_sums={k: float.fromhex(v) for k, v in head.get("model", {}).items()},
        )


def _take(data: bytes, p: int, dt: str, m: int, out: Any) -> tuple[np.ndarray, int]:
    arr = np.frombuffer(data, dt, m, p).astype(out)
    return arr, p + 8 * m


# ---------------------------------------------------------------------------- state <-> pane
def pane_state(
    agent: DriftAgent, pane: _Pane, *, host: str = "", closed: bool = False
) -> WindowState:
    """Snapshot of one pane of ``agent`` (copies, so the agent may go on)."""
    windows: dict[str, FeatureWindow] = {}
    for name, w in pane.windows.items():
        c = new_window(w.ref)
        c.absorb(w)  # type: ignore[arg-type]
        windows[name] = c
    issues = [SchemaIssue(i.feature, i.issue, i.detail, i.rows) for i in pane.issues.values()]
    return WindowState(
        agent.reference_id,
        pane.key,
        windows,
        host,
        pane.n_rows,
        pane.start_row,
        pane.t_min,
        pane.t_max,
        closed,
        issues,
        (host,) if host else (),
        dict(pane.model_sums),
    )


def state_to_pane(agent: DriftAgent, state: WindowState) -> _Pane:
    """A pane of ``agent`` holding ``state`` (the reverse of :func:`pane_state`)."""
    from driftline.drift.agent import _Pane

    pane = _Pane(agent.refs, state.start_row, state.key)
    for name, w in state.windows.items():
        pane.windows[name].absorb(w)  # type: ignore[arg-type]
    for i in state.issues:
        pane.note(i.feature, i.issue, i.detail, i.rows)
    pane.n_rows = state.n_rows
    pane.t_min, pane.t_max = state.t_min, state.t_max
    pane.model_sums = dict(state.model_sums)
    return pane


def merge_states(states: Iterable[WindowState]) -> WindowState:
    """Element-wise sum of the states of one window (same reference and key), in the given
    order; the result's ``hosts`` lists every contributing host."""
    states = list(states)
    if not states:
        raise InvalidInputError("merge_states needs at least one window state")
    first = states[0]
    for s in states[1:]:
        if s.reference_id != first.reference_id or s.key != first.key:
            raise SchemaMismatchError(
                f"cannot merge window {s.key} (reference {s.reference_id[:12]}) into window "
                f"{first.key} (reference {first.reference_id[:12]})"
            )
    windows = {name: new_window(w.ref) for name, w in first.windows.items()}
    issues: dict[tuple[str, str], SchemaIssue] = {}
    for s in states:
        for name, w in s.windows.items():
            windows[name].absorb(w)  # type: ignore[arg-type]
        for i in s.issues:
            j = issues.setdefault((i.feature, i.issue), SchemaIssue(i.feature, i.issue, i.detail))
            j.rows += i.rows
    t_lo = [s.t_min for s in states if s.t_min is not None]
    t_hi = [s.t_max for s in states if s.t_max is not None]
    hosts = tuple(dict.fromkeys(h for s in states for h in (s.hosts or (s.host,)) if h))
    model_sums: dict[str, float] = {}
    for s in states:
        for k, v in s.model_sums.items():
            model_sums[k] = model_sums.get(k, 0.0) + v
    return WindowState(
        first.reference_id,
        first.key,
        windows,
        ",".join(hosts),
        sum(s.n_rows for s in states),
        sum(s.start_row for s in states),
        min(t_lo) if t_lo else None,
        max(t_hi) if t_hi else None,
        all(s.closed for s in states),
        list(issues.values()),
        hosts,
        model_sums,
    )


def report_from_state(
    agent: DriftAgent, state: WindowState, *, complete: bool = True
) -> DriftReport:
    """The report ``agent``'s settings give for a (merged) window state; ``window_index`` is the
    window key."""
    report = agent._build([state_to_pane(agent, state)], complete=complete, count=False)
    report.window_index = state.key
    return report


# ---------------------------------------------------------------------------- hosts
class HostAgent:
    """A drift agent on one host that ships window states instead of deciding alone.

    Wraps a tumbling :class:`DriftAgent`; ``on_state`` receives the :class:`WindowState` of
    every window this host closes (send ``state.to_bytes()`` to the merger)."""

    def __init__(
        self,
        reference: Signature,
        *,
        host: str,
        on_state: Callable[[WindowState], Any] | None = None,
        **agent_kwargs: Any,
    ) -> None:
        from driftline.drift.agent import DriftAgent

        self.agent = DriftAgent(reference, **agent_kwargs)  # settings= or flat keywords
        if self.agent.settings.window.mode != "tumbling":
            raise InvalidInputError("agents merged across hosts use tumbling windows")
        self.host = host
        self.on_state = on_state
        self.closed: list[WindowState] = []
        close = self.agent._close_pane

        def capture(new_key: int) -> list[DriftReport]:
            st = pane_state(self.agent, self.agent._panes[-1], host=host, closed=True)
            if st.n_rows:
                self.closed.append(st)
                if self.on_state is not None:
                    self.on_state(st)
            return close(new_key)

        self.agent._close_pane = capture  # type: ignore[method-assign]

    def update(self, batch: Any) -> list[WindowState]:
        """Add a batch; return the states of the windows it closed."""
        before = len(self.closed)
        self.agent.update(batch)
        return self.closed[before:]

    def state(self) -> WindowState:
        """State of the window still open on this host (not closed)."""
        return pane_state(self.agent, self.agent._panes[-1], host=self.host)

    def close(self) -> WindowState | None:
        """Close the open window (end of stream); returns its state if it has rows."""
        pane = self.agent._panes[-1]
        if pane.n_rows == 0:
            return None
        self.agent._close_pane(pane.key + 1)
        return self.closed[-1]


class WindowMerger:
    """Collects hosts' window states and emits one report per window key (see module
    docstring for when a window is complete)."""

    def __init__(
        self,
        reference: Signature,
        *,
        hosts: Iterable[str],
        on_report: Callable[[DriftReport], Any] | None = None,
        **agent_kwargs: Any,
    ) -> None:
        from driftline.drift.agent import DriftAgent

        self.hosts = tuple(dict.fromkeys(hosts))
        if not self.hosts:
            raise InvalidInputError("a WindowMerger needs the names of the hosts it waits for")
        agent_kwargs.setdefault("window", None)
        self.agent = DriftAgent(reference, **agent_kwargs)
        self.on_report = on_report
        self.pending: dict[int, list[WindowState]] = {}
        self.watermark: dict[str, float] = dict.fromkeys(self.hosts, -math.inf)
        self.reported_through = -math.inf
        self.late: list[WindowState] = []

    def add(self, state: WindowState | bytes) -> list[DriftReport]:
        """Take one host's state (object or bytes); return the reports it completes."""
        if not isinstance(state, WindowState):
            state = WindowState.from_bytes(state, self.agent.refs, self.agent.reference_id)
        host = state.host
        if host not in self.watermark:
            raise InvalidInputError(f"state from unknown host {host!r}; expected {self.hosts}")
        if state.key <= self.reported_through:
            self.late.append(state)
            return []
        self.pending.setdefault(state.key, []).append(state)
        if state.closed:
            self.watermark[host] = max(self.watermark[host], state.key)
        return self._emit_through(min(self.watermark.values()))

    def flush(self) -> list[DriftReport]:
        """Report every pending window now (end of stream, or a host gone for good)."""
        return self._emit_through(math.inf)

    def _emit_through(self, key: float) -> list[DriftReport]:
        out = []
        for k in sorted(x for x in self.pending if x <= key):
            merged = merge_states(self.pending.pop(k))
            complete = all(self.watermark[h] >= k for h in self.hosts)
            r = report_from_state(self.agent, merged, complete=complete)
            out.append(r)
            self.reported_through = max(self.reported_through, k)
            if self.on_report is not None:
                self.on_report(r)
        return out
