"""Crash test: a process that registers, saves reports, deploys and repairs is SIGKILLed at
random moments, 20 times (about a minute). After every kill the store passes fsck, every
listed model reloads bit-exact (its manifest hashes to its id and every blob to its key), and
every record the worker journaled after its commit is still there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from driftline.cli import main
from driftline.params import model_id
from driftline.repair import load_repair
from driftline.store import Store
from driftline.store.maintenance import fsck, gc

WORKER = Path(__file__).with_name("worker.py")
SRC = Path(__file__).parents[2] / "src"
KILLS = int(os.environ.get("DRIFTLINE_CRASH_KILLS", "20"))


class Zygote:
    """``worker.py zygote``: forks crash workers with the imports already done."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), "zygote"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        assert self._answer() == "ready"

    def _answer(self) -> str:
        line = self.proc.stdout.readline().strip()
        assert line, "the zygote died"
        return line

    def run(self, seed: int, journal: Path, store_dir: Path) -> int:
        self.proc.stdin.write(f"run {seed} {journal} {store_dir}\n")
        return int(self._answer())

    def wait(self) -> int:
        self.proc.stdin.write("wait\n")
        return int(self._answer())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def wait_ready(journal: Path, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if journal.exists() and journal.read_text().startswith('{"op": "ready"}'):
            return
        time.sleep(0.02)
    raise AssertionError("worker did not start")


def journaled(journal: Path) -> list[dict]:
    """Complete journal lines (a kill may cut the last one: it was never acknowledged)."""
    out = []
    for line in journal.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def check(store_dir: Path, records: list[dict]) -> tuple[int, int, int]:
    """Assert the store is whole; return (models, orphan blobs, temporary files)."""
    with Store(store_dir, create=False) as store:
        report = fsck(store)
        assert report.ok, report.damaged
        listed = store.list_models()
        for m in listed:
            assert model_id(store.load(m.id)) == m.id
        ids = {m.id for m in listed}
        history = {e.id for e in store.deployment_history()}
        reports = {r["id"] for r in store.drift_reports()}
        for r in records:
            if r["op"] == "model":
                assert r["id"] in ids, "lost model"
            elif r["op"] == "history":
                assert r["id"] in history, "lost deployment"
            elif r["op"] == "report":
                assert r["id"] in reports, "lost drift report"
            elif r["op"] == "repair":
                rep = load_repair(store, r["id"])
                assert rep is not None and rep.repaired_id == r["model"], "lost repair"
        return len(listed), len(report.orphan_blobs), len(report.temporaries)


def test_sigkill_at_random_points(tmp_path, capsys):
    store_dir = tmp_path / "store"
    Store(store_dir).close()
    rng = np.random.default_rng(14)
    records: list[dict] = []
    zygote = Zygote()
    try:
        for kill in range(KILLS):
            journal = tmp_path / f"journal-{kill}.jsonl"
            pid = zygote.run(kill, journal, store_dir)
            wait_ready(journal)
            time.sleep(float(rng.uniform(0.0, 1.5)))
            os.kill(pid, signal.SIGKILL)
            assert zygote.wait() == -signal.SIGKILL  # killed mid-work, not failed or done
            records += journaled(journal)
            seen = check(store_dir, records)
    finally:
        zygote.close()
    assert sum(r["op"] == "model" for r in records) >= KILLS  # the kills hit real work
    counts = {op: sum(r["op"] == op for r in records) for op in ("model", "report", "repair")}
    with capsys.disabled():
        print(
            f"\ncrash test: {KILLS} kills, {seen[0]} models listed, journaled {counts}, "
            f"{seen[1]} orphan blob(s) and {seen[2]} temporary file(s) before gc"
        )
    assert main(["--store", str(store_dir), "fsck"]) == 0
    with Store(store_dir) as store:
        removed = gc(store, grace_seconds=0.0)
        assert fsck(store).orphan_blobs == [] and fsck(store).temporaries == []
        assert set(removed.removed_blobs).isdisjoint(
            t.blob for m in store.list_models() for t in store.manifest(m.id)
        )
    check(store_dir, records)
    capsys.readouterr()
