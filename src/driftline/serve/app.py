"""The FastAPI application: context, limits, error answers, and the routers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from driftline.errors import (
    BlobStoreError,
    CorruptBlobError,
    DamagedStoreError,
    DriftlineError,
    UnknownReferenceError,
)
from driftline.serve.agents import AgentHub
from driftline.serve.auth import TokenCache
from driftline.serve.jobs import JobRunner
from driftline.serve.log import RequestLog
from driftline.serve.metrics import Metrics
from driftline.serve.models import ModelServer
from driftline.serve.settings import ServeSettings
from driftline.store import Store
from driftline.store.tokens import ensure_table

log = logging.getLogger("driftline.serve")


@dataclass
class Context:
    """Everything the routes share (one per app)."""

    settings: ServeSettings
    store: Store
    server: ModelServer
    hub: AgentHub
    log: RequestLog
    metrics: Metrics
    jobs: JobRunner
    tokens: TokenCache
    stop: threading.Event = field(default_factory=threading.Event)

    def swap_to_deployed(self, name: str) -> None:
        """Serve what the store says ``name`` serves now (after deploy, rollback, repair)."""
        for d in self.store.deployments():
            if d.name == name:
                s = self.server.swap(name, d.model_id)
                self.metrics.on_serving(name, s.model_id, s.model_ref)

    def close(self) -> None:
        self.stop.set()
        self.hub.close()
        self.log.close()
        self.jobs.close()


def _refresher(ctx: Context) -> None:
    while not ctx.stop.wait(ctx.settings.refresh_seconds):
        try:
            for s in ctx.server.sync():
                ctx.metrics.on_serving(s.deployment, s.model_id, s.model_ref)
        except Exception:  # a transient store error must not kill the refresher
            log.exception("deployment refresh failed")


def build_context(settings: ServeSettings) -> Context:
    store = Store(settings.store, create=False)
    ensure_table(store.engine)
    metrics = Metrics()
    server = ModelServer(store)
    holder: dict[str, Context] = {}
    hub = AgentHub(
        store,
        settings,
        lambda name: holder["ctx"].swap_to_deployed(name),
        on_report=metrics.on_report,
    )
    ctx = Context(
        settings,
        store,
        server,
        hub,
        RequestLog(store.engine, settings.log_flush_seconds),
        metrics,
        JobRunner(),
        TokenCache(store.engine),
    )
    holder["ctx"] = ctx
    return ctx


class BodyLimit:
    """ASGI middleware: 413 for bodies over ``limit`` bytes (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(
        self,
        scope: dict,
        receive: Callable[[], Awaitable[dict]],
        send: Callable[[dict], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        for k, v in scope.get("headers", []):
            if k == b"content-length" and v.isdigit() and int(v) > self.limit:
                return await _too_large(self.limit, send)
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge()
            return msg

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await _too_large(self.limit, send)


class _TooLarge(Exception):
    pass


async def _too_large(limit: int, send: Callable[[dict], Awaitable[None]]) -> None:
    body = (
        b'{"detail":"request body over the limit of %d bytes; send fewer rows per request"}' % limit
    )
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _status_of(exc: DriftlineError) -> int:
    """404 for unknown names, 503 for a damaged store (nothing the client can fix; the
    message names the damaged object), 422 for other bad input."""
    if isinstance(exc, UnknownReferenceError):
        return 404
    if isinstance(exc, (CorruptBlobError, DamagedStoreError, BlobStoreError)):
        return 503
    return 422


def create_app(settings: ServeSettings, ctx: Context | None = None) -> FastAPI:
    """The app; ``ctx`` defaults to a new context on ``settings.store``."""
    from driftline.serve import api, dashboard, predict

    ctx = ctx or build_context(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        t = threading.Thread(target=_refresher, args=(ctx,), name="driftline-refresh", daemon=True)
        t.start()
        yield
        ctx.close()

    app = FastAPI(
        title="driftline",
        version="1",
        description="Model lineage, drift agents and lineage-guided repair: the model server, "
        "the REST API over the store, and the dashboard. Send 'Authorization: Bearer TOKEN' "
        "(tokens: 'driftline token create --role read|write|admin').",
        lifespan=lifespan,
    )
    app.state.ctx = ctx

    @app.exception_handler(DriftlineError)
    async def _user_error(_req: Request, exc: DriftlineError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=_status_of(exc))

    app.include_router(predict.router)
    app.include_router(api.router)
    app.include_router(api.metrics_router)
    dashboard.mount(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(Timing, metrics=ctx.metrics)
    return app


class Timing:
    """ASGI middleware: request latency per route template into the metrics histogram."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.metrics.latency.labels(route).observe(time.perf_counter() - t0)
