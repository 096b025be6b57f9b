"""The repair record and the deployment switch are one transaction: a repair killed (SIGKILL)
between the switch and the record leaves neither, and the next run repairs and records."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import driftline
from driftline.repair import list_repairs, repair

SRC = str(Path(driftline.__file__).resolve().parents[1])


def blobs(shift: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(0, 1, size=(n, 2)) + np.array([shift, 0.0])
    direction = np.array([np.cos(shift), np.sin(shift)])
    return X, ((X - np.array([shift, 0.0])) @ direction > 0).astype(int)


# the child: after every statement of the repair, die at the INSERT of the repair record
CHILD = textwrap.dedent("""
    import os, signal, sys
    import numpy as np
    import sqlalchemy as sa
    import driftline
    from driftline.repair import repair

    data = np.load(sys.argv[2])
    store = driftline.open(sys.argv[1])

    def die(conn, cursor, statement, *a):
        if statement.lstrip().upper().startswith("INSERT INTO REPAIRS"):
            os.kill(os.getpid(), signal.SIGKILL)

    sa.event.listen(store.engine, "before_cursor_execute", die)
    repair(store, "clf", data["Xw"], (data["Xv"], data["yv"]))
    print("not killed")
""")


def test_repair_killed_before_its_record_is_rolled_back_then_finished(tmp_path):
    root = tmp_path / "store"
    X0, y0 = blobs(0.0, 2000, 1)
    X1, y1 = blobs(1.5, 2000, 2)
    with driftline.open(root) as store:
        base = store.register(LogisticRegression().fit(X0, y0), name="clf", data=X0)
        child = store.register(
            LogisticRegression().fit(X1, y1), name="clf", parents=[base], data=X1
        )
        store.deploy(child, "clf")
    Xw, _ = blobs(0.0, 1500, 3)
    Xv, yv = blobs(0.0, 100, 4)
    np.savez(tmp_path / "data.npz", Xw=Xw, Xv=Xv, yv=yv)
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(tmp_path / "data.npz")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "not killed" not in proc.stdout

    with driftline.open(root) as store:
        # nothing half-done: the drifted model still serves and no record claims otherwise
        assert store.resolve("deployment:clf") == child.id
        assert [h.action for h in store.deployment_history("clf")] == ["deploy"]
        assert list_repairs(store) == []
        # the next run finds the drift again, repairs, and writes switch and record together
        result = repair(store, "clf", Xw, (Xv, yv))
        assert result.status == "deployed"
        [row] = list_repairs(store)
        assert row.status == "deployed" and row.repair_id == result.repair_id
        assert store.resolve("deployment:clf") == row.repaired_id
        assert len(store.deployment_history("clf")) == 2
