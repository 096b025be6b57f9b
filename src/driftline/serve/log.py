"""Served requests are written to the store in batches, off the request path.

``add`` appends to an in-memory list (no I/O); a background thread flushes every
``flush_seconds``. ``flush`` is also called before anything reads a request back (feedback).
"""

from __future__ import annotations

import threading

import sqlalchemy as sa

from driftline.store import serving


class RequestLog:
    def __init__(self, engine: sa.Engine, flush_seconds: float = 0.5) -> None:
        self.engine = engine
        serving.ensure_tables(engine)
        self._pending: list[serving.ServedRequest] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._stop = threading.Event()
        self._seconds = flush_seconds
        self._thread = threading.Thread(target=self._run, name="driftline-log", daemon=True)
        self._thread.start()

    def add(self, req: serving.ServedRequest) -> None:
        with self._lock:
            self._pending.append(req)

    def flush(self) -> int:
        """Write what is pending; returns how many requests were written."""
        with self._flush_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            serving.insert_requests(self.engine, batch)
            return len(batch)

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.flush()
