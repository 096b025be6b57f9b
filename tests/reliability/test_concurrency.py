"""8 writer processes at once, on SQLite and on PostgreSQL: no errors, no lost records, and a
deployment history whose every row names the model of the row before it as its previous one.

The default run writes for 4 s; ``-m slow`` runs the 15 s version of the acceptance test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from driftline.params import model_id
from driftline.store import Store

WORKER = Path(__file__).with_name("worker.py")
SRC = Path(__file__).parents[2] / "src"


def run_workers(location: str, blob_dir: Path, tmp: Path, n: int, seconds: float) -> list[dict]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        "DRIFTLINE_BLOBS": str(blob_dir),
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(WORKER),
                "concurrency",
                location,
                str(w),
                str(seconds),
                str(tmp / f"journal-{w}.jsonl"),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(n)
    ]
    for p in procs:
        _, err = p.communicate(timeout=seconds + 120)
        assert p.returncode == 0, err[-2000:]
    records = []
    for w in range(n):
        for line in (tmp / f"journal-{w}.jsonl").read_text().splitlines():
            records.append({**json.loads(line), "worker": w})
    return records


def check_store(location: str, blob_dir: Path, records: list[dict]) -> None:
    from reliability.worker import params  # tests/ is on sys.path (tests/conftest.py)

    errors = [r for r in records if r["op"] == "error"]
    assert errors == [], errors[:5]
    with Store(location, blob_dir=blob_dir if "://" in location else None) as store:
        models = {m.id: m for m in store.list_models()}
        for r in (r for r in records if r["op"] == "model"):
            assert r["id"] in models, "lost model"
            assert r["id"] == model_id(params(r["i"]))
        for m in models.values():  # every model reloads bit-exact (Merkle id checked on load)
            assert model_id(store.load(m.id)) == m.id
        assert {m.version for m in models.values() if m.name == "shared"} == set(
            range(1, 1 + sum(m.name == "shared" for m in models.values()))
        )
        assert all(m.metrics == {"loss": None} for m in models.values() if m.name == "shared")
        for r in (r for r in records if r["op"] == "signature"):
            assert store.signature(r["id"]).id == r["id"], "lost signature"
        report_ids = {r["id"] for r in store.drift_reports()}
        assert {r["id"] for r in records if r["op"] == "report"} <= report_ids, "lost report"
        history = store.deployment_history()
        hist_ids = {e.id for e in history}
        assert {r["id"] for r in records if r["op"] == "history"} <= hist_ids, "lost deploy"
        by_name: dict[str, list] = {}
        for e in history:
            by_name.setdefault(e.name, []).append(e)
        for name, events in by_name.items():
            assert events[0].previous_model_id is None, name
            for before, after in zip(events, events[1:], strict=False):
                assert after.previous_model_id == before.model_id, name
        current = {d.name: d.model_id for d in store.deployments()}
        assert current == {name: events[-1].model_id for name, events in by_name.items()}


def concurrency_case(store_location: str, tmp_path: Path, seconds: float) -> None:
    blob_dir = tmp_path / "blobs"
    records = run_workers(store_location, blob_dir, tmp_path, 8, seconds)
    assert sum(r["op"] == "history" for r in records) > 8
    check_store(store_location, blob_dir, records)
    counts = {
        op: sum(r["op"] == op for r in records)
        for op in ("model", "signature", "history", "report", "error")
    }
    backend = "postgresql" if "://" in store_location else "sqlite"
    print(f"\n8 writers for {seconds:g} s on {backend}: {counts}")


def test_eight_writers(store_location, tmp_path) -> None:
    concurrency_case(store_location, tmp_path, 4.0)


@pytest.mark.slow
def test_eight_writers_fifteen_seconds(store_location, tmp_path) -> None:
    concurrency_case(store_location, tmp_path, 15.0)
