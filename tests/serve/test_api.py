"""The REST API and model server through httpx (FastAPI's TestClient): every endpoint, auth,
validation, hot swap, the agent beside the deployment, feedback."""

from __future__ import annotations

import io
import threading
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FEATURES, auth, make_data

import driftline
from driftline.active import LabelQueue
from driftline.store import serving


def _rows(X: np.ndarray) -> list[dict[str, float]]:
    return [dict(zip(FEATURES, map(float, x), strict=True)) for x in X]


def _reference_proba(store_path, ref: str, X: np.ndarray) -> np.ndarray:
    store = driftline.open(store_path)
    try:
        return store.load_estimator(ref).predict_proba(X)
    finally:
        store.close()


def test_predict_json_rows_matches_the_estimator(client, tokens, store_path):
    X, _ = make_data(20, seed=5)
    r = client.post(
        "/v1/deployments/clf/predict", json={"rows": _rows(X)}, headers=auth(tokens["read"])
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_ref"] == "clf@2" and r.headers["x-request-id"] == body["request_id"]
    ref = _reference_proba(store_path, "clf@2", X)
    np.testing.assert_allclose(body["probabilities"], ref, atol=1e-9)
    assert body["predictions"] == np.asarray(body["classes"])[ref.argmax(1)].tolist()
    # arrays in training column order give the same answer; extra keys are ignored
    r2 = client.post(
        "/v1/deployments/clf/predict", json={"rows": X.tolist()}, headers=auth(tokens["read"])
    )
    np.testing.assert_allclose(r2.json()["probabilities"], ref, atol=1e-9)
    extra = [{**row, "id": i} for i, row in enumerate(_rows(X))]
    r3 = client.post(
        "/v1/deployments/clf/predict", json={"rows": extra}, headers=auth(tokens["read"])
    )
    assert r3.json()["predictions"] == body["predictions"]
    assert len({body["request_id"], r2.json()["request_id"], r3.json()["request_id"]}) == 3


def test_predict_arrow_and_parquet_bodies(client, tokens, store_path):
    X, _ = make_data(15, seed=6)
    table = pa.table({n: X[:, i] for i, n in enumerate(FEATURES)})
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    pbuf = io.BytesIO()
    pq.write_table(table, pbuf)
    ref = _reference_proba(store_path, "clf@2", X)
    for ctype, data in (
        ("application/vnd.apache.arrow.stream", sink.getvalue()),
        ("application/vnd.apache.parquet", pbuf.getvalue()),
    ):
        r = client.post(
            "/v1/deployments/clf/predict",
            content=data,
            headers={**auth(tokens["read"]), "content-type": ctype},
        )
        assert r.status_code == 200, r.text
        np.testing.assert_allclose(r.json()["probabilities"], ref, atol=1e-9)
    r = client.post(
        "/v1/deployments/clf/predict",
        content=b"not arrow",
        headers={**auth(tokens["read"]), "content-type": "application/vnd.apache.parquet"},
    )
    assert r.status_code == 422 and "parquet" in r.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"rows": [{"a": 1, "b": 2, "c": 3}]}, 422, "d"),
        ({"rows": [{"a": "x", "b": 2, "c": 3, "d": 4}]}, 422, "numbers"),
        ({"rows": [{"a": None, "b": 2, "c": 3, "d": 4}]}, 422, "finite"),
        ({"rows": []}, 422, "non-empty"),
        ({"rows": [[1, 2, 3]]}, 422, "4 values"),
        ({"rows": [[1, 2, 3, 4]], "oops": 1}, 422, "oops"),
        ({"rows": [[0, 0, 0, 0]] * 1001}, 422, "limit"),
        ([1, 2], 422, "rows"),
    ],
)
def test_predict_validation_answers_say_what_was_wrong(client, tokens, body, status, words):
    r = client.post("/v1/deployments/clf/predict", json=body, headers=auth(tokens["read"]))
    assert r.status_code == status and words in r.json()["detail"], r.text


def test_predict_errors_unknown_deployment_media_type_size(client, tokens):
    h = auth(tokens["read"])
    r = client.post("/v1/deployments/nope/predict", json={"rows": [[0, 0, 0, 0]]}, headers=h)
    assert r.status_code == 404 and "nope" in r.json()["detail"]
    r = client.post(
        "/v1/deployments/clf/predict", content=b"a,b", headers={**h, "content-type": "text/csv"}
    )
    assert r.status_code == 415
    r = client.post(
        "/v1/deployments/clf/predict",
        content=b"{" * 300_000,
        headers={**h, "content-type": "application/json"},
    )
    assert r.status_code == 413 and "limit" in r.json()["detail"]
    r = client.post("/v1/deployments/clf/predict", content=b"{not json", headers=h)
    assert r.status_code == 422 and "JSON" in r.json()["detail"]


def test_auth_no_token_read_token_on_write_unknown_and_expired(client, tokens):
    body = {"model": "clf@2", "reason": "t"}
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models").headers["www-authenticate"] == "Bearer"
    r = client.post("/v1/deployments/clf/deploy", json=body, headers=auth(tokens["read"]))
    assert r.status_code == 403 and "write" in r.json()["detail"]
    assert client.get("/v1/models", headers=auth("dl_unknown")).status_code == 401
    time.sleep(0.02)
    r = client.get("/v1/models", headers=auth(tokens["expired"]))
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    assert client.get("/v1/models", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.get("/v1/tokens", headers=auth(tokens["write"])).status_code == 403
    assert client.get("/v1/models", headers=auth(tokens["read"])).status_code == 200


def test_public_read_lets_reads_through_but_not_writes(store_path, tokens):
    from fastapi.testclient import TestClient

    from driftline.serve import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(store=str(store_path), public_read=True))) as c:
        assert c.get("/v1/models").status_code == 200
        assert c.post("/v1/labels/1/skip").status_code == 401
        # no CORS by default: no allow-origin header even when a browser origin asks
        r = c.get("/v1/models", headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in r.headers


def test_feedback_gives_realised_accuracy_and_labels(client, tokens):
    X, y = make_data(30, seed=7)
    r = client.post(
        "/v1/deployments/clf/predict", json={"rows": _rows(X)}, headers=auth(tokens["read"])
    ).json()
    labels = [int(v) for v in y]
    labels[3] = None
    f = client.post(
        "/v1/deployments/clf/feedback",
        json={"request_id": r["request_id"], "labels": labels},
        headers=auth(tokens["write"]),
    )
    assert f.status_code == 200, f.text
    expected = np.mean(
        [p == t for p, t in zip(r["predictions"], labels, strict=True) if t is not None]
    )
    assert f.json()["labelled"] == 29 and f.json()["accuracy"] == pytest.approx(expected)
    store = client.ctx.store
    assert serving.get_request(store.engine, r["request_id"])["labels"] == labels
    fed = [q for q in LabelQueue(store).requests(status="labelled") if q.strategy == "feedback"]
    assert len(fed) >= 29
    perf = client.get("/v1/deployments/clf/performance", headers=auth(tokens["read"])).json()
    row = next(p for p in perf if p["model_id"] == r["model_id"])
    assert row["labelled"] >= 29 and 0 <= row["accuracy"] <= 1
    assert 0.5 <= row["estimated_accuracy"] <= 1
    bad = [
        ({"request_id": r["request_id"], "labels": [1]}, 422, "one label per row"),
        ({"request_id": "nope", "labels": [1]}, 404, "nope"),
        ({"request_id": r["request_id"]}, 422, "labels"),
        # a label the model does not predict (it was stored and counted as wrong before)
        ({"request_id": r["request_id"], "labels": ["cat"] * 30}, 422, "not classes of model"),
    ]
    for body, status, words in bad:
        resp = client.post("/v1/deployments/clf/feedback", json=body, headers=auth(tokens["write"]))
        assert resp.status_code == status and words in resp.text, resp.text
    resp = client.post(
        "/v1/deployments/other/feedback",
        json={"request_id": r["request_id"], "labels": labels},
        headers=auth(tokens["write"]),
    )
    assert resp.status_code == 422 and "not 'other'" in resp.json()["detail"]


def test_agent_beside_the_deployment_saves_reports_with_windows(client, tokens, store_path):
    client.ctx.hub.states.pop("clf", None)
    X, _ = make_data(400, shift=2.5, seed=8)  # far from the training data: must drift
    for part in np.array_split(X, 4):
        r = client.post(
            "/v1/deployments/clf/predict", json={"rows": _rows(part)}, headers=auth(tokens["read"])
        )
        assert r.status_code == 200
    assert client.ctx.hub.wait_idle()
    st = client.get("/v1/deployments/clf/agent", headers=auth(tokens["read"])).json()
    # a repair that clears the policy on the feedback labels deploys (#12): the agent then
    # watches the new model from the next window on, keeping the earlier reports
    assert st["rows_seen"] >= 200 and len(st["reports"]) >= 2
    # the drift ran the repair policy in the background worker; its result is on record
    assert st["repairs"] and st["repairs"][0]["repair_id"] is not None
    assert st["repairs"][0]["status"] in (
        "deployed",
        "awaiting-approval",
        "needs-labels",
        "not-deployed",
    )
    # whatever the repair did, the server serves what the store says is deployed
    assert client.ctx.server.current("clf").model_id == client.ctx.store.get("deployment:clf").id
    if client.ctx.store.get("deployment:clf").ref != "clf@2":  # later tests serve clf@2
        client.ctx.store.deploy("clf@2", "clf", reason="test: back to clf@2")
    rid = st["reports"][0]  # the first window (a deployed repair may fit the later ones)
    rep = client.get(f"/v1/drift-reports/{rid}", headers=auth(tokens["read"])).json()
    assert rep["drift"] and rep["deployment"] == "clf" and rep["has_window"]
    a = next(f for f in rep["features"] if f["name"] == "a")
    for source in ("reference", "window"):
        shares = [b["share"] for b in a["bins"] if b["source"] == source]
        assert sum(shares) == pytest.approx(1.0, abs=1e-6)
    # the window's bin shares against numpy's histogram of the rows the agent saw
    win = [b for b in a["bins"] if b["source"] == "window"]
    edges = [win[0]["x0"]] + [b["x1"] for b in win]
    rows = X[:200, 0]
    hist = np.histogram(rows, bins=edges)[0] / len(rows)
    assert np.max(np.abs(hist - [b["share"] for b in win])) < 0.03
    assert a["chart"]["encoding"]["y"]["scale"]["zero"] is True
    listed = client.get(
        "/v1/drift-reports", params={"deployment": "clf"}, headers=auth(tokens["read"])
    ).json()
    assert rid in [x["id"] for x in listed]
    tl = client.get("/v1/deployments/clf/timeline", headers=auth(tokens["read"])).json()
    assert rid in [w["id"] for w in tl["windows"]] and tl["events"]
    assert "vconcat" in tl["charts"]["drift"]


def test_observe_feeds_the_agent_without_serving(client, tokens):
    client.ctx.server.current("clf")
    n_before = len(serving.requests_of(client.ctx.store.engine, "clf"))
    seen = client.ctx.hub.states["clf"].rows_seen if "clf" in client.ctx.hub.states else 0
    X, _ = make_data(50, seed=9)
    r = client.post(
        "/v1/deployments/clf/observe", json={"rows": _rows(X)}, headers=auth(tokens["write"])
    )
    assert r.status_code == 200 and r.json()["rows"] == 50
    assert client.ctx.hub.wait_idle()
    assert client.ctx.hub.states["clf"].rows_seen == seen + 50
    client.ctx.log.flush()
    assert len(serving.requests_of(client.ctx.store.engine, "clf")) == n_before
    assert (
        client.post(
            "/v1/deployments/clf/observe", json={"rows": _rows(X)}, headers=auth(tokens["read"])
        ).status_code
        == 403
    )


def test_deploy_rollback_history_swap_what_is_served(client, tokens):
    w, rd = auth(tokens["write"]), auth(tokens["read"])
    row = {"rows": [[0.1, 0.2, 0.3, 0.4]]}
    r = client.post(
        "/v1/deployments/clf/deploy", json={"model": "clf@1", "reason": "test"}, headers=w
    )
    assert r.status_code == 200 and r.json()["model_ref"] == "clf@1"
    assert (
        client.post("/v1/deployments/clf/predict", json=row, headers=rd).json()["model_ref"]
        == "clf@1"
    )
    r = client.post("/v1/deployments/clf/rollback", json={"reason": "back"}, headers=w)
    assert r.status_code == 200 and r.json()["model_ref"] == "clf@2"
    assert (
        client.post("/v1/deployments/clf/predict", json=row, headers=rd).json()["model_ref"]
        == "clf@2"
    )
    hist = client.get("/v1/deployments/clf/history", headers=rd).json()
    assert [e["action"] for e in hist][-2:] == ["deploy", "rollback"]
    deps = client.get("/v1/deployments", headers=rd).json()
    assert deps[0]["name"] == "clf" and deps[0]["model_ref"] == "clf@2"
    assert (
        client.post("/v1/deployments/clf/deploy", json={"model": "ghost@9"}, headers=w).status_code
        == 404
    )
    assert client.get("/v1/deployments/ghost/history", headers=rd).status_code == 404
    assert (
        client.post("/v1/deployments/clf/deploy", json={"reason": "x"}, headers=w).status_code
        == 422
    )


def test_hot_swap_under_load_never_fails_and_names_a_deployed_model(client, tokens, store_path):
    ids = {}
    store = client.ctx.store
    for v in (1, 2):
        ids[store.get(f"clf@{v}").id] = f"clf@{v}"
    X, _ = make_data(8, seed=10)
    proba = {ref: _reference_proba(store_path, ref, X) for ref in ids.values()}
    results, stop = [], threading.Event()

    def hammer() -> None:
        while not stop.is_set() and len(results) < 2000:
            r = client.post(
                "/v1/deployments/clf/predict",
                json={"rows": X.tolist()},
                headers=auth(tokens["read"]),
            )
            results.append((r.status_code, r.json()))

    t = threading.Thread(target=hammer)
    t.start()
    for _ in range(5):
        client.post(
            "/v1/deployments/clf/deploy", json={"model": "clf@1"}, headers=auth(tokens["write"])
        )
        time.sleep(0.01)
        client.post("/v1/deployments/clf/rollback", headers=auth(tokens["write"]))
        time.sleep(0.01)
    stop.set()
    t.join()
    assert results and all(s == 200 for s, _ in results)
    for _, body in results:  # whole answers from one model: probabilities match its own
        assert body["model_ref"] in proba
        np.testing.assert_allclose(body["probabilities"], proba[body["model_ref"]], atol=1e-9)
    assert client.ctx.server.current("clf").model_ref == "clf@2"
    # the repeated rows drift: a background repair that clears the policy deploys (#12)
    assert client.ctx.hub.wait_idle()
    if client.ctx.store.get("deployment:clf").ref != "clf@2":  # later tests serve clf@2
        client.ctx.store.deploy("clf@2", "clf", reason="test: back to clf@2")


def test_models_lineage_signatures(client, tokens, store_path):
    h = auth(tokens["read"])
    ms = client.get("/v1/models", headers=h).json()
    assert [m["ref"] for m in ms][:2] == ["clf@1", "clf@2"]  # (+ repairs by other tests)
    m = client.get("/v1/models/clf@2", headers=h).json()
    assert m["parents"][0]["source_ref"] == "clf@1" and m["parents"][0]["kind"] == "finetune"
    assert m["deployments"] == ["clf"] and m["tensors"]
    assert client.get("/v1/models/deployment:clf", headers=h).json()["ref"] == "clf@2"
    assert client.get("/v1/models/zzz@3", headers=h).status_code == 404
    anc = client.get("/v1/lineage/ancestors", params={"ref": "clf@2"}, headers=h).json()
    assert [(a["name"], a["version"], a["hops"]) for a in anc] == [("clf", 1, 1)]
    desc = client.get("/v1/lineage/descendants", params={"ref": "clf@1"}, headers=h).json()
    assert (2, 1) in [(d["version"], d["hops"]) for d in desc]
    assert (
        client.get(
            "/v1/lineage/ancestors", params={"ref": "clf@2", "max_hops": 0}, headers=h
        ).status_code
        == 422
    )
    sub = client.get("/v1/lineage/subgraph", params={"ref": "clf@1", "hops": 1}, headers=h).json()
    assert {"clf@1", "clf@2"} <= {n["ref"] for n in sub["nodes"]}
    assert ("clf@1", "clf@2", "finetune") in {
        (e["source_ref"], e["target_ref"], e["kind"]) for e in sub["edges"]
    }
    g = client.get("/v1/lineage/graph", headers=h).json()
    deployed = [n["ref"] for n in g["nodes"] if n["deployments"]]
    assert deployed == [client.ctx.server.current("clf").model_ref]
    sig = client.get(f"/v1/signatures/{m['signature_id']}", headers=h).json()
    X1, _ = make_data(600, shift=0.3, seed=2)
    assert sig["n_rows"] == 600
    assert sig["features"]["a"]["mean"] == pytest.approx(X1[:, 0].mean())
    assert client.get("/v1/signatures/" + "0" * 64, headers=h).status_code == 404


def test_repairs_run_in_the_background_and_approve(client, tokens):
    w, rd = auth(tokens["write"]), auth(tokens["read"])
    Xw, _ = make_data(300, shift=-0.3, seed=11)
    Xv, yv = make_data(120, shift=-0.3, seed=12)
    body = {
        "deployment": "clf",
        "window": Xw.tolist(),
        "validation": {"rows": Xv.tolist(), "labels": yv.tolist()},
        "approve": False,
    }
    r = client.post("/v1/repairs", json=body, headers=w)
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(600):
        job = client.get(f"/v1/jobs/{job['id']}", headers=rd).json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    res = job["result"]
    assert res["status"] in ("awaiting-approval", "not-deployed", "no-drift", "needs-labels")
    listed = client.get("/v1/repairs", headers=rd).json()
    assert res["id"] in [x["id"] for x in listed]
    view = client.get(f"/v1/repairs/{res['id']}", headers=rd).json()
    assert set(view["charts"]) == {"alpha", "candidates", "before_after"}
    approve = client.post(f"/v1/repairs/{res['id']}/approve", headers=w)
    if res["status"] == "awaiting-approval":
        assert approve.status_code == 200 and approve.json()["status"] == "deployed"
        assert client.ctx.server.current("clf").model_id == res["repaired_id"]
        client.post("/v1/deployments/clf/deploy", json={"model": "clf@2"}, headers=w)
    else:
        assert approve.status_code == 422 and "approval" in approve.json()["detail"]
    assert client.get("/v1/repairs/999", headers=rd).status_code == 404
    assert client.get("/v1/jobs/999", headers=rd).status_code == 404
    bad = client.post("/v1/repairs", json={"deployment": "clf", "window": [[1, 2]]}, headers=w)
    assert bad.status_code == 422


def test_label_queue_list_answer_skip_export(client, tokens):
    w, rd = auth(tokens["write"]), auth(tokens["read"])
    q = LabelQueue(client.ctx.store)
    X, _ = make_data(3, seed=13)
    ids = q.request(
        X,
        [0.9, 0.8, 0.7],
        strategy="margin",
        round=1,
        repair_id=None,
        predictions=[{"label": 1, "classes": [0, 1]}] * 3,
    )
    pending = client.get("/v1/labels", params={"status": "pending"}, headers=rd).json()
    assert set(ids) <= {p["id"] for p in pending}
    before = client.get("/v1/labels/counts", headers=rd).json()["pending"]
    one = client.get(f"/v1/labels/{ids[0]}", headers=rd).json()
    assert one["features"] == pytest.approx(X[0].tolist())
    csv_text = client.get("/v1/labels/export", params={"format": "csv"}, headers=rd).text
    assert csv_text.count("\n") == before + 1
    jl = client.get("/v1/labels/export", params={"format": "jsonl"}, headers=rd).text
    assert str(ids[0]) in jl
    ls = client.get("/v1/labels/export", params={"format": "label-studio"}, headers=rd).json()
    assert len(ls) == before
    r = client.post(f"/v1/labels/{ids[0]}", json={"label": 1}, headers=w)
    assert r.status_code == 200 and r.json()["status"] == "labelled" and r.json()["label"] == 1
    assert client.post(f"/v1/labels/{ids[1]}/skip", headers=w).json()["status"] == "skipped"
    after = client.get("/v1/labels/counts", headers=rd).json()
    assert after["pending"] == before - 2
    assert client.post(f"/v1/labels/{ids[2]}", json={"label": ""}, headers=w).status_code == 422
    assert client.post("/v1/labels/99999", json={"label": 1}, headers=w).status_code == 404
    assert client.get("/v1/labels", params={"status": "weird"}, headers=rd).status_code == 422
    assert client.get("/v1/labels/export", params={"format": "xml"}, headers=rd).status_code == 422
    assert client.post(f"/v1/labels/{ids[2]}", json={"label": 1}, headers=rd).status_code == 403


def test_token_endpoints(client, tokens):
    a = auth(tokens["admin"])
    r = client.post("/v1/tokens", json={"role": "read", "name": "ci"}, headers=a)
    assert r.status_code == 201
    new = r.json()
    assert new["token"].startswith("dl_") and new["role"] == "read"
    listed = client.get("/v1/tokens", headers=a).json()
    assert new["id"] in [t["id"] for t in listed] and all("token" not in t for t in listed)
    assert client.get("/v1/models", headers=auth(new["token"])).status_code == 200
    assert client.delete(f"/v1/tokens/{new['id']}", headers=a).json()["revoked"] is True
    assert client.get("/v1/models", headers=auth(new["token"])).status_code == 401
    assert client.delete("/v1/tokens/9999", headers=a).status_code == 404
    assert client.post("/v1/tokens", json={"role": "god"}, headers=a).status_code == 422
    # only the hash is stored
    store = client.ctx.store
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        hashes = [h for (h,) in conn.execute(sa.text("SELECT hash FROM api_tokens"))]
    import hashlib

    assert hashlib.sha256(new["token"].encode()).hexdigest() in hashes
    assert new["token"] not in hashes


def test_metrics_health_dashboard(client, tokens):
    rd = auth(tokens["read"])
    client.post("/v1/deployments/clf/predict", json={"rows": [[0, 0, 0, 0]]}, headers=rd)
    text = client.get("/metrics", headers=rd).text
    store = client.ctx.store
    mid = store.get("deployment:clf").id
    assert (
        f'driftline_served_model{{deployment="clf",model_id="{mid}",model_ref="clf@2"}} 1.0' in text
    )
    assert 'driftline_request_seconds_count{route="/v1/deployments/{name}/predict"}' in text
    pending = LabelQueue(store).counts()["pending"]
    assert f'driftline_label_queue{{status="pending"}} {float(pending)}' in text
    assert "driftline_estimated_accuracy" in text and "driftline_drift_psi" in text
    assert client.get("/metrics").status_code == 401
    h = client.get("/v1/health").json()
    assert h["status"] == "ok" and h["deployments"] == 1
    page = client.get("/")
    assert page.status_code == 200 and "/static/vendor/vega-lite.min.js" in page.text
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    js = client.get("/static/vendor/cytoscape.min.js")
    assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs").status_code == 200


def test_deploys_made_outside_the_server_are_picked_up(client, tokens, store_path):
    rd = auth(tokens["read"])
    row = {"rows": [[0.1, 0.2, 0.3, 0.4]]}
    before = client.post("/v1/deployments/clf/predict", json=row, headers=rd).json()["model_ref"]
    other = "clf@1" if before != "clf@1" else "clf@2"
    store = driftline.open(store_path)  # another process would do the same (driftline deploy)
    store.deploy(other, "clf", reason="from the CLI")
    deadline = time.monotonic() + 10
    ref = before
    while ref != other and time.monotonic() < deadline:
        time.sleep(0.1)
        ref = client.post("/v1/deployments/clf/predict", json=row, headers=rd).json()["model_ref"]
    assert ref == other
    store.deploy(before, "clf", reason="back")
    store.close()
