"""The worker, as web sees it: submit a job, wait for its result."""

from __future__ import annotations

import os
import time

import httpx

WORKER_URL = os.environ.get("WORKER_URL", "http://localhost:8080")


class JobFailed(RuntimeError):
    pass


def run_job(kind: str, payload: dict, timeout: float = 10.0) -> dict:
    with httpx.Client(base_url=WORKER_URL, timeout=5) as worker:
        job = worker.post("/jobs", json={"kind": kind, "payload": payload}).raise_for_status().json()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = worker.get(f"/jobs/{job['id']}").raise_for_status().json()
            if job["state"] in ("done", "failed"):
                break
            time.sleep(0.05)
    if job["state"] != "done":
        raise JobFailed(f"job {job['id']} {job['state']}: {job['result']}")
    return job["result"]
