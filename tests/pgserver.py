"""A throwaway PostgreSQL 15 server for tests (shared by tests/conftest.py's fixtures).

``$DRIFTLINE_TEST_PG`` (set by ``.ci/run``, e.g. ``postgresql+psycopg://postgres@/postgres?
host=/tmp/x&port=5433``) names a running server to use; otherwise a private cluster is started
in a temp folder (Unix socket only, as the postgres user when running as root) and stopped at
the end. Each caller gets a fresh database from :meth:`PgServer.new_database`.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PgUnavailable(Exception):
    """No PostgreSQL server can be used here (the reason is the message)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A server URL (to its ``postgres`` database) plus a way to make fresh databases."""

    def __init__(self, admin_url: str, stop: object = None) -> None:
        self.admin_url = admin_url
        self._stop = stop
        self._n = itertools.count()

    @classmethod
    def start(cls) -> PgServer:
        try:
            import psycopg  # noqa: F401
        except ImportError as exc:
            raise PgUnavailable(
                "psycopg is not installed: pip install 'driftline[postgres]'"
            ) from exc
        if os.environ.get("DRIFTLINE_TEST_PG"):
            return cls(os.environ["DRIFTLINE_TEST_PG"])
        if not (PG_BIN / "initdb").is_file():
            raise PgUnavailable(f"PostgreSQL 15 is not installed ({PG_BIN / 'initdb'} is missing)")
        as_root = os.geteuid() == 0
        if as_root and shutil.which("runuser") is None:
            raise PgUnavailable("running as root but runuser is missing")
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        base = Path(tempfile.mkdtemp(prefix="driftline-pg-"))
        if as_root:
            shutil.chown(base, "postgres", "postgres")
        data, port = base / "data", _free_port()

        def run(*cmd: str) -> None:
            out = subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                log = (base / "log").read_text() if (base / "log").exists() else ""
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}\n{log}")

        def stop() -> None:
            subprocess.run(
                [*prefix, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
            )
            shutil.rmtree(base, ignore_errors=True)

        try:
            run(
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            )
            opts = f"-k {base} -p {port} -c listen_addresses='' -c fsync=off -c max_connections=200"
            run(
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(base / "log"),
                "-w",
                "-o",
                opts,
                "start",
            )
        except BaseException:
            stop()
            raise
        return cls(f"postgresql+psycopg://postgres@/postgres?host={base}&port={port}", stop)

    def new_database(self, stem: str = "t") -> str:
        """Create an empty database; return its URL."""
        import sqlalchemy as sa

        name = f"{stem}_{os.getpid()}_{next(self._n)}"
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.admin_url.replace("/postgres?", f"/{name}?", 1)

    def stop(self) -> None:
        if callable(self._stop):
            self._stop()
