"""``driftline report``: the dashboard's views for a report, repair, deployment or model as
one static HTML file; ``driftline token``: create, list, revoke."""

from __future__ import annotations

import json
import re

import pytest
from conftest import make_data

import driftline
from driftline.cli import main
from driftline.drift import compare
from driftline.present.report import preload_for
from driftline.store.tokens import verify_token


@pytest.fixture(scope="module")
def with_report(store_path):
    store = driftline.open(store_path)
    X, _ = make_data(300, shift=1.0, seed=31)
    rep = compare(store.signature("clf@2"), {n: X[:, i] for i, n in enumerate("abcd")})
    rid = store.save_drift_report("clf@2", rep, "clf")
    store.close()
    return rid


def _preload(html: str) -> dict:
    m = re.search(r"window\.DRIFTLINE_PRELOAD=(\{.*?\});</script>", html, re.S)
    assert m
    return json.loads(m.group(1))


def test_report_file_holds_the_views_and_the_scripts(store_path, with_report, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["--store", str(store_path), "report", str(with_report), "-o", str(out)]) == 0
    html = out.read_text()
    pre = _preload(html)
    view = pre[f"/v1/drift-reports/{with_report}"]
    assert view["id"] == with_report and view["drift"] and len(view["features"]) == 4
    assert {"/v1/lineage/graph", f"/v1/models/{view['model_id']}"} <= set(pre)
    assert "vegaEmbed" in html and "cytoscape" in html and "<script src=" not in html
    assert f"#/report/{with_report}" in html


@pytest.mark.parametrize("target", ["deployment:clf", "clf@1", "all"])
def test_report_targets(store_path, with_report, target):
    store = driftline.open(store_path)
    pre, start, _ = preload_for(store, target)
    assert "/v1/lineage/graph" in pre and start.startswith("#/")
    if target == "deployment:clf":
        assert start == "#/deployment/clf" and "/v1/deployments/clf/timeline" in pre
    if target == "all":
        assert "/v1/deployments" in pre and f"/v1/drift-reports/{with_report}" in pre
    store.close()


def test_report_and_token_errors_are_one_line(store_path, capsys):
    assert main(["--store", str(store_path), "report", "99999", "-o", "/dev/null"]) == 2
    assert "no drift report #99999" in capsys.readouterr().err
    assert main(["--store", str(store_path), "report", "repair:9999"]) == 2
    assert main(["--store", str(store_path), "token", "create", "--role", "root"]) == 2
    assert "unknown role" in capsys.readouterr().err


def test_token_create_list_revoke(store_path, capsys):
    assert (
        main(["--store", str(store_path), "token", "create", "--role", "write", "--name", "cli"])
        == 0
    )
    secret = capsys.readouterr().out.strip().splitlines()[-1]
    store = driftline.open(store_path)
    info = verify_token(store.engine, secret)
    assert info is not None and info.name == "cli" and info.role.name == "WRITE"
    assert main(["--store", str(store_path), "token", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(t["id"] == info.id for t in listed) and secret not in json.dumps(listed)
    assert main(["--store", str(store_path), "token", "revoke", str(info.id)]) == 0
    assert verify_token(store.engine, secret) is None
    store.close()


def test_serve_command_binds_loopback_and_answers(store_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "driftline",
            "--store",
            str(store_path),
            "serve",
            "--port",
            str(port),
            "--public-read",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, r = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        assert r is not None and r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").status_code == 200
        docs = httpx.get(f"http://127.0.0.1:{port}/openapi.json").json()
        assert "/v1/deployments/{name}/predict" in docs["paths"]
        conns = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        if conns:  # the listening socket is on loopback only
            assert f"127.0.0.1:{port}" in conns and f"0.0.0.0:{port}" not in conns
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_without_a_store_is_one_line(tmp_path, capsys):
    assert main(["--store", str(tmp_path / "none"), "serve"]) == 2
    assert "no driftline store" in capsys.readouterr().err
