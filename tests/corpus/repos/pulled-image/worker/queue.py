"""Jobs in memory, done by a few threads in the order they came."""

from __future__ import annotations

import itertools
import logging
import queue
import threading

from worker import jobs

log = logging.getLogger("worker")


class JobQueue:
    def __init__(self, threads: int) -> None:
        self._todo: queue.Queue[str] = queue.Queue()
        self._jobs: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        for n in range(threads):
            threading.Thread(target=self._work, name=f"job-thread-{n}", daemon=True).start()

    def submit(self, kind: str, payload: dict) -> dict:
        if kind not in jobs.KINDS:
            raise jobs.UnknownKind(kind)
        with self._lock:
            job = {"id": str(next(self._ids)), "kind": kind, "state": "queued", "result": None}
            self._jobs[job["id"]] = job | {"payload": payload}
        self._todo.put(job["id"])
        return job

    def get(self, job_id: str) -> dict | None:
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else {k: v for k, v in job.items() if k != "payload"}

    def _work(self) -> None:
        while True:
            job_id = self._todo.get()
            with self._lock:
                job = self._jobs[job_id]
                job["state"] = "running"
            try:
                result = jobs.run(job["kind"], job["payload"])
                state = "done"
            except Exception as exc:  # a failed job is reported, the thread goes on
                log.exception("job %s failed", job_id)
                result, state = {"error": str(exc)}, "failed"
            with self._lock:
                job.update(state=state, result=result)
