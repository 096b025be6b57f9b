"""fsck and gc: orphans and temporaries are reported and removed after their grace period,
damage is reported with exit 1, and gc running beside writers never removes a blob that a
committed model references. Plus the CLI on a PostgreSQL URL."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from driftline.cli import main
from driftline.errors import DriftlineError
from driftline.params import model_id
from driftline.store import Store
from driftline.store.maintenance import fsck, gc


def P(i: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(i)
    return {"w": rng.normal(size=(3, 2)), "shared": np.ones(4)}


def age(path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_orphans_and_temporaries_are_reported_then_collected(tmp_path, capsys):
    store = Store(tmp_path / "store")
    m = store.register(P(1), name="m")
    orphan = store.blobs.put(b"left by a crash between blob and commit")
    young = store.blobs.put(b"written a moment ago by a writer still running")
    tmp = store.blobs.root / orphan[:2] / ".tmp-crashed"
    tmp.write_bytes(b"partial")
    age(store.blobs.path(orphan), 7200)
    age(tmp, 7200)
    report = fsck(store)
    assert report.ok and sorted(report.orphan_blobs) == sorted([orphan, young])
    assert report.temporaries == [f"{orphan[:2]}/.tmp-crashed"]
    assert report.models_checked == 1 and report.blobs_checked == 4
    assert gc(store, dry_run=True).removed_blobs == [orphan] and store.blobs.exists(orphan)
    done = gc(store)  # default grace: one hour
    assert done.removed_blobs == [orphan] and done.young_orphans == 1
    assert done.removed_temporaries == [f"{orphan[:2]}/.tmp-crashed"] and not tmp.exists()
    assert store.blobs.exists(young) and model_id(store.load(m)) == m.id
    assert main(["--store", str(tmp_path / "store"), "gc", "--grace", "0"]) == 0
    assert not store.blobs.exists(young) and model_id(store.load(m)) == m.id
    assert main(["--store", str(tmp_path / "store"), "gc", "--grace", "-1"]) == 2
    assert main(["--store", str(tmp_path / "store"), "fsck"]) == 0
    assert "0 problem(s), 0 orphan blob(s)" in capsys.readouterr().out


def test_fsck_reports_missing_and_corrupt_blobs_with_exit_1(tmp_path, capsys):
    store = Store(tmp_path / "store")
    a, b = store.register(P(1), name="a"), store.register(P(2), name="b")
    wa = next(t.blob for t in store.manifest(a) if t.name == "w")
    wb = next(t.blob for t in store.manifest(b) if t.name == "w")
    store.blobs.path(wa).unlink()
    store.blobs.path(wb).write_bytes(b"rot")
    report = fsck(store)
    assert len(report.damaged) == 2
    assert any("missing" in d and "a@1" in d for d in report.damaged)
    assert any("corrupt" in d and "b@1" in d for d in report.damaged)
    assert main(["--store", str(tmp_path / "store"), "fsck"]) == 1
    out = capsys.readouterr().out
    assert "2 problem(s)" in out and "restore" in out
    assert "[red]" not in out and out.count("damaged: blob ") == 2  # markup, not its source


def test_gc_beside_writers_never_removes_a_referenced_blob(tmp_path):
    """Writers keep re-registering models whose blobs gc sees as unreferenced orphans (they
    were written and the model deleted), while gc runs with no grace period."""
    store = Store(tmp_path / "store")
    stop = threading.Event()
    errors: list[BaseException] = []
    ids: list[str] = []

    def writer(k: int) -> None:
        try:
            with Store(tmp_path / "store") as own:
                i = 0
                while not stop.is_set():
                    params = P(100_000 * k + i)  # a new model: its blobs are new
                    own.blobs.put(params["w"].tobytes())  # an orphan gc may remove...
                    ids.append(own.register(params, name=f"w{k}").id)  # ...then referenced
                    i += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    removed = 0
    end = time.monotonic() + 3.0
    while time.monotonic() < end:
        removed += len(gc(store, grace_seconds=0.0).removed_blobs)
    stop.set()
    for t in threads:
        t.join()
    assert errors == [], (
        "".join(__import__("traceback").format_exception(errors[0]))[-1500:] if errors else ""
    )
    assert fsck(store).ok
    for mid in set(ids):
        assert model_id(store.load(mid)) == mid


@pytest.mark.postgres
def test_cli_on_a_postgresql_url(pg_server, tmp_path, monkeypatch, capsys):
    url = pg_server.new_database("cli")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DRIFTLINE_BLOBS", str(tmp_path / "blobs"))
    np.savez(tmp_path / "m.npz", **P(1))
    assert main(["--store", url, "init"]) == 0
    assert "postgresql+psycopg://" in capsys.readouterr().out
    assert (
        not (tmp_path / "postgresql+psycopg:").exists() and not (tmp_path / ".driftline").exists()
    )
    monkeypatch.setenv("DRIFTLINE_STORE", url)
    assert main(["register", str(tmp_path / "m.npz"), "--name", "m", "--metric", "loss=NaN"]) == 0
    assert main(["deploy", "m@1", "--as", "prod"]) == 0
    assert main(["fsck"]) == 0
    capsys.readouterr()
    with Store(url) as store:
        assert store.engine.dialect.name == "postgresql"
        m = store.get("deployment:prod")
        assert m.ref == "m@1" and model_id(store.load(m)) == m.id


def test_gc_never_removes_the_blobs_of_another_store_sharing_the_folder(tmp_path, capsys):
    """A database-URL store uses ./.driftline/blobs by default: run where a folder store
    lives, the two share one blob folder, and each one's blobs are the other's orphans."""
    local = Store(tmp_path / ".driftline")
    beside = Store(tmp_path / "other", blob_dir=tmp_path / ".driftline" / "blobs")
    m = local.register(P(1), name="local")
    for key in set(local.blobs.keys()):
        age(local.blobs.path(key), 7200)
    with pytest.raises(DriftlineError, match="other store"):
        gc(beside, grace_seconds=0)
    args = ["--store", str(tmp_path / "other"), "--blobs", str(tmp_path / ".driftline" / "blobs")]
    assert main([*args, "gc", "--grace", "0"]) == 2
    assert "other store" in capsys.readouterr().err
    assert model_id(local.load(m)) == m.id

    # two stores that registered into one shared folder: neither collects
    a = Store(tmp_path / "a", blob_dir=tmp_path / "shared")
    b = Store(tmp_path / "b", blob_dir=tmp_path / "shared")
    ma, mb = a.register(P(2), name="a"), b.register(P(3), name="b")
    for key in set(a.blobs.keys()):
        age(a.blobs.path(key), 7200)
    with pytest.raises(DriftlineError, match="other store"):
        gc(a, grace_seconds=0)
    assert model_id(b.load(mb)) == mb.id and model_id(a.load(ma)) == ma.id
    assert gc(local, grace_seconds=0).removed_blobs == []  # its own folder: as before
