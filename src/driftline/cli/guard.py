"""Central CLI guards: numeric option ranges and one-line errors.

:func:`guard_numbers` walks the built command tree once and follows every parameter's value
processing with :func:`check_number`: NaN, ±inf and integers beyond 64 bits are refused, and
options listed in :data:`RANGES` (by option name, for every command that has one) are
range-checked. New
commands get the finite/64-bit checks without any change; add a row to :data:`RANGES` for a
tighter range. :func:`error_line` renders any exception as one line of text.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import typer

try:  # Typer >= 0.20 vendors its own copy of Click (typer._click); Click itself is optional
    import click
except ImportError:  # pragma: no cover - depends on what else is installed
    click = None  # type: ignore[assignment]

INT64 = 2**63 - 1


@dataclass(frozen=True)
class Range:
    """Closed or half-open interval; ``None`` is unbounded."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False

    def check(self, value: float) -> str | None:
        """None when ``value`` is inside, else what is wrong."""
        if self.lo is not None and (value < self.lo or (self.lo_open and value == self.lo)):
            return f"must be {'>' if self.lo_open else '>='} {self.lo:g}"
        if self.hi is not None and value > self.hi:
            return f"must be <= {self.hi:g}"
        return None


FRACTION = Range(0.0, 1.0)
POSITIVE = Range(1)
NON_NEGATIVE = Range(0)
RANGES: dict[str, Range] = {
    "--drift-share": FRACTION,
    "--target-accuracy": FRACTION,
    "--sparse": Range(0.0, 1.0, lo_open=True),
    "--window": POSITIVE,
    "--step": POSITIVE,
    "--batch-rows": POSITIVE,
    "--window-seconds": Range(0.0, lo_open=True),
    "--step-seconds": Range(0.0, lo_open=True),
    "--ask": NON_NEGATIVE,
    "--budget": NON_NEGATIVE,
    "--max-hops": NON_NEGATIVE,
    "--hops": NON_NEGATIVE,
    "--repair": POSITIVE,
    "--seed": Range(0, 2**32 - 1),
    "--grace": Range(0.0),
}
"""Ranges of numeric options by name (every command); others are only finite / 64-bit."""


def check_number(value: Any, allowed: Range | None) -> str | None:
    """What is wrong with a parsed option value (None if fine): NaN/±inf, an integer beyond
    64 bits, or outside ``allowed``. Lists and tuples are checked element by element."""
    if isinstance(value, list | tuple):
        return next((p for v in value if (p := check_number(v, allowed))), None)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and abs(value) > INT64:
        return f"{str(value)[:30]}… is out of range (at most 2^63 - 1)"
    problem = allowed.check(value) if allowed is not None else None
    return f"{value!r} {problem}" if problem else None


def _guard_param(param: Any) -> None:
    names = [o for o in (*param.opts, *getattr(param, "secondary_opts", ())) if o.startswith("--")]
    allowed = next((RANGES[n] for n in names if n in RANGES), None)
    original = param.process_value

    def process_value(ctx: Any, value: Any) -> Any:
        out = original(ctx, value)
        problem = check_number(out, allowed)
        if problem:
            raise typer.BadParameter(problem, ctx=ctx, param=param)
        return out

    param.process_value = process_value


def guard_numbers(command: Any) -> Any:
    """Check the numeric parameters of ``command`` and all its subcommands (in place): each
    parameter's value processing is followed by :func:`check_number`."""
    for param in command.params:
        _guard_param(param)
    for sub in getattr(command, "commands", {}).values():
        guard_numbers(sub)
    return command


def _exceptions(name: str) -> tuple[type[Exception], ...]:
    """Click's exception class ``name`` and Typer's vendored copy of it, where present."""
    mods = [click.exceptions] if click is not None else []
    with contextlib.suppress(ImportError):
        from typer._click import exceptions as vendored

        mods.append(vendored)
    return tuple(getattr(m, name) for m in mods if hasattr(m, name))


NO_ARGS: tuple[type[Exception], ...] = _exceptions("NoArgsIsHelpError")
USAGE: tuple[type[Exception], ...] = _exceptions("UsageError")
ABORT: tuple[type[Exception], ...] = (*_exceptions("Abort"), typer.Abort)
CLICK_ERROR: tuple[type[Exception], ...] = _exceptions("ClickException")


def error_line(exc: BaseException, limit: int = 600) -> str:
    """``exc`` as one line: whitespace (embedded newlines included) collapsed, bounded."""
    text = " ".join(str(exc).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text
