"""Shared fixtures: a PostgreSQL 15 server for the tests that run on both backends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from pgserver import PgServer, PgUnavailable  # noqa: E402


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session (skips the test when none can be started)."""
    try:
        server = PgServer.start()
    except PgUnavailable as exc:
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def pg_url(pg_server) -> str:
    """A fresh database per test module on the session's PostgreSQL 15 server."""
    return pg_server.new_database("lineage")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_location(request, tmp_path) -> str:
    """A fresh store location on each backend: a folder (SQLite) or a database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    return request.getfixturevalue("pg_server").new_database()


@pytest.fixture()
def cli(tmp_path, monkeypatch, capsys):
    """Run ``driftline ARGS`` in-process in a fresh folder; returns (exit code, stdout, stderr)."""
    from driftline.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DRIFTLINE_STORE", raising=False)

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run
