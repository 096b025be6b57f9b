"""Healthy-ancestor search: the nearest ancestor whose training data still looks like today's.

One recursive query gives every ancestor with its hop count; each ancestor's training signature
is compared with the current window by the drift agent's metrics. An ancestor is *healthy* when
the comparison does not flag dataset drift. Nearest = fewest hops; ties go to the lower drift
(share of drifted features, then mean PSI). When none is healthy, the least-drifted ancestor is
returned as the fallback and the caller hands over to active learning.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from driftline.drift import DriftReport, compare
from driftline.errors import UnknownReferenceError
from driftline.store import Store

SUMMARY_METRICS = ("psi", "ks", "kl", "js", "wasserstein")


@dataclass(frozen=True)
class AncestorRow:
    """One ancestor's line in the search table."""

    id: str
    ref: str
    hops: int
    path_kinds: list[str]
    drift: dict[str, float]  # mean over features of each metric
    drifted_share: float
    healthy: bool
    has_signature: bool = True
    label_score: dict[str, float] | None = None  # accuracy / log-loss on validation labels

    @property
    def rank_key(self) -> tuple[float, float]:
        return (self.drifted_share, self.drift.get("psi", math.inf))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AncestorSearch:
    """Result of :func:`find_healthy_ancestor`."""

    drifted_id: str
    rows: list[AncestorRow] = field(default_factory=list)
    chosen: AncestorRow | None = None
    fallback: AncestorRow | None = None

    @property
    def healthy(self) -> bool:
        return self.chosen is not None

    @property
    def target(self) -> AncestorRow | None:
        """The ancestor to repair toward: the healthy one, else the least drifted."""
        return self.chosen or self.fallback

    def to_dict(self) -> dict[str, Any]:
        return {
            "drifted_id": self.drifted_id,
            "rows": [r.to_dict() for r in self.rows],
            "chosen": self.chosen.id if self.chosen else None,
            "fallback": self.fallback.id if self.fallback else None,
        }


def summarize(report: DriftReport) -> tuple[dict[str, float], float]:
    """Mean of each metric over features, and the share of features that drift."""
    out = {}
    for m in SUMMARY_METRICS:
        vals = [v for v in report.metric(m).values() if not math.isnan(v)]
        out[m] = float(np.mean(vals)) if vals else math.nan
    n = max(len(report.features), 1)
    return out, len(report.drifted_features) / n


def _path_kinds(drifted: str, edges: list[Any]) -> dict[str, list[str]]:
    """Edge kinds along a shortest upward path from ``drifted`` to each ancestor (BFS)."""
    up: dict[str, list[Any]] = {}
    for e in edges:
        up.setdefault(e.child, []).append(e)
    kinds: dict[str, list[str]] = {drifted: []}
    queue = deque([drifted])
    while queue:
        node = queue.popleft()
        for e in sorted(up.get(node, []), key=lambda e: e.parent):
            if e.parent not in kinds:
                kinds[e.parent] = kinds[node] + [e.kind]
                queue.append(e.parent)
    return kinds


def find_healthy_ancestor(
    store: Store,
    drifted: str,
    window: Any,
    *,
    max_hops: int | None = None,
    agent_kwargs: Mapping[str, Any] | None = None,
) -> AncestorSearch:
    """Walk the ancestors of ``drifted`` by hop count and pick the nearest healthy one."""
    drifted_id = store.resolve(drifted)
    relatives = store.ancestors(drifted_id, max_hops)
    _, edges = store.family(drifted_id)
    kinds = _path_kinds(drifted_id, edges)
    search = AncestorSearch(drifted_id)
    kw = dict(agent_kwargs or {})
    for rel in relatives:
        try:
            sig = store.signature(rel.id)
        except UnknownReferenceError:
            search.rows.append(
                AncestorRow(
                    rel.id,
                    f"{rel.name}@{rel.version}",
                    rel.hops,
                    kinds.get(rel.id, []),
                    {},
                    math.nan,
                    False,
                    has_signature=False,
                )
            )
            continue
        report = compare(sig, window, **kw)
        summary, share = summarize(report)
        search.rows.append(
            AncestorRow(
                rel.id,
                f"{rel.name}@{rel.version}",
                rel.hops,
                kinds.get(rel.id, []),
                summary,
                share,
                not report.drift,
            )
        )
    scored = [r for r in search.rows if r.has_signature]
    healthy = [r for r in scored if r.healthy]
    if healthy:
        search.chosen = min(healthy, key=lambda r: (r.hops, *r.rank_key))
    if scored:
        search.fallback = min(scored, key=lambda r: (*r.rank_key, r.hops))
    return search
