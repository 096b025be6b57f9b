"""The REST API over the store: models, lineage, signatures, drift reports, repairs (run,
approve), background jobs, the label queue (list, answer, export), tokens, metrics."""

from __future__ import annotations

import pathlib
import tempfile
from datetime import datetime
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Depends, Path, Query, Request, Response

from driftline.errors import InvalidInputError
from driftline.jsonutil import jsonable
from driftline.present import data as views
from driftline.serve.auth import require
from driftline.serve.schemas import ERRORS, LabelBody, RepairBody, TokenBody
from driftline.store import serving
from driftline.store.tokens import Role, create_token, list_tokens, revoke_token
from driftline.validation import check_same_length

router = APIRouter(prefix="/v1", responses=ERRORS)
READ = Depends(require(Role.READ))
WRITE = Depends(require(Role.WRITE))
ADMIN = Depends(require(Role.ADMIN))
Hops = Query(None, ge=1, le=10_000)
MAX_ID = 2**53  # ids beyond this are not ids (and would overflow SQL integers)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
RepairFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


def _ctx(request: Request) -> Any:
    return request.app.state.ctx


# -- models and lineage ------------------------------------------------------------------------
@router.get("/models", tags=["models"], summary="Model versions (optionally of one name)")
def models(request: Request, name: str | None = Query(None, max_length=200), _t: Any = READ) -> Any:
    return [views.model_dict(m) for m in _ctx(request).store.list_models(name)]


@router.get("/models/{ref:path}", tags=["models"], summary="One model: metadata, tensors, edges")
def model(ref: str, request: Request, _t: Any = READ) -> Any:
    return views.model_details(_ctx(request).store, ref)


def _relatives(rows: list[Any]) -> list[dict[str, Any]]:
    return [{"id": r.id, "hops": r.hops, "name": r.name, "version": r.version} for r in rows]


@router.get("/lineage/ancestors", tags=["lineage"], summary="Ancestors by hop count")
def ancestors(
    request: Request,
    ref: str = Query(..., min_length=1, max_length=300),
    max_hops: int | None = Hops,
    _t: Any = READ,
) -> Any:
    return _relatives(_ctx(request).store.ancestors(ref, max_hops))


@router.get("/lineage/descendants", tags=["lineage"], summary="Descendants by hop count")
def descendants(
    request: Request,
    ref: str = Query(..., min_length=1, max_length=300),
    max_hops: int | None = Hops,
    _t: Any = READ,
) -> Any:
    return _relatives(_ctx(request).store.descendants(ref, max_hops))


@router.get("/lineage/subgraph", tags=["lineage"], summary="Models within HOPS steps, and edges")
def subgraph(
    request: Request,
    ref: str = Query(..., min_length=1, max_length=300),
    hops: int = Query(2, ge=1, le=20),
    _t: Any = READ,
) -> Any:
    store = _ctx(request).store
    return views.graph_dict(store, *store.subgraph(ref, hops))


@router.get(
    "/lineage/graph",
    tags=["lineage"],
    summary="A family tree (of REF) or every deployed family, for the dashboard",
)
def graph(
    request: Request, ref: str | None = Query(None, min_length=1, max_length=300), _t: Any = READ
) -> Any:
    return views.lineage_graph(_ctx(request).store, ref)


@router.get("/signatures/{signature_id}", tags=["signatures"], summary="A signature's summary")
def signature(signature_id: str, request: Request, _t: Any = READ) -> Any:
    sig = _ctx(request).store.signature(signature_id)
    return jsonable({"id": sig.id, "n_rows": sig.n_rows, "features": sig.summary()})


# -- drift reports -----------------------------------------------------------------------------
def _ts(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise InvalidInputError(
            f"bad time {text!r}: use ISO format like 2026-11-01T12:00"
        ) from None


@router.get("/drift-reports", tags=["drift"], summary="Stored drift reports, oldest first")
def drift_reports(
    request: Request,
    model: str | None = Query(None, min_length=1, max_length=300),
    deployment: str | None = Query(None, max_length=200),
    since: str | None = None,
    until: str | None = None,
    limit: int = Query(500, ge=1, le=10_000),
    _t: Any = READ,
) -> Any:
    rows = _ctx(request).store.drift_reports(model, _ts(since), _ts(until))
    if deployment is not None:
        rows = [r for r in rows if r["deployment"] == deployment]
    kept = serving.reports_with_windows(_ctx(request).store.engine)
    return [views.report_row(r, kept) for r in rows[-limit:]]


@router.get(
    "/drift-reports/{report_id}",
    tags=["drift"],
    summary="One report with per-feature reference-vs-window distributions",
)
def drift_report(report_id: Id, request: Request, _t: Any = READ) -> Any:
    return views.report_view(_ctx(request).store, report_id)


# -- repairs and jobs ----------------------------------------------------------------------------
@router.get("/repairs", tags=["repairs"], summary="Repairs with status and scores")
def repairs(request: Request, _t: Any = READ) -> Any:
    from driftline.repair.pipeline import list_repairs

    return [views.repair_row(r) for r in list_repairs(_ctx(request).store)]


@router.get(
    "/repairs/{repair_id}",
    tags=["repairs"],
    summary="One repair: ancestor table, alpha curve, candidates, before and after",
)
def repair_detail(repair_id: Id, request: Request, _t: Any = READ) -> Any:
    return views.repair_view(_ctx(request).store, repair_id)


@router.post(
    "/repairs",
    tags=["repairs"],
    status_code=202,
    summary="Run the repair pipeline in the background worker",
)
def run_repair(body: RepairBody, request: Request, _t: Any = WRITE) -> Any:
    ctx = _ctx(request)
    s = ctx.server.current(body.deployment)
    from driftline.repair import RepairPolicy, repair
    from driftline.serve.models import rows_to_matrix

    ctx.log.flush()
    if body.window is not None:
        window = rows_to_matrix(body.window, s.feature_names)
    else:
        served = serving.requests_of(ctx.store.engine, body.deployment, limit=200)
        feats = [row for r in served for row in r["features"]]
        if not feats:
            raise InvalidInputError(
                f"deployment {body.deployment!r} has served no rows yet; "
                "send the window rows in the body"
            )
        window = _served_window(ctx.store, s, np.asarray(feats[-ctx.settings.window :]))
    if body.validation is not None:
        Xv = rows_to_matrix(body.validation.rows, s.feature_names)
        check_same_length(body.validation.labels, Xv, what="validation labels")
        validation: Any = (Xv, np.asarray(body.validation.labels))
    else:
        validation = ctx.hub.validation(body.deployment)
    policy = RepairPolicy(
        drift_share=body.drift_share if body.drift_share is not None else ctx.settings.drift_share
    )

    def work() -> dict[str, Any]:
        result = repair(
            ctx.store,
            body.deployment,
            window,
            validation,
            policy=policy,
            approve=body.approve,
            actor="api",
        )
        ctx.swap_to_deployed(body.deployment)
        return views.repair_row(result)

    return ctx.jobs.submit("repair", work).to_dict()


def _served_window(store: Any, s: Any, X: np.ndarray) -> Any:
    """Logged served rows (the model's inputs) as a table named by those inputs; an error
    saying to send the window when the repair needs training columns the log lacks."""
    from driftline.errors import UnknownReferenceError

    X = X.astype(np.float64)
    if not s.feature_names:
        return X
    try:
        features = store.signature(s.model_id).feature_names
    except UnknownReferenceError:  # no signature: the repair says so itself
        return X
    lacking = [f for f in features if f not in s.feature_names]
    if lacking:
        raise InvalidInputError(
            f"the served rows logged for {s.deployment!r} hold only the model's inputs; the "
            f"repair also needs {', '.join(lacking[:5])}"
            + (f" and {len(lacking) - 5} more" if len(lacking) > 5 else "")
            + ": send the window rows, with every training column, in the body"
        )
    return {n: X[:, i] for i, n in enumerate(s.feature_names)}


@router.post(
    "/repairs/{repair_id}/approve",
    tags=["repairs"],
    summary="Deploy a repair that waits for approval (atomic hot swap)",
)
def approve(repair_id: Id, request: Request, _t: Any = WRITE) -> Any:
    from driftline.repair.pipeline import approve_repair

    ctx = _ctx(request)
    result = approve_repair(ctx.store, repair_id, actor="api")
    if result.deployment:
        ctx.swap_to_deployed(result.deployment)
    return views.repair_row(result)


@router.get("/jobs/{job_id}", tags=["repairs"], summary="A background job's status and result")
def job(job_id: Id, request: Request, _t: Any = READ) -> Any:
    return jsonable(_ctx(request).jobs.get(job_id).to_dict())


# -- label queue ---------------------------------------------------------------------------------
Status = Query(None, pattern="^(pending|labelled|skipped|cancelled)$")


@router.get("/labels", tags=["labels"], summary="Label requests (newest label each)")
def labels(
    request: Request,
    status: str | None = Status,
    repair_id: RepairFilter = None,
    limit: int = Query(200, ge=1, le=10_000),
    _t: Any = READ,
) -> Any:
    from driftline.active import LabelQueue

    rows = LabelQueue(_ctx(request).store).requests(repair_id, status)
    return [views.label_row(r) for r in rows[:limit]]


@router.get("/labels/counts", tags=["labels"], summary="Requests per status")
def label_counts(request: Request, repair_id: RepairFilter = None, _t: Any = READ) -> Any:
    from driftline.active import LabelQueue

    return LabelQueue(_ctx(request).store).counts(repair_id)


EXPORT_TYPES = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "label-studio": "application/json",
}


@router.get(
    "/labels/export",
    tags=["labels"],
    summary="Pending requests as CSV, JSONL or Label Studio tasks",
)
def export_labels(
    request: Request,
    format: str = Query("csv", pattern="^(csv|jsonl|label-studio)$"),
    repair_id: RepairFilter = None,
    _t: Any = READ,
) -> Response:
    from driftline.active import LabelQueue
    from driftline.active.label_files import export_requests
    from driftline.active.label_studio import export_label_studio

    q = LabelQueue(_ctx(request).store)
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "export"
        if format == "label-studio":
            export_label_studio(q, path, repair_id=repair_id)
        else:
            export_requests(q, path, format, repair_id=repair_id)
        return Response(path.read_bytes(), media_type=EXPORT_TYPES[format])


@router.get("/labels/{request_id}", tags=["labels"], summary="One label request")
def label_request(request_id: Id, request: Request, _t: Any = READ) -> Any:
    from driftline.active import LabelQueue

    return views.label_row(LabelQueue(_ctx(request).store).get(request_id))


@router.post("/labels/{request_id}", tags=["labels"], summary="Answer a label request")
def answer(request_id: Id, body: LabelBody, request: Request, _t: Any = WRITE) -> Any:
    from driftline.active import LabelQueue

    return views.label_row(
        LabelQueue(_ctx(request).store).label(request_id, body.label, body.annotator)
    )


@router.post("/labels/{request_id}/skip", tags=["labels"], summary="Skip a label request")
def skip(request_id: Id, request: Request, _t: Any = WRITE) -> Any:
    from driftline.active import LabelQueue

    return views.label_row(LabelQueue(_ctx(request).store).skip(request_id))


# -- tokens, health, metrics -----------------------------------------------------------------
@router.get("/tokens", tags=["tokens"], summary="Tokens (never their secrets)")
def tokens(request: Request, _t: Any = ADMIN) -> Any:
    return [t.to_dict() for t in list_tokens(_ctx(request).store.engine)]


@router.post("/tokens", tags=["tokens"], status_code=201, summary="Create a token (shown once)")
def new_token(body: TokenBody, request: Request, _t: Any = ADMIN) -> Any:
    secret, info = create_token(
        _ctx(request).store.engine, Role.parse(body.role), body.name, body.ttl_seconds
    )
    return {"token": secret, **info.to_dict()}


@router.delete("/tokens/{token_id}", tags=["tokens"], summary="Revoke a token")
def delete_token(token_id: Id, request: Request, _t: Any = ADMIN) -> Any:
    ctx = _ctx(request)
    info = revoke_token(ctx.store.engine, token_id)
    ctx.tokens.forget()  # revoked here: no grace period in this process
    return info.to_dict()


@router.get("/health", tags=["server"], summary="Liveness: 200 when the store answers")
def health(request: Request) -> Any:
    ctx = _ctx(request)
    return {
        "status": "ok",
        "deployments": len(ctx.store.deployments()),
        "agent_errors": ctx.hub.error_count,
    }


metrics_router = APIRouter()


@metrics_router.get(
    "/metrics",
    tags=["server"],
    summary="Prometheus metrics",
    response_class=Response,
    responses=ERRORS,
)
def metrics(request: Request, _t: Any = READ) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    ctx = _ctx(request)
    for s in list(ctx.server.live.values()):
        ctx.metrics.on_serving(s.deployment, s.model_id, s.model_ref)
    return Response(ctx.metrics.render(ctx.store, ctx.hub.dropped), media_type=CONTENT_TYPE_LATEST)
