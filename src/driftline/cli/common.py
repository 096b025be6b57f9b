"""Shared CLI plumbing: consoles, the store option, key=value parsing, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rich.console import Console

from driftline.errors import InvalidInputError
from driftline.present.terminal import when

__all__ = ["STATE", "console", "err_console", "open_store", "print_json", "when"]

if TYPE_CHECKING:  # the store (SQLAlchemy, NumPy) loads when a command opens it, not for --help
    from driftline.store import Store

# Rich falls back to 80 columns when output is not a terminal; wide tables need more.
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 200)

STATE: dict[str, Any] = {"store": None, "quiet": False}


def open_store(create: bool = False) -> Store:
    """The store named by ``--store`` / ``$DRIFTLINE_STORE`` / ``./.driftline``."""
    from driftline.store import Store

    return Store(STATE["store"], create=create, blob_dir=STATE.get("blobs"))


def talkative() -> bool:
    """Whether progress bars show: not ``--quiet``, and stdout is a terminal."""
    return not STATE.get("quiet") and sys.stdout.isatty()


def say_step(enabled: bool = True) -> Callable[[str], None] | None:
    """A progress callback printing each step as a dim line on stderr (None when quiet)."""
    if not enabled or STATE.get("quiet"):
        return None
    return lambda message: err_console.print(f"[dim]· {message}[/dim]")


def parse_kv(items: list[str] | None, what: str) -> dict[str, Any]:
    """Parse ``k=v`` pairs; values are JSON when they parse (numbers, true, lists), else text."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{what} {item!r} must look like key=value")
        try:
            out[key] = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON (or beyond Python's int/depth limits)
            out[key] = raw
    return out


def print_json(value: Any, *, lines: bool = False) -> None:
    """Print machine-readable JSON on stdout (no Rich markup); ``lines``: one compact line."""
    print(json.dumps(value, indent=None if lines else 2, default=str), flush=lines)


def short_metrics(metrics: dict[str, Any], limit: int = 3) -> str:
    parts = []
    for k, v in list(metrics.items())[:limit]:
        parts.append(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}")
    return " ".join(parts)
