"""API tokens for ``driftline serve``, stored hashed (table ``api_tokens``).

A token is ``dl_`` + 32 random bytes (URL-safe base64). Only SHA-256(token) is stored: the
secret has 256 bits of entropy, so a fast hash is enough (no password stretching needed) and a
stolen database does not reveal usable tokens. Roles are ordered: read < write < admin.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from driftline.errors import InvalidInputError, UnknownReferenceError
from driftline.store.schema import ensure_side_tables, inserted_id

_meta = sa.MetaData()

api_tokens = sa.Table(
    "api_tokens",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
)


class Role(enum.IntEnum):
    """What a token may do; a higher role includes the lower ones."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            raise InvalidInputError(f"unknown role {text!r}; use read, write or admin") from None


@dataclass(frozen=True)
class TokenInfo:
    """A stored token (never the secret itself)."""

    id: int
    name: str
    role: Role
    created_at: float
    expires_at: float | None
    revoked: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.name.lower(),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
        }


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_table(engine: sa.Engine) -> None:
    """Create ``api_tokens`` if the store does not have it yet (additive, idempotent)."""
    ensure_side_tables(engine, _meta)


def _info(row: sa.Row) -> TokenInfo:
    return TokenInfo(
        row.id, row.name, Role[row.role.upper()], row.created_at, row.expires_at, bool(row.revoked)
    )


def create_token(
    engine: sa.Engine, role: Role, name: str = "", ttl_seconds: float | None = None
) -> tuple[str, TokenInfo]:
    """A new token: ``(secret, info)``. The secret is shown once and stored only hashed."""
    if ttl_seconds is not None and ttl_seconds <= 0:
        raise InvalidInputError("a token's lifetime must be positive (or omitted: no expiry)")
    ensure_table(engine)
    secret = "dl_" + secrets.token_urlsafe(32)
    now = time.time()
    with engine.begin() as conn:
        res = conn.execute(
            sa.insert(api_tokens).values(
                name=name or role.name.lower(),
                role=role.name.lower(),
                hash=_hash(secret),
                created_at=now,
                expires_at=None if ttl_seconds is None else now + ttl_seconds,
                revoked=False,
            )
        )
        tid = inserted_id(res)
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == tid)).one()
    return secret, _info(row)


def verify_token(engine: sa.Engine, secret: str, now: float | None = None) -> TokenInfo | None:
    """The token's info if ``secret`` is a known, unrevoked, unexpired token; else None."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.hash == _hash(secret))).first()
    if row is None or row.revoked:
        return None
    if row.expires_at is not None and (now or time.time()) >= row.expires_at:
        return None
    return _info(row)


def list_tokens(engine: sa.Engine) -> list[TokenInfo]:
    ensure_table(engine)
    with engine.connect() as conn:
        return [_info(r) for r in conn.execute(sa.select(api_tokens).order_by(api_tokens.c.id))]


def revoke_token(engine: sa.Engine, token_id: int) -> TokenInfo:
    """Revoke a token by id (it stops working at once)."""
    ensure_table(engine)
    with engine.begin() as conn:
        n = conn.execute(
            sa.update(api_tokens).where(api_tokens.c.id == int(token_id)).values(revoked=True)
        ).rowcount
        if not n:
            raise UnknownReferenceError(f"no token #{token_id}; see 'driftline token list'")
        row = conn.execute(sa.select(api_tokens).where(api_tokens.c.id == int(token_id))).one()
    return _info(row)
