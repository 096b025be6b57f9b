"""Streaming drift agent: reference signature + O(features × sketch points) window state.

Defaults (chosen so that 5,000-row windows stay silent on stationary data and flag a 0.5 σ mean
shift at once; see tests/drift/test_drift_detection.py): 5,000-row tumbling windows
(:class:`~driftline.drift.agent_settings.WindowSettings`) and the calibrated rule
(:class:`~driftline.drift.agent_settings.RuleSettings`; rules in :mod:`driftline.drift.verdict`).
Under ``rule="effect"`` the stationary noise at 5,000 rows is about PSI 0.002, KS D 0.02; a
0.5 σ shift gives about PSI 0.25, D 0.2, W/σ 0.5 (thresholds PSI 0.2, D 0.1).

Windows: tumbling windows emit one report per window; sliding windows emit a report every
``step`` rows over the last ``size`` rows, kept as ``size / step`` panes. Time windows are
aligned intervals ``[k·w, (k+1)·w)`` of the timestamp (epoch seconds or datetimes); rows are
assumed to arrive in time order (a late row joins the current window). A window that closes
becomes a :class:`~driftline.drift.report.DriftReport`: the data set drifts if at least
``max(min_drifted_features, ⌈drift_share · features⌉)`` features drift, or a column is missing
or changed type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Unpack

import numpy as np

from driftline.drift.agent_settings import AgentOptions, AgentSettings
from driftline.drift.calibration import FeatureCalibration, calibration_of
from driftline.drift.columns import (
    Columns,
    array_names,
    as_bool_labels,
    as_categorical,
    as_numeric,
    column_kind,
    to_columns,
)
from driftline.drift.model_aware import ModelAwareSettings, ModelAwareWindows
from driftline.drift.report import DriftReport, SchemaIssue
from driftline.drift.roles import RoleSpec, unseen_label_issues, window_roles
from driftline.drift.signature import Signature
from driftline.drift.verdict import feature_drifts
from driftline.drift.windows import (
    CategoricalReference,
    FeatureReference,
    FeatureWindow,
    NumericWindow,
    new_window,
    prepare_reference,
)
from driftline.errors import InvalidInputError


class _Pane:
    """Window state of a span of rows: per-feature windows, schema issues, row/time range."""

    def __init__(self, refs: Mapping[str, FeatureReference], start_row: int, key: int) -> None:
        self.windows: dict[str, FeatureWindow] = {k: new_window(r) for k, r in refs.items()}
        self.issues: dict[tuple[str, str], SchemaIssue] = {}
        self.start_row = start_row
        self.n_rows = 0
        self.key = key
        self.t_min: float | None = None
        self.t_max: float | None = None
        #: model-aware sums (see :mod:`driftline.drift.model_aware`); empty when that is off
        self.model_sums: dict[str, float] = {}

    def note(self, feature: str, issue: str, detail: str, rows: int) -> None:
        i = self.issues.get((feature, issue))
        if i is None:
            self.issues[(feature, issue)] = SchemaIssue(feature, issue, detail, rows)
        else:
            i.rows += rows

    def times(self, t: np.ndarray | None) -> None:
        if t is None or t.size == 0:
            return
        fin = t[np.isfinite(t)]
        if fin.size:
            lo, hi = float(fin.min()), float(fin.max())
            self.t_min = lo if self.t_min is None else min(self.t_min, lo)
            self.t_max = hi if self.t_max is None else max(self.t_max, hi)


class DriftAgent:
    """Compare a stream of batches with a reference :class:`Signature`, window by window.

    ``settings`` (:class:`~driftline.drift.agent_settings.AgentSettings`) say which rows make a
    window and which rule decides; the flat keywords of
    :class:`~driftline.drift.agent_settings.AgentOptions` (``window=5000``, ``rule="effect"``,
    ``drift_share=0.4``, …) override single fields. ``on_report`` receives every report;
    ``feature_names`` name a 2-D array's columns; ``roles`` mark target / prediction / id /
    timestamp columns; ``model_aware`` adds estimated accuracy and a multivariate score.

    >>> import numpy as np
    >>> from driftline.drift import AgentSettings, DriftAgent, Signature, WindowSettings
    >>> rng = np.random.default_rng(0)
    >>> sig = Signature.from_data({"x": rng.normal(size=2_000)})
    >>> agent = DriftAgent(sig, AgentSettings(WindowSettings(size=500)))
    >>> [r.drift for r in agent.update({"x": rng.normal(size=1_000)})]
    [False, False]
    >>> report = agent.update({"x": rng.normal(2.0, 1.0, size=500)})[0]
    >>> report.drift, report.n_rows, report.rule
    (True, 500, 'calibrated')
    """

    def __init__(
        self,
        reference: Signature,
        settings: AgentSettings | None = None,
        *,
        on_report: Callable[[DriftReport], Any] | None = None,
        feature_names: list[str] | None = None,
        roles: RoleSpec | None = None,
        model_aware: ModelAwareSettings | None = None,
        **options: Unpack[AgentOptions],
    ) -> None:
        if reference.n_rows == 0:
            raise InvalidInputError(
                "the reference signature has 0 rows, so any window would match it; build it "
                "from the training data"
            )
        self.settings = AgentSettings.from_options(settings, **options)
        rules = self.settings.rules
        self.reference = reference
        self.reference_id = reference.id
        #: non-feature columns: never schema drift; target / prediction give label drift
        self.roles = window_roles(reference, roles, self.settings.window.time_column)
        self.refs: dict[str, FeatureReference] = {
            k: prepare_reference(f, rules.psi_bins)
            for k, f in reference.features.items()
            if k not in self.roles
        }
        self.role_refs: dict[str, FeatureReference] = {
            k: prepare_reference(f, rules.psi_bins) for k, f in reference.role_features.items()
        }
        self.calibrations: dict[str, FeatureCalibration] = (
            calibration_of(reference) if rules.rule == "calibrated" else {}
        )
        self.on_report = on_report
        self.feature_names = feature_names
        self.pane_size, self.n_panes = self.settings.window.panes()
        self._model = (
            ModelAwareWindows(model_aware, reference)
            if model_aware is not None and model_aware.active
            else None
        )
        self.rows_seen = 0
        self.windows_emitted = 0
        self._panes: list[_Pane] = [_Pane(self._all_refs, 0, 0)]
        self._time_key: int | None = None

    @property
    def window(self) -> int | None:
        """Rows per window (None: unbounded, or time windows)."""
        return self.settings.window.size

    # ------------------------------------------------------------------ streaming
    def update(self, batch: Any) -> list[DriftReport]:
        """Add a batch; return (and pass to ``on_report``) reports of windows it completed.

        Unlike river's detectors this returns the completed windows' reports rather than
        ``self``: a batch can close several windows at once."""
        cols = self._columns(batch)
        # columns converted from a 2-D array are private copies: windows may sort them in place
        private = isinstance(batch, np.ndarray) and batch.ndim == 2 and not batch.flags.f_contiguous
        n = next((int(v.shape[0]) for v in cols.values()), 0)
        if n == 0:
            return []
        t = None
        time_column = self.settings.window.time_column
        if time_column is not None:
            if time_column not in cols:
                raise InvalidInputError(
                    f"time column {time_column!r} is not in the batch; columns: {list(cols)}"
                )
            t = as_numeric(cols.pop(time_column), time_column)
        if self.settings.window.by_time:
            assert t is not None
            out = self._update_by_time(cols, n, t, private)
        else:
            out = self._update_by_rows(cols, n, t, private)
        if self.on_report is not None:
            for r in out:
                self.on_report(r)
        return out

    def _update_by_time(
        self, cols: Columns, n: int, t: np.ndarray, private: bool
    ) -> list[DriftReport]:
        """Cut the batch where the (running-max) pane key of the timestamp changes."""
        assert self.pane_size is not None
        keys = np.floor(t / self.pane_size)
        keys = np.where(np.isfinite(keys), keys, -np.inf)
        keys = np.maximum.accumulate(keys)
        cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
        bounds = [0, *cuts.tolist(), n]
        out: list[DriftReport] = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            k = keys[a]
            key = int(k) if math.isfinite(k) else (self._time_key or 0)
            if self._time_key is None:
                self._time_key = key
                self._panes[-1].key = key
            elif key > self._time_key:
                out.extend(self._close_pane(new_key=key))
                self._time_key = key
            self._add(cols, a, b, t, private)
        return out

    def _update_by_rows(
        self, cols: Columns, n: int, t: np.ndarray | None, private: bool
    ) -> list[DriftReport]:
        """Fill the open pane up to its row count, close it, continue with the rest."""
        out: list[DriftReport] = []
        a = 0
        while a < n:
            pane = self._panes[-1]
            room = n - a if self.pane_size is None else int(self.pane_size) - pane.n_rows
            b = min(n, a + room)
            self._add(cols, a, b, t, private)
            a = b
            if self.pane_size is not None and pane.n_rows >= self.pane_size:
                out.extend(self._close_pane(new_key=pane.key + 1))
        return out

    def _columns(self, batch: Any) -> Columns:
        if isinstance(batch, dict) and all(
            isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float64
            for v in batch.values()
        ):
            return dict(batch)  # already a numeric column dict
        names = self.feature_names or array_names(batch, list(self.refs))
        return to_columns(batch, names)

    def _add(
        self, cols: Columns, a: int, b: int, t: np.ndarray | None, private: bool = False
    ) -> None:
        pane = self._panes[-1]
        rows = b - a
        pane.n_rows += rows
        self.rows_seen += rows
        pane.times(None if t is None else t[a:b])
        if self._model is not None:
            self._model.add(pane.model_sums, cols, a, b)
        for name, win in pane.windows.items():
            col = cols.get(name)
            if col is None and name in self.role_refs:
                continue  # an unlabelled window: no label drift, no schema issue
            if col is None:
                pane.note(name, "missing_column", "column absent from the batch", rows)
                continue
            col = col[a:b]
            if column_kind(col) != win.ref.kind:
                conv = self._coerce(col, win.ref)
                if conv is None:
                    pane.note(
                        name,
                        "type_changed",
                        f"reference is {win.ref.kind}, batch holds non-numeric values",
                        rows,
                    )
                    continue
                col = conv
            if isinstance(win, NumericWindow):
                win.add(col, inplace=private)
            else:
                win.add(col)
        for name in cols:
            if name not in pane.windows and name not in self.roles:
                pane.note(name, "extra_column", "column not in the reference (ignored)", rows)

    @property
    def _all_refs(self) -> dict[str, FeatureReference]:
        return {**self.refs, **self.role_refs}

    @staticmethod
    def _coerce(col: np.ndarray, ref: FeatureReference) -> np.ndarray | None:
        if isinstance(ref, CategoricalReference):
            labels = as_bool_labels(col, ref.counts)  # 0 / 1 against True / False
            return as_categorical(col) if labels is None else labels
        try:
            return as_numeric(col)
        except InvalidInputError:
            return None

    def _close_pane(self, new_key: int) -> list[DriftReport]:
        out: list[DriftReport] = []
        closing = self._panes[-1]
        if self.settings.window.mode == "tumbling":
            out.append(self._build([closing], complete=True))
            self._panes = [_Pane(self._all_refs, self.rows_seen, new_key)]
            return out
        live = [p for p in self._panes if p.key > closing.key - self.n_panes]
        full = (len(live) >= self.n_panes) if not self.settings.window.by_time else True
        if full and closing.n_rows > 0:
            out.append(self._build(live, complete=True))
        keep = [p for p in live if p.key > new_key - self.n_panes]
        self._panes = [*keep, _Pane(self._all_refs, self.rows_seen, new_key)]
        return out

    def report(self) -> DriftReport:
        """Report of the current (possibly partial) window; does not reset anything."""
        panes = self._panes
        if self.settings.window.mode == "sliding":
            cur = panes[-1].key
            panes = [p for p in panes if p.key > cur - self.n_panes]
        return self._build(panes, complete=False, count=False)

    def flush(self) -> DriftReport | None:
        """Emit the partial window (if it has rows) as a report, call ``on_report``, reset."""
        if self._panes[-1].n_rows == 0:
            return None
        tumbling = self.settings.window.mode == "tumbling"
        r = self._build(self._panes[-1:] if tumbling else self._panes, complete=False)
        self._panes = [_Pane(self._all_refs, self.rows_seen, self._panes[-1].key + 1)]
        if self.on_report is not None:
            self.on_report(r)
        return r

    def state_nbytes(self) -> int:
        """Bytes of the arrays the agent compares with: every live pane's numeric window
        (``4 × 8`` bytes per sketch point) plus the prepared feature references (sketch points,
        CDF, PSI bins). O(features × sketch points), independent of the rows fed and of the
        reference's row count; categorical counts (dicts) are not counted."""
        windows = sum(
            w.nbytes
            for p in self._panes
            for w in p.windows.values()
            if isinstance(w, NumericWindow)
        )
        refs = sum(getattr(r, "nbytes", 0) for r in self.refs.values())
        return int(windows + refs)

    # ------------------------------------------------------------------ across hosts
    def state(self, host: str = "") -> Any:
        """Serialisable, mergeable state of the open window (a
        :class:`~driftline.drift.agent_state.WindowState`; ``.to_bytes()`` to ship it)."""
        from driftline.drift.agent_state import pane_state

        return pane_state(self, self._panes[-1], host=host)

    def load_state(self, state: Any) -> DriftAgent:
        """Resume from a saved :meth:`state` (object or bytes): it becomes the open window.
        Returns the agent."""
        from driftline.drift.agent_state import WindowState, state_to_pane

        if not isinstance(state, WindowState):
            state = WindowState.from_bytes(state, self.refs, self.reference_id)
        self._panes = [state_to_pane(self, state)]
        self.rows_seen = state.start_row + state.n_rows
        return self

    def merge(self, states: Any) -> DriftReport:
        """One report for one window from several hosts' states (objects or bytes)."""
        from driftline.drift.agent_state import WindowState, merge_states, report_from_state

        loaded = [
            s
            if isinstance(s, WindowState)
            else WindowState.from_bytes(s, self.refs, self.reference_id)
            for s in states
        ]
        return report_from_state(self, merge_states(loaded))

    # ------------------------------------------------------------------ decisions
    def thresholds_for(self, feature: str) -> dict[str, float]:
        """Effective thresholds of a feature (globals overridden per feature; None = off)."""
        return self.settings.rules.thresholds_for(feature)

    def _merged_windows(self, panes: list[_Pane]) -> Mapping[str, FeatureWindow]:
        if len(panes) == 1:
            return panes[0].windows
        wins: dict[str, FeatureWindow] = {}
        for name, ref in self._all_refs.items():
            w = new_window(ref)
            for p in panes:
                w.absorb(p.windows[name])  # type: ignore[arg-type]
            wins[name] = w
        return wins

    def _build(self, panes: list[_Pane], *, complete: bool, count: bool = True) -> DriftReport:
        """The report of the window made of ``panes``; ``count`` advances the window index."""
        rules = self.settings.rules
        wins = self._merged_windows(panes)
        feats, label_drift = feature_drifts(wins, rules, self.calibrations, self.role_refs)
        required = rules.required(len(feats))
        n_drifted = sum(1 for f in feats.values() if f.drift)
        issue_list = _merged_issues(panes) + unseen_label_issues(label_drift, self.roles)
        schema = rules.schema_issues_drift and any(
            i.issue in ("missing_column", "type_changed") for i in issue_list
        )
        times = [p.t_min for p in panes if p.t_min is not None]
        times_hi = [p.t_max for p in panes if p.t_max is not None]
        idx = self.windows_emitted
        if count:
            self.windows_emitted += 1
        return DriftReport(
            reference_id=self.reference_id,
            window_index=idx,
            start_row=panes[0].start_row,
            end_row=panes[-1].start_row + panes[-1].n_rows,
            n_rows=sum(p.n_rows for p in panes),
            features=feats,
            drift=bool((len(feats) > 0 and n_drifted >= required) or schema),
            n_drifted=n_drifted,
            required=required,
            rule=rules.rule,
            alpha=rules.effective_alpha,
            complete=complete,
            start_time=min(times) if times else None,
            end_time=max(times_hi) if times_hi else None,
            schema_issues=issue_list,
            label_drift=label_drift,
            roles=dict(self.roles),
            model=self._model.report([p.model_sums for p in panes]) if self._model else {},
        )


def _merged_issues(panes: list[_Pane]) -> list[SchemaIssue]:
    """Schema issues of several panes, rows summed per (feature, issue)."""
    issues: dict[tuple[str, str], SchemaIssue] = {}
    for p in panes:
        for key, i in p.issues.items():
            if key in issues:
                issues[key].rows += i.rows
            else:
                issues[key] = SchemaIssue(i.feature, i.issue, i.detail, i.rows)
    return list(issues.values())


def compare(
    reference: Signature,
    data: Any,
    settings: AgentSettings | None = None,
    **agent_kwargs: Any,
) -> DriftReport:
    """One-shot comparison of a whole data set with a reference: a single window (the window
    size is None unless ``window=`` is given), under ``settings`` and the flat keywords."""
    agent_kwargs.setdefault("window", None)
    agent = DriftAgent(reference, settings, **agent_kwargs)
    agent.update(data)
    if agent.rows_seen == 0:
        raise InvalidInputError(
            "the window has 0 rows: nothing to compare (an empty window is "
            "not 'no drift'); pass at least one row"
        )
    return agent.report()
