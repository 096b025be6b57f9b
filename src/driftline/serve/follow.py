"""``driftline agent --follow``: tail a CSV / JSON-lines file (or standard input) that another
process keeps appending to (e.g. the request log of a model served elsewhere) and yield the new
rows as column batches.

A batch is yielded when ``batch_rows`` complete lines are waiting, or as soon as the source has
no more data for now (so a slow stream still reaches the agent promptly). A partial last line
(a writer mid-line) waits for its end. Files stop after ``idle_exit`` seconds without new data
(never by default); standard input stops when it is closed.
"""

from __future__ import annotations

import io
import os
import select
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from driftline.drift import iter_batches
from driftline.drift.tabular import Columns
from driftline.errors import InvalidInputError


class _Lines:
    """Complete lines from a file descriptor, as they arrive (non-blocking with ``poll``)."""

    def __init__(self, fd: int, is_pipe: bool) -> None:
        self.fd, self.is_pipe = fd, is_pipe
        self.partial = b""
        self.closed = False

    def read(self, poll: float) -> list[bytes]:
        if self.is_pipe:
            ready, _, _ = select.select([self.fd], [], [], poll)
            if not ready:
                return []
        data = os.read(self.fd, 1 << 16)
        if not data:
            if self.is_pipe:
                self.closed = True
                last, self.partial = self.partial, b""
                return [last + b"\n"] if last.strip() else []
            return []
        *lines, self.partial = (self.partial + data).split(b"\n")
        return [line + b"\n" for line in lines if line.strip()]


def follow_batches(
    source: str | os.PathLike[str],
    batch_rows: int = 10_000,
    *,
    poll: float = 0.25,
    idle_exit: float | None = None,
) -> Iterator[Columns]:
    """Yield column dicts of the rows appended to ``source`` (``"-"``: standard input)."""
    if batch_rows < 1:
        raise InvalidInputError(f"batch_rows must be >= 1, got {batch_rows}")
    if str(source) == "-":
        lines, fh = _Lines(sys.stdin.fileno(), True), None
    else:
        path = Path(source)
        if not path.is_file():
            raise InvalidInputError(f"--follow needs a file (or - for stdin), got {source}")
        fh = open(path, "rb")  # noqa: SIM115 - closed in the finally below
        lines = _Lines(fh.fileno(), False)
    header: bytes | None = None
    chunk: list[bytes] = []
    last = time.monotonic()
    try:
        while True:
            got = lines.read(poll)
            for line in got:
                if header is None:
                    header = b"" if line.lstrip().startswith(b"{") else line
                    if header:
                        continue
                chunk.append(line)
                if len(chunk) >= batch_rows:
                    yield _parse(header or b"", chunk)
                    chunk = []
            if got and not lines.closed:
                last = time.monotonic()
                continue
            if chunk:
                yield _parse(header or b"", chunk)
                chunk = []
            if lines.closed or (idle_exit is not None and time.monotonic() - last >= idle_exit):
                return
            if not lines.is_pipe:
                time.sleep(poll)
    finally:
        if fh is not None:
            fh.close()


def _parse(header: bytes, chunk: list[bytes]) -> Columns:
    return next(iter_batches(io.BytesIO(header + b"".join(chunk)), len(chunk)))
