"""Opening the SQL database behind a store: SQLite (WAL) by path, PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

DEFAULT_DIR = ".driftline"
DB_FILE = "lineage.db"


def is_url(location: str) -> bool:
    return "://" in location


def default_location() -> str:
    """``$DRIFTLINE_STORE`` or ``./.driftline``."""
    return os.environ.get("DRIFTLINE_STORE") or DEFAULT_DIR


def make_engine(url: str) -> sa.Engine:
    """SQLAlchemy engine; SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE writes."""
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.isolation_level = None  # let SQLAlchemy's 'begin' event emit BEGIN
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # lineage walks touch many index pages: a 64 MB page cache and memory-mapped reads
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):  # type: ignore[no-untyped-def]
        # Writers take the lock up front so two writers never deadlock on a lock upgrade.
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN"
        )

    return engine


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / DB_FILE).resolve()}"
