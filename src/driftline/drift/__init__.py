"""Drift detection: signatures, metrics, streaming agents and reports."""

from driftline.drift.agent import DriftAgent, compare
from driftline.drift.agent_settings import (
    DEFAULT_THRESHOLDS,
    DEFAULT_WINDOW,
    AgentSettings,
    RuleSettings,
    WindowSettings,
)
from driftline.drift.likelihood import log_likelihood
from driftline.drift.metrics import (
    chi_square,
    js_distance,
    kl_divergence,
    ks_pvalue,
    ks_statistic,
    missing_rate_change,
    psi,
)
from driftline.drift.report import (
    DriftReport,
    FeatureDrift,
    SchemaIssue,
    drift_score,
    report_table,
)
from driftline.drift.signature import CategoricalSummary, NumericSummary, Signature
from driftline.drift.sketch import QuantileSketch
from driftline.drift.tabular import iter_batches, read_table, to_columns
from driftline.drift.windows import feature_metrics

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DEFAULT_WINDOW",
    "AgentSettings",
    "CategoricalSummary",
    "DriftAgent",
    "DriftReport",
    "FeatureDrift",
    "NumericSummary",
    "QuantileSketch",
    "RuleSettings",
    "SchemaIssue",
    "Signature",
    "WindowSettings",
    "chi_square",
    "compare",
    "drift_score",
    "feature_metrics",
    "iter_batches",
    "js_distance",
    "kl_divergence",
    "ks_pvalue",
    "ks_statistic",
    "log_likelihood",
    "missing_rate_change",
    "psi",
    "read_table",
    "report_table",
    "to_columns",
]
