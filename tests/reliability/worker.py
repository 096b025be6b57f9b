"""Worker processes for the concurrency and crash tests (run as ``python worker.py MODE ...``).

Every operation that commits appends one JSON line to the worker's journal *after* the commit
returns (flushed and fsynced), so the journal lists only committed records: a record in the
journal but not in the store is a lost record. Errors are journaled as ``{"op": "error"}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

import numpy as np


def params(i: int) -> dict[str, np.ndarray]:
    """Deterministic parameters of model ``i`` (shared by the test that checks them)."""
    rng = np.random.default_rng(i)
    return {"w": rng.normal(size=(4, 3)).astype(np.float32), "b": np.array([i], np.int64)}


class Journal:
    def __init__(self, path: str) -> None:
        self.fh = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def log(self, **record: object) -> None:
        self.fh.write(json.dumps(record) + "\n")
        self.fh.flush()
        os.fsync(self.fh.fileno())


def concurrency(store_loc: str, wid: int, seconds: float, journal: str) -> None:
    """Register shared and own models, signatures, first deploys and reports for ``seconds``."""
    from driftline.drift import Signature, compare
    from driftline.store import Store

    j = Journal(journal)
    try:
        store = Store(store_loc)
    except Exception as exc:  # start-up must not fail either
        j.log(op="error", where="open", error=f"{type(exc).__name__}: {exc}")
        return
    data = np.random.default_rng(0).normal(size=(200, 2))
    shared_sig = Signature.from_data(data)
    end, k = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for op in ("shared", "own", "signature", "first_deploy", "deploy", "report"):
            try:
                _one(store, op, wid, k, j, shared_sig, compare, Signature)
            except Exception as exc:
                j.log(op="error", where=op, error=traceback.format_exception_only(exc)[-1].strip())
        k += 1
    store.close()


def _one(store, op, wid, k, j, shared_sig, compare, Signature) -> None:  # noqa: ANN001
    if op == "shared":  # every worker registers the same models: idempotent, one node each
        m = shared(store, k % 5)
        j.log(op="model", id=m.id, i=k % 5)
    elif op == "own":
        i = 1000 * (wid + 1) + k
        parent = store.resolve("shared@1") if k else []
        m = store.register(params(i), name=f"w{wid}", parents=[parent] if parent else [])
        j.log(op="model", id=m.id, i=i)
    elif op == "signature":
        rows = np.random.default_rng(k % 3).normal(size=(50, 2))
        sid = store.put_signature(Signature.from_data(rows) if wid % 2 else shared_sig)
        j.log(op="signature", id=sid)
    elif op == "first_deploy":  # all workers race to create deployment "first-k"
        ev = store.deploy(shared(store, k % 5), f"first-{k}", actor=f"w{wid}")
        j.log(op="history", id=ev.id)
    elif op == "deploy":
        ev = store.deploy(shared(store, (wid + k) % 5), "prod", actor=f"w{wid}")
        j.log(op="history", id=ev.id)
    elif op == "report":
        report = compare(shared_sig, np.random.default_rng(wid * 7919 + k).normal(size=(60, 2)))
        rid = store.save_drift_report(store.resolve("shared@1"), report)
        j.log(op="report", id=rid)


def shared(store, i: int):  # noqa: ANN001, ANN201
    """Model ``i`` of the name every worker registers (NaN metric: strict JSON stores null)."""
    return store.register(params(i), name="shared", metrics={"loss": float("nan")})


def crash(store_loc: str, seed: int, journal: str) -> None:
    """Register lineages, save reports, deploy and repair until killed."""
    from sklearn.linear_model import LogisticRegression

    from driftline.drift import compare
    from driftline.repair import repair
    from driftline.store import Store

    j = Journal(journal)
    store = Store(store_loc, create=False)
    rng = np.random.default_rng(seed)
    j.log(op="ready")
    k = 0
    while True:
        tag = f"{seed}-{k}"
        X0, y0 = blobs(0.0, 400, rng)
        X1, y1 = blobs(1.5, 400, rng)
        base = store.register(
            LogisticRegression().fit(X0, y0),
            name="clf",
            data=X0,
            metrics={"accuracy": 0.9},
            tags={"run": tag},
        )
        j.log(op="model", id=base.id)
        child = store.register(
            LogisticRegression().fit(X1, y1), name="clf", parents=[base], data=X1
        )
        j.log(op="model", id=child.id)
        ev = store.deploy(child, "clf")
        j.log(op="history", id=ev.id)
        rid = store.save_drift_report(child, compare(store.signature(child), X0))
        j.log(op="report", id=rid)
        Xw, _ = blobs(0.0, 300, rng)
        result = repair(store, "clf", Xw, blobs(0.0, 80, rng))
        if result.repair_id is not None:
            j.log(op="repair", id=result.repair_id, model=result.repaired_id)
        k += 1


def blobs(shift: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two classes whose boundary rotates with ``shift`` (as in tests/test_repair_pipeline)."""
    X = rng.normal(0, 1, size=(n, 2)) + np.array([shift, 0.0])
    direction = np.array([np.cos(shift), np.sin(shift)])
    y = ((X - np.array([shift, 0.0])) @ direction > 0).astype(int)
    return X, y


def zygote() -> None:
    """Import everything once, then fork one crash worker per ``run SEED JOURNAL STORE`` line
    on stdin (answering its pid) and reap it on ``wait`` (answering how it ended), so each of
    the crash test's runs starts in milliseconds instead of paying the imports again."""
    import sklearn.linear_model  # noqa: F401

    import driftline.drift  # noqa: F401
    import driftline.repair  # noqa: F401
    import driftline.store  # noqa: F401

    print("ready", flush=True)
    pid = 0
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "run":
            pid = os.fork()
            if pid == 0:
                code = 0
                try:
                    crash(args[2], int(args[0]), args[1])
                except BaseException:
                    traceback.print_exc()
                    code = 1
                os._exit(code)
            print(pid, flush=True)
        elif cmd == "wait":
            _, status = os.waitpid(pid, 0)
            print(
                -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status),
                flush=True,
            )


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "zygote":
        zygote()
        raise SystemExit(0)
    if mode == "concurrency":
        concurrency(args[0], int(args[1]), float(args[2]), args[3])
    elif mode == "crash":
        crash(args[0], int(args[1]), args[2])
    else:
        raise SystemExit(f"unknown mode {mode}")
