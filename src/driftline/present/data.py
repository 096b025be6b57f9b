"""View data: plain JSON-able dicts built from the store's result types. The REST API returns
them, the dashboard and the static report render them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from driftline.errors import UnknownReferenceError
from driftline.jsonutil import jsonable
from driftline.present import charts
from driftline.store import Model, Store, serving

MAX_GRAPH_NODES = 400
DIST_BINS = 20


def model_dict(m: Model) -> dict[str, Any]:
    return jsonable(
        {
            "id": m.id,
            "ref": m.ref,
            "name": m.name,
            "version": m.version,
            "kind": m.kind,
            "framework": m.framework,
            "metrics": m.metrics,
            "tags": m.tags,
            "signature_id": m.signature_id,
            "created_at": m.created_at,
        }
    )


def _edge_dict(store: Store, e: Any, refs: dict[str, str] | None = None) -> dict[str, Any]:
    refs = refs if refs is not None else {}
    for k in (e.parent, e.child):
        if k not in refs:
            refs[k] = store.get(k).ref
    return jsonable(
        {
            "source": e.parent,
            "target": e.child,
            "kind": e.kind,
            "source_ref": refs[e.parent],
            "target_ref": refs[e.child],
            "params": e.params,
            "metrics": e.metrics,
            "created_at": e.created_at,
        }
    )


def model_details(store: Store, ref: str) -> dict[str, Any]:
    """Metadata, tensors, parent and child edges, deployments and signature summary."""
    m = store.get(ref)
    sig = None
    if m.signature_id:
        s = store.signature(m.signature_id)
        feats = s.summary()
        sig = {
            "id": s.id,
            "n_rows": s.n_rows,
            "n_features": len(feats),
            "features": dict(list(feats.items())[:12]),
        }
    return jsonable(
        {
            **model_dict(m),
            "architecture": m.architecture,
            "tensors": [
                {"name": t.name, "dtype": t.dtype, "shape": list(t.shape)}
                for t in store.manifest(m.id)
            ],
            "parents": [_edge_dict(store, e) for e in store.parents(m.id)],
            "children": [_edge_dict(store, e) for e in store.children(m.id)],
            "deployments": store.deployed_names().get(m.id, []),
            "signature": sig,
        }
    )


def graph_dict(store: Store, nodes: Sequence[Model], edges: Sequence[Any]) -> dict[str, Any]:
    deployed = store.deployed_names()
    refs = {m.id: m.ref for m in nodes}
    return {
        "nodes": [{**model_dict(m), "deployments": deployed.get(m.id, [])} for m in nodes],
        "edges": [_edge_dict(store, e, refs) for e in edges],
    }


def lineage_graph(store: Store, ref: str | None = None) -> dict[str, Any]:
    """The family tree of ``ref``, or of every deployed model (or the newest models when
    nothing is deployed), capped at :data:`MAX_GRAPH_NODES` nodes."""
    if ref is not None:
        return graph_dict(store, *store.family(ref))
    nodes: dict[str, Model] = {}
    edges: dict[tuple[str, str], Any] = {}
    seeds = [d.model_id for d in store.deployments()]
    if not seeds:
        seeds = [m.id for m in store.list_models()[-MAX_GRAPH_NODES:]]
    for mid in seeds:
        if mid in nodes or len(nodes) >= MAX_GRAPH_NODES:
            continue
        ns, es = store.family(mid)
        nodes.update((n.id, n) for n in ns)
        edges.update(((e.parent, e.child), e) for e in es)
    return graph_dict(store, list(nodes.values()), list(edges.values()))


# -- drift reports -----------------------------------------------------------------------------
def _finite(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and math.isfinite(x) else None


def report_row(r: dict[str, Any], windows: set[int] | None = None) -> dict[str, Any]:
    """A report's list entry; ``windows``: ids of reports whose window summary is kept."""
    rep = r["report"]
    feats = rep.get("features", {})
    return jsonable(
        {
            "id": r["id"],
            "model_id": r["model_id"],
            "deployment": r["deployment"],
            "created_at": r["created_at"],
            "n_rows": r["n_rows"],
            "drift": r["drift"],
            "score": r["score"],
            "window_index": rep.get("window_index"),
            "n_drifted": rep.get("n_drifted"),
            "n_features": len(feats),
            "has_window": None if windows is None else r["id"] in windows,
        }
    )


def get_report(store: Store, report_id: int) -> dict[str, Any]:
    for r in store.drift_reports():
        if r["id"] == report_id:
            return r
    raise UnknownReferenceError(f"no drift report #{report_id}; list them with 'driftline reports'")


def _numeric_bins(ref: Any, win: Any | None) -> list[dict[str, Any]]:
    lo, hi = float(ref.min), float(ref.max)
    if win is not None and win.count:
        lo, hi = min(lo, float(win.min)), max(hi, float(win.max))
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, DIST_BINS + 1)
    out = []
    for source, f in (("reference", ref), ("window", win)):
        if f is None or not f.count:
            continue
        cdf = f.sketch.cdf(edges)
        cdf[0] = 0.0  # the first bin is closed: values equal to the minimum count in it
        share = np.diff(cdf)
        out += [
            {"source": source, "x0": float(a), "x1": float(b), "share": float(s)}
            for a, b, s in zip(edges[:-1], edges[1:], share, strict=True)
        ]
    return out


def _categorical_bins(ref: Any, win: Any | None) -> list[dict[str, Any]]:
    out = []
    for source, f in (("reference", ref), ("window", win)):
        if f is None or not f.count:
            continue
        total = sum(f.counts.values()) or 1
        top = sorted(f.counts.items(), key=lambda kv: -kv[1])[:20]
        out += [{"source": source, "category": str(k), "share": v / total} for k, v in top]
    return out


def feature_distributions(
    reference: Any, window: Any | None, report: dict[str, Any], limit: int | None = None
) -> list[dict[str, Any]]:
    """Per feature (most drifted first): metrics, fired thresholds and reference-vs-window
    shares on shared bins (numeric: 20 equal-width bins over both ranges, shares from the
    quantile sketches' CDFs; categorical: top-20 category shares)."""
    feats = report.get("features", {})
    order = sorted(feats, key=lambda k: -(_finite(feats[k]["metrics"].get("psi")) or 0.0))
    out = []
    for name in order[:limit]:
        f = feats[name]
        ref = reference.features.get(name) if reference is not None else None
        win = window.features.get(name) if window is not None else None
        if win is not None and ref is not None and type(win) is not type(ref):
            win = None  # the column changed type (a schema issue): plot the reference alone
        if ref is None:
            bins: list[dict[str, Any]] = []
        elif hasattr(ref, "sketch"):  # numeric summary (the report's kind may be the window's)
            bins = _numeric_bins(ref, win)
        else:
            bins = _categorical_bins(ref, win)
        out.append(
            {
                "name": name,
                "kind": f["kind"],
                "fired": f["fired"],
                "metrics": {k: _finite(v) for k, v in f["metrics"].items()},
                "bins": bins,
                "chart": charts.distribution(name, f["kind"], bins),
            }
        )
    return out


def report_view(store: Store, report_id: int, limit: int | None = None) -> dict[str, Any]:
    """A drift report with per-feature distributions and a per-feature drift bar chart."""
    r = get_report(store, report_id)
    rep = r["report"]
    try:
        reference = store.signature(rep["reference_id"])
    except UnknownReferenceError:
        reference = None
    wid = serving.window_signature_id(store.engine, report_id)
    window = store.signature(wid) if wid else None
    feats = feature_distributions(reference, window, rep, limit)
    model = store.get(r["model_id"])
    return jsonable(
        {
            **report_row(r),
            "model_ref": model.ref,
            "rule": rep.get("rule"),
            "required": rep.get("required"),
            "has_window": window is not None,
            "schema_issues": rep.get("schema_issues", []),
            "features": feats,
            "chart": charts.feature_bars(feats),
        }
    )


# -- repairs -----------------------------------------------------------------------------------
def _ref(store: Store, mid: str | None) -> str | None:
    if not mid:
        return None
    try:
        return store.get(mid).ref
    except UnknownReferenceError:
        return mid[:12]


def repair_row(r: Any) -> dict[str, Any]:
    return jsonable(
        {
            "id": r.repair_id,
            "status": r.status,
            "deployment": r.deployment,
            "drifted_id": r.drifted_id,
            "ancestor_id": r.ancestor_id,
            "repaired_id": r.repaired_id,
            "repaired_ref": r.repaired_ref,
            "chosen": r.chosen,
            "alpha": r.alpha,
            "before": r.before,
            "after": r.after,
            "deployed": r.deployed,
            "message": r.message,
        }
    )


def repair_view(store: Store, repair_id: int) -> dict[str, Any]:
    """Ancestor table, α curve, candidates, before and after of one repair."""
    from driftline.repair.pipeline import load_repair

    r = load_repair(store, int(repair_id))
    if r is None:
        raise UnknownReferenceError(f"no repair #{repair_id}; list them with 'driftline repairs'")
    ancestors = (r.search or {}).get("rows", [])
    curve = [{"alpha": a, "objective": v} for a, v in r.alpha_evaluations]
    cands = [
        {"candidate": k, **{m: _finite(v) for m, v in d.items()}} for k, d in r.candidates.items()
    ]
    return jsonable(
        {
            **repair_row(r),
            "drifted_ref": _ref(store, r.drifted_id),
            "ancestor_ref": _ref(store, r.ancestor_id),
            "healthy_ancestor": r.healthy_ancestor,
            "alpha_objective": r.alpha_objective,
            "ancestors": ancestors,
            "alpha_curve": curve,
            "candidates": cands,
            "regime_mix": r.regime_mix,
            "drift_report_id": r.drift_report_id,
            "charts": {
                "alpha": charts.alpha_curve(curve, r.alpha, r.alpha_objective),
                "candidates": charts.candidates(cands),
                "before_after": charts.before_after(r.before, r.after),
            },
        }
    )


# -- labels and deployments -------------------------------------------------------------------
def label_row(req: Any) -> dict[str, Any]:
    """A label request; one asked with an image shape also comes as a picture."""
    from driftline.active.records import image_shape

    d = req.to_dict()
    shape = image_shape(req)
    if shape is not None:
        from driftline.active.images import digit_data_uri

        d["image"] = digit_data_uri(np.asarray(req.features, np.float64), scale=8, shape=shape)
    return jsonable(d)


def deployment_timeline(store: Store, name: str) -> dict[str, Any]:
    """Drift per feature per window, estimated and realised accuracy per served model, and
    deploy / rollback / repair events, on one time axis."""
    events = [
        {"at": e.at, "action": e.action, "model_ref": _ref(store, e.model_id), "reason": e.reason}
        for e in store.deployment_history(name)
    ]
    if not events:
        raise UnknownReferenceError(f"no deployment {name!r}; see GET /v1/deployments")
    reports = [r for r in store.drift_reports() if r["deployment"] == name]
    kept = serving.reports_with_windows(store.engine)
    windows, cells = [], []
    for r in reports:
        feats = r["report"].get("features", {})
        windows.append({**report_row(r, kept), "at": r["created_at"]})
        top = sorted(feats, key=lambda k: -(_finite(feats[k]["metrics"].get("psi")) or 0))[:8]
        cells += [
            {
                "at": r["created_at"],
                "report_id": r["id"],
                "feature": k,
                "psi": _finite(feats[k]["metrics"].get("psi")),
            }
            for k in top
        ]
    perf = serving.performance(store.engine, name)
    for p in perf:
        p["model_ref"] = _ref(store, p["model_id"])
    return jsonable(
        {
            "deployment": name,
            "events": events,
            "windows": windows,
            "performance": perf,
            "charts": {
                "drift": charts.timeline(windows, cells, events),
                "performance": charts.performance(perf, events),
            },
        }
    )
