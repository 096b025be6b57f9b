"""Bearer-token auth: reads need a read token (unless ``public_read``), writes a write token,
token administration an admin token. Answers 401 without a usable token, 403 with a token whose
role is too low."""

from __future__ import annotations

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


def require(role: Role) -> Callable[[Request], Any]:
    """A FastAPI dependency that admits callers holding at least ``role``."""

    def check(request: Request) -> TokenInfo | None:
        ctx = request.app.state.ctx
        secret = _bearer(request)
        if secret is None:
            if role == Role.READ and ctx.settings.public_read:
                return None
            raise HTTPException(
                401, f"this endpoint needs a {role.name.lower()} token: send "
                "'Authorization: Bearer TOKEN' (create one with 'driftline token create')",
                headers={"WWW-Authenticate": "Bearer"},
            )
        info = verify_token(ctx.store.engine, secret)
        if info is None:
            raise HTTPException(401, "unknown, revoked or expired token; create a new one with "
                                "'driftline token create'", headers={"WWW-Authenticate": "Bearer"})
        if info.role < role:
            raise HTTPException(403, f"token {info.name!r} has role {info.role.name.lower()}; "
                                f"this endpoint needs {role.name.lower()}")
        return info

    return check
