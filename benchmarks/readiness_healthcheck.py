"""Readiness of a healthcheck-only service: no probe configured, compose's default 30 s interval.

The corpus stack tests/corpus/healthcheck-only, whose healthcheck command is made to append the moment
it succeeds to /tmp/healthy-at inside the container (whoever runs it: stacktest's exec, or the engine's
own healthcheck). Two delays per tool, each from the moment it says the stack is ready:

- after the healthcheck command first succeeded (the first line of that file): how fast the tool
  notices a success (the goal: <= 50 ms for stacktest);
- after the service started listening (it says when, at /started): how long a user waits for nothing.
  For `docker compose up --wait` this is bound to the interval, since nobody runs the check earlier.

    python benchmarks/readiness_healthcheck.py [--trials 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
import yaml
from _common import REPO, median, record

from stacktest.adapters.engine import Engine
from stacktest.settings import load_settings
from stacktest.stack import lifecycle as stacks
from stacktest.stack.rules import Status

SHAPE = REPO / "tests" / "corpus" / "healthcheck-only"
CHECK = (
    "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)\""
    " && date +%s.%N >> /tmp/healthy-at"
)
MARK = "/tmp/healthy-at"  # noqa: S108 - inside the benchmark's own container


def assemble(dest: Path) -> Path:
    shutil.copytree(SHAPE, dest)
    (dest / "app").mkdir()
    shutil.copy2(REPO / "tests" / "corpus" / "_shared" / "server.py", dest / "app" / "server.py")
    override = {"services": {"web": {"healthcheck": {"test": ["CMD-SHELL", CHECK]}}}}
    (dest / "bench.yml").write_text(yaml.safe_dump(override))
    return dest


def since(engine: Engine, project: str, ready: float) -> tuple[float, float]:
    """(delay after the first success of the healthcheck command, delay after the service listened)."""
    state = engine.states(project)["web"]
    result = engine.exec(state.container_id, ["head", "-n", "1", MARK])
    url = f"http://127.0.0.1:{state.ports[8000]}/started"
    listening = float(httpx.get(url, trust_env=False).json()["listening_at"])
    return ready - float(result.output.strip()), ready - listening


def stacktest_trial(settings, engine: Engine, extra: list[Path]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    started = stacks.start(settings, extra_files=extra)
    declared: list[float] = []
    try:
        started.wait(lambda p: declared.append(time.time()) if p.status is Status.READY else None)
        return since(engine, started.project, declared[-1])
    finally:
        stacks.teardown(started)


def compose_trial(settings, engine: Engine, extra: list[Path]) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    compose, record_, _ = stacks.prepare(settings, extra_files=extra)
    record_.save(settings)
    try:
        subprocess.run(
            compose.up_argv(wait=True, build=True),
            env=compose._env(),
            check=True,
            capture_output=True,
            timeout=600,
        )
        return since(engine, compose.project, time.time())
    finally:
        stacks.teardown(stacks.Stack(settings, record_, compose, engine))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    engine = Engine.connect()
    with tempfile.TemporaryDirectory(prefix="stacktest-bench-") as tmp:
        root = assemble(Path(tmp) / "healthcheck-only")
        settings = load_settings(config=root / "pyproject.toml")
        extra = [root / "bench.yml"]
        ours: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        for i in range(args.trials):  # interleaved, so drift of the machine hits both alike
            ours.append(stacktest_trial(settings, engine, extra))
            theirs.append(compose_trial(settings, engine, extra))
            print(
                f"trial {i + 1}: after the first success / after listening: "
                f"stacktest {ours[-1][0] * 1000:.1f} / {ours[-1][1] * 1000:.0f} ms, "
                f"compose --wait {theirs[-1][0] * 1000:.0f} / {theirs[-1][1] * 1000:.0f} ms"
            )
    check_ours, check_theirs = median([o[0] for o in ours]), median([t[0] for t in theirs])
    listen_ours, listen_theirs = median([o[1] for o in ours]), median([t[1] for t in theirs])
    print(
        f"median delay after the healthcheck command first succeeded: stacktest {check_ours * 1000:.0f} ms, "
        f"docker compose up --wait {check_theirs * 1000:.0f} ms (its first success is the engine's own run, "
        "at the interval)"
    )
    print(
        f"median delay after the service started listening: stacktest {listen_ours * 1000:.0f} ms, "
        f"docker compose up --wait {listen_theirs * 1000:.0f} ms"
    )
    record(
        "readiness-healthcheck-only",
        listen_theirs / listen_ours,
        "stacktest's delay after the check first succeeds <= 50 ms",
        check_ours <= 0.05,
        {
            "stacktest_after_check_ms": round(check_ours * 1000, 1),
            "stacktest_after_listening_ms": round(listen_ours * 1000, 1),
            "compose_wait_after_check_ms": round(check_theirs * 1000, 1),
            "compose_wait_after_listening_ms": round(listen_theirs * 1000, 1),
            "trials": args.trials,
        },
        f"python benchmarks/readiness_healthcheck.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
