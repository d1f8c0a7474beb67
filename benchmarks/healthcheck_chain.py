"""A ``depends_on: {condition: service_healthy}`` chain whose healthcheck has a 30 s interval.

``db`` starts listening one second after it starts; ``web`` may only start once ``db`` is healthy.
Docker runs a healthcheck first one interval after the container starts (engines before 25 have no
``start_interval``), so ``docker compose up --wait`` starts ``web`` about 30 s late. A stacktest run
gives a waited-on healthcheck a 0.5 s interval (retries scaled, so "unhealthy" keeps its meaning): the
goal is ``web`` started at most 1 s after ``db`` could answer. Per tool, per trial: the time from the
command's start until the stack is ready (tests could start), and how long after ``db`` listened
``web`` started.

    python benchmarks/healthcheck_chain.py [--trials 3]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import yaml
from _common import median, record

from stacktest.adapters.engine import Engine
from stacktest.settings import load_settings
from stacktest.stack import lifecycle as stacks

LISTEN = (
    "import time, http.server as h; time.sleep(1); s = h.HTTPServer(('', 8000), h.SimpleHTTPRequestHandler); "
    "open('/tmp/listening-at', 'w').write(repr(time.time())); s.serve_forever()"
)
CHECK = "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/', timeout=5)"
STACK = {
    "services": {
        "db": {
            "image": "stacktest-base:bookworm",
            "command": ["python3", "-c", LISTEN],
            "healthcheck": {"test": ["CMD", "python3", "-I", "-c", CHECK], "interval": "30s", "retries": 3},
        },
        "web": {
            "image": "stacktest-base:bookworm",
            "command": ["python3", "-m", "http.server", "8000"],
            "ports": ["127.0.0.1::8000"],
            "depends_on": {"db": {"condition": "service_healthy"}},
        },
    }
}


def late(engine: Engine, project: str) -> tuple[float, float]:
    """Seconds from db listening to the end of its first passing healthcheck, and to web starting."""
    states = engine.states(project)
    listening = float(engine.exec(states["db"].container_id, ["cat", "/tmp/listening-at"]).output)  # noqa: S108
    started = states["web"].started
    assert started is not None
    health = engine.client.api.inspect_container(states["db"].container_id)["State"]["Health"]["Log"]
    passed = min(_epoch(h["End"]) for h in health if h["ExitCode"] == 0)
    return passed - listening, started - listening


def _epoch(stamp: str) -> float:
    from stacktest.adapters.engine_model import _epoch as parse

    seconds = parse(stamp)
    assert seconds is not None, stamp
    return seconds


def stacktest_trial(root: Path, engine: Engine) -> tuple[float, float, float]:
    settings = load_settings(config=root / "pyproject.toml")
    begin = time.monotonic()
    started = stacks.start(settings)
    try:
        started.wait()
        return time.monotonic() - begin, *late(engine, started.project)
    finally:
        stacks.teardown(started)


def compose_trial(root: Path, engine: Engine, i: int) -> tuple[float, float, float]:
    project = f"bench-chain-{i}"
    base = ["docker", "compose", "-p", project, "-f", str(root / "docker-compose.yml")]
    begin = time.monotonic()
    subprocess.run([*base, "up", "-d", "--wait"], check=True, capture_output=True, timeout=600)
    try:
        return time.monotonic() - begin, *late(engine, project)
    finally:
        subprocess.run([*base, "down", "-v", "-t", "0"], check=True, capture_output=True, timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    engine = Engine.connect()
    ours: list[tuple[float, float, float]] = []
    theirs: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="stacktest-bench-") as tmp:
        root = Path(tmp)
        (root / "docker-compose.yml").write_text(yaml.safe_dump(STACK))
        (root / "pyproject.toml").write_text("[tool.stacktest]\nready_timeout = 120\n")
        for i in range(args.trials):  # interleaved, so drift of the machine hits both alike
            ours.append(stacktest_trial(root, engine))
            theirs.append(compose_trial(root, engine, i))
            print(
                f"trial {i + 1}: ready after / db healthy, web started after db listened: "
                f"stacktest {ours[-1][0]:.1f} s / {ours[-1][1]:.2f} s, {ours[-1][2]:.2f} s; "
                f"compose up --wait {theirs[-1][0]:.1f} s / {theirs[-1][1]:.2f} s, {theirs[-1][2]:.2f} s"
            )
    ready_ours, ready_theirs = median([o[0] for o in ours]), median([t[0] for t in theirs])
    healthy_ours, healthy_theirs = median([o[1] for o in ours]), median([t[1] for t in theirs])
    late_ours, late_theirs = median([o[2] for o in ours]), median([t[2] for t in theirs])
    for what, ours_s, theirs_s in (
        ("time until the tests can start", ready_ours, ready_theirs),
        ("delay of db's first passing check after it listened", healthy_ours, healthy_theirs),
        ("delay of web after db listened", late_ours, late_theirs),
    ):
        print(f"median {what}: stacktest {ours_s:.2f} s, docker compose up --wait {theirs_s:.2f} s")
    record(
        "healthcheck-chain",
        ready_theirs / ready_ours,
        "web started <= 1 s after db could answer",
        max(o[2] for o in ours) <= 1.0,
        {
            "stacktest_ready_s": round(ready_ours, 2),
            "compose_wait_ready_s": round(ready_theirs, 2),
            "stacktest_db_healthy_late_s": round(healthy_ours, 2),
            "compose_wait_db_healthy_late_s": round(healthy_theirs, 2),
            "stacktest_web_late_s": round(late_ours, 2),
            "compose_wait_web_late_s": round(late_theirs, 2),
            "trials": args.trials,
        },
        f"python benchmarks/healthcheck_chain.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
