"""Readiness: is every service of a stack ready, and if one never will be, say why at once.

A service is ready when

1. its configured probe (HTTP or TCP, from the host, on the published port) answers; else
2. its engine healthcheck reports healthy, or its healthcheck command, run by us inside the container
   and retried every 50 ms there, exits 0 (so we are not bound to the healthcheck interval); else
3. it has been running for RUNNING_SETTLE seconds without a restart (a crash loop must not pass for a
   running service); or, for a one-shot service, it exited 0.

A service with replicas is ready when every one of its containers is. Waiting stops at once when a
container exits with an error, restarts, turns unhealthy or is OOM-killed. :class:`ServiceWaiter` is the
pure state machine of one container (tested with a fake clock); :func:`wait_ready` follows each service in
its own thread, and runs each healthcheck command in a thread of its own, so neither a slow probe of one
service nor a slow healthcheck command ever delays noticing that a container died.
"""

from __future__ import annotations

import enum
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from stacktest.adapters import http as _http
from stacktest.adapters.engine_model import ExecResult, ServiceState
from stacktest.adapters.http import PROBE_TIMEOUT
from stacktest.errors import NotReady
from stacktest.settings import Probe

__all__ = [
    "Containers",
    "Progress",
    "ServiceWaiter",
    "Status",
    "Verdict",
    "log_found",
    "probe_once",
    "wait_ready",
]

log = logging.getLogger("stacktest")

HEALTHCHECK_EVERY = 0.25  # between single runs of a healthcheck command, when the image has no sh
HEALTHCHECK_ATTEMPTS = 20  # tries of the command inside one exec (every 50 ms), when it has
LOG_TAIL = 15
RUNNING_SETTLE = 1.0
LOG_LINE_EVERY = 0.5  # seconds between reads of a pending service's newest log line (live view only)


class Containers(Protocol):
    """What readiness asks of the engine (``_engine.Engine``; the unit tests' fake is checked
    against this too)."""

    def replicas(self, project: str, service: str | None = None) -> dict[str, list[ServiceState]]: ...

    def inspect(self, container_id: str) -> ServiceState | None: ...

    def exec_check(self, container_id: str, test: tuple[str, ...], *, attempts: int = 1) -> ExecResult: ...

    def logs(
        self,
        container_id: str,
        *,
        tail: int | None = 20,
        since: float | None = None,
        until: float | None = None,
    ) -> str: ...


class Status(enum.Enum):
    WAITING = "waiting"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Verdict:
    status: Status
    detail: str


@dataclass(frozen=True)
class Progress:
    service: str
    status: Status
    detail: str
    elapsed: float
    log: str = ""  # the newest line the pending service printed (only with ``log_lines``)


class ServiceWaiter:
    """The readiness state machine of one service. Feed it observations; it returns a verdict."""

    def __init__(
        self, service: str, probe: Probe | None, *, one_shot_ok: bool = True, stale_health: bool = False
    ) -> None:
        self.service = service
        self.probe = probe
        self.one_shot_ok = one_shot_ok
        # the engine's "unhealthy" predates the wait (a container that was paused, then unpaused, stays
        # unhealthy until its next healthcheck run): ignored until the health is seen otherwise once
        self.stale_health = stale_health
        self.first_restart_count: int | None = None
        self.last_probe_error = "not probed yet"
        self.running_since: float | None = None

    def step(
        self,
        state: ServiceState | None,
        probe_ok: bool | None,
        check_ok: bool | None = None,
        now: float = 0.0,
    ) -> Verdict:
        """One observation at time ``now``: the container's state, the probe's answer (None: not probed),
        the healthcheck command's answer (None: not run)."""
        if state is None:
            return Verdict(Status.WAITING, "no container yet")
        if self.first_restart_count is None:
            self.first_restart_count = state.restart_count
        if state.oom_killed:
            return Verdict(
                Status.FAILED, f"was killed for running out of memory (exit code {state.exit_code})"
            )
        if state.status == "restarting" or state.restart_count > self.first_restart_count:
            return Verdict(
                Status.FAILED,
                f"is restarting (restarts: {state.restart_count}, last exit code {state.exit_code})",
            )
        if state.status in ("exited", "dead"):
            if state.exit_code == 0 and self.probe is None and self.one_shot_ok:
                return Verdict(Status.READY, "completed (exit code 0)")
            return Verdict(Status.FAILED, f"exited with code {state.exit_code}")
        if self.stale_health and state.health != "unhealthy":
            self.stale_health = False
        if state.health == "unhealthy" and not self.stale_health:
            return Verdict(Status.FAILED, "turned unhealthy")
        if state.status != "running":
            self.running_since = None
            return Verdict(Status.WAITING, state.status)
        if self.running_since is None:
            self.running_since = now
        if self.probe is not None:
            if probe_ok:
                detail = self.last_probe_error if self.probe.kind == "log" else "probe answered"
                return Verdict(Status.READY, detail)
            return Verdict(Status.WAITING, f"probe: {self.last_probe_error}")
        if state.has_healthcheck:
            if state.health == "healthy" or check_ok:
                return Verdict(Status.READY, "healthy")
            return Verdict(Status.WAITING, f"health: {state.health or 'starting'}")
        if now - self.running_since >= RUNNING_SETTLE:
            return Verdict(Status.READY, "running")
        return Verdict(Status.WAITING, "running, settling")


def probe_once(probe: Probe, host: str, port: int, client: httpx.Client | None = None) -> tuple[bool, str]:
    """Ask a service once, from the host. Returns (answered, what happened)."""
    if probe.kind == "http":
        if client is None:
            with _http.client(PROBE_TIMEOUT) as own:
                return probe_once(probe, host, port, own)
        url = f"http://{host}:{port}{probe.path}"
        try:
            response = client.get(url)
        except httpx.HTTPError as exc:
            return False, f"GET {probe.path}: {type(exc).__name__}"
        if response.status_code < 400:
            return True, f"GET {probe.path}: {response.status_code}"
        return False, f"GET {probe.path}: HTTP {response.status_code}"
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT) as sock:
            if not probe.send:
                return True, "port open"
            sock.settimeout(PROBE_TIMEOUT)
            sock.sendall(probe.send.encode())
            data = sock.recv(256).decode(errors="replace")
    except OSError as exc:
        return False, f"tcp {port}: {exc.strerror or type(exc).__name__}"
    if probe.expect and probe.expect not in data:
        return False, f"tcp {port}: answered {data.strip()[:40]!r}"
    return True, "answered"


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
    start = clock()
    limit = {s: (timeouts or {}).get(s, timeout) for s in services}
    deadline = start + max(limit.values(), default=timeout) + 2 * PROBE_TIMEOUT + 1
    stop = threading.Event()
    expired: list[str] = []
    lock = threading.Lock()
    verdicts: dict[str, Verdict] = {s: Verdict(Status.WAITING, "starting") for s in services}
    ready_at: dict[str, float] = {}
    failures: list[tuple[str, Verdict, ServiceState | None]] = []

    last_lines: dict[str, str] = {}

    def report(service: str, verdict: Verdict, line: str = "") -> None:
        with lock:
            changed = verdicts[service] != verdict or last_lines.get(service, "") != line
            verdicts[service] = verdict
            last_lines[service] = line
        if changed and on_progress is not None:
            on_progress(Progress(service, verdict.status, verdict.detail, clock() - start, line))

    def observe(
        waiter: ServiceWaiter, state: ServiceState, checker: _HealthChecker | None, client: httpx.Client
    ) -> Verdict:
        probe_ok: bool | None = None
        if state.status == "running" and waiter.probe is not None and waiter.probe.kind == "log":
            probe_ok, waiter.last_probe_error = log_found(engine, state, waiter.probe.pattern)
        elif state.status == "running" and waiter.probe is not None:
            port = state.ports.get(waiter.probe.port)
            if port is None:
                waiter.last_probe_error = f"container port {waiter.probe.port} is not published"
                probe_ok = False
            else:
                probe_ok, waiter.last_probe_error = probe_once(waiter.probe, host, port, client)
                if probe_ok:  # confirm it is still alive before declaring it ready
                    state = engine.inspect(state.container_id) or state
        return waiter.step(state, probe_ok, checker.ok if checker else None, clock())

    def watch(service: str) -> None:
        with _http.client(PROBE_TIMEOUT) as client:
            follow(service, client)

    def follow(service: str, client: httpx.Client) -> None:
        waiters: dict[str, ServiceWaiter] = {}
        checkers: dict[str, _HealthChecker] = {}
        own_deadline = start + limit[service]
        line, line_at = "", -LOG_LINE_EVERY
        while not stop.is_set():
            if clock() >= own_deadline:
                with lock:
                    expired.append(service)
                stop.set()  # one service out of time ends the wait: the run cannot go on without it
                return
            states = engine.replicas(project, service).get(service, [])
            verdicts_now: list[tuple[ServiceState, Verdict]] = []
            for state in states:
                waiter = waiters.get(state.container_id) or waiters.setdefault(
                    state.container_id,
                    ServiceWaiter(
                        service, probes.get(service), stale_health=state.container_id in stale_health
                    ),
                )
                if (
                    waiter.probe is None
                    and state.has_healthcheck
                    and state.status == "running"
                    and state.container_id not in checkers
                ):
                    checkers[state.container_id] = _HealthChecker(engine, state, stop)
                verdicts_now.append((state, observe(waiter, state, checkers.get(state.container_id), client)))
            failed = next(((st, v) for st, v in verdicts_now if v.status is Status.FAILED), None)
            if failed is not None:
                state, verdict = failed
                if len(states) > 1:
                    verdict = Verdict(Status.FAILED, f"(replica {state.label}) {verdict.detail}")
                report(service, verdict)
                with lock:
                    failures.append((service, verdict, state))
                stop.set()
                return
            waiting = [(st, v) for st, v in verdicts_now if v.status is not Status.READY]
            if verdicts_now and not waiting:
                detail = verdicts_now[0][1].detail
                if len(states) > 1:
                    detail += f" ({len(states)} replicas)"
                report(service, Verdict(Status.READY, detail))
                with lock:
                    ready_at[service] = clock() - start
                return
            if not verdicts_now:
                report(service, Verdict(Status.WAITING, "no container yet"))
            else:
                state, verdict = waiting[0]
                prefix = f"{state.label}: " if len(states) > 1 else ""
                if log_lines and clock() - line_at >= LOG_LINE_EVERY:
                    line, line_at = _newest_line(engine, state), clock()
                report(service, Verdict(Status.WAITING, prefix + verdict.detail), line)
            stop.wait(poll_interval)

    threads = [threading.Thread(target=watch, args=(s,), name=f"ready-{s}", daemon=True) for s in services]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            remaining = deadline - clock()
            if remaining <= 0:
                break
            for t in threads:
                t.join(timeout=min(0.05, max(remaining, 0)))
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=2 * PROBE_TIMEOUT + 1)

    if failures:
        service, verdict, state = failures[0]
        raise NotReady(_failure_message(engine, service, verdict, state), service=service)
    waiting = [s for s in services if s not in ready_at]
    if waiting:
        late = expired[0] if expired else waiting[0]
        lines = [f"  {s}: {verdicts[s].detail}" for s in waiting]
        raise NotReady(
            f"not ready after {limit[late]:g} s: {', '.join(waiting)}\n" + "\n".join(lines),
            service=waiting[0],
            hint="raise ready_timeout if the service is just slow, or read `stacktest logs "
            + waiting[0]
            + "`",
        )
    return ready_at


def _newest_line(engine: Containers, state: ServiceState) -> str:
    lines = [line for line in engine.logs(state.container_id, tail=3).splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def log_found(engine: Containers, state: ServiceState, pattern: str) -> tuple[bool, str]:
    """A log probe: whether ``pattern`` occurs in the container's output since it last started."""
    text = engine.logs(state.container_id, tail=None, since=state.started)
    if re.search(pattern, text, re.MULTILINE):
        return True, f"log: found {pattern!r}"
    return False, f"log: no line matches {pattern!r} yet"


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
