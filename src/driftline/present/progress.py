"""Progress display for long steps (signature build, agent over a file, repair, active learning,
the demo), shared by the CLI and the demo.

The core functions know nothing of Rich: they take a plain callback (``progress(message)`` for
named steps, ``progress(done, total)`` for counted work). :func:`progress_bar` turns both into one
transient Rich line (spinner, description, bar, count, elapsed time) and draws nothing at all when
disabled (``--quiet``, or output that is not a terminal).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Steps", "progress_bar"]


class Steps:
    """One progress line: :meth:`say` names the current step, :meth:`count` advances it.

    Without a Rich ``Progress`` (disabled) every method does nothing, so callers never branch.
    """

    def __init__(self, bar: Progress | None, description: str) -> None:
        self._bar = bar
        self._task: TaskID | None = (
            bar.add_task(description, total=None) if bar is not None else None
        )

    @property
    def enabled(self) -> bool:
        return self._bar is not None

    def say(self, message: str) -> None:
        """Show ``message`` as the current step (an unknown amount of work: a spinner)."""
        if self._bar is not None and self._task is not None:
            # a fresh task: Rich cannot turn a counted task back into an open-ended one
            self._bar.remove_task(self._task)
            self._task = self._bar.add_task(message, total=None)

    def count(self, done: float, total: float | None = None, message: str | None = None) -> None:
        """``done`` of ``total`` units of the current step (a bar when ``total`` is known)."""
        if self._bar is not None and self._task is not None:
            if message is None:
                self._bar.update(self._task, completed=done, total=total)
            else:
                self._bar.update(self._task, completed=done, total=total, description=message)

    def advance(self, units: float = 1.0) -> None:
        """Add ``units`` to the current step's count."""
        if self._bar is not None and self._task is not None:
            self._bar.advance(self._task, units)


@contextmanager
def progress_bar(
    console: Console, *, enabled: bool, description: str = "working"
) -> Iterator[Steps]:
    """A transient progress line on ``console`` while the block runs; nothing when not
    ``enabled`` or when ``console`` is not a terminal (the line is removed when the block ends)."""
    if not enabled or not console.is_terminal:
        yield Steps(None, description)
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        yield Steps(bar, description)
