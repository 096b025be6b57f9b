"""Bearer-token auth: reads need a read token (unless ``public_read``), writes a write token,
token administration an admin token. Answers 401 without a usable token, 403 with a token whose
role is too low."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException, Request

from driftline.store.tokens import Role, TokenInfo, verify_token


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


CACHE_SECONDS = 2.0  # a revoked token keeps working at most this long


class TokenCache:
    """Verified tokens for a couple of seconds, so a request does not query the store each
    time. Expiry is still checked on every request against the token's ``expires_at``."""

    def __init__(self, engine: Any, seconds: float = CACHE_SECONDS) -> None:
        self.engine, self.seconds = engine, seconds
        self._hits: dict[str, tuple[TokenInfo, float]] = {}

    def forget(self) -> None:
        self._hits.clear()

    def verify(self, secret: str) -> TokenInfo | None:
        key = hashlib.sha256(secret.encode()).hexdigest()
        now = time.monotonic()
        hit = self._hits.get(key)
        if hit is None or now - hit[1] > self.seconds:
            info = verify_token(self.engine, secret)
            if info is None:
                self._hits.pop(key, None)
                return None
            if len(self._hits) > 10_000:
                self._hits.clear()
            hit = self._hits[key] = (info, now)
        info = hit[0]
        if info.expires_at is not None and time.time() >= info.expires_at:
            return None
        return info


def require(role: Role) -> Callable[[Request], Any]:
    """A FastAPI dependency that admits callers holding at least ``role``."""

    async def check(request: Request) -> TokenInfo | None:  # async: no thread hop
        ctx = request.app.state.ctx
        secret = _bearer(request)
        if secret is None:
            if role == Role.READ and ctx.settings.public_read:
                return None
            raise HTTPException(
                401,
                f"this endpoint needs a {role.name.lower()} token: send "
                "'Authorization: Bearer TOKEN' (create one with 'driftline token create')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        info = ctx.tokens.verify(secret)
        if info is None:
            raise HTTPException(
                401,
                "unknown, revoked or expired token; create a new one with 'driftline token create'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if info.role < role:
            raise HTTPException(
                403,
                f"token {info.name!r} has role {info.role.name.lower()}; "
                f"this endpoint needs {role.name.lower()}",
            )
        return info

    return check
