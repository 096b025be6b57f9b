"""Progress lines: drawn on a terminal, nothing at all when disabled or off a terminal; the
core hooks call their callback."""

from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from driftline.drift import Signature
from driftline.present.progress import progress_bar


def _console(terminal: bool) -> Console:
    return Console(file=io.StringIO(), force_terminal=terminal, width=100)


def test_progress_bar_draws_on_a_terminal():
    con = _console(True)
    with progress_bar(con, enabled=True, description="start") as bar:
        assert bar.enabled
        bar.say("reading data.csv")
        bar.count(5, 10, "summarising rows")
        bar.advance()
    assert "summarising rows" in con.file.getvalue()


def test_progress_bar_prints_nothing_when_off_or_not_a_terminal():
    for con, enabled in ((_console(True), False), (_console(False), True)):
        with progress_bar(con, enabled=enabled) as bar:
            assert not bar.enabled
            bar.say("reading")
            bar.count(1, 2)
            bar.advance()
        assert con.file.getvalue() == ""


def test_signature_from_data_reports_rows_done():
    X = np.random.default_rng(0).normal(size=(1000, 2))
    calls: list[tuple[int, int]] = []
    sig = Signature.from_data(X, batch_rows=300, progress=lambda done, n: calls.append((done, n)))
    assert calls == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]
    assert sig.n_rows == 1000 and sig.id == Signature.from_data(X, batch_rows=300).id
