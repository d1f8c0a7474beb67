"""What the engine reports, as stacktest reads it: the labels it sets and reads, a container's state
(:class:`ServiceState`, made from an inspect by :func:`state_of`), a stack found by its labels."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "LABEL_CHECKOUT",
    "LABEL_CREATED",
    "LABEL_HOST",
    "LABEL_KEPT",
    "LABEL_OWNER",
    "LABEL_PID",
    "LABEL_ROOT",
    "LABEL_RUN",
    "LABEL_TOKEN",
    "NUMBER_LABEL",
    "ONEOFF_LABEL",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "ExecResult",
    "ServiceState",
    "StackInfo",
    "short",
    "state_of",
]

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
LABEL_RUN = "io.stacktest.run"
LABEL_CHECKOUT = "io.stacktest.checkout"
LABEL_ROOT = "io.stacktest.root"
DEFAULT_STOP_TIMEOUT = 10  # seconds: Docker's, where a container sets none
LABEL_PID = "io.stacktest.pid"
LABEL_HOST = "io.stacktest.host"
LABEL_CREATED = "io.stacktest.created"
LABEL_OWNER = "io.stacktest.owner"  # the process that started the run (stack/owner.py)
LABEL_TOKEN = "io.stacktest.token"  # noqa: S105 - a label name; the run's random token is its value
LABEL_KEPT = "io.stacktest.kept"  # "true": started by `stacktest up`, meant to outlive its command


@dataclass(frozen=True)
class ServiceState:
    service: str
    container_id: str
    status: str  # created, running, restarting, exited, dead, paused, removing
    health: str | None  # None (no healthcheck), starting, healthy, unhealthy
    exit_code: int
    oom_killed: bool
    restart_count: int
    ports: Mapping[int, int] = field(default_factory=dict)  # container port -> host port
    has_healthcheck: bool = False
    healthcheck: tuple[str, ...] = ()
    started_at: str = ""
    image: str = ""
    number: int = 1  # the replica's number (compose's container-number label)
    name: str = ""  # the container's name
    image_id: str = ""
    restart_policy: str = ""  # "", "no", "always", "on-failure", "unless-stopped"
    finished_at: float | None = None  # epoch seconds of its last exit; None while it never exited
    hostname: str = ""  # inside the container (its short id unless compose sets hostname:)
    # seconds between the stop signal and SIGKILL (compose's stop_grace_period); None: none was set.
    # 0 can mean none too: Podman before 4.7 records 0 without one (containers/podman#19139)
    stop_timeout: int | None = None

    @property
    def label(self) -> str:
        """``web`` for a single container, ``web-2`` for the second replica."""
        return self.service if self.number <= 1 else f"{self.service}-{self.number}"

    @property
    def started(self) -> float | None:
        """Epoch seconds of the container's last start; None when it never started."""
        return _epoch(self.started_at) if self.started_at else None

    @property
    def completed(self) -> bool:
        """A one-shot container (seeder, migration) that did its work: exited 0 and not restarted."""
        return self.status == "exited" and self.exit_code == 0 and self.restart_policy in ("", "no")


@dataclass(frozen=True)
class ExecResult:
    exit_code: int | None
    output: str


@dataclass(frozen=True)
class StackInfo:
    project: str
    run: str
    checkout: str
    root: str
    pid: int
    host: str
    created: float
    containers: int
    kept: bool = False
    owner: str = ""  # LABEL_OWNER
    token: str = ""  # LABEL_TOKEN


def state_of(service: str, attrs: Mapping[str, Any]) -> ServiceState:
    raw = attrs.get("State", {}) or {}
    health = raw.get("Health") or None
    config = attrs.get("Config", {}) or {}
    hc = config.get("Healthcheck") or {}
    test = tuple(hc.get("Test") or ())
    ports: dict[int, int] = {}
    for key, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items():
        if not bindings:
            continue
        port = int(key.split("/")[0])
        for b in bindings:
            if b.get("HostPort"):
                ports.setdefault(port, int(b["HostPort"]))
    return ServiceState(
        service=service,
        container_id=str(attrs.get("Id", "")),
        status=str(raw.get("Status", "unknown")),
        health=str(health.get("Status")) if health else None,
        exit_code=int(raw.get("ExitCode", 0) or 0),
        oom_killed=bool(raw.get("OOMKilled", False)),
        restart_count=int(attrs.get("RestartCount", 0) or 0),
        ports=ports,
        has_healthcheck=bool(test) and test[0] != "NONE",
        healthcheck=test,
        started_at=str(raw.get("StartedAt", "")),
        image=str(config.get("Image", "")),
        number=int((config.get("Labels") or {}).get(NUMBER_LABEL, "1") or 1),
        name=str(attrs.get("Name", "")).lstrip("/"),
        image_id=str(attrs.get("Image", "")),
        restart_policy=str(((attrs.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name", "")),
        finished_at=_epoch(str(raw.get("FinishedAt") or "")),
        hostname=str(config.get("Hostname", "")),
        stop_timeout=int(config["StopTimeout"]) if config.get("StopTimeout") is not None else None,
    )


def _epoch(stamp: str) -> float | None:
    """The engine's RFC 3339 time with nanoseconds, as epoch seconds; None for its zero time."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?", stamp)
    if match is None or stamp.startswith("0001-"):
        return None
    whole = datetime.strptime(match[1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return whole.timestamp() + float("0." + (match[2] or "0"))


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
