"""``driftline report``: the dashboard's views for one drift report, repair, model or
deployment, written as one static HTML file (scripts and data inlined, works offline)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from driftline.errors import UnknownReferenceError
from driftline.present import data as views
from driftline.present.page import static_html
from driftline.store import Store, serving

MAX_REPORTS = 30
LABELS_PATH = "/v1/labels?status=pending&limit=500"


def _lineage(store: Store, ref: str | None, pre: dict[str, Any]) -> None:
    g = views.lineage_graph(store, ref)
    pre["/v1/lineage/graph"] = g
    for n in g["nodes"]:
        pre[f"/v1/models/{n['id']}"] = views.model_details(store, n["id"])


def _reports(store: Store, rows: list[dict[str, Any]], pre: dict[str, Any]) -> None:
    rows = rows[-MAX_REPORTS:]
    kept = serving.reports_with_windows(store.engine)
    pre["/v1/drift-reports"] = [views.report_row(r, kept) for r in rows]
    for r in rows:
        pre[f"/v1/drift-reports/{r['id']}"] = views.report_view(store, r["id"])


def _repairs(store: Store, results: list[Any], pre: dict[str, Any]) -> None:
    pre["/v1/repairs"] = [views.repair_row(r) for r in results]
    for r in results:
        pre[f"/v1/repairs/{r.repair_id}"] = views.repair_view(store, r.repair_id)


def _deployment(store: Store, name: str, pre: dict[str, Any]) -> None:
    pre[f"/v1/deployments/{name}/timeline"] = views.deployment_timeline(store, name)


def preload_for(store: Store, target: str) -> tuple[dict[str, Any], str, str]:
    """``(data keyed by API path, start page, title)`` for a target: a drift report id
    (``12``), ``repair:N``, ``deployment:NAME``, a model reference, or ``all``."""
    from driftline.repair.pipeline import list_repairs, load_repair

    pre: dict[str, Any] = {}
    if target.isdigit():
        r = views.get_report(store, int(target))
        _lineage(store, r["model_id"], pre)
        _reports(store, [r], pre)
        return pre, f"#/report/{r['id']}", f"driftline drift report #{r['id']}"
    if target.startswith("repair:") and target[7:].isdigit():
        res = load_repair(store, int(target[7:]))
        if res is None:
            raise UnknownReferenceError(f"no {target}; list repairs with 'driftline repairs'")
        _lineage(store, res.drifted_id, pre)
        _repairs(store, [res], pre)
        if res.drift_report_id is not None:
            _reports(store, [views.get_report(store, res.drift_report_id)], pre)
        return pre, f"#/repair/{res.repair_id}", f"driftline repair #{res.repair_id}"
    if target == "all":
        _lineage(store, None, pre)
        _reports(store, store.drift_reports(), pre)
        _repairs(store, list_repairs(store), pre)
        deps = store.deployments()
        pre["/v1/deployments"] = [
            {
                "name": d.name,
                "model_id": d.model_id,
                "model_ref": store.get(d.model_id).ref,
                "kind": store.get(d.model_id).kind,
                "updated_at": d.updated_at,
            }
            for d in deps
        ]
        for d in deps:
            _deployment(store, d.name, pre)
        return pre, "#/lineage", "driftline report"
    model = store.get(target)
    _lineage(store, model.id, pre)
    _reports(store, store.drift_reports(model.id), pre)
    if target.startswith("deployment:"):
        name = target.split(":", 1)[1]
        _deployment(store, name, pre)
        return pre, f"#/deployment/{name}", f"driftline {target}"
    return pre, "#/lineage", f"driftline {model.ref}"


def write_static_report(
    store: Store,
    target: str,
    path: str | Path,
    story: tuple[str, list[tuple[str, str]]] | None = None,
) -> Path:
    """Write the views for ``target`` (see :func:`preload_for`) to ``path``; ``story`` =
    (title, [(heading, HTML)]) adds a first page of narrative sections (the demo's), whose
    charts are :func:`driftline.present.charts.embed` placeholders."""
    pre, start, title = preload_for(store, target)
    if story is not None:
        title = story[0]
        pre["/story"] = {"title": story[0], "sections": [list(s) for s in story[1]]}
        start = "#/story"
    out = Path(path)
    out.write_text(static_html(title, pre, start), encoding="utf-8")
    return out
