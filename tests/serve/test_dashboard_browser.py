"""The dashboard in real Chromium (Debian's /usr/bin/chromium driven by Playwright) on a demo
store: click a lineage node and see its details, open a drift report and see a distribution
plot, answer three label requests with the keyboard and see the queue shrink, screenshot."""

from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(os.environ.get("DRIFTLINE_ARTIFACTS", Path(__file__).parents[2] / "build"))


def _need_browser() -> None:
    missing = None
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = "the playwright package"
    if not Path(CHROMIUM).exists():
        missing = CHROMIUM
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{missing} is missing; .ci/run installs it")
        pytest.skip(f"{missing} is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def live_demo(tmp_path_factory):
    """A fast demo store served by uvicorn on a loopback port, with a write token."""
    _need_browser()
    import uvicorn

    from driftline.demo.run import run_demo
    from driftline.serve import ServeSettings, create_app
    from driftline.store import Store
    from driftline.store.tokens import Role, create_token

    root = tmp_path_factory.mktemp("demo")
    run_demo(
        seed=0, fast=True, store=root / "store", console=Console(file=io.StringIO()), html_path=None
    )
    store = Store(root / "store")
    token, _ = create_token(store.engine, Role.WRITE, "browser-test")
    store.close()
    port = _free_port()
    app = create_app(ServeSettings(store=str(root / "store"), port=port, public_read=True))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}", token, app
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(live_demo):
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="driftline-chromium-")
    with sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.errors = errors  # type: ignore[attr-defined]
        yield pg
        ctx.close()
    shutil.rmtree(profile, ignore_errors=True)


def _open(page, base: str, route: str, token: str | None = None) -> None:
    query = f"?token={token}" if token else ""
    page.goto(f"{base}/{query}#/{route}")
    page.wait_for_function(f"document.body.dataset.ready === '#/{route}'", timeout=30_000)


def _shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"dashboard-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def test_lineage_node_click_shows_details(live_demo, page):
    base, _, _ = live_demo
    _open(page, base, "lineage")
    n = page.evaluate("window.driftlineCy.nodes().length")
    assert n >= 8  # the demo lineage: root, three fine-tunes, pruned branch, repairs
    # click the node that serves deployment "digits" where the graph layout put it
    x, y, ref = page.evaluate(
        "(() => { const n = window.driftlineCy.nodes().filter("
        "m => m.data('label').includes('▶ digits\\n') || m.data('label').endsWith('▶ digits'))[0];"
        " const p = n.renderedPosition(); const r = document.getElementById('cy')"
        ".getBoundingClientRect(); return [r.left + p.x, r.top + p.y, n.data('label')]; })()"
    )
    page.mouse.click(x, y)
    page.wait_for_selector("#details .model-title", timeout=10_000)
    title = page.inner_text("#details .model-title")
    assert title == ref.split("\n")[0]
    details = page.inner_text("#details")
    assert "serves digits" in details and "Parameters" in details and "Parents" in details
    assert "Training signature" in details and "64 features" in details
    _shot(page, "lineage")
    assert not page.errors


def test_drift_report_shows_distribution_plots(live_demo, page):
    base, _, _ = live_demo
    _open(page, base, "reports")
    page.click("table a[data-window='1']")  # a report whose window summary is kept
    page.wait_for_selector(".dist svg", timeout=20_000)
    first = page.locator(".dist").first
    # Vega renders the reference and window bins as SVG rect marks: 20 bins each
    assert first.locator("svg .mark-rect path").count() >= 40
    assert "without its window" not in page.inner_text("#view")
    legend = first.inner_text()
    assert "reference" in legend and "window" in legend
    assert page.locator(".dist").count() == 6
    _shot(page, "report")
    assert not page.errors


def test_deployment_timeline_and_repair_pages(live_demo, page):
    base, _, app = live_demo
    _open(page, base, "deployment/digits")
    assert page.locator("#tl-drift svg").count() >= 1
    events = page.inner_text("#view")
    # the repair deploys whichever candidate wins on held-out labels: interpolation or routing
    assert "repair of digits@4" in events and "deploy" in events
    from driftline.repair.pipeline import list_repairs

    rid = list_repairs(app.state.ctx.store)[0].repair_id
    _open(page, base, f"repair/{rid}")
    for box in ("#alpha", "#cands", "#ba"):
        assert page.locator(f"{box} svg").count() == 1, box
    assert "Ancestor search" in page.inner_text("#view")
    assert not page.errors


def test_answer_three_labels_with_the_keyboard(live_demo, page):
    base, token, app = live_demo
    from driftline.active import LabelQueue

    store = app.state.ctx.store
    before = LabelQueue(store).counts()["pending"]
    assert before >= 3  # the demo leaves a round pending for a human
    _open(page, base, "labels", token)
    assert int(page.inner_text("#pending-count")) == before
    answered = []
    for k in range(3):
        rid = page.inner_text("#label-id").lstrip("#")
        answered.append(int(rid))
        page.keyboard.press(str(k + 1))
        page.wait_for_function(
            f"document.getElementById('pending-count').textContent === '{before - k - 1}'",
            timeout=10_000,
        )
    counts = LabelQueue(store).counts()
    assert counts["pending"] == before - 3
    got = [LabelQueue(store).get(i) for i in answered]
    assert [r.label for r in got] == [1, 2, 3] and all(r.annotator == "dashboard" for r in got)
    _shot(page, "labels")
    assert not page.errors


def test_served_plain_and_routed_models_match_the_store(live_demo):
    """The server's prebuilt predictors answer exactly as ``load_predictor`` rebuilds them."""
    import httpx
    import numpy as np

    from driftline.datasets import rotated_digits
    from driftline.repair.routed_model import load_predictor

    base, token, app = live_demo
    store = app.state.ctx.store
    X, _ = rotated_digits(30.0, n=20, seed=3)
    for name in ("digits", "digits-mixed"):
        r = httpx.post(
            f"{base}/v1/deployments/{name}/predict",
            json={"rows": X.tolist()},
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        ref = load_predictor(store, f"deployment:{name}").predict_proba(X)
        np.testing.assert_allclose(r.json()["probabilities"], ref, atol=1e-12)
    assert store.get("deployment:digits-mixed").kind == "routed"


def test_static_report_file_renders_offline(live_demo, page, tmp_path):
    """``driftline report ID -o FILE``: one file, no network, the same report view."""
    from driftline.cli import main

    _, _, app = live_demo
    store = app.state.ctx.store
    rid = store.drift_reports()[0]["id"]
    out = tmp_path / "report.html"
    assert main(["--store", str(store.root), "report", str(rid), "-o", str(out)]) == 0
    html = out.read_text()
    assert "<script src=" not in html and "<link" not in html
    page.route(
        "**/*",
        lambda route: (
            route.abort() if not route.request.url.startswith("file:") else route.continue_()
        ),
    )  # offline: any network request would fail
    page.goto(out.as_uri())
    page.wait_for_function(f"document.body.dataset.ready === '#/report/{rid}'", timeout=30_000)
    page.wait_for_selector(".dist svg", timeout=20_000)
    assert page.locator(".dist svg .mark-rect path").count() >= 20
    assert "static report" in page.inner_text("#status")
    page.unroute("**/*")
    assert not page.errors
