"""Background jobs (repairs asked for through the API) on one worker thread, never in a
request: ``submit`` returns a job id at once; ``get`` tells its status and result."""

from __future__ import annotations

import enum
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from driftline.errors import UnknownReferenceError


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass
class Job:
    id: int
    kind: str
    status: JobStatus
    created_at: float
    result: Any = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "created_at": self.created_at,
            "result": self.result,
            "error": self.error,
        }


class JobRunner:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="driftline-repair")
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def submit(self, kind: str, fn: Callable[[], Any]) -> Job:
        with self._lock:
            job = Job(next(self._ids), kind, JobStatus.QUEUED, time.time())
            self._jobs[job.id] = job

        def run() -> None:
            job.status = JobStatus.RUNNING
            try:
                job.result = fn()
                job.status = JobStatus.DONE
            except Exception as exc:  # reported through the API, not raised in the worker
                job.error = f"{type(exc).__name__}: {exc}"
                job.status = JobStatus.FAILED

        self._pool.submit(run)
        return job

    def get(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise UnknownReferenceError(f"no job #{job_id}")
        return job

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
