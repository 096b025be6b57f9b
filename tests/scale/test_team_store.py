"""A team store: one PostgreSQL URL + one S3 URL. Register from one client process, load from
another that is told only the database URL (the blob URL is recorded in the database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from driftline.cli import main
from driftline.errors import CorruptBlobError, InvalidInputError
from driftline.params import load_safetensors, model_id, save_safetensors
from driftline.store import Store
from driftline.store.blob_config import recorded_location

pytestmark = pytest.mark.postgres
SRC = str(Path(__file__).resolve().parents[2] / "src")


def client(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``driftline ARGS`` as a separate client process in its own working folder."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop("DRIFTLINE_STORE", None)
    env.pop("DRIFTLINE_BLOBS", None)
    return subprocess.run(
        [sys.executable, "-m", "driftline", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def fresh_database(pg_url: str, name: str) -> str:
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()
    return sa.make_url(pg_url).set(database=name).render_as_string(hide_password=False)


def params(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "layer.weight": rng.normal(size=(8, 4)).astype(np.float32),
        "layer.bias": rng.normal(size=4).astype(np.float32),
    }


def test_register_in_one_client_load_in_another(pg_url, bucket, tmp_path) -> None:
    db = fresh_database(pg_url, "team_cli")
    blobs = f"s3://{bucket}/driftline/blobs"
    a, b, c = tmp_path / "alice", tmp_path / "bob", tmp_path / "carol"
    r = client(a, "--store", db, "--blobs", blobs, "init")
    assert r.returncode == 0, r.stderr
    assert blobs in r.stdout
    save_safetensors(params(2), tmp_path / "m2.safetensors")
    r = client(a, "--store", db, "register", str(tmp_path / "m2.safetensors"), "--name", "churn")
    assert r.returncode == 0, r.stderr

    # Bob knows only the database URL: the blob URL comes from the database
    r = client(b, "--store", db, "export", "churn@1", "-o", str(tmp_path / "bob.safetensors"))
    assert r.returncode == 0, r.stderr
    got = load_safetensors(tmp_path / "bob.safetensors")
    assert model_id(got) == model_id(params(2))
    assert all(np.array_equal(got[k], v) for k, v in params(2).items())
    assert not (a / ".driftline").exists() and not (b / ".driftline").exists()  # nothing local

    # a client pointing elsewhere is refused instead of splitting the blobs
    r = client(c, "--store", db, "--blobs", f"s3://{bucket}/other", "list")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "keeps its blobs at" in r.stderr


def test_library_clients_share_blobs_and_detect_tampering(pg_url, bucket) -> None:
    db = fresh_database(pg_url, "team_lib")
    url = f"s3://{bucket}/blobs"
    with Store(db, blob_dir=url) as alice:
        m = alice.register(params(3), name="fraud")
    with Store(db) as bob:
        assert bob.blobs.location == url
        assert recorded_location(bob.engine) == url
        got = bob.load("fraud@1")
        assert model_id(got) == m.id
        info = next(t for t in bob.manifest(m) if t.name == "layer.bias")
        bob.blobs.fs.pipe_file(bob.blobs.path(info.blob), b"tampered")
        with pytest.raises(CorruptBlobError, match="fraud@1"):
            bob.load("fraud@1")
    with pytest.raises(InvalidInputError, match="keeps its blobs at"):
        Store(db, blob_dir="/tmp/elsewhere")


def test_unreachable_blob_store_writes_nothing(pg_url, s3_env, tmp_path) -> None:
    db = fresh_database(pg_url, "team_bad")
    r = client(tmp_path / "x", "--store", db, "--blobs", "s3://no-such-bucket/b", "init")
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "bucket or prefix does not exist" in r.stderr
    engine = sa.create_engine(db)
    assert sa.inspect(engine).get_table_names() == []  # no schema, no recorded URL
    engine.dispose()
    folder = tmp_path / "local-store"
    assert main(["--store", str(folder), "--blobs", "s3://no-such-bucket/b", "init"]) == 2
    assert not folder.exists()
