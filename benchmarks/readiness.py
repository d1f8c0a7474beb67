"""Readiness: delay from the moment the whole stack first answers its probes to the moment the tool
declares it ready. stacktest's own wait vs `docker compose up --wait`, on the bundled stack with its own
healthchecks (interval given by --interval, default: the compose file's 5 s).

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

import yaml
from _common import REPO, median, record

from stacktest import stack as stacks
from stacktest._engine import Engine, engine_host
from stacktest.readiness import Status, probe_once
from stacktest.settings import load_settings


class Prober(threading.Thread):
    """Finds each service's published port as soon as it exists, then probes it every 2 ms."""

    def __init__(self, engine: Engine, project: str, settings) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.engine, self.project, self.settings = engine, project, settings
        self.first: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        host = engine_host()
        ports: dict[str, int] = {}
        while not self.stop.is_set() and len(self.first) < len(self.settings.probes):
            if len(ports) < len(self.settings.probes):
                for name, st in self.engine.states(self.project).items():
                    probe = self.settings.probes.get(name)
                    if probe and probe.port in st.ports:
                        ports[name] = st.ports[probe.port]
            for name, port in ports.items():
                if name not in self.first and probe_once(self.settings.probes[name], host, port)[0]:
                    self.first[name] = time.monotonic()
            time.sleep(0.002)


def interval_override(settings, interval: str | None, dest: Path) -> list[Path]:  # type: ignore[no-untyped-def]
    if not interval:
        return []
    services = {name: {"healthcheck": {"interval": interval}} for name in ("auth", "api", "redis")}
    dest.write_text(yaml.safe_dump({"services": services}))
    return [dest]


def stacktest_trial(settings, engine: Engine, extra: list[Path]) -> float:  # type: ignore[no-untyped-def]
    started = stacks.start(settings, extra_files=extra, wait=False)
    prober = Prober(engine, started.project, settings)
    prober.start()
    declared: dict[str, float] = {}
    try:
        started.wait(
            lambda p: declared.setdefault(p.service, time.monotonic()) if p.status is Status.READY else None
        )
        done = time.monotonic()
        prober.join(timeout=30)
        return done - max(prober.first.values())
    finally:
        prober.stop.set()
        stacks.teardown(started)


def compose_trial(settings, engine: Engine, extra: list[Path]) -> float:  # type: ignore[no-untyped-def]
    compose, record_, _ = stacks.prepare(settings, engine, extra_files=extra)
    record_.save(settings)
    prober = Prober(engine, compose.project, settings)
    prober.start()
    try:
        subprocess.run(
            compose.up_argv(wait=True), env=compose._env(), check=True, capture_output=True, timeout=600
        )
        done = time.monotonic()
        prober.join(timeout=30)
        return done - max(prober.first.values())
    finally:
        prober.stop.set()
        stacks.teardown(stacks.Stack(settings, record_, compose, engine))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--interval", default=None, help="override the healthcheck interval, e.g. 30s")
    args = parser.parse_args()
    settings = load_settings(config=REPO / "pyproject.toml")
    engine = Engine.connect()
    extra = interval_override(settings, args.interval, REPO / ".stacktest" / "bench-interval.yml")
    ours, theirs = [], []
    for i in range(args.trials):  # interleaved, so drift of the machine hits both alike
        ours.append(stacktest_trial(settings, engine, extra))
        theirs.append(compose_trial(settings, engine, extra))
        print(f"trial {i + 1}: stacktest {ours[-1] * 1000:.0f} ms, compose --wait {theirs[-1] * 1000:.0f} ms")
    m_ours, m_theirs = median(ours), median(theirs)
    print(
        f"median delay after the stack first answered: stacktest {m_ours * 1000:.0f} ms, "
        f"docker compose up --wait {m_theirs * 1000:.0f} ms"
    )
    name = "readiness" + (f"-interval-{args.interval}" if args.interval else "")
    record(
        name,
        m_theirs / m_ours,
        "stacktest's delay <= 50 ms",
        m_ours <= 0.05,
        {
            "stacktest_ms": round(m_ours * 1000, 1),
            "compose_wait_ms": round(m_theirs * 1000, 1),
            "trials": args.trials,
        },
        f"python benchmarks/readiness.py --trials {args.trials}"
        + (f" --interval {args.interval}" if args.interval else ""),
    )


if __name__ == "__main__":
    main()
