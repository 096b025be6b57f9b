"""The refinement table of `driftline repair` when active learning ran."""

from __future__ import annotations

from rich.console import Console

from driftline.active import RoundRecord
from driftline.present.terminal import refinement_table


def _text(table) -> str:
    con = Console(width=120, record=True)
    con.print(table)
    return con.export_text()


def test_a_round_without_validation_rows_shows_a_dash_not_nan():
    """Without --validation a round has no validation accuracy; the table printed 'nan'."""
    rounds = [
        RoundRecord(1, 5, "qbc_vote", "a" * 64, "wine@4", 1.0, None, False, None, {}, {}, 0.1),
        RoundRecord(
            2, 10, "qbc_vote", "b" * 64, "wine@5", None, None, True, 0.1, {}, {"accuracy": 0.9}, 0.1
        ),
    ]
    text = _text(refinement_table(rounds))
    assert "nan" not in text
    assert "–" in text and "0.900" in text
