"""Streaming drift agent: reference signature + O(features × sketch points) window state.

Defaults (chosen so that 5,000-row windows stay silent on stationary data and flag a 0.5 σ mean
shift at once; see tests/drift/test_detection.py):

* window = 5,000 rows, tumbling;
* rule ``"calibrated"`` (default): a feature drifts when its calibrated p-value (null estimated
  from the training data, stored in the signature) is below ``calibration.alpha`` (1 %) and
  an effect size clears the materiality floor; the data-set verdict counts features that also
  survive Holm at ``calibration.family_alpha`` (1 %), so it controls the family-wise error rate.
  See :mod:`driftline.drift.calibration`;
* rule ``"effect"``: a feature drifts if any metric exceeds its threshold — PSI 0.2, KS D 0.1,
  KL 0.1, JS distance 0.1, Wasserstein / σ 0.25, |missing-rate change| 0.05 (``mean_shift`` is
  reported, threshold off). At 5,000 rows the stationary noise is about PSI 0.002, D 0.02;
  a 0.5 σ shift gives about PSI 0.25, D 0.2, W/σ 0.5;
* rules ``"bonferroni"`` / ``"bh"``: a feature drifts if its KS (numeric) or chi-square
  (categorical) p-value, adjusted across features, is below ``alpha``; the missing-rate
  threshold still applies;
* the data set drifts if at least ``max(min_drifted_features, ⌈drift_share · features⌉)``
  features drift (default: any one), or a column is missing / changed type.

Windows: ``mode="tumbling"`` emits one report per ``window`` rows; ``mode="sliding"`` emits a
report every ``step`` rows (default ``window // 5``) over the last ``window`` rows (kept as
``window / step`` panes). With ``time_column`` and ``window_seconds``, windows are aligned
intervals ``[k·w, (k+1)·w)`` of the timestamp (epoch seconds or datetimes); rows are assumed to
arrive in time order (a late row joins the current window).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

import numpy as np

from driftline.drift.calibration import (
    CalibrationSettings,
    FeatureCalibration,
    calibration_of,
    categorical_test,
    holm,
    numeric_test,
)
from driftline.drift.metrics import (
    DEFAULT_PSI_BINS,
    FeatureReference,
    FeatureWindow,
    NumericReference,
    NumericWindow,
    new_window,
    prepare_reference,
)
from driftline.drift.model_aware import ModelAwareSettings, ModelAwareWindows
from driftline.drift.report import DriftReport, FeatureDrift, SchemaIssue
from driftline.drift.roles import RoleSpec, unseen_label_issues, window_roles
from driftline.drift.signature import Signature
from driftline.drift.tabular import Columns, as_categorical, as_numeric, column_kind, to_columns
from driftline.errors import InvalidInputError

DEFAULT_WINDOW = 5_000
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "psi": 0.2,
    "ks": 0.1,
    "kl": 0.1,
    "js": 0.1,
    "wasserstein": 0.25,
    "missing_change": 0.05,
    "mean_shift": None,
}
_ABS_METRICS = ("missing_change", "mean_shift")
Rule = Literal["calibrated", "effect", "bonferroni", "bh"]
RULES = ("calibrated", "effect", "bonferroni", "bh")


def adjust_pvalues(p: np.ndarray, method: str) -> np.ndarray:
    """Bonferroni ``min(1, m p)`` or Benjamini–Hochberg step-up adjusted p-values."""
    p = np.asarray(p, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    if method == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


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
    """Compare a stream of batches with a reference :class:`Signature`, window by window."""

    def __init__(
        self,
        reference: Signature,
        *,
        window: int | None = DEFAULT_WINDOW,
        mode: Literal["tumbling", "sliding"] = "tumbling",
        step: int | None = None,
        thresholds: Mapping[str, float | None] | None = None,
        per_feature_thresholds: Mapping[str, Mapping[str, float | None]] | None = None,
        rule: Rule = "calibrated",
        alpha: float = 0.05,
        calibration: CalibrationSettings | None = None,
        min_drifted_features: int = 1,
        drift_share: float | None = None,
        schema_issues_drift: bool = True,
        on_report: Callable[[DriftReport], Any] | None = None,
        time_column: str | None = None,
        window_seconds: float | None = None,
        step_seconds: float | None = None,
        feature_names: list[str] | None = None,
        psi_bins: int = DEFAULT_PSI_BINS,
        roles: RoleSpec | None = None,
        model_aware: ModelAwareSettings | None = None,
    ) -> None:
        if mode not in ("tumbling", "sliding"):
            raise InvalidInputError(f"mode must be 'tumbling' or 'sliding', got {mode!r}")
        if rule not in RULES:
            raise InvalidInputError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
        _check_settings(thresholds, per_feature_thresholds, drift_share, alpha)
        if window is not None and window < 1:
            raise InvalidInputError(f"window must be a positive row count, got {window}")
        if step is not None and not step >= 1:  # also refuses NaN; step <= 0 never advanced
            raise InvalidInputError(f"step must be a positive row count, got {step}")
        if step_seconds is not None and not step_seconds > 0:
            raise InvalidInputError(f"step_seconds must be > 0, got {step_seconds}")
        if window_seconds is not None and (time_column is None or window_seconds <= 0):
            raise InvalidInputError("window_seconds needs a time_column and must be > 0")
        unknown = set(thresholds or {}) - set(DEFAULT_THRESHOLDS)
        if unknown:
            raise InvalidInputError(
                f"unknown threshold metric(s) {sorted(unknown)}; use {sorted(DEFAULT_THRESHOLDS)}"
            )
        self.reference = reference
        self.reference_id = reference.id
        #: non-feature columns: never schema drift; target / prediction give label drift
        self.roles = window_roles(reference, roles)
        self.refs: dict[str, FeatureReference] = {
            k: prepare_reference(f, psi_bins)
            for k, f in reference.features.items()
            if k not in self.roles
        }
        self.role_refs: dict[str, FeatureReference] = {
            k: prepare_reference(f, psi_bins) for k, f in reference.role_features.items()
        }
        self.mode = mode
        self.rule = rule
        self.calibration = calibration or CalibrationSettings()
        self.calibrations: dict[str, FeatureCalibration] = (
            calibration_of(reference) if rule == "calibrated" else {}
        )
        self.alpha = self.calibration.alpha if rule == "calibrated" else float(alpha)
        self.thresholds = {**DEFAULT_THRESHOLDS, **dict(thresholds or {})}
        self.per_feature = {k: dict(v) for k, v in (per_feature_thresholds or {}).items()}
        self.min_drifted = int(min_drifted_features)
        self.drift_share = drift_share
        self.schema_issues_drift = schema_issues_drift
        self.on_report = on_report
        self.time_column = time_column
        self.feature_names = feature_names
        self.by_time = window_seconds is not None
        if self.by_time:
            assert window_seconds is not None
            pane = float(step_seconds or window_seconds) if mode == "sliding" else window_seconds
            if mode == "sliding" and step_seconds is None:
                pane = window_seconds / 5.0
            self.pane_size: float | None = float(pane)
            self.n_panes = max(1, round(window_seconds / pane))
        elif window is None:
            self.pane_size, self.n_panes = None, 1
        else:
            pane_rows = window if mode == "tumbling" else (step or max(1, window // 5))
            if window % pane_rows:
                raise InvalidInputError(
                    f"window ({window}) must be a multiple of step ({pane_rows})"
                )
            self.pane_size, self.n_panes = float(pane_rows), window // pane_rows
        self.window = window
        self._model = (
            ModelAwareWindows(model_aware, reference)
            if model_aware is not None and model_aware.active
            else None
        )
        self.rows_seen = 0
        self.windows_emitted = 0
        self._panes: list[_Pane] = [_Pane(self._all_refs, 0, 0)]
        self._time_key: int | None = None

    # ------------------------------------------------------------------ streaming
    def update(self, batch: Any) -> list[DriftReport]:
        """Add a batch; return (and pass to ``on_report``) reports of windows it completed."""
        cols = self._columns(batch)
        # columns converted from a 2-D array are private copies: windows may sort them in place
        private = isinstance(batch, np.ndarray) and batch.ndim == 2 and not batch.flags.f_contiguous
        n = next((int(v.shape[0]) for v in cols.values()), 0)
        if n == 0:
            return []
        t = None
        if self.time_column is not None:
            if self.time_column not in cols:
                raise InvalidInputError(
                    f"time column {self.time_column!r} is not in the batch; columns: {list(cols)}"
                )
            t = as_numeric(cols.pop(self.time_column), self.time_column)
        out: list[DriftReport] = []
        if self.by_time:
            assert t is not None and self.pane_size is not None
            keys = np.floor(t / self.pane_size)
            keys = np.where(np.isfinite(keys), keys, -np.inf)
            keys = np.maximum.accumulate(keys)
            cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
            bounds = [0, *cuts.tolist(), n]
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
        else:
            a = 0
            while a < n:
                pane = self._panes[-1]
                room = n - a if self.pane_size is None else int(self.pane_size) - pane.n_rows
                b = min(n, a + room)
                self._add(cols, a, b, t, private)
                a = b
                if self.pane_size is not None and pane.n_rows >= self.pane_size:
                    out.extend(self._close_pane(new_key=pane.key + 1))
        if self.on_report is not None:
            for r in out:
                self.on_report(r)
        return out

    def _columns(self, batch: Any) -> Columns:
        if isinstance(batch, dict) and all(
            isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype == np.float64
            for v in batch.values()
        ):
            return dict(batch)  # already a numeric column dict
        return to_columns(batch, self.feature_names)

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
                conv = self._coerce(col, win.ref.kind)
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
    def _coerce(col: np.ndarray, kind: str) -> np.ndarray | None:
        if kind == "categorical":
            return as_categorical(col)
        try:
            return as_numeric(col)
        except InvalidInputError:
            return None

    def _close_pane(self, new_key: int) -> list[DriftReport]:
        out: list[DriftReport] = []
        closing = self._panes[-1]
        if self.mode == "tumbling":
            out.append(self._build([closing], complete=True))
            self._panes = [_Pane(self._all_refs, self.rows_seen, new_key)]
            return out
        live = [p for p in self._panes if p.key > closing.key - self.n_panes]
        full = (len(live) >= self.n_panes) if not self.by_time else True
        if full and closing.n_rows > 0:
            out.append(self._build(live, complete=True))
        keep = [p for p in live if p.key > new_key - self.n_panes]
        self._panes = [*keep, _Pane(self._all_refs, self.rows_seen, new_key)]
        return out

    def report(self) -> DriftReport:
        """Report of the current (possibly partial) window; does not reset anything."""
        panes = self._panes
        if self.mode == "sliding":
            cur = panes[-1].key
            panes = [p for p in panes if p.key > cur - self.n_panes]
        return self._build(panes, complete=False, count=False)

    def flush(self) -> DriftReport | None:
        """Emit the partial window (if it has rows) as a report, call ``on_report``, reset."""
        if self._panes[-1].n_rows == 0:
            return None
        r = self._build(
            self._panes[-1:] if self.mode == "tumbling" else self._panes, complete=False
        )
        self._panes = [_Pane(self._all_refs, self.rows_seen, self._panes[-1].key + 1)]
        if self.on_report is not None:
            self.on_report(r)
        return r

    # ------------------------------------------------------------------ across hosts
    def state(self, host: str = "") -> Any:
        """Serialisable, mergeable state of the open window (a
        :class:`~driftline.drift.agent_state.WindowState`; ``.to_bytes()`` to ship it)."""
        from driftline.drift.agent_state import pane_state

        return pane_state(self, self._panes[-1], host=host)

    def load_state(self, state: Any) -> None:
        """Resume from a saved :meth:`state` (object or bytes): it becomes the open window."""
        from driftline.drift.agent_state import WindowState, state_to_pane

        if not isinstance(state, WindowState):
            state = WindowState.from_bytes(state, self.refs, self.reference_id)
        self._panes = [state_to_pane(self, state)]
        self.rows_seen = state.start_row + state.n_rows

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
        th = {**self.thresholds, **self.per_feature.get(feature, {})}
        return {k: float(v) for k, v in th.items() if v is not None}

    def _build(self, panes: list[_Pane], *, complete: bool, count: bool = True) -> DriftReport:
        if len(panes) == 1:
            wins = panes[0].windows
        else:
            wins = {}
            for name, ref in self._all_refs.items():
                w = new_window(ref)
                for p in panes:
                    w.absorb(p.windows[name])  # type: ignore[arg-type]
                wins[name] = w
        issues: dict[tuple[str, str], SchemaIssue] = {}
        for p in panes:
            for key, i in p.issues.items():
                if key in issues:
                    issues[key].rows += i.rows
                else:
                    issues[key] = SchemaIssue(i.feature, i.issue, i.detail, i.rows)
        feats: dict[str, FeatureDrift] = {}
        label_drift: dict[str, FeatureDrift] = {}
        for name, w in wins.items():
            if name in self.role_refs and w.n == 0:
                continue  # the window carried no labels / predictions
            th = self.thresholds_for(name)
            m = w.metrics()
            fired: list[str] = []
            if self.rule == "calibrated" and name not in self.role_refs:
                th = {}  # role columns (label / prediction drift) keep the effect thresholds
            for metric, thr in th.items():
                v = m.get(metric)
                if v is None or math.isnan(v):
                    continue
                effect = self.rule == "effect" or name in self.role_refs
                if not effect and metric != "missing_change":
                    continue
                if (abs(v) if metric in _ABS_METRICS else v) > thr:
                    fired.append(metric)
            kind = "numeric" if isinstance(w.ref, NumericReference) else "categorical"
            (label_drift if name in self.role_refs else feats)[name] = FeatureDrift(
                name, kind, m, th, fired
            )
        if self.rule == "calibrated":
            self._apply_calibrated(feats, wins)
        elif self.rule != "effect":
            self._apply_tests(feats)
        n_feats = len(feats)
        required = self.min_drifted
        if self.drift_share is not None:
            required = max(required, math.ceil(self.drift_share * n_feats))
        n_drifted = sum(1 for f in feats.values() if f.drift)
        issue_list = list(issues.values()) + unseen_label_issues(label_drift, self.roles)
        schema = self.schema_issues_drift and any(
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
            drift=bool((n_feats > 0 and n_drifted >= required) or schema),
            n_drifted=n_drifted,
            required=required,
            rule=self.rule,
            alpha=self.alpha,
            complete=complete,
            start_time=min(times) if times else None,
            end_time=max(times_hi) if times_hi else None,
            schema_issues=issue_list,
            label_drift=label_drift,
            roles=dict(self.roles),
            model=self._model.report([p.model_sums for p in panes]) if self._model else {},
        )

    def _apply_calibrated(
        self, feats: dict[str, FeatureDrift], wins: Mapping[str, FeatureWindow]
    ) -> None:
        """Calibrated p-values and floors per feature, Holm across features (FWER)."""
        cs = self.calibration
        names, ps, material = [], [], []
        for name, f in feats.items():
            w, cal = wins[name], self.calibrations[name]
            t = (
                numeric_test(w, cal, cs)
                if isinstance(w, NumericWindow)
                else categorical_test(w, cal, cs)
            )  # type: ignore[arg-type]
            mat = bool(t["material"])
            f.metrics.update(t)
            f.thresholds.update({"alpha": cs.alpha, "family_alpha": cs.family_alpha})
            f.thresholds.update(
                {k: cs.floor(k) for k in ("ks_all", "tv", "unseen_excess") if k in t}
            )
            if not math.isnan(t["p_cal"]):
                names.append(name)
                ps.append(t["p_cal"])
                material.append(mat)
        adj = holm(np.array(ps))
        for name, p, pa, mat in zip(names, ps, adj.tolist(), material, strict=True):
            f = feats[name]
            f.metrics["p_adj"] = pa
            if mat and p < cs.alpha and pa < cs.family_alpha:
                f.fired.append(_fired_label(f))

    def _apply_tests(self, feats: dict[str, FeatureDrift]) -> None:
        names, ps = [], []
        for name, f in feats.items():
            key = "ks_p" if f.kind == "numeric" else "chi2_p"
            p = f.metrics.get(key, math.nan)
            if not math.isnan(p):
                names.append((name, key))
                ps.append(p)
        adj = adjust_pvalues(np.array(ps), "bonferroni" if self.rule == "bonferroni" else "bh")
        for (name, key), pa in zip(names, adj.tolist(), strict=True):
            f = feats[name]
            f.metrics["p_adj"] = pa
            f.thresholds["alpha"] = self.alpha
            if pa < self.alpha:
                f.fired.append(key)


def _fired_label(f: FeatureDrift) -> str:
    """Name the calibrated alarm by what moved most: missing share, unseen values or shape."""
    m = f.metrics
    miss = abs(m.get("missing_change", 0.0) or 0.0)
    if f.kind == "numeric":
        ks = m.get("ks")
        ks = 0.0 if ks is None or math.isnan(ks) else ks  # NaN when no value is present
        return "missing_change" if miss > ks else "ks_all"
    if (m.get("p_unseen", 1.0) < m.get("p_cal", 1.0)) and m.get("unseen_excess", 0.0) > 0:
        return "unseen_excess"
    return "missing_change" if miss >= 0.5 * (m.get("tv") or 0.0) else "tv"


def _check_settings(
    thresholds: Mapping[str, float | None] | None,
    per_feature: Mapping[str, Mapping[str, float | None]] | None,
    drift_share: float | None,
    alpha: float,
) -> None:
    """Refuse settings that would silently disable or always fire an alarm."""
    if drift_share is not None and not (
        isinstance(drift_share, int | float) and 0.0 < drift_share <= 1.0
    ):
        raise InvalidInputError(f"drift_share must be in (0, 1], got {drift_share!r}")
    if not (isinstance(alpha, int | float) and 0.0 < alpha < 1.0):
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha!r}")
    groups = [("", thresholds or {})] + [
        (f" of feature {k!r}", v) for k, v in (per_feature or {}).items()
    ]
    for where, th in groups:
        for k, v in th.items():
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v)):
                raise InvalidInputError(
                    f"threshold {k}{where} must be a finite number or None (off), got {v!r}"
                )


def compare(reference: Signature, data: Any, **agent_kwargs: Any) -> DriftReport:
    """One-shot comparison of a whole data set with a reference (a single window)."""
    agent_kwargs.setdefault("window", None)
    agent = DriftAgent(reference, **agent_kwargs)
    agent.update(data)
    if agent.rows_seen == 0:
        raise InvalidInputError(
            "the window has 0 rows: nothing to compare (an empty window is "
            "not 'no drift'); pass at least one row"
        )
    return agent.report()
