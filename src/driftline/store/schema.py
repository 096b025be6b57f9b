"""SQL schema of a driftline store (SQLAlchemy Core), with a schema version.

Timestamps are UTC seconds since the epoch (float). JSON columns hold metadata only.
"""

from __future__ import annotations

import sqlalchemy as sa

from driftline.errors import SchemaVersionError

SCHEMA_VERSION = 1

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
    sa.UniqueConstraint("name", "version", name="uq_model_name_version"),
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
    sa.Index("ix_edges_child_parent", "child", "parent"),
)

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


def create_or_check(engine: sa.Engine) -> None:
    """Create the tables of a new store, or check an existing store's schema version."""
    with engine.begin() as conn:
        insp = sa.inspect(conn)
        if insp.has_table("driftline_meta"):
            row = conn.execute(
                sa.select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar_one_or_none()
            version = int(row) if row is not None else 0
            if version > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"this store has schema version {version}, newer than this driftline "
                    f"understands ({SCHEMA_VERSION}); upgrade driftline (pip install -U driftline)"
                )
            if version < 1:
                raise SchemaVersionError(
                    "the database is not a driftline store (no schema version)"
                )
            metadata.create_all(conn)  # tables added in this version, if any
            return
        if insp.get_table_names() and not insp.has_table("models"):
            raise SchemaVersionError(
                "the database already holds other tables and is not a driftline store; "
                "point driftline at an empty database or a new folder"
            )
        metadata.create_all(conn)
        conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
