"""Readiness: delay from the moment the whole stack first answers its probes to the moment the tool
declares it ready. stacktest's own wait vs `docker compose up --wait`, on the bundled stack with its own
healthchecks (interval given by --interval, default 5 s; the compose file's is 30 s), and vs the loop a
pytest-docker user writes by hand (`wait_until_responsive(pause=0.1, check=...)`: ask every service
every 0.1 s until all answer; it sees neither crashes nor health, only answers).

An independent prober polls every published port every 2 ms from the host and records when each service
first answered; the delay of a tool is (its "ready" moment) - (the last service's first answer).

    python benchmarks/readiness.py [--trials 3] [--interval 5s]
"""

from __future__ import annotations

import argparse
import subprocess
import threading
import time
from pathlib import Path

import httpx
import yaml
from _common import REPO, median, record

from stacktest.adapters.endpoint import engine_host
from stacktest.adapters.engine import Engine
from stacktest.settings import load_settings
from stacktest.stack import lifecycle as stacks
from stacktest.stack.rules import probe_once

RESOLUTION = 0.002  # the independent prober's own lag: a tool's delay below this cannot be told apart


class Prober:
    """One thread per service: find its published port as soon as it exists, then probe it in a tight
    loop over a persistent connection, recording the moment it first answers."""

    def __init__(self, engine: Engine, project: str, settings) -> None:  # type: ignore[no-untyped-def]
        self.engine, self.project, self.settings = engine, project, settings
        self.first: dict[str, float] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._watch, args=(s,), daemon=True) for s in settings.probes]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def join(self, timeout: float) -> None:
        for t in self.threads:
            t.join(timeout)

    def delay(self, done: float) -> float:
        """How long after the last service first answered a tool said ``done`` (monotonic seconds)."""
        self.join(timeout=30)
        return done - max(self.first.values())

    def _watch(self, service: str) -> None:
        probe = self.settings.probes[service]
        host, port = engine_host(), None
        with httpx.Client(timeout=0.5) as client:
            while not self.stop.is_set():
                if port is None:
                    st = self.engine.states(self.project).get(service)
                    port = st.ports.get(probe.port) if st else None
                    if port is None:
                        time.sleep(0.01)
                        continue
                if probe_once(probe, host, port, client)[0]:
                    self.first[service] = time.monotonic()
                    return
                time.sleep(0.0005)


DEFAULT_INTERVAL = "5s"  # what the figures have always been measured with (compose --wait's delay)


def interval_override(settings, interval: str | None, dest: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    if not interval:
        return []
    services = {name: {"healthcheck": {"interval": interval}} for name in ("auth", "api", "redis")}
    dest.write_text(yaml.safe_dump({"services": services}))
    return [dest]


def stacktest_trial(settings, engine: Engine, extra: list[Path]) -> float:  # type: ignore[no-untyped-def]
    started = stacks.start(settings, extra_files=extra)
    prober = Prober(engine, started.project, settings)
    prober.start()
    try:
        started.wait()
        return prober.delay(time.monotonic())
    finally:
        prober.stop.set()
        stacks.teardown(started)


def compose_trial(settings, engine: Engine, extra: list[Path]) -> float:  # type: ignore[no-untyped-def]
    compose, record_, _ = stacks.prepare(settings, extra_files=extra)
    record_.save(settings)
    prober = Prober(engine, compose.project, settings)
    prober.start()
    try:
        subprocess.run(
            compose.up_argv(wait=True), env=compose._env(), check=True, capture_output=True, timeout=600
        )
        return prober.delay(time.monotonic())
    finally:
        prober.stop.set()
        stacks.teardown(stacks.Stack(settings, record_, compose, engine))


POLL_PAUSE = 0.1  # pytest-docker's examples: docker_services.wait_until_responsive(pause=0.1, ...)


def polling_trial(settings, engine: Engine, extra: list[Path]) -> float:  # type: ignore[no-untyped-def]
    """`compose up -d` (stacks.start does nothing more before its wait), then the hand-written loop."""
    started = stacks.start(settings, extra_files=extra)
    prober = Prober(engine, started.project, settings)
    prober.start()
    try:
        host = engine_host()
        ports = {
            service: st.ports[settings.probes[service].port] for service, st in started.states().items()
        }  # docker_services.port_for(...), once
        with httpx.Client(timeout=0.5) as client:
            while not all(probe_once(settings.probes[s], host, port, client)[0] for s, port in ports.items()):
                time.sleep(POLL_PAUSE)
        return prober.delay(time.monotonic())
    finally:
        prober.stop.set()
        stacks.teardown(started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--interval", default=DEFAULT_INTERVAL, help="the healthchecks' interval, e.g. 30s")
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    extra = interval_override(settings, args.interval, REPO / ".stacktest" / "bench-interval.yml")
    ours, theirs, loop = [], [], []
    for i in range(args.trials):  # interleaved, so drift of the machine hits all alike
        ours.append(stacktest_trial(settings, engine, extra))
        theirs.append(compose_trial(settings, engine, extra))
        loop.append(polling_trial(settings, engine, extra))
        print(
            f"trial {i + 1}: stacktest {ours[-1] * 1000:.1f} ms, compose --wait {theirs[-1] * 1000:.0f} ms, "
            f"0.1 s polling loop {loop[-1] * 1000:.1f} ms"
        )
    m_ours, m_theirs, m_loop = median(ours), median(theirs), median(loop)
    print(
        f"median delay after the stack first answered: stacktest {m_ours * 1000:.0f} ms, "
        f"docker compose up --wait {m_theirs * 1000:.0f} ms, a 0.1 s polling loop {m_loop * 1000:.0f} ms "
        f"({m_loop / m_ours:.1f}x stacktest's)"
    )
    other = args.interval != DEFAULT_INTERVAL
    name = "readiness" + (f"-interval-{args.interval}" if other else "")
    record(
        name,
        m_theirs / max(m_ours, RESOLUTION),  # a delay below the prober's resolution counts as that
        "stacktest's delay <= 50 ms",
        m_ours <= 0.05,
        {
            "stacktest_ms": round(m_ours * 1000, 1),
            "compose_wait_ms": round(m_theirs * 1000, 1),
            "polling_loop_ms": round(m_loop * 1000, 1),
            "trials": args.trials,
        },
        f"python benchmarks/readiness.py --trials {args.trials}"
        + (f" --interval {args.interval}" if other else ""),
    )


if __name__ == "__main__":
    main()
