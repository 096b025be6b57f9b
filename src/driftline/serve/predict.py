"""Model-server routes: predict, feedback, observe, and the deployments (deploy, rollback,
history, agent state, performance, timeline)."""

from __future__ import annotations

import io
import json
import time
import uuid
from typing import Any

import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from driftline.errors import InvalidInputError
from driftline.jsonutil import jsonable
from driftline.serve.auth import require
from driftline.serve.schemas import (
    ERRORS,
    DeployBody,
    Feedback,
    ObserveResponse,
    PredictResponse,
    RollbackBody,
    Rows,
)
from driftline.store import serving
from driftline.store.tokens import Role

router = APIRouter(prefix="/v1/deployments", tags=["deployments"], responses=ERRORS)
READ, WRITE = Depends(require(Role.READ)), Depends(require(Role.WRITE))

ARROW_TYPES = ("application/vnd.apache.arrow.stream", "application/vnd.apache.arrow.file")
PARQUET_TYPES = ("application/vnd.apache.parquet", "application/x-parquet")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
TABLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": Rows.model_json_schema()},
            **{t: _BINARY for t in (*ARROW_TYPES, *PARQUET_TYPES)},
        },
    }
}


async def read_table(request: Request, max_rows: int) -> tuple[list[Any] | None, dict | None]:
    """``(rows, None)`` from a JSON body ``{"rows": [...]}``, or ``(None, columns)`` from an
    Arrow IPC stream/file or Parquet body; 415 for other media types."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    body = await request.body()
    if ctype in ("application/json", ""):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidInputError('the body is not valid JSON; send {"rows": [...]}') from None
        rows = data.get("rows") if isinstance(data, dict) else None
        if not isinstance(rows, list) or not rows:
            raise InvalidInputError('send {"rows": [...]}: a non-empty list of rows')
        if set(data) - {"rows"}:
            raise InvalidInputError(f"unknown field(s): {', '.join(sorted(set(data) - {'rows'}))}")
        _check_rows(len(rows), max_rows)
        return rows, None
    if ctype in ARROW_TYPES or ctype in PARQUET_TYPES:
        table = _columnar(body, ctype)
        _check_rows(table.num_rows, max_rows)
        dup = sorted({n for n in table.column_names if table.column_names.count(n) > 1})
        if dup:
            raise InvalidInputError(f"the body repeats column(s) {', '.join(dup)}: name each once")
        _check_flat(table.schema)
        return None, {n: table.column(n).to_numpy(zero_copy_only=False) for n in table.column_names}
    raise HTTPException(
        415,
        f"unsupported content type {ctype!r}; send application/json, "
        f"{ARROW_TYPES[0]} or {PARQUET_TYPES[0]}",
    )


def _columnar(body: bytes, ctype: str) -> Any:
    import pyarrow as pa
    import pyarrow.ipc
    import pyarrow.parquet as pq

    try:
        if ctype in PARQUET_TYPES:
            return pq.read_table(io.BytesIO(body))
        reader = pa.ipc.open_stream if ctype == ARROW_TYPES[0] else pa.ipc.open_file
        return reader(pa.BufferReader(body)).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInputError(f"could not read the {ctype} body: {exc}") from None


def _check_flat(schema: Any) -> None:
    """A column of lists, structs or maps holds no single value per row: one clear error."""
    import pyarrow as pa

    for f in schema:
        if pa.types.is_nested(f.type):
            raise InvalidInputError(
                f"column {f.name!r} holds {f.type} values; send one number (or text) per row"
            )


def _check_rows(n: int, max_rows: int) -> None:
    if n < 1:
        raise InvalidInputError("no rows: send at least one row")
    if n > max_rows:
        raise InvalidInputError(f"{n} rows is over the limit of {max_rows} per request")


@router.post(
    "/{name}/predict",
    response_model=PredictResponse,
    openapi_extra=TABLE_BODY,
    summary="Predict rows with the model a deployment serves",
)
async def predict(name: str, request: Request, _t: Any = READ) -> Any:
    """JSON ``{"rows": [...]}`` or an Arrow / Parquet body in; labels, probabilities, the id of
    the model that answered and a request id (for feedback) out. The rows also feed the
    deployment's drift agent (queued, off the request path)."""
    ctx = request.app.state.ctx
    rows, cols = await read_table(request, ctx.settings.max_rows)
    p = ctx.server.predict(name, rows=rows, columns=cols)
    rid = uuid.uuid4().hex
    s = p.serving
    ctx.hub.submit(name, s.model_id, p.X, s.feature_names, rows if rows is not None else cols)
    conf = p.proba.max(axis=1)
    labels = p.labels.tolist()
    ctx.log.add(serving.ServedRequest(rid, name, s.model_id, time.time(), p.X, labels, conf))
    ctx.metrics.rows.labels(name).inc(len(labels))
    ctx.metrics.estimated.labels(name).set(float(conf.mean()))
    body = {
        "request_id": rid,
        "deployment": name,
        "model_id": s.model_id,
        "model_ref": s.model_ref,
        "classes": s.classes.tolist(),
        "predictions": labels,
        "probabilities": p.proba.tolist(),
    }
    # serialised here (the response model documents it; validating it again costs time)
    return Response(json.dumps(body), media_type="application/json", headers={"X-Request-ID": rid})


@router.post(
    "/{name}/observe",
    response_model=ObserveResponse,
    openapi_extra=TABLE_BODY,
    summary="Feed rows to the deployment's drift agent (model served elsewhere)",
)
async def observe(name: str, request: Request, _t: Any = WRITE) -> Any:
    ctx = request.app.state.ctx
    rows, cols = await read_table(request, ctx.settings.max_rows)
    s = ctx.server.current(name)
    from driftline.serve.models import columns_to_matrix, rows_to_matrix

    X = (
        rows_to_matrix(rows, s.feature_names)
        if rows is not None
        else columns_to_matrix(cols or {}, s.feature_names)
    )
    queued = ctx.hub.submit(
        name, s.model_id, X, s.feature_names, rows if rows is not None else cols
    )
    return {"deployment": name, "model_id": s.model_id, "rows": len(X), "queued": queued}


@router.post("/{name}/feedback", summary="Attach labels to a served request")
def feedback(name: str, body: Feedback, request: Request, _t: Any = WRITE) -> Any:
    """One label per served row (null: none). Labels feed the deployment's realised accuracy,
    its repair validation and the label store used by active learning."""
    ctx = request.app.state.ctx
    ctx.log.flush()
    req = serving.get_request(ctx.store.engine, body.request_id)
    if req["deployment"] != name:
        raise InvalidInputError(
            f"request {body.request_id} was served by deployment {req['deployment']!r}, not "
            f"{name!r}"
        )
    _check_classes(ctx.server.classes_of(req["model_id"]), body.labels, req["model_id"])
    serving.set_labels(ctx.store.engine, body.request_id, body.labels)
    _to_label_store(ctx.store, req, body.labels)
    pairs = [(p, y) for p, y in zip(req["predictions"], body.labels, strict=True) if y is not None]
    acc = float(np.mean([str(p) == str(y) for p, y in pairs])) if pairs else None
    return {
        "request_id": body.request_id,
        "deployment": name,
        "model_id": req["model_id"],
        "labelled": len(pairs),
        "accuracy": acc,
    }


def _check_classes(classes: np.ndarray, labels: list[Any], model_id: str) -> None:
    """Every label is one of the serving model's classes (compared as text, as accuracy is)."""
    known = {str(c) for c in np.asarray(classes).tolist()}
    unknown = sorted({str(y) for y in labels if y is not None} - known)
    if known and unknown:
        shown = ", ".join(sorted(known)[:10])
        raise InvalidInputError(
            f"label(s) {', '.join(unknown[:5])} are not classes of model {model_id[:12]} "
            f"({shown}); send one of them per row, or null for a row without a label"
        )


def _to_label_store(store: Any, req: dict[str, Any], labels: list[Any]) -> None:
    """Feedback rows become labelled requests (strategy "feedback") in the label queue, the
    labels that active learning and refinement read."""
    from driftline.active import LabelQueue

    idx = [i for i, y in enumerate(labels) if y is not None]
    if not idx:
        return
    q = LabelQueue(store)
    X = np.asarray(req["features"], dtype=np.float64)[idx]
    ids = q.request(
        X,
        np.zeros(len(idx)),
        strategy="feedback",
        round=0,
        repair_id=None,
        predictions=[{"label": req["predictions"][i]} for i in idx],
    )
    for rid, i in zip(ids, idx, strict=True):
        q.label(rid, labels[i], annotator="feedback")


@router.get("", summary="Deployments and the model each serves")
def list_deployments(request: Request, _t: Any = READ) -> Any:
    ctx = request.app.state.ctx
    out = []
    for d in ctx.store.deployments():
        m = ctx.store.get(d.model_id)
        live = ctx.server.live.get(d.name)
        out.append(
            {
                "name": d.name,
                "model_id": d.model_id,
                "model_ref": m.ref,
                "kind": m.kind,
                "updated_at": d.updated_at,
                "serving": live.model_id if live else None,
            }
        )
    return out


def _event(ctx: Any, e: Any) -> dict[str, Any]:
    return {**e.__dict__, "model_ref": ctx.store.get(e.model_id).ref}


@router.post("/{name}/deploy", summary="Point a deployment at a model (atomic hot swap)")
def deploy(name: str, body: DeployBody, request: Request, _t: Any = WRITE) -> Any:
    ctx = request.app.state.ctx
    ctx.server.prepare(ctx.store.get(body.model).id)  # a damaged model is never recorded
    event = ctx.store.deploy(body.model, name, reason=body.reason, actor="api")
    ctx.swap_to_deployed(name)
    return _event(ctx, event)


@router.post("/{name}/rollback", summary="Serve the previous model again (atomic hot swap)")
def rollback(name: str, request: Request, body: RollbackBody | None = None, _t: Any = WRITE) -> Any:
    ctx = request.app.state.ctx
    ctx.server.prepare(ctx.store.rollback_target(name))  # a damaged model is never recorded
    event = ctx.store.rollback(
        name, reason=body.reason if body is not None else "rollback", actor="api"
    )
    ctx.swap_to_deployed(name)
    return _event(ctx, event)


@router.get("/{name}/history", summary="A deployment's append-only history")
def history(name: str, request: Request, _t: Any = READ) -> Any:
    ctx = request.app.state.ctx
    events = ctx.store.deployment_history(name)
    if not events:
        ctx.server.current(name)  # 404 for an unknown deployment
    return [_event(ctx, e) for e in events]


@router.get("/{name}/agent", summary="The drift agent beside a deployment")
def agent_state(name: str, request: Request, _t: Any = READ) -> Any:
    ctx = request.app.state.ctx
    st = ctx.hub.states.get(name)
    if st is None:
        s = ctx.server.current(name)
        return {
            "deployment": name,
            "model_id": s.model_id,
            "rows_seen": 0,
            "reports": [],
            "repairs": [],
            "last_report": None,
            "window": ctx.settings.window,
            "unwatched_reason": ctx.hub.unwatched.get(name, ("", None))[1],
        }
    return jsonable(st.to_dict())


@router.get("/{name}/performance", summary="Estimated and realised accuracy per served model")
def performance(name: str, request: Request, _t: Any = READ) -> Any:
    ctx = request.app.state.ctx
    ctx.server.current(name)
    ctx.log.flush()
    return serving.performance(ctx.store.engine, name)


@router.get("/{name}/timeline", summary="Drift per window, performance and events over time")
def timeline(name: str, request: Request, _t: Any = READ) -> Any:
    from driftline.present.data import deployment_timeline

    ctx = request.app.state.ctx
    ctx.log.flush()
    return deployment_timeline(ctx.store, name)
