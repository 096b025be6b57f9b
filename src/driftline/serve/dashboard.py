"""The dashboard: one page (``/``) and its static files, all from the installed package."""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from driftline.present.page import dashboard_html


def mount(app: FastAPI) -> None:
    static = resources.files("driftline.present") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return dashboard_html()
