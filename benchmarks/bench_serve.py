"""Benchmark: ``driftline serve`` vs a bare FastAPI endpoint calling the same estimator, on
loopback only.

The demo's digits MLP (fast demo store, deployment ``digits``) is served twice, each by uvicorn
in its own process: by driftline (token auth, request log, drift agent beside the deployment,
metrics) and by a bare FastAPI app that parses the same JSON rows and calls the scikit-learn
estimator rebuilt from the store. Measured from this process with one keep-alive HTTP client:

- latency p50 / p99 of sequential single-row and 100-row ``predict`` calls, alternating
  between the two servers call by call (both run at once, so both see the same load on this
  shared machine);
- throughput of single-row calls from 4 client threads (alternating bursts);
- hot swap under load: 10 deploy / rollback swaps while 2 client threads send requests; counts
  failed requests and responses naming a model that was not deployed at that moment.

    nice python benchmarks/bench_serve.py            # full run (~1 min)
    nice python benchmarks/bench_serve.py --quick    # fewer requests
"""

from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

BARE = """
import json, sys
import numpy as np, uvicorn
from fastapi import FastAPI, Request
from driftline.store import Store
store = Store(sys.argv[1])
est = store.load_estimator("deployment:digits")
names = store.signature(store.get("deployment:digits").id).feature_names
app = FastAPI()

@app.post("/predict")
async def predict(request: Request):
    rows = json.loads(await request.body())["rows"]
    X = np.asarray([[r[n] for n in names] for r in rows], dtype=np.float64)
    p = est.predict_proba(X)
    return {"predictions": est.classes_[p.argmax(1)].tolist(), "probabilities": p.tolist()}

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""

DRIFTLINE = """
import sys, uvicorn
from driftline.serve import ServeSettings, create_app
app = create_app(ServeSettings(store=sys.argv[1], port=int(sys.argv[2])))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(code: str, store: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", code, str(store), str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/docs", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def _demo_store(root: Path) -> tuple[Path, str, np.ndarray, list[str]]:
    from driftline.datasets import rotated_digits
    from driftline.demo.run import run_demo
    from driftline.store import Store
    from driftline.store.tokens import Role, create_token

    store_path = root / "store"
    run_demo(
        seed=0,
        fast=True,
        store=store_path,
        console=Console(file=io.StringIO()),
        html_path=None,
        scenarios=("recurring",),
    )
    store = Store(store_path)
    token, _ = create_token(store.engine, Role.WRITE, "bench")
    names = store.signature(store.get("deployment:digits").id).feature_names
    store.close()
    X, _ = rotated_digits(0.0, n=1500, seed=5)
    return store_path, token, X, names


def _rows(X: np.ndarray, names: list[str]) -> list[dict[str, float]]:
    return [dict(zip(names, map(float, x), strict=True)) for x in X]


def _latency(
    targets: list[tuple[str, dict]], bodies: list[dict], warmup: int = 30
) -> list[np.ndarray]:
    """Sequential calls, alternating between the targets request by request, so both see the
    same machine load (this machine is shared); ms per call after ``warmup``."""
    out: list[list[float]] = [[] for _ in targets]
    clients = [httpx.Client(headers=h, timeout=10) for _, h in targets]
    try:
        for k, body in enumerate(bodies):
            order = range(len(targets)) if k % 2 == 0 else reversed(range(len(targets)))
            for j in order:
                t0 = time.perf_counter()
                r = clients[j].post(targets[j][0], json=body)
                dt = time.perf_counter() - t0
                r.raise_for_status()
                if k >= warmup:
                    out[j].append(dt * 1000)
    finally:
        for c in clients:
            c.close()
    return [np.asarray(x) for x in out]


def _throughput(
    url: str, headers: dict, bodies: list[dict], seconds: float, threads: int = 4
) -> tuple[float, int]:
    done, errors = [0], [0]
    stop = time.monotonic() + seconds

    def work(i: int) -> None:
        with httpx.Client(headers=headers, timeout=10) as c:
            k = i
            while time.monotonic() < stop:
                r = c.post(url, json=bodies[k % len(bodies)])
                k += threads
                done[0] += 1
                errors[0] += r.status_code != 200

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return done[0] / seconds, errors[0]


def _hot_swap(
    base: str, headers: dict, bodies: list[dict], swaps: int
) -> tuple[int, int, int, int]:
    """(requests, failed, answered by a model not deployed at that moment, swaps done)."""
    with httpx.Client(headers=headers) as c:
        current = c.get(base + "/v1/deployments").json()
        serving = next(d["model_ref"] for d in current if d["name"] == "digits")
        other = next(
            m["ref"]
            for m in c.get(base + "/v1/models").json()
            if m["ref"] != serving and m["kind"] == "model"
        )
    timeline = [(0.0, serving)]  # (time the switch finished, model deployed from then on)
    windows: list[tuple[float, float, str, str]] = []  # swap in flight: start, end, from, to
    results: list[tuple[float, float, int, str | None]] = []
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(headers=headers, timeout=10) as c:
            k = 0
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = c.post(base + "/v1/deployments/digits/predict", json=bodies[k % 50])
                    ref = r.json().get("model_ref") if r.status_code == 200 else None
                    results.append((t0, time.monotonic(), r.status_code, ref))
                except httpx.HTTPError:
                    results.append((t0, time.monotonic(), 0, None))
                k += 1

    ts = [threading.Thread(target=client) for _ in range(2)]
    for t in ts:
        t.start()
    time.sleep(0.3)
    with httpx.Client(headers=headers, timeout=30) as c:
        for i in range(swaps):
            t0 = time.monotonic()
            if i % 2 == 0:
                r = c.post(base + "/v1/deployments/digits/deploy", json={"model": other})
                src, dst = serving, other
            else:
                r = c.post(base + "/v1/deployments/digits/rollback", json={})
                src, dst = other, serving
            r.raise_for_status()
            t1 = time.monotonic()
            windows.append((t0, t1, src, dst))
            timeline.append((t1, dst))
            time.sleep(0.15)
    time.sleep(0.2)
    stop.set()
    for t in ts:
        t.join()
    wrong = 0
    for t0, t1, status, ref in results:
        if status != 200:
            continue
        allowed = {max(((at, m) for at, m in timeline if at <= t0))[1]}
        allowed |= {m for s, e, a, b in windows if s <= t1 and e >= t0 for m in (a, b)}
        wrong += ref not in allowed
    failed = sum(1 for r in results if r[2] != 200)
    return len(results), failed, wrong, len(windows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests")
    args = ap.parse_args()
    n1, n100, secs = (300, 100, 2.0) if args.quick else (2000, 400, 5.0)
    con = Console()
    with tempfile.TemporaryDirectory() as tmp:
        store, token, X, names = _demo_store(Path(tmp))
        single = [{"rows": _rows(X[i : i + 1], names)} for i in range(len(X))]
        hundred = [
            {"rows": _rows(X[(i * 100) % 1400 : (i * 100) % 1400 + 100], names)} for i in range(40)
        ]
        auth = {"Authorization": f"Bearer {token}"}
        (bare, bare_url), (dl, dl_base) = _start(BARE, store), _start(DRIFTLINE, store)
        try:
            targets = [
                (bare_url + "/predict", {}),
                (dl_base + "/v1/deployments/digits/predict", auth),
            ]
            l1 = _latency(targets, (single * 2)[: n1 + 30])
            l100 = _latency(targets, (hundred * 20)[: n100 + 30])
            tputs = [[0.0, 0], [0.0, 0]]
            for _ in range(3):  # alternate short bursts for the same reason
                for j, (url, headers) in enumerate(targets):
                    rate, errs = _throughput(url, headers, single, secs / 3)
                    tputs[j][0] += rate / 3
                    tputs[j][1] += errs
            figures = {
                "bare FastAPI + estimator": (l1[0], l100[0], *tputs[0]),
                "driftline serve": (l1[1], l100[1], *tputs[1]),
            }
            swap = _hot_swap(dl_base, auth, single, 10)
        finally:
            for proc in (bare, dl):
                proc.terminate()
                proc.wait(timeout=10)
    _print(con, figures, swap, args.quick)


def _print(con: Console, figures: dict, swap: tuple[int, int, int, int], quick: bool) -> None:
    t = Table(
        "",
        "bare FastAPI + estimator",
        "driftline serve",
        "driftline / bare",
        title=f"/predict on loopback, demo MLP (64 features){' --quick' if quick else ''}",
    )
    bare, dl = figures["bare FastAPI + estimator"], figures["driftline serve"]
    for name, idx, q in (
        ("1 row p50 (ms)", 0, 50),
        ("1 row p99 (ms)", 0, 99),
        ("100 rows p50 (ms)", 1, 50),
        ("100 rows p99 (ms)", 1, 99),
    ):
        a, b = np.percentile(bare[idx], q), np.percentile(dl[idx], q)
        t.add_row(name, f"{a:.2f}", f"{b:.2f}", f"{b / a:.2f}× ({(b / a - 1) * 100:+.0f}%)")
    t.add_row(
        "1 row throughput, 4 clients (req/s)",
        f"{bare[2]:.0f}",
        f"{dl[2]:.0f}",
        f"{dl[2] / bare[2]:.2f}×",
    )
    t.add_row("errors", str(bare[3]), str(dl[3]), "")
    con.print(t)
    n, failed, wrong, swaps = swap
    s = Table(
        "requests",
        "swaps",
        "failed",
        "answered by a model not deployed then",
        title="hot swap under load (deploy / rollback while 2 clients predict)",
    )
    s.add_row(str(n), str(swaps), str(failed), str(wrong))
    con.print(s)
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    with (out / "bench_serve.txt").open("w") as fh:
        Console(file=fh, width=140).print(t, s)


if __name__ == "__main__":
    main()
