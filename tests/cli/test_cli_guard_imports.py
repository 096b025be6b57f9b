"""The CLI must start without Click installed: Typer >= 0.20 vendors its own copy."""

from __future__ import annotations

import importlib
import sys

import pytest


def test_guard_works_without_click(monkeypatch: pytest.MonkeyPatch) -> None:
    import driftline.cli.guard as guard

    monkeypatch.setitem(sys.modules, "click", None)  # "import click" now raises ImportError
    try:
        reloaded = importlib.reload(guard)
        assert reloaded.click is None
        assert reloaded.USAGE, "Typer's vendored UsageError must still be caught"
        assert all(cls.__module__.startswith("typer") for cls in reloaded.USAGE)
    finally:
        monkeypatch.undo()
        importlib.reload(guard)
