"""`driftline demo` end to end (fast mode): drift is detected, the repair beats the drifted model."""

from __future__ import annotations

import io

from rich.console import Console

import driftline
from driftline.cli import main
from driftline.demo.run import run_demo


def test_demo_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    con = Console(file=io.StringIO(), width=160)
    summary = run_demo(seed=1, fast=True, store=tmp_path / ".driftline", console=con, html_path=tmp_path / "demo.html")
    text = con.file.getvalue()
    assert "healthy-ancestor search" in text and "drift agent on deployment:digits" in text
    # the stream matched the deployed model first, then drifted
    assert [w.drift for w in summary.windows][:2] == [False, True]
    rep = summary.repair
    assert rep is not None and rep.status == "deployed" and rep.healthy_ancestor
    store = driftline.open(tmp_path / ".driftline")
    assert store.get(rep.ancestor_id).ref == "digits@1"  # the upright root is the healthy one
    accs = list(summary.test_accuracy.values())
    assert accs[-1] > accs[0] + 0.2  # deployed after vs drifted, on held-out current digits
    # after the repair the agent is quiet again
    assert not any(w.drift for w in summary.windows[2:])
    html = (tmp_path / "demo.html").read_text()
    assert "<svg" in html and "digits@1" in html and "α search" in html
    # the store is left for the CLI
    assert main(["lineage", "deployment:digits"]) == 0
    out = capsys.readouterr().out
    assert "repair" in out and "digits-pruned@1" in out
