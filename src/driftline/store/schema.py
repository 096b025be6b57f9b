"""SQL schema of a driftline store (SQLAlchemy Core), with a schema version.

Timestamps are UTC seconds since the epoch (float). JSON columns hold metadata only.

Every model also has ``seq``, an integer surrogate key assigned in registration order (never
reused, never shown to users); each edge repeats its endpoints' ``seq`` in ``parent_seq`` /
``child_seq``. Lineage walks (:mod:`driftline.store.graph`) run over these integer columns and
their covering indexes and map ``seq`` back to the SHA-256 id only for the rows they return.

Chain decomposition (version 3): every model also has a ``chain`` and a ``pos``. A model
registered with parents extends the chain of the first parent that is still its chain's tail
(``chain`` = the parent's, ``pos`` = the parent's + 1); otherwise it starts a chain of its own
(``chain`` = its ``seq``, ``pos`` = 0). So ``(chain, pos - 1) -> (chain, pos)`` is always an edge
(a *chain edge*), and the ancestors of ``(c, k)`` inside chain ``c`` are the rows ``(c, p < k)`` —
one range of the covering index ``ix_models_chain``. Every other edge (a chain head's parents, a
merge's other parents, edges added later) is a *link*, repeated in ``chain_links`` by its
endpoints' ``(chain, pos)``. Lineage walks (:mod:`driftline.store.graph`) follow links only and
read whole chain prefixes (suffixes) by range.

Schema versions: 1 = text-keyed edges only; 2 = ``seq`` surrogate keys; 3 = ``chain``/``pos``
and ``chain_links``. An older store is migrated in place when opened (columns added, backfilled,
indexed; :mod:`driftline.store.migrations`).
"""

from __future__ import annotations

import weakref
from typing import Any

import sqlalchemy as sa

SCHEMA_VERSION = 3

metadata = sa.MetaData()

meta = sa.Table(
    "driftline_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

models = sa.Table(
    "models",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, server_default="model"),
    sa.Column("framework", sa.String(32), nullable=False),
    sa.Column("architecture", sa.JSON, nullable=False),
    sa.Column("signature_id", sa.String(64), nullable=True, index=True),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("chain", sa.BigInteger, nullable=False),
    sa.Column("pos", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("name", "version", name="uq_model_name_version"),
    sa.Index("ux_models_seq", "seq", unique=True),
    # covering index for the last step of a walk: seq -> id, name, version without a table read
    sa.Index("ix_models_seq_node", "seq", "id", "name", "version"),
    # chain prefixes / suffixes by range, index-only
    sa.Index("ix_models_chain", "chain", "pos", "seq", "id", "name", "version"),
)

tensors = sa.Table(
    "tensors",
    metadata,
    sa.Column("model_id", sa.String(64), sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("name", sa.String(500), primary_key=True),
    sa.Column("dtype", sa.String(16), nullable=False),
    sa.Column("shape", sa.JSON, nullable=False),
    sa.Column("blob", sa.String(64), nullable=False, index=True),
)

blob_encodings = sa.Table(  # added with #17; a new table, created in existing stores on open
    "blob_encodings",
    metadata,
    sa.Column("blob", sa.String(64), primary_key=True),  # logical key: SHA-256 of the raw bytes
    sa.Column("stored", sa.String(64), nullable=False, index=True),  # the encoded object's key
    sa.Column("codec", sa.String(32), nullable=False),
    sa.Column("base", sa.String(64), nullable=True, index=True),  # logical key of a delta's base
    sa.Column("depth", sa.Integer, nullable=False),
    sa.Column("raw_size", sa.BigInteger, nullable=False),
)

edges = sa.Table(
    "edges",
    metadata,
    sa.Column("parent", sa.String(64), sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("child", sa.String(64), sa.ForeignKey("models.id"), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("data_stats", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("parent_seq", sa.BigInteger, nullable=False),
    sa.Column("child_seq", sa.BigInteger, nullable=False),
    # the walks: upward (child -> parents) and downward (parent -> children), index-only
    sa.Index("ix_edges_child_seq", "child_seq", "parent_seq", unique=True),
    sa.Index("ix_edges_parent_seq", "parent_seq", "child_seq", unique=True),
)

chain_links = sa.Table(
    "chain_links",
    metadata,
    sa.Column("child_chain", sa.BigInteger, nullable=False),
    sa.Column("child_pos", sa.BigInteger, nullable=False),
    sa.Column("parent_chain", sa.BigInteger, nullable=False),
    sa.Column("parent_pos", sa.BigInteger, nullable=False),
    # the walks over links: upward (by child) and downward (by parent), index-only
    sa.Index(
        "ux_links_child", "child_chain", "child_pos", "parent_chain", "parent_pos", unique=True
    ),
    sa.Index("ix_links_parent", "parent_chain", "parent_pos", "child_chain", "child_pos"),
)
"""The edges that are not chain edges, by their endpoints' ``(chain, pos)``."""

signatures = sa.Table(
    "signatures",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("n_features", sa.Integer, nullable=False),
    sa.Column("n_rows", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

deployments = sa.Table(
    "deployments",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("model_id", sa.String(64), sa.ForeignKey("models.id"), nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

deployment_history = sa.Table(
    "deployment_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, index=True),
    sa.Column("model_id", sa.String(64), sa.ForeignKey("models.id"), nullable=False),
    sa.Column("previous_model_id", sa.String(64), nullable=True),
    sa.Column("action", sa.String(16), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)

drift_reports = sa.Table(
    "drift_reports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_id", sa.String(64), sa.ForeignKey("models.id"), nullable=False, index=True),
    sa.Column("deployment", sa.String(200), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False, index=True),
    sa.Column("n_rows", sa.BigInteger, nullable=False),
    sa.Column("drift", sa.Boolean, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
)

repairs = sa.Table(
    "repairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("key", sa.String(64), nullable=False, unique=True),
    sa.Column("drifted_id", sa.String(64), sa.ForeignKey("models.id"), nullable=False),
    sa.Column("ancestor_id", sa.String(64), nullable=True),
    sa.Column("result_id", sa.String(64), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("deployment", sa.String(200), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
)

label_requests = sa.Table(
    "label_requests",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("point_hash", sa.String(64), nullable=False),
    sa.Column("repair_id", sa.Integer, nullable=True),
    sa.Column("features", sa.JSON, nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("strategy", sa.String(32), nullable=False),
    sa.Column("round", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("predictions", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("point_hash", "repair_id", name="uq_request_point_repair"),
)

labels = sa.Table(
    "labels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("label_requests.id"), nullable=True),
    sa.Column("point_hash", sa.String(64), nullable=False, index=True),
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("annotator", sa.String(200), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The integer primary key of the row an ``INSERT`` just added."""
    key = result.inserted_primary_key
    if key is None:
        raise ValueError("the statement inserted no row")
    return int(key[0])


def get_setting(conn: sa.Connection, key: str) -> str | None:
    """A store-wide setting kept in ``driftline_meta`` (e.g. ``blobs_url``), or None."""
    return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_setting(conn: sa.Connection, key: str, value: str) -> None:
    """Record a store-wide setting (insert or replace) in ``driftline_meta``."""
    conn.execute(sa.delete(meta).where(meta.c.key == key))
    conn.execute(sa.insert(meta).values(key=key, value=value))


MIGRATION_LOCK = 0x6472_6C6E_0001  # PostgreSQL advisory lock key of schema migrations
SEQ_LOCK = 0x6472_6C6E_0002  # PostgreSQL advisory lock key of models.seq assignment

SEQ_INDEXES = ("ux_models_seq", "ix_models_seq_node", "ix_edges_child_seq", "ix_edges_parent_seq")


CHAIN_INDEXES = ("ix_models_chain", "ux_links_child", "ix_links_parent")


_SIDE_TABLES: weakref.WeakKeyDictionary[sa.Engine, set[int]] = weakref.WeakKeyDictionary()


def ensure_side_tables(engine: sa.Engine, side: sa.MetaData) -> None:
    """Create the tables of a feature module's own ``side`` metadata (tokens, served requests)
    once per engine: checked on the first call, under the writers' lock, then remembered, so
    callers on a request path pay nothing after the first call."""
    done = _SIDE_TABLES.setdefault(engine, set())
    if id(side) in done:
        return
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        side.create_all(conn, checkfirst=True)
    done.add(id(side))
