"""The one readiness rule set: what makes a container ready, waiting or failed.

A service is ready when

1. its configured probe (HTTP or TCP, from the host, on the published port; or a line in its log)
   answers; else
2. its engine healthcheck reports healthy, or its healthcheck command, run by us inside the container
   and retried every 50 ms there, exits 0 (so we are not bound to the healthcheck interval); else
3. it has been running for RUNNING_SETTLE seconds without a restart (a crash loop must not pass for a
   running service); or, for a one-shot service, it exited 0.

It has failed when it exited with an error, restarts, turned unhealthy or was OOM-killed. A service with
replicas is ready when every one of its containers is. :class:`ServiceWaiter` is the pure state machine
of one container (tested with a fake clock), fed by :func:`probe_now`; waiting (``readiness``), `status`
and `diagnose` (:func:`judge`) all decide with it.
"""

from __future__ import annotations

import enum
import math
import re
import socket
from dataclasses import dataclass
from typing import Protocol

import httpx

from stacktest.adapters import http as _http
from stacktest.adapters.engine_model import ExecResult, ServiceState
from stacktest.adapters.http import PROBE_TIMEOUT
from stacktest.settings import Probe

__all__ = [
    "RUNNING_SETTLE",
    "Containers",
    "Progress",
    "ServiceWaiter",
    "Status",
    "Verdict",
    "judge",
    "log_found",
    "probe_now",
    "probe_once",
]

RUNNING_SETTLE = 1.0


class Containers(Protocol):
    """What readiness asks of the engine (``_engine.Engine``; the unit tests' fake is checked
    against this too)."""

    def replicas(self, project: str, service: str | None = None) -> dict[str, list[ServiceState]]: ...

    def inspect(self, container_id: str) -> ServiceState | None: ...

    def exec_check(self, container_id: str, test: tuple[str, ...], *, attempts: int = 1) -> ExecResult: ...

    def container_env(self, container_id: str) -> dict[str, str]: ...

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
    """Ask a service once, from the host. Returns (answered, what happened). A ``sql`` probe needs the
    container's credentials (:func:`probe_now` has them); here it is asked whether its port is open."""
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


def log_found(engine: Containers, state: ServiceState, pattern: str) -> tuple[bool, str]:
    """A log probe: whether ``pattern`` occurs in the container's output since it last started."""
    text = engine.logs(state.container_id, tail=None, since=state.started)
    if re.search(pattern, text, re.MULTILINE):
        return True, f"log: found {pattern!r}"
    return False, f"log: no line matches {pattern!r} yet"


def probe_now(
    engine: Containers,
    probe: Probe | None,
    state: ServiceState,
    host: str,
    client: httpx.Client | None = None,
) -> tuple[bool | None, str]:
    """Ask a running container's probe once: (answered, what happened); (None, "") when it has no probe
    or does not run."""
    if probe is None or state.status != "running":
        return None, ""
    if probe.kind == "log":
        return log_found(engine, state, probe.pattern)
    port = state.ports.get(probe.port)
    if port is None:
        return False, f"container port {probe.port} is not published"
    if probe.kind == "sql":
        from stacktest.adapters import sql as _sql

        env = engine.container_env(state.container_id)
        return _sql.answers(_sql.url_for(probe.dialect, host, port, env, database=probe.database))
    return probe_once(probe, host, port, client)


def judge(engine: Containers, state: ServiceState, probe: Probe | None, host: str) -> Verdict:
    """The verdict on one container at this moment (`status`, `diagnose`): the rules above on a single
    observation, as a container that has run long enough to settle. Its healthcheck command is run once
    when the engine has not found it healthy yet (rule 2: the interval does not bind us)."""
    waiter = ServiceWaiter(state.service, probe)
    waiter.running_since = -math.inf  # one look: it has run for as long as it has
    ok, what = probe_now(engine, probe, state, host)
    waiter.last_probe_error = what or waiter.last_probe_error
    check_ok = None
    if probe is None and state.has_healthcheck and state.status == "running" and state.health != "healthy":
        check_ok = engine.exec_check(state.container_id, state.healthcheck).exit_code == 0
    return waiter.step(state, ok, check_ok, 0.0)
