"""The demo runs on an empty store only: an existing store is reported with how to start over,
never appended to; ``--fresh`` resets only a store an earlier demo made."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

import driftline
from driftline.demo.run import DEMO_MARKER, reset_demo_store, run_demo
from driftline.errors import InvalidInputError


def _store_with_a_model(root):
    store = driftline.open(root)
    store.register({"w": np.ones((2, 2), dtype=np.float32)}, name="mine")
    return store


def test_demo_refuses_a_store_that_holds_models(tmp_path):
    store = _store_with_a_model(tmp_path / "s")
    with pytest.raises(
        InvalidInputError, match=r"already holds 1 model\(s\) \(mine\).*--store DIR"
    ):
        run_demo(store=store, fast=True, html_path=None, console=Console(file=io.StringIO()))
    assert [m.ref for m in store.list_models()] == ["mine@1"]
    assert not (tmp_path / "s" / DEMO_MARKER).exists()


def test_demo_cli_says_what_it_found_and_how_to_reset(cli, tmp_path):
    _store_with_a_model(tmp_path / ".driftline")
    code, out, err = cli("demo", "--fast", "--html", "")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "--store DIR" in err
    code, out, err = cli("demo", "--fast", "--html", "", "--fresh")
    assert code == 2 and "did not make" in err  # a store the demo did not make is never reset
    assert [m.ref for m in driftline.open(tmp_path / ".driftline").list_models()] == ["mine@1"]


def test_reset_demo_store_removes_only_a_demo_store(tmp_path):
    root = tmp_path / "s"
    _store_with_a_model(root).close()
    (root / DEMO_MARKER).write_text("driftline demo\n")
    (root / "notes.txt").write_text("mine")
    assert reset_demo_store(root)
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    assert not reset_demo_store(root)  # nothing left to reset
    assert driftline.open(root).list_models() == []
