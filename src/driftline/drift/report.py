"""`DriftReport`: the per-window verdict, its dict form, a scalar score and a Rich table."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

#: metrics shown in tables, in order
TABLE_METRICS = ("psi", "ks", "kl", "js", "wasserstein", "chi2_p", "unseen", "missing_change")
SCHEMA_DRIFT_ISSUES = ("missing_column", "type_changed")


@dataclass
class SchemaIssue:
    """A column problem seen in the window: missing_column, extra_column or type_changed."""

    feature: str
    issue: str
    detail: str
    rows: int = 0


@dataclass
class FeatureDrift:
    """One feature's metrics, the thresholds applied and which of them fired."""

    name: str
    kind: str
    metrics: dict[str, float]
    thresholds: dict[str, float]
    fired: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.fired)


@dataclass
class DriftReport:
    """Verdict for one window of rows ``[start_row, end_row)`` against a reference signature."""

    reference_id: str
    window_index: int
    start_row: int
    end_row: int
    n_rows: int
    features: dict[str, FeatureDrift]
    drift: bool
    n_drifted: int
    required: int
    rule: str = "effect"
    alpha: float = 0.05
    complete: bool = True
    start_time: float | None = None
    end_time: float | None = None
    schema_issues: list[SchemaIssue] = field(default_factory=list)
    #: target / prediction columns the window carried, against the training distribution
    #: (reported beside the input verdict, not part of it)
    label_drift: dict[str, FeatureDrift] = field(default_factory=dict)
    #: non-feature columns of the window and their roles (id, timestamp, target, ...): not tested
    roles: dict[str, str] = field(default_factory=dict)
    #: optional model-aware metrics (estimated_accuracy, multivariate_score, ...; see
    #: :mod:`driftline.drift.model_aware`), empty when the agent was given none
    model: dict[str, float] = field(default_factory=dict)

    @property
    def fired(self) -> dict[str, list[str]]:
        """Feature -> metrics over their threshold (only drifting features)."""
        return {k: list(f.fired) for k, f in self.features.items() if f.fired}

    @property
    def drifted_features(self) -> list[str]:
        return [k for k, f in self.features.items() if f.drift]

    @property
    def schema_drift(self) -> bool:
        return any(i.issue in SCHEMA_DRIFT_ISSUES for i in self.schema_issues)

    def metric(self, name: str) -> dict[str, float]:
        """``{feature: value}`` of one metric over the features that have it."""
        return {k: f.metrics[name] for k, f in self.features.items() if name in f.metrics}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN and inf become None / strings)."""
        d = asdict(self)
        for key in ("features", "label_drift"):
            d[key] = {
                k: {
                    **v,
                    "metrics": {m: _js(x) for m, x in v["metrics"].items()},
                    "thresholds": {m: _js(x) for m, x in v["thresholds"].items()},
                }
                for k, v in d[key].items()
            }
        d["model"] = {k: _js(v) for k, v in d["model"].items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReport:
        def drifts(src: dict[str, Any]) -> dict[str, FeatureDrift]:
            return {
                k: FeatureDrift(
                    name=v["name"],
                    kind=v["kind"],
                    metrics={m: _unjs(x) for m, x in v["metrics"].items()},
                    thresholds={m: _unjs(x) for m, x in v["thresholds"].items()},
                    fired=list(v["fired"]),
                )
                for k, v in src.items()
            }

        feats = drifts(d["features"])
        issues = [SchemaIssue(**i) for i in d.get("schema_issues", [])]
        keys = {
            k: d[k]
            for k in (
                "reference_id",
                "window_index",
                "start_row",
                "end_row",
                "n_rows",
                "drift",
                "n_drifted",
                "required",
                "rule",
                "alpha",
                "complete",
                "start_time",
                "end_time",
            )
            if k in d
        }
        return cls(
            features=feats,
            schema_issues=issues,
            label_drift=drifts(d.get("label_drift", {})),
            roles=dict(d.get("roles", {})),
            model={k: _unjs(v) for k, v in d.get("model", {}).items()},
            **keys,
        )


def _js(x: float | None) -> float | str | None:
    if x is None:
        return None
    x = float(x)
    if math.isnan(x):
        return None
    return x if math.isfinite(x) else repr(x)


def _unjs(x: float | str | None) -> float:
    return math.nan if x is None else float(x)


def drift_score(report: DriftReport) -> float:
    """Scalar for ranking: the largest PSI over features (0 if none; inf on schema drift)."""
    if report.schema_drift:
        return math.inf
    vals = [v for v in report.metric("psi").values() if not math.isnan(v)]
    return float(max(vals)) if vals else 0.0


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    ax = abs(x)
    if ax != 0 and (ax < 1e-3 or ax >= 1e4):
        return f"{x:.2e}"
    return f"{x:.4f}"


def model_caption(report: DriftReport) -> str:
    """`` · est. accuracy 0.91 (ref 0.95) · multivariate 0.12 (p 0.03)`` or ``""``."""
    m, parts = report.model, []
    if "estimated_accuracy" in m:
        ref = m.get("reference_accuracy")
        parts.append(
            f"est. accuracy {_fmt(m['estimated_accuracy'])}"
            + (f" (ref {_fmt(ref)})" if ref is not None else "")
        )
    if "multivariate_score" in m:
        parts.append(
            f"multivariate {_fmt(m['multivariate_score'])} "
            f"(p {_fmt(m.get('multivariate_p', math.nan))})"
        )
    return "".join(f" · {p}" for p in parts)


def report_table(report: DriftReport) -> Any:
    """A ``rich.table.Table``: one row per feature, fired metrics in bold red, and a verdict."""
    from rich.table import Table

    verdict = (
        "[bold yellow]EMPTY window (no rows, no verdict)[/]"
        if report.n_rows == 0
        else "[bold red]DRIFT[/]"
        if report.drift
        else "[bold green]no drift[/]"
    )
    span = f"rows {report.start_row}–{report.end_row}"
    title = f"window {report.window_index} · {span} · {report.n_rows} rows · {verdict}"
    t = Table(
        title=title,
        caption=(
            f"{report.n_drifted} drifting feature(s), "
            f"{report.required} needed · rule={report.rule}" + model_caption(report)
        ),
    )
    t.add_column("feature", style="bold")
    t.add_column("kind")
    t.add_column("n", justify="right")
    labels = {
        "psi": "PSI",
        "ks": "KS D",
        "kl": "KL",
        "js": "JS",
        "wasserstein": "W/σ",
        "chi2_p": "χ² p",
        "unseen": "unseen",
        "missing_change": "Δmissing",
    }
    for m in TABLE_METRICS:
        t.add_column(labels[m], justify="right")
    t.add_column("verdict")
    rows = [(n, f, f.kind) for n, f in report.features.items()]
    rows += [
        (n, f, f"{report.roles.get(n, 'target')} ({f.kind})") for n, f in report.label_drift.items()
    ]
    for name, f, kind in rows:
        cells = []
        for m in TABLE_METRICS:
            v = f.metrics.get(m)
            s = _fmt(v) if v is not None else ""
            fired = (
                m in f.fired
                or (m == "ks" and "ks_p" in f.fired)
                or (m == "chi2_p" and "chi2_p" in f.fired)
            )
            cells.append(f"[bold red]{s}[/]" if fired else s)
        n = f.metrics.get("n", math.nan)
        t.add_row(
            name,
            kind,
            "–" if math.isnan(n) else f"{int(n)}",
            *cells,
            "[red]drift[/]" if f.drift else "[green]ok[/]",
        )
    for name, role in report.roles.items():
        if name not in report.label_drift:
            why = "not in this window" if role in ("target", "prediction") else "not tested"
            t.add_row(name, f"[dim]{role}[/]", "", *[""] * len(TABLE_METRICS), f"[dim]{why}[/]")
    for i in report.schema_issues:
        t.add_row(
            i.feature,
            "[yellow]schema[/]",
            str(i.rows),
            *[""] * len(TABLE_METRICS),
            f"[yellow]{i.issue}[/]: {i.detail}",
        )
    return t
