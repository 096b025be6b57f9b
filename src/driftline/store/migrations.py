"""Creating a store's tables, checking its schema version, and migrating older stores in place.

The tables are :mod:`driftline.store.schema`; version history: 1 = text-keyed edges only;
2 = ``seq`` surrogate keys; 3 = ``chain``/``pos`` and ``chain_links``. A migration runs in one
write transaction (all or nothing); concurrent openers wait, then find it done.
"""

from __future__ import annotations

import sqlalchemy as sa

from driftline.errors import DamagedStoreError, SchemaVersionError
from driftline.store.allocation import assign_chain
from driftline.store.schema import (
    CHAIN_INDEXES,
    MIGRATION_LOCK,
    SCHEMA_VERSION,
    SEQ_INDEXES,
    chain_links,
    edges,
    meta,
    metadata,
    models,
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
