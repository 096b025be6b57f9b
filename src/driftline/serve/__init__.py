"""``driftline serve``: one FastAPI process with the model server (atomic hot swap), a drift
agent beside each deployment, background repairs, the REST API over the store, token auth,
Prometheus metrics and the offline dashboard. ``create_app(ServeSettings(...))`` builds it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from driftline.serve.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings) -> FastAPI:
    """The FastAPI application (imports FastAPI lazily; needs ``driftline[serve]``)."""
    from driftline.serve.app import create_app as _create

    return _create(settings)
