"""Prometheus metrics of the server (its own registry, rendered at ``/metrics``).

Per deployment: drift score per feature (PSI of the newest window), alarms (windows that
drifted), estimated accuracy (mean max probability of served rows), the model id being served,
request latency histograms. Store-wide, read at scrape time: repairs by status, label-queue
depth.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from driftline.drift import DriftReport

LATENCY_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1, 2, 5)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.latency = Histogram(
            "driftline_request_seconds",
            "request latency",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            "driftline_predicted_rows", "rows predicted", ["deployment"], registry=r
        )
        self.drift = Gauge(
            "driftline_drift_psi", "PSI of the newest window", ["deployment", "feature"], registry=r
        )
        self.alarms = Counter(
            "driftline_drift_alarms", "windows that drifted", ["deployment"], registry=r
        )
        self.windows = Counter(
            "driftline_drift_windows", "windows reported", ["deployment"], registry=r
        )
        self.estimated = Gauge(
            "driftline_estimated_accuracy",
            "mean max probability of the last predict call",
            ["deployment"],
            registry=r,
        )
        self.served = Gauge(
            "driftline_served_model",
            "1 for the model a deployment serves",
            ["deployment", "model_id", "model_ref"],
            registry=r,
        )
        self.repairs = Gauge("driftline_repairs", "repairs by status", ["status"], registry=r)
        self.queue = Gauge(
            "driftline_label_queue", "label requests by status", ["status"], registry=r
        )
        self.dropped = Gauge(
            "driftline_agent_dropped_rows", "rows the agent queue dropped", registry=r
        )
        self._served: dict[str, tuple[str, str]] = {}

    def on_report(self, deployment: str, report: DriftReport) -> None:
        self.windows.labels(deployment).inc()
        if report.drift:
            self.alarms.labels(deployment).inc()
        for name, value in report.metric("psi").items():
            self.drift.labels(deployment, name).set(value)

    def on_serving(self, deployment: str, model_id: str, model_ref: str) -> None:
        old = self._served.get(deployment)
        if old == (model_id, model_ref):
            return
        if old is not None:
            self.served.remove(deployment, *old)
        self.served.labels(deployment, model_id, model_ref).set(1)
        self._served[deployment] = (model_id, model_ref)

    def render(self, store: Any, dropped: int) -> bytes:
        """Refresh the store-wide gauges and render the text exposition format."""
        from driftline.active import LabelQueue
        from driftline.repair.pipeline import list_repairs

        counts: dict[str, int] = {}
        for r in list_repairs(store):
            counts[r.status] = counts.get(r.status, 0) + 1
        self.repairs.clear()
        for status, n in counts.items():
            self.repairs.labels(status).set(n)
        for status, n in LabelQueue(store).counts().items():
            self.queue.labels(status).set(n)
        self.dropped.set(dropped)
        return generate_latest(self.registry)
