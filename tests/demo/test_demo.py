"""`driftline demo` end to end (fast mode): the four scenarios do what they claim."""

from __future__ import annotations

import io
import re

from rich.console import Console

import driftline
from driftline.active import LabelQueue
from driftline.cli import main
from driftline.demo.run import run_demo
from driftline.repair import list_repairs


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    con = Console(file=io.StringIO(), width=160)
    summary = run_demo(
        seed=1,
        fast=True,
        store=tmp_path / ".driftline",
        console=con,
        html_path=tmp_path / "demo.html",
    )
    text = con.file.getvalue()
    assert "healthy-ancestor search" in text and "drift agent on deployment:digits" in text
    store = driftline.open(tmp_path / ".driftline")
    recurring, mixed, new, tab = summary.scenarios

    # 1. recurring drift: quiet, then drift, repaired from the upright root and re-deployed
    assert [w.drift for w in recurring.windows][:2] == [False, True]
    rep = recurring.repair
    assert rep.status == "deployed" and rep.healthy_ancestor
    assert store.get(rep.ancestor_id).ref == "digits@1"
    accs = list(recurring.test_accuracy.values())
    assert accs[-1] > accs[0] + 0.2
    assert not any(w.drift for w in recurring.windows[2:])

    # 2. mixed regimes: routing beats interpolation on validation and is deployed
    rep = mixed.repair
    assert rep.chosen == "routing" and rep.status == "deployed"
    assert rep.candidates["routing"]["accuracy"] > rep.candidates["interpolation"]["accuracy"]
    assert store.get("deployment:digits-mixed").kind == "routed"
    mix = mixed.windows[-1].regime_mix
    assert mix["digits@1"] > 0.3 and mix["digits@4"] > 0.3  # both regimes explain a share
    accs = list(mixed.test_accuracy.values())
    assert accs[-1] > accs[0] + 0.1

    # 3. new regime: no healthy ancestor, active learning with the simulated oracle recovers
    assert new.repair.needs_labels and not new.repair.healthy_ancestor
    curve = [c["test"] for c in new.curve]
    assert curve[-1] > curve[0] + 0.3
    assert new.pending == 10 and len(LabelQueue(store).pending(new.repair.repair_id)) == 10

    # 4. a churn table: drift flagged on named columns, churn@1 is healthy, records labelled
    assert [w.drift for w in tab.windows][:2] == [False, True]
    assert tab.repair.status == "deployed" and tab.repair.healthy_ancestor
    assert store.get(tab.repair.ancestor_id).ref == "churn@1"
    stored = store.drift_reports("churn@3")[-1]["report"]
    assert "monthly_charges" in [k for k, f in stored["features"].items() if f["fired"]]
    assert not stored["schema_issues"] and stored["roles"]["customer_id"] == "id"
    accs = list(tab.test_accuracy.values())
    assert accs[-1] > accs[0] + 0.05
    assert tab.records and tab.records[0]["record"]["customer_id"].startswith("C")
    assert {"plan", "signup_date", "autopay"} <= set(tab.records[0]["record"])
    assert tab.pending == 5

    html = (tmp_path / "demo.html").read_text()
    assert "a churn table" in html and "customer_id" in html and "annotator saw" in html
    assert html.count('class=\\"vl\\"') >= 8 and "regime mix" in html  # Vega-Lite charts
    assert "accuracy versus labels" in html and "DRIFTLINE_PRELOAD" in html
    # the store is left for the CLI
    assert main(["lineage", "deployment:digits"]) == 0
    out = capsys.readouterr().out
    assert "repair" in out and "route" in out and "digits-pruned@1" in out
    assert main(["label", "list"]) == 0
    _statuses_agree(store, text, capsys)


def _statuses_agree(store, text, capsys):
    """The demo's words, the stored records, the deployments and 'driftline approve' agree."""
    listed = {r.repair_id: r for r in list_repairs(store)}
    printed = dict(re.findall(r"\(repair #(\d+), ([a-z-]+)\)", text))
    assert printed and all(listed[int(k)].status == v for k, v in printed.items()), printed
    queue = LabelQueue(store)
    for rid, r in listed.items():
        if r.status == "deployed":
            served = store.resolve(f"deployment:{r.deployment}")
            assert served in {r.repaired_id, r.active.get("deployed_id")}, rid
        if r.status == "waiting-for-labels":
            assert queue.pending(rid)
        if r.status != "awaiting-approval":
            assert main(["approve", str(rid)]) == 2
            assert r.status in capsys.readouterr().err
