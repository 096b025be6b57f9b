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
indexed).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from driftline.errors import DamagedStoreError, SchemaVersionError

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


def _stored_version(conn: sa.Connection) -> int:
    row = conn.execute(
        sa.select(meta.c.value).where(meta.c.key == "schema_version")
    ).scalar_one_or_none()
    if row is None:
        return 0
    try:
        return int(row)
    except ValueError as exc:
        raise DamagedStoreError(
            f"the store's schema version {row[:40]!r} is not a number: the database is damaged; "
            "restore it from backup"
        ) from exc


def get_setting(conn: sa.Connection, key: str) -> str | None:
    """A store-wide setting kept in ``driftline_meta`` (e.g. ``blobs_url``), or None."""
    return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar_one_or_none()


def set_setting(conn: sa.Connection, key: str, value: str) -> None:
    """Record a store-wide setting (insert or replace) in ``driftline_meta``."""
    conn.execute(sa.delete(meta).where(meta.c.key == key))
    conn.execute(sa.insert(meta).values(key=key, value=value))


CORE_TABLES = (
    "driftline_meta",
    "models",
    "tensors",
    "edges",
    "signatures",
    "deployments",
    "deployment_history",
    "drift_reports",
)
"""Tables every driftline store has had since schema version 1: one missing means damage."""


def _state(conn: sa.Connection, must_exist: bool) -> str:
    """``"ok"``, ``"new"`` (empty database: create), ``"tables"`` (tables added by this
    version are missing: create them) or ``"old"`` (migrate); damage raises."""
    names = set(sa.inspect(conn).get_table_names())
    if "driftline_meta" not in names:
        if must_exist and not names:
            raise DamagedStoreError(
                "the store's database is damaged: it is empty (no driftline tables) beside stored "
                "blobs, so it was truncated or "
                "replaced; restore lineage.db from backup (or delete it and run 'driftline init' "
                "for a new store)"
            )
        if names and "models" not in names:
            raise SchemaVersionError(
                "the database already holds other tables and is not a driftline store; "
                "point driftline at an empty database or a new folder"
            )
        return "new"
    version = _stored_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"this store has schema version {version}, newer than this driftline "
            f"understands ({SCHEMA_VERSION}); upgrade driftline (pip install -U driftline)"
        )
    if version < 1:
        raise SchemaVersionError("the database is not a driftline store (no schema version)")
    missing = [t for t in CORE_TABLES if t not in names]
    if missing:
        raise DamagedStoreError(
            f"the store is damaged: table(s) {', '.join(missing)} are missing; restore the "
            "database from backup"
        )
    if version < SCHEMA_VERSION:
        return "old"
    return "tables" if set(metadata.tables) - names else "ok"


def create_or_check(engine: sa.Engine, *, must_exist: bool = False) -> None:
    """Create the tables of a new store, or check an existing store's schema version and
    migrate an older store in place. ``must_exist``: the database should already hold a
    store (an empty one is reported as damaged, never silently recreated).

    Checked first without a lock; creation happens in a write transaction (SQLite
    ``BEGIN IMMEDIATE``, PostgreSQL's advisory write lock) that checks again, so concurrent
    first openers create the tables once."""
    with engine.connect() as conn:
        state = _state(conn, must_exist)
    if state == "ok":
        return
    if state == "old":
        migrate(engine)
        return
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        state = _state(conn, must_exist)
        if state in ("new", "tables"):
            metadata.create_all(conn)
        if state == "new":
            conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
    if state == "old":
        migrate(engine)


def migrate(engine: sa.Engine) -> None:
    """Bring an older store up to :data:`SCHEMA_VERSION` in one write transaction (all or
    nothing; concurrent openers wait, then find it done)."""
    with engine.connect().execution_options(write=True) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        version = _stored_version(conn)
        if version >= SCHEMA_VERSION:
            return
        if version < 2:
            _migrate_1_to_2(conn)
        _migrate_2_to_3(conn)
        metadata.create_all(conn)  # tables new since the store's version, if any
        conn.execute(
            sa.update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )


MIGRATION_LOCK = 0x6472_6C6E_0001  # PostgreSQL advisory lock key of schema migrations
SEQ_LOCK = 0x6472_6C6E_0002  # PostgreSQL advisory lock key of models.seq assignment


def _migrate_1_to_2(conn: sa.Connection) -> None:
    """Version 1 -> 2: integer surrogate keys ``models.seq``, ``edges.parent_seq/child_seq``
    (added, backfilled, NOT NULL, indexed); the text index on ``edges (child, parent)`` goes
    (walks and parent lookups use ``ix_edges_child_seq``). Skips steps already done."""
    sqlite = conn.dialect.name == "sqlite"
    insp = sa.inspect(conn)

    def add(table: str, column: str) -> bool:
        if column in {c["name"] for c in insp.get_columns(table)}:
            return False
        # SQLite cannot add a NOT NULL column without a default, nor alter it afterwards
        ddl = "BIGINT NOT NULL DEFAULT 0" if sqlite else "BIGINT"
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
        return True

    if add("models", "seq"):
        if sqlite:  # registration order, and cheap: the rowid is unique and never NULL
            conn.exec_driver_sql("UPDATE models SET seq = rowid")
        else:
            conn.exec_driver_sql(
                "UPDATE models SET seq = t.rn FROM (SELECT id, row_number() OVER "
                "(ORDER BY created_at, id) AS rn FROM models) AS t WHERE models.id = t.id"
            )
            conn.exec_driver_sql("ALTER TABLE models ALTER COLUMN seq SET NOT NULL")
    added = [add("edges", "parent_seq"), add("edges", "child_seq")]
    if any(added):
        conn.exec_driver_sql(
            "UPDATE edges SET "
            "parent_seq = (SELECT m.seq FROM models m WHERE m.id = edges.parent), "
            "child_seq = (SELECT m.seq FROM models m WHERE m.id = edges.child)"
        )
        if not sqlite:
            conn.exec_driver_sql(
                "ALTER TABLE edges ALTER COLUMN parent_seq SET NOT NULL, "
                "ALTER COLUMN child_seq SET NOT NULL"
            )
    for index in (*models.indexes, *edges.indexes):
        if index.name in SEQ_INDEXES:
            index.create(conn, checkfirst=True)
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_edges_child_parent")
    if not sqlite:
        conn.exec_driver_sql("ANALYZE models")
        conn.exec_driver_sql("ANALYZE edges")
    elif conn.exec_driver_sql(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
    ).first():  # the store has planner statistics: add the new indexes'
        for name in SEQ_INDEXES:
            conn.exec_driver_sql(f"ANALYZE {name}")


SEQ_INDEXES = ("ux_models_seq", "ix_models_seq_node", "ix_edges_child_seq", "ix_edges_parent_seq")


CHAIN_INDEXES = ("ix_models_chain", "ux_links_child", "ix_links_parent")


def assign_chain(
    parents: Sequence[int], chain_pos: Mapping[int, tuple[int, int]], taken: set[tuple[int, int]]
) -> tuple[int, int] | None:
    """``(chain, pos)`` of a new model whose parents have seqs ``parents`` (in order): after the
    first parent that is its chain's tail (``(chain, pos + 1)`` not in ``taken``; that position
    is added to ``taken``), or None (the model starts a chain of its own)."""
    for p in parents:
        cp = chain_pos.get(p)
        if cp is not None:
            nxt = (cp[0], cp[1] + 1)
            if nxt not in taken:
                taken.add(nxt)
                return nxt
    return None


def _migrate_2_to_3(conn: sa.Connection) -> None:
    """Version 2 -> 3: ``models.chain/pos`` (added if missing, recomputed for every model in
    ``seq`` order from the edges) and ``chain_links`` (rebuilt), indexed."""
    sqlite = conn.dialect.name == "sqlite"
    insp = sa.inspect(conn)
    have = {c["name"] for c in insp.get_columns("models")}
    for column in ("chain", "pos"):
        if column not in have:
            ddl = "BIGINT NOT NULL DEFAULT 0" if sqlite else "BIGINT"
            conn.exec_driver_sql(f"ALTER TABLE models ADD COLUMN {column} {ddl}")
    parents: dict[int, list[int]] = {}
    for child, parent in conn.exec_driver_sql(
        "SELECT child_seq, parent_seq FROM edges ORDER BY child_seq, created_at, parent_seq"
    ):
        if child in parents:
            parents[child].append(parent)
        else:
            parents[child] = [parent]
    chain_pos: dict[int, tuple[int, int]] = {}
    taken: set[tuple[int, int]] = set()
    rows = []
    for (seq,) in conn.exec_driver_sql("SELECT seq FROM models ORDER BY seq"):
        ps = parents.get(seq)
        cp = assign_chain(ps, chain_pos, taken) if ps else None
        if cp is None:
            cp = (seq, 0)
        chain_pos[seq] = cp
        rows.append({"s": seq, "c": cp[0], "p": cp[1]})
    del parents, chain_pos, taken
    conn.exec_driver_sql("DROP INDEX IF EXISTS ix_models_chain")
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE chain_backfill (s BIGINT PRIMARY KEY, c BIGINT, p BIGINT)"
    )
    if rows:
        conn.execute(sa.text("INSERT INTO chain_backfill (s, c, p) VALUES (:s, :c, :p)"), rows)
    del rows
    conn.exec_driver_sql(
        "UPDATE models SET chain = b.c, pos = b.p FROM chain_backfill b WHERE b.s = models.seq"
    )
    conn.exec_driver_sql("DROP TABLE chain_backfill")
    if not sqlite:
        conn.exec_driver_sql(
            "ALTER TABLE models ALTER COLUMN chain SET NOT NULL, ALTER COLUMN pos SET NOT NULL"
        )
    chain_links.create(conn, checkfirst=True)
    conn.execute(sa.delete(chain_links))
    conn.exec_driver_sql(
        "INSERT INTO chain_links (child_chain, child_pos, parent_chain, parent_pos) "
        "SELECT c.chain, c.pos, p.chain, p.pos FROM edges e "
        "JOIN models c ON c.seq = e.child_seq JOIN models p ON p.seq = e.parent_seq "
        "WHERE NOT (c.chain = p.chain AND c.pos = p.pos + 1)"
    )
    for index in (*models.indexes, *chain_links.indexes):
        if index.name in CHAIN_INDEXES:
            index.create(conn, checkfirst=True)
    if not sqlite:
        conn.exec_driver_sql("ANALYZE models")
        conn.exec_driver_sql("ANALYZE chain_links")
    elif conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first():
        for name in CHAIN_INDEXES:
            conn.exec_driver_sql(f"ANALYZE {name}")


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
