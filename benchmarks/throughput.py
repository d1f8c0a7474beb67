"""Tracer overhead: requests per second of the `api` service with and without the coverage spy, on the
bundled stack (real auth, real Redis), interleaved; on Debian bookworm's CPython 3.11 (the C tracer) and
on trixie's CPython 3.13, where the spy measures with sys.monitoring (and, for comparison, forced to the
C tracer with STACKTEST_COVERAGE_CORE=ctrace). The 3.13 images are built offline like the 3.11 ones.

    python benchmarks/throughput.py [--requests 1500] [--trials 2] [--pythons 3.11 3.13]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import yaml
from _common import REPO, median, record

from stacktest.adapters import compose as _compose
from stacktest.adapters import images as _images
from stacktest.adapters.engine import Engine
from stacktest.coverage import spy as _spy
from stacktest.settings import Settings, load_settings
from stacktest.stack import lifecycle as stacks

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


BASES = {"3.11": ("stacktest-base:bookworm", "bookworm"), "3.13": ("stacktest-base-bench:trixie", "trixie")}


def trial(settings: Settings, covered: str, total: int, tmp: Path) -> float:
    """``covered``: "" (no spy), "default" (the spy's own choice of core) or a core to force."""
    extra = []
    project = _compose.new_project_name(settings.project_prefix, settings.root)
    if covered:
        spy = _spy.prepare_spy(settings, tmp / project)
        env = _images.image_env(settings)
        base = _compose.detect(settings.compose_command).bind("", settings.compose_paths, env, 60).config()
        extra = [_spy.overlay(settings, base, tmp / project / "coverage.yml")]
        if covered != "default":
            forced = tmp / project / "core.yml"
            forced.write_text(yaml.safe_dump({"services": {"api": {"environment": {
                "STACKTEST_COVERAGE_CORE": covered}}}}))  # fmt: skip
            extra.append(forced)

    def deliver(stack: stacks.Stack) -> None:  # what `coverage run` does before the services start
        replicas = {s: v for s, v in stack.engine.replicas(stack.project).items() if s == "api"}
        _spy.deliver_spy(stack.engine, replicas, spy)

    started = stacks.start(
        settings,
        extra_files=extra,
        coverage=bool(covered),
        project=project,
        before_start=deliver if covered else None,
    )
    started.wait()
    try:
        if covered:  # the spy is there, and the api process started it: its data file is open
            api = started.engine.replicas(started.project)["api"][0].container_id
            found = started.engine.exec(api, ["ls", "/coverage-spy/sitecustomize.py"])
            assert found.exit_code == 0, "the spy did not reach the api container"
        urls = started.urls()
        return load(urls["api"], urls["auth"], total)
    finally:
        stacks.teardown(started)


def for_python(version: str) -> Settings:
    """The repository's settings with the base image of that Python (built when missing), and images
    tagged apart so that the 3.11 ones are not replaced."""
    image, suite = BASES[version]
    settings = load_settings(config=REPO / "pyproject.toml").with_overrides(base_image=image)
    engine = Engine.connect()
    try:
        if not engine.image_exists(image):
            _images.build_debian_image(engine, image, suite, _images.BASE_PACKAGES)
    finally:
        engine.close()
    os.environ["STACKTEST_IMAGE_TAG"] = "local" if version == "3.11" else "bench-" + suite
    return settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--pythons", nargs="+", default=["3.11", "3.13"], choices=sorted(BASES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for version in args.pythons:
            settings = for_python(version)
            kinds = ["", "default"] + (["ctrace"] if version != "3.11" else [])
            rps: dict[str, list[float]] = {k: [] for k in kinds}
            for i in range(args.trials):
                for kind in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:  # each kind first in turn
                    rps[kind].append(trial(settings, kind, args.requests, Path(tmp)))
                shown = ", ".join(f"{k or 'uncovered'} {v[-1]:.0f} req/s" for k, v in rps.items())
                print(f"Python {version}, trial {i + 1}: {shown}", flush=True)
            ratio = median(rps["default"]) / median(rps[""])
            goal = 0.85 if version == "3.11" else 0.95
            figures = {
                "uncovered_rps": round(median(rps[""])),
                "covered_rps": round(median(rps["default"])),
                "core": "CTracer" if version == "3.11" else "SysMonitor",
                "requests": args.requests,
                "threads": THREADS,
                "trials": args.trials,
            }
            if "ctrace" in rps:
                figures["covered_ctrace_rps"] = round(median(rps["ctrace"]))
                figures["ctrace_ratio"] = round(median(rps["ctrace"]) / median(rps[""]), 3)
            record(
                "tracer-overhead" + ("" if version == "3.11" else f"-python{version}"),
                ratio,
                f">= {goal}x",
                ratio >= goal,
                figures,
                f"python benchmarks/throughput.py --requests {args.requests} --trials {args.trials} "
                f"--pythons {version}",
            )


if __name__ == "__main__":
    main()
