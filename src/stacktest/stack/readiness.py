"""Waiting until every service of a stack is ready, and if one never will be, saying why at once.

The rules are :mod:`stacktest.stack.rules`. :func:`wait_ready` follows each service in its own thread,
and runs each healthcheck command in a thread of its own, so neither a slow probe of one service nor a
slow healthcheck command ever delays noticing that a container died.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping

import httpx

from stacktest.adapters import http as _http
from stacktest.adapters.engine_model import ServiceState
from stacktest.adapters.http import PROBE_TIMEOUT
from stacktest.errors import NotReady
from stacktest.settings import Probe
from stacktest.stack.rules import Containers, Progress, ServiceWaiter, Status, Verdict, probe_now

__all__ = ["wait_ready"]

log = logging.getLogger("stacktest")


HEALTHCHECK_EVERY = 0.25  # between single runs of a healthcheck command, when the image has no sh


HEALTHCHECK_ATTEMPTS = 20  # tries of the command inside one exec (every 50 ms), when it has


LOG_TAIL = 15


LOG_LINE_EVERY = 0.5  # seconds between reads of a pending service's newest log line (live view only)


class _HealthChecker:
    """Runs one container's healthcheck command until it succeeds, in a thread of its own."""

    def __init__(self, engine: Containers, state: ServiceState, stop: threading.Event) -> None:
        self.engine = engine
        self.state = state
        self.stop = stop
        self.ok = False
        self.thread = threading.Thread(target=self._run, name=f"health-{state.label}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        attempts = HEALTHCHECK_ATTEMPTS
        while not self.stop.is_set() and not self.ok:
            result = self.engine.exec_check(
                self.state.container_id, self.state.healthcheck, attempts=attempts
            )
            if result.exit_code == 0:
                self.ok = True
            elif result.exit_code in (126, 127) and attempts > 1:
                attempts = 1  # no sh in the image: run the command itself, one try per exec
            elif attempts == 1 or result.exit_code is None:
                self.stop.wait(HEALTHCHECK_EVERY)


def wait_ready(
    engine: Containers,
    project: str,
    services: list[str],
    probes: Mapping[str, Probe],
    *,
    host: str,
    timeout: float,
    poll_interval: float = 0.02,
    on_progress: Callable[[Progress], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    stale_health: Collection[str] = (),
    timeouts: Mapping[str, float] | None = None,
    log_lines: bool = False,
) -> dict[str, float]:
    """Wait until every container of every service is ready. Returns each service's readiness time
    (seconds from start). ``timeouts``: a service's own time to become ready (else ``timeout``);
    ``stale_health``: ids of containers whose "unhealthy" predates the wait. ``log_lines``: progress
    of a pending service carries the newest line it printed (read every LOG_LINE_EVERY seconds).

    Raises :class:`NotReady` as soon as one container fails, naming it with its exit code and log tail,
    or at the deadline, naming every service that was not ready and why.
    """
    wait = _Wait(engine, project, services, probes, host=host, clock=clock, on_progress=on_progress)
    wait.limit = {s: (timeouts or {}).get(s, timeout) for s in services}
    wait.poll_interval, wait.stale_health, wait.log_lines = poll_interval, stale_health, log_lines
    deadline = wait.start + max(wait.limit.values(), default=timeout) + 2 * PROBE_TIMEOUT + 1
    wait.run(deadline)
    return wait.outcome()


class _Wait:
    """One wait: a thread per service follows its containers (:meth:`follow`); the first failure or the
    first service out of time ends the wait for all."""

    def __init__(
        self,
        engine: Containers,
        project: str,
        services: list[str],
        probes: Mapping[str, Probe],
        *,
        host: str,
        clock: Callable[[], float],
        on_progress: Callable[[Progress], None] | None,
    ) -> None:
        self.engine, self.project, self.services, self.probes = engine, project, services, probes
        self.host, self.clock, self.on_progress = host, clock, on_progress
        self.start = clock()
        self.limit: dict[str, float] = {}
        self.poll_interval = 0.02
        self.stale_health: Collection[str] = ()
        self.log_lines = False
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.expired: list[str] = []
        self.verdicts: dict[str, Verdict] = {s: Verdict(Status.WAITING, "starting") for s in services}
        self.last_lines: dict[str, str] = {}
        self.ready_at: dict[str, float] = {}
        self.failures: list[tuple[str, Verdict, ServiceState | None]] = []

    def run(self, deadline: float) -> None:
        threads = [
            threading.Thread(target=self.watch, args=(s,), name=f"ready-{s}", daemon=True)
            for s in self.services
        ]
        for t in threads:
            t.start()
        try:
            while any(t.is_alive() for t in threads):
                remaining = deadline - self.clock()
                if remaining <= 0:
                    break
                for t in threads:
                    t.join(timeout=min(0.05, max(remaining, 0)))
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=2 * PROBE_TIMEOUT + 1)

    def outcome(self) -> dict[str, float]:
        if self.failures:
            service, verdict, state = self.failures[0]
            raise NotReady(_failure_message(self.engine, service, verdict, state), service=service)
        waiting = [s for s in self.services if s not in self.ready_at]
        if waiting:
            late = self.expired[0] if self.expired else waiting[0]
            lines = [f"  {s}: {self.verdicts[s].detail}" for s in waiting]
            raise NotReady(
                f"not ready after {self.limit[late]:g} s: {', '.join(waiting)}\n" + "\n".join(lines),
                service=waiting[0],
                hint="raise ready_timeout if the service is just slow, or read `stacktest logs "
                + waiting[0]
                + "`",
            )
        return self.ready_at

    def report(self, service: str, verdict: Verdict, line: str = "") -> None:
        with self.lock:
            changed = self.verdicts[service] != verdict or self.last_lines.get(service, "") != line
            self.verdicts[service] = verdict
            self.last_lines[service] = line
        if changed and self.on_progress is not None:
            self.on_progress(
                Progress(service, verdict.status, verdict.detail, self.clock() - self.start, line)
            )

    def observe(
        self, waiter: ServiceWaiter, state: ServiceState, checker: _HealthChecker | None, client: httpx.Client
    ) -> Verdict:
        probe_ok, what = probe_now(self.engine, waiter.probe, state, self.host, client)
        if probe_ok is not None:
            waiter.last_probe_error = what
        if probe_ok and waiter.probe is not None and waiter.probe.kind != "log":
            state = self.engine.inspect(state.container_id) or state  # still alive before declaring it ready
        return waiter.step(state, probe_ok, checker.ok if checker else None, self.clock())

    def watch(self, service: str) -> None:
        with _http.client(PROBE_TIMEOUT) as client:
            self.follow(service, client)

    def follow(self, service: str, client: httpx.Client) -> None:
        """Observe the service's containers until all are ready, one failed, or its time is out."""
        waiters: dict[str, ServiceWaiter] = {}
        checkers: dict[str, _HealthChecker] = {}
        own_deadline = self.start + self.limit[service]
        line, line_at = "", -LOG_LINE_EVERY
        while not self.stop.is_set():
            if self.clock() >= own_deadline:
                with self.lock:
                    self.expired.append(service)
                self.stop.set()  # one service out of time ends the wait: the run cannot go on without it
                return
            states = self.engine.replicas(self.project, service).get(service, [])
            now = [(st, self._verdict(service, st, waiters, checkers, client)) for st in states]
            if self._settled(service, now):
                return
            if not now:
                self.report(service, Verdict(Status.WAITING, "no container yet"))
            else:
                state, verdict = next((st, v) for st, v in now if v.status is not Status.READY)
                prefix = f"{state.label}: " if len(states) > 1 else ""
                if self.log_lines and self.clock() - line_at >= LOG_LINE_EVERY:
                    line, line_at = _newest_line(self.engine, state), self.clock()
                self.report(service, Verdict(Status.WAITING, prefix + verdict.detail), line)
            self.stop.wait(self.poll_interval)

    def _verdict(
        self,
        service: str,
        state: ServiceState,
        waiters: dict[str, ServiceWaiter],
        checkers: dict[str, _HealthChecker],
        client: httpx.Client,
    ) -> Verdict:
        """One replica's verdict now (its state machine and healthcheck runner made on first sight)."""
        cid = state.container_id
        waiter = waiters.get(cid) or waiters.setdefault(
            cid, ServiceWaiter(service, self.probes.get(service), stale_health=cid in self.stale_health)
        )
        if (
            waiter.probe is None
            and state.has_healthcheck
            and state.status == "running"
            and cid not in checkers
        ):
            checkers[cid] = _HealthChecker(self.engine, state, self.stop)
        return self.observe(waiter, state, checkers.get(cid), client)

    def _settled(self, service: str, now: list[tuple[ServiceState, Verdict]]) -> bool:
        """A failed replica fails the service (and ends the wait); all replicas ready make it ready."""
        failed = next(((st, v) for st, v in now if v.status is Status.FAILED), None)
        if failed is not None:
            state, verdict = failed
            if len(now) > 1:
                verdict = Verdict(Status.FAILED, f"(replica {state.label}) {verdict.detail}")
            self.report(service, verdict)
            with self.lock:
                self.failures.append((service, verdict, state))
            self.stop.set()
            return True
        if now and all(v.status is Status.READY for _, v in now):
            detail = now[0][1].detail + (f" ({len(now)} replicas)" if len(now) > 1 else "")
            self.report(service, Verdict(Status.READY, detail))
            with self.lock:
                self.ready_at[service] = self.clock() - self.start
            return True
        return False


def _newest_line(engine: Containers, state: ServiceState) -> str:
    lines = [line for line in engine.logs(state.container_id, tail=3).splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _failure_message(engine: Containers, service: str, verdict: Verdict, state: ServiceState | None) -> str:
    text = f"service {service!r} {verdict.detail}"
    if state is not None:
        logs = engine.logs(state.container_id, tail=LOG_TAIL).rstrip()
        if logs:
            text += f"\nlast log lines of {service}:\n" + "\n".join(
                "  | " + line for line in logs.splitlines()
            )
        else:
            text += f"\n{service} wrote no log lines"
    return text
