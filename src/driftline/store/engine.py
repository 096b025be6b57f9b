"""Opening the SQL database behind a store: SQLite (WAL) by path, PostgreSQL by URL.

Writers are serialised on both backends, so a read that decides a write (the next version
of a name, a deployment's previous model, "does this id exist yet") is never stale:
SQLite by ``BEGIN IMMEDIATE``, PostgreSQL by a transaction-level advisory lock taken when a
write transaction begins (released at commit or rollback). JSON columns are written as
strict JSON (NaN and ±inf become null) so both backends accept the same values, and JSON
that does not parse on the way back is reported as a damaged store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from driftline.errors import DamagedStoreError, UnknownReferenceError
from driftline.jsonutil import jsonable

DEFAULT_DIR = ".driftline"
DB_FILE = "lineage.db"
WRITE_LOCK = 0x6472_6C6E_0003  # PostgreSQL advisory lock key held by every write transaction


def is_url(location: str) -> bool:
    return "://" in location


def default_location() -> str:
    """``$DRIFTLINE_STORE`` or ``./.driftline``."""
    return os.environ.get("DRIFTLINE_STORE") or DEFAULT_DIR


def json_dumps(value: Any) -> str:
    """Strict JSON for a JSON column: numpy values converted, NaN/±inf stored as null."""
    return json.dumps(jsonable(value), allow_nan=False, default=str)


def json_loads(text: str | bytes) -> Any:
    """Parse a JSON column; text that is not JSON means the database was damaged."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise DamagedStoreError(
            f"the store's database holds invalid JSON ({type(exc).__name__}); "
            "run 'driftline fsck' and restore the database from backup"
        ) from exc


def make_engine(url: str) -> sa.Engine:
    """SQLAlchemy engine; SQLite gets WAL, foreign keys, a busy timeout and BEGIN IMMEDIATE
    writes, PostgreSQL an advisory write lock (see the module docstring)."""
    kwargs: dict[str, Any] = {"json_serializer": json_dumps, "json_deserializer": json_loads}
    if not url.startswith("sqlite"):
        engine = sa.create_engine(url, pool_pre_ping=True, **kwargs)
        if engine.dialect.name == "postgresql":
            _lock_postgres_writes(engine)
        return engine
    engine = sa.create_engine(url, connect_args={"timeout": 30}, **kwargs)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let SQLAlchemy's 'begin' event emit BEGIN
        cur = dbapi_conn.cursor()
        if "mode=ro" not in url:  # a read-only file keeps the journal mode it has
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # lineage walks touch many index pages: a 64 MB page cache and memory-mapped reads
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Writers take the lock up front so two writers never deadlock on a lock upgrade.
        conn.exec_driver_sql(
            "BEGIN IMMEDIATE" if conn.get_execution_options().get("write") else "BEGIN"
        )

    return engine


def _lock_postgres_writes(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get("write"):
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


def sqlite_url(folder: Path, read_only: bool = False) -> str:
    """URL of the store's SQLite file; ``read_only`` for a folder nothing can be written to.
    WAL readers need its index (``-shm``) beside the file: when the WAL files are there,
    SQLite reads through them (``mode=ro``); when they are not, the WAL holds nothing and the
    file is opened ``immutable`` (no index needed)."""
    path = (folder / DB_FILE).resolve()
    if not read_only:
        return f"sqlite:///{path}"
    wal = all(path.with_name(f"{DB_FILE}-{x}").exists() for x in ("wal", "shm"))
    return f"sqlite:///file:{quote(str(path))}?mode=ro{'' if wal else '&immutable=1'}&uri=true"


def writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (False on a read-only file system, even
    for root)."""
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except (OSError, AttributeError):  # no statvfs here: permissions decide
        pass
    return os.access(folder, os.W_OK)


def redact(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy understands: show it as given
        return url


def check_folder(root: Path, blob_dir: str | os.PathLike | None, create: bool) -> bool:
    """Check a store folder before opening its database; return whether it must already hold
    a store (see :func:`holds_store`)."""
    db = root / DB_FILE
    if db.exists() and not db.is_file():
        raise DamagedStoreError(f"{db} is not a regular file; restore it from backup")
    must_exist = holds_store(root, blob_dir)
    if not db.exists() and not create:
        raise UnknownReferenceError(
            f"no driftline store at {root}; run 'driftline init' (or set DRIFTLINE_STORE)"
        )
    root.mkdir(parents=True, exist_ok=True)
    return must_exist


def holds_store(root: Path, blob_dir: str | os.PathLike | None) -> bool:
    """Whether the folder holds a used store, whose database must not be recreated: it has
    stored blobs. (A store's tables are committed before its first blob is written, so an
    empty database beside blobs was emptied; one without blobs may be a new database that a
    concurrent first opener is creating right now.)"""
    blobs = Path(blob_dir) if blob_dir else root / "blobs"
    return blobs.is_dir() and any(blobs.iterdir())
