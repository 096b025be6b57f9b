"""Model references: what a user may type for a model, resolved to its ``(id, seq)``.

A reference is a full id (64 lowercase hex characters; one indexed lookup), ``deployment:NAME``,
``name@version`` or ``name@latest``, a unique id prefix (4 to 63 hex characters), or a name (its
latest version). A name no node has may be an alias: identical content registered under another
name (:func:`~driftline.store.aliases.resolve_alias`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from driftline.errors import AmbiguousReferenceError, UnknownReferenceError
from driftline.store.aliases import resolve_alias
from driftline.store.graph import RawQuery
from driftline.store.schema import deployments, models

ID_RE = re.compile(r"[0-9a-f]{64}")
_PREFIX_RE = re.compile(r"[0-9a-f]{4,63}")
_NODE_BY_ID = RawQuery("SELECT id, seq FROM models WHERE id = :id")
_NODE = sa.select(models.c.id, models.c.seq)

Node = tuple[str, int]
"""A model's ``(id, seq)``."""


def resolve_node(conn: sa.Connection, ref: str) -> Node:
    """``(id, seq)`` of a reference (see the module docstring), or a one-line error saying
    what to give instead."""
    ref = str(ref).strip()
    if not ref:
        raise UnknownReferenceError("empty model reference; give an id, a prefix or name@version")
    if len(ref) == 64 and ID_RE.fullmatch(ref):
        rows = _NODE_BY_ID.rows(conn, id=ref)
        if rows:
            return rows[0][0], rows[0][1]
        # not an id: may still be a (64-character hex) name below
    if ref.startswith("deployment:"):
        return _by_deployment(conn, ref.split(":", 1)[1])
    if "@" in ref:
        return _by_name_version(conn, ref)
    if len(ref) < 64 and _PREFIX_RE.fullmatch(ref):
        found = _by_prefix(conn, ref)
        if found is not None:
            return found
    latest = _NODE.where(models.c.name == ref).order_by(models.c.version.desc()).limit(1)
    row = conn.execute(latest).first()
    node = (row[0], row[1]) if row is not None else resolve_alias(conn, ref, None)
    if node is None:
        raise UnknownReferenceError(
            f"no model matches {ref!r}; use a full id, a unique id prefix (>= 4 hex "
            "characters), name@version, a name, or deployment:NAME"
        )
    return node


def _by_deployment(conn: sa.Connection, name: str) -> Node:
    q = _NODE.join(deployments, deployments.c.model_id == models.c.id).where(
        deployments.c.name == name
    )
    row = conn.execute(q).one_or_none()
    if row is None:
        raise UnknownReferenceError(
            f"no deployment named {name!r}; list them with 'driftline deployments'"
        )
    return row[0], row[1]


def _by_name_version(conn: sa.Connection, ref: str) -> Node:
    name, _, ver = ref.rpartition("@")
    q = _NODE.where(models.c.name == name)
    if ver == "latest":
        q = q.order_by(models.c.version.desc()).limit(1)
    else:
        q = q.where(models.c.version == version_number(ref, ver))
    row = conn.execute(q).one_or_none()
    node = (row[0], row[1]) if row is not None else resolve_alias(conn, name, ver)
    if node is None:
        raise UnknownReferenceError(f"no model {ref!r}; see 'driftline list'")
    return node


def _by_prefix(conn: sa.Connection, prefix: str) -> Node | None:
    """The one model whose id starts with ``prefix``, None when none does. Ids are lowercase
    hex: ``[prefix, prefix + "g")`` is exactly the ids starting with it, as an index range
    (``LIKE 'prefix%'`` scans the whole table on SQLite)."""
    q = _NODE.where(models.c.id >= prefix, models.c.id < prefix + "g").order_by(models.c.id)
    rows = conn.execute(q.limit(2)).all()
    if len(rows) > 1:
        raise AmbiguousReferenceError(
            f"id prefix {prefix!r} matches several models; give more characters"
        )
    return (rows[0][0], rows[0][1]) if rows else None


def version_number(ref: str, ver: str) -> int:
    """The version after '@' as a positive 64-bit integer (anything else matches no model)."""
    if not (ver.isascii() and ver.isdigit() and 0 < len(ver) <= 19 and int(ver) < 2**63):
        raise UnknownReferenceError(
            f"bad reference {ref[:80]!r}: the version after '@' must be a positive number or "
            "'latest'"
        )
    return int(ver)
