"""What every stack of the corpus must do: each replica of each service answers, and reaches ``reached``;
`stacktest diagnose` finds the running stack healthy.

It also writes what the services said of themselves (when each one started listening) to
``observed.json``, for the harness to compare with when stacktest declared them ready."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from stacktest.plugin import StackHandle

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def test_every_replica_reaches_the_code(stack: StackHandle) -> None:
    covered = tomllib.loads(Path("expect.toml").read_text())["data_files"]
    observed: dict[str, list[float]] = {}
    for service in sorted(covered):
        if service not in stack.urls:  # a one-shot service publishes nothing
            continue
        for replica in stack.replica_urls(service):
            reached = httpx.get(f"{replica}/reached", timeout=10, trust_env=False)
            assert reached.json() == {"result": "reached"}
            started = httpx.get(f"{replica}/started", timeout=10, trust_env=False).json()
            observed.setdefault(service, []).append(started["listening_at"])
    assert observed, "no covered service publishes an HTTP port"
    Path("observed.json").write_text(json.dumps(observed))


def test_diagnose_finds_the_stack_healthy(stack: StackHandle) -> None:
    """`stacktest diagnose` on the stack that serves these tests (the coverage job's, spy and all) exits 0:
    the harness starts each shape once, and this is the healthy stack diagnose must find no fault in."""
    found = subprocess.run(
        [sys.executable, "-m", "stacktest", "diagnose", "--json", "--project", stack.project],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert found.returncode == 0, found.stdout[-3000:] + found.stderr[-2000:]
    assert json.loads(found.stdout), "diagnose printed no report"
