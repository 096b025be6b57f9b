"""Settings of a :class:`~driftline.drift.agent.DriftAgent`: which rows make a window, and which
rule turns a window's metrics into a verdict.

Two frozen dataclasses, grouped by :class:`AgentSettings`:

* :class:`WindowSettings` — ``size`` rows per window (default 5,000; None = one window over
  everything), ``mode`` tumbling (one report per window) or sliding (a report every ``step``
  rows, default ``size // 5``, over the last ``size`` rows), or time windows of ``seconds``
  on ``time_column``;
* :class:`RuleSettings` — the drift rule (``"calibrated"`` default, ``"effect"``,
  ``"bonferroni"``, ``"bh"``), its ``alpha`` / :class:`CalibrationSettings`, effect thresholds
  (overrides of :data:`DEFAULT_THRESHOLDS`, globally or per feature), and how many features must
  drift: ``max(min_drifted_features, ⌈drift_share · features⌉)``.

The flat keywords of earlier releases (``window=``, ``rule=``, ``drift_share=``, …), which
:func:`~driftline.drift.agent.compare`, :func:`driftline.monitor` and ``RepairPolicy`` pass
through, map onto these objects with :meth:`AgentSettings.from_options`.

>>> s = AgentSettings.from_options(window=1000, mode="sliding", step=250, drift_share=0.4)
>>> s.window.panes(), s.rules.drift_share
((250.0, 4), 0.4)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, TypedDict

from driftline.drift.calibration import CalibrationSettings
from driftline.drift.metrics import DEFAULT_PSI_BINS
from driftline.errors import InvalidInputError
from driftline.validation import check_choice

DEFAULT_WINDOW = 5_000
#: effect-size thresholds of ``rule="effect"`` (None = reported, never fires)
DEFAULT_THRESHOLDS: dict[str, float | None] = {
    "psi": 0.2,
    "ks": 0.1,
    "kl": 0.1,
    "js": 0.1,
    "wasserstein": 0.25,
    "missing_change": 0.05,
    "mean_shift": None,
}
Rule = Literal["calibrated", "effect", "bonferroni", "bh"]
RULES: tuple[Rule, ...] = ("calibrated", "effect", "bonferroni", "bh")
WindowMode = Literal["tumbling", "sliding"]
Thresholds = Mapping[str, float | None]


@dataclass(frozen=True)
class WindowSettings:
    """Which rows make a window.

    ``size`` rows (None: one window over everything fed until ``report``/``flush``);
    ``mode="sliding"`` reports every ``step`` rows (default ``size // 5``; ``size`` must be a
    multiple of it). With ``time_column`` and ``seconds``, windows are aligned intervals
    ``[k·w, (k+1)·w)`` of the timestamp; sliding time windows advance by ``step_seconds``
    (default ``seconds / 5``).
    """

    size: int | None = DEFAULT_WINDOW
    mode: WindowMode = "tumbling"
    step: int | None = None
    time_column: str | None = None
    seconds: float | None = None
    step_seconds: float | None = None

    def __post_init__(self) -> None:
        check_choice("window mode", self.mode, ("tumbling", "sliding"))
        if self.size is not None and self.size < 1:
            raise InvalidInputError(f"window must be a positive row count, got {self.size}")
        if self.step is not None and not self.step >= 1:  # also refuses NaN
            raise InvalidInputError(f"step must be a positive row count, got {self.step}")
        if self.step_seconds is not None and not self.step_seconds > 0:
            raise InvalidInputError(f"step_seconds must be > 0, got {self.step_seconds}")
        if self.seconds is not None and (self.time_column is None or self.seconds <= 0):
            raise InvalidInputError("window_seconds needs a time_column and must be > 0")
        self.panes()  # refuses a size that is not a multiple of the step

    @property
    def by_time(self) -> bool:
        """True when windows are intervals of ``time_column`` rather than row counts."""
        return self.seconds is not None

    def panes(self) -> tuple[float | None, int]:
        """``(pane size, panes per window)``: a pane is the span one report advances by
        (rows, or seconds for time windows); None = unbounded (a single pane)."""
        if self.seconds is not None:
            if self.mode == "sliding":
                pane = self.step_seconds if self.step_seconds is not None else self.seconds / 5.0
            else:
                pane = self.seconds
            return float(pane), max(1, round(self.seconds / pane))
        if self.size is None:
            return None, 1
        rows = self.size if self.mode == "tumbling" else (self.step or max(1, self.size // 5))
        if self.size % rows:
            raise InvalidInputError(f"window ({self.size}) must be a multiple of step ({rows})")
        return float(rows), self.size // rows


@dataclass(frozen=True)
class RuleSettings:
    """How a window's metrics become a verdict (see :mod:`driftline.drift.verdict`).

    ``rule``: ``"calibrated"`` (p-values from the signature's null, Holm across features, at
    ``calibration.alpha`` / ``family_alpha``), ``"effect"`` (any metric above its threshold),
    ``"bonferroni"`` / ``"bh"`` (KS / χ² p-values adjusted across features, below ``alpha``).
    ``thresholds`` override :data:`DEFAULT_THRESHOLDS` (None = off), ``per_feature_thresholds``
    override them per feature. The data set drifts when at least
    ``max(min_drifted_features, ⌈drift_share · features⌉)`` features drift, or (with
    ``schema_issues_drift``) a column is missing or changed type. ``psi_bins``: PSI/KL/JS bins.
    """

    rule: Rule = "calibrated"
    alpha: float = 0.05
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    thresholds: Thresholds = field(default_factory=dict)
    per_feature_thresholds: Mapping[str, Thresholds] = field(default_factory=dict)
    min_drifted_features: int = 1
    drift_share: float | None = None
    schema_issues_drift: bool = True
    psi_bins: int = DEFAULT_PSI_BINS

    def __post_init__(self) -> None:
        # private copies: a caller's later edits must not change a running agent
        object.__setattr__(self, "thresholds", dict(self.thresholds))
        per = {k: dict(v) for k, v in self.per_feature_thresholds.items()}
        object.__setattr__(self, "per_feature_thresholds", per)
        check_choice("rule", self.rule, RULES)
        for metric in self.thresholds:
            check_choice("threshold metric", metric, DEFAULT_THRESHOLDS)
        _check_numbers(self)

    @property
    def effective_alpha(self) -> float:
        """The per-feature level reported: ``calibration.alpha`` under the calibrated rule."""
        return self.calibration.alpha if self.rule == "calibrated" else float(self.alpha)

    def thresholds_for(self, feature: str) -> dict[str, float]:
        """Effective thresholds of a feature (defaults ← globals ← per feature; None = off)."""
        th = {
            **DEFAULT_THRESHOLDS,
            **self.thresholds,
            **self.per_feature_thresholds.get(feature, {}),
        }
        return {k: float(v) for k, v in th.items() if v is not None}

    def required(self, n_features: int) -> int:
        """Drifted features needed for a data-set verdict."""
        need = int(self.min_drifted_features)
        if self.drift_share is not None:
            need = max(need, math.ceil(self.drift_share * n_features))
        return need


def _check_numbers(s: RuleSettings) -> None:
    """Refuse settings that would silently disable or always fire an alarm."""
    share = s.drift_share
    if share is not None and not (isinstance(share, int | float) and 0.0 < share <= 1.0):
        raise InvalidInputError(f"drift_share must be in (0, 1], got {share!r}")
    if not (isinstance(s.alpha, int | float) and 0.0 < s.alpha < 1.0):
        raise InvalidInputError(f"alpha must be in (0, 1), got {s.alpha!r}")
    groups = [("", s.thresholds)] + [
        (f" of feature {k!r}", v) for k, v in s.per_feature_thresholds.items()
    ]
    for where, th in groups:
        for k, v in th.items():
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v)):
                raise InvalidInputError(
                    f"threshold {k}{where} must be a finite number or None (off), got {v!r}"
                )


class AgentOptions(TypedDict, total=False):
    """The flat keywords accepted by ``DriftAgent(...)``, :func:`compare` and ``monitor``."""

    window: int | None
    mode: WindowMode
    step: int | None
    time_column: str | None
    window_seconds: float | None
    step_seconds: float | None
    rule: Rule
    alpha: float
    calibration: CalibrationSettings | None
    thresholds: Thresholds | None
    per_feature_thresholds: Mapping[str, Thresholds] | None
    min_drifted_features: int
    drift_share: float | None
    schema_issues_drift: bool
    psi_bins: int


#: flat keyword → field of WindowSettings
_WINDOW_KEYS = {
    "window": "size",
    "mode": "mode",
    "step": "step",
    "time_column": "time_column",
    "window_seconds": "seconds",
    "step_seconds": "step_seconds",
}
_RULE_KEYS = frozenset(RuleSettings.__dataclass_fields__)


@dataclass(frozen=True)
class AgentSettings:
    """Window and rule settings of a drift agent (defaults: 5,000-row tumbling windows, the
    calibrated rule)."""

    window: WindowSettings = field(default_factory=WindowSettings)
    rules: RuleSettings = field(default_factory=RuleSettings)

    @classmethod
    def from_options(cls, base: AgentSettings | None = None, **options: object) -> AgentSettings:
        """``base`` (default settings if None) with the flat keywords of :class:`AgentOptions`
        applied; an unknown keyword is refused."""
        base = base or cls()
        win: dict[str, object] = {}
        rules: dict[str, object] = {}
        for key, value in options.items():
            if key in _WINDOW_KEYS:
                win[_WINDOW_KEYS[key]] = value
            elif key in _RULE_KEYS:
                if value is None and key in ("calibration", "thresholds", "per_feature_thresholds"):
                    continue  # None meant "the default" for these
                rules[key] = value
            else:
                check_choice("agent option", key, [*_WINDOW_KEYS, *sorted(_RULE_KEYS)])
        return cls(
            replace(base.window, **win) if win else base.window,  # type: ignore[arg-type]
            replace(base.rules, **rules) if rules else base.rules,  # type: ignore[arg-type]
        )
