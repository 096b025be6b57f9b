"""Settings of ``driftline serve`` (one object instead of a long parameter list)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServeSettings:
    """How the server runs.

    ``store``: folder or database URL. ``public_read``: GET endpoints need no token.
    ``max_body_bytes``/``max_rows``: request-size limits (413 / 422 beyond them).
    ``window``/``drift_share``: the drift agent beside each deployment (tumbling windows of
    ``window`` served rows). ``auto_repair``: on drift, run the repair pipeline in the
    background worker (validation = the deployment's feedback labels when there are at least
    ``min_feedback`` of them, else unlabelled: the result waits for approval).
    ``agent_batch_rows``/``agent_max_delay``: served rows reach the agent in batches of that
    many rows, or after that many seconds. ``refresh_seconds``: how often deployments switched outside the server are picked up.
    ``cors_origins``: none by default.
    """

    store: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_read: bool = False
    max_body_bytes: int = 8 * 1024 * 1024
    max_rows: int = 10_000
    window: int = 5000
    drift_share: float | None = None
    auto_repair: bool = True
    min_feedback: int = 20
    refresh_seconds: float = 2.0
    log_flush_seconds: float = 0.5
    cors_origins: tuple[str, ...] = ()
    agent_batch_rows: int = 256
    agent_max_delay: float = 0.5
    agent: dict[str, Any] = field(default_factory=dict)
