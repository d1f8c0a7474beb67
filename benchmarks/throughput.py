"""Tracer overhead: requests per second of the `api` service with and without the coverage spy, on the
bundled stack (real auth, real Redis), interleaved.

    python benchmarks/throughput.py [--requests 1500] [--trials 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from _common import REPO, median, record

from stacktest import _compose, _coverage, stacks
from stacktest.settings import load_settings

sys.path.insert(0, str(REPO))
from tests.stack import helpers

THREADS = 4


def load(api_url: str, auth_url: str, total: int) -> float:
    with httpx.Client(base_url=auth_url, follow_redirects=False) as auth:
        client = helpers.register(auth, "TEST bench throughput")
        token = helpers.access_token(auth, client)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_url) as api:
        sid = helpers.rpc(api, token, "initialize", {"protocolVersion": "2025-06-18"}).headers[
            "mcp-session-id"
        ]
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}},
    }

    def worker(n: int) -> None:
        with httpx.Client(base_url=api_url, headers=headers | {"Mcp-Session-Id": sid}) as c:
            for _ in range(n):
                assert c.post("/rpc", json=body).status_code == 200

    for _ in range(50):  # warm up (token cache, connections)
        worker(1)
    threads = [threading.Thread(target=worker, args=(total // THREADS,)) for _ in range(THREADS)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return (total // THREADS * THREADS) / (time.monotonic() - start)


def trial(settings, covered: bool, total: int, tmp: Path) -> float:  # type: ignore[no-untyped-def]
    extra = []
    project = _compose.new_project_name(settings.project_prefix, settings.root)
    if covered:
        spy = _coverage.prepare_spy(settings, tmp / project)
        base = _compose.detect(settings.compose_command).bind("", settings.compose_paths, {}, 60).config()
        extra = [_coverage.overlay(settings, base, spy, tmp / project / "coverage.yml")]
    started = stacks.start(settings, extra_files=extra, coverage=covered, project=project)
    started.wait()
    try:
        urls = started.urls()
        return load(urls["api"], urls["auth"], total)
    finally:
        stacks.teardown(started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    bare, covered = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.trials):
            bare.append(trial(settings, False, args.requests, Path(tmp)))
            covered.append(trial(settings, True, args.requests, Path(tmp)))
            print(f"trial {i + 1}: uncovered {bare[-1]:.0f} req/s, covered {covered[-1]:.0f} req/s")
    ratio = median(covered) / median(bare)
    record(
        "tracer-overhead",
        ratio,
        ">= 0.6x",
        ratio >= 0.6,
        {
            "uncovered_rps": round(median(bare)),
            "covered_rps": round(median(covered)),
            "requests": args.requests,
            "threads": THREADS,
            "trials": args.trials,
        },
        f"python benchmarks/throughput.py --requests {args.requests} --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
