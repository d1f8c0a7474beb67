"""The Docker Engine API, through the ``docker`` SDK.

Nothing else in stacktest opens a Docker client. Errors of the SDK are translated here, once, into
:class:`~stacktest.errors.EngineUnavailable`.
"""

from __future__ import annotations

import io
import logging
import os
import tarfile
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import docker
import docker.errors

from stacktest.errors import EngineUnavailable

__all__ = [
    "LABEL_CHECKOUT",
    "LABEL_CREATED",
    "LABEL_HOST",
    "LABEL_KEPT",
    "LABEL_PID",
    "LABEL_ROOT",
    "LABEL_RUN",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "Engine",
    "ServiceState",
    "StackInfo",
    "engine_host",
]

log = logging.getLogger("stacktest")

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
LABEL_RUN = "io.stacktest.run"
LABEL_CHECKOUT = "io.stacktest.checkout"
LABEL_ROOT = "io.stacktest.root"
LABEL_PID = "io.stacktest.pid"
LABEL_HOST = "io.stacktest.host"
LABEL_CREATED = "io.stacktest.created"
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
    hostname: str = ""


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


def engine_host(environ: Mapping[str, str] | None = None) -> str:
    """The address at which published ports answer: the engine's host, or loopback."""
    env = os.environ if environ is None else environ
    url = env.get("DOCKER_HOST", "")  # env: DOCKER_HOST
    if url.startswith(("tcp://", "http://", "https://")):
        return urlparse(url).hostname or "127.0.0.1"
    return "127.0.0.1"


class Engine:
    """A connected Engine API client with the few operations stacktest needs."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, timeout: float = 15.0) -> Engine:
        where = os.environ.get("DOCKER_HOST", "the default socket")  # env: DOCKER_HOST
        try:
            client = docker.from_env(timeout=int(timeout))
            client.ping()
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot reach the Docker Engine at {where}: {_short(exc)}") from exc
        except OSError as exc:  # pragma: no cover - the SDK wraps most of these
            raise EngineUnavailable(f"cannot reach the Docker Engine at {where}: {exc}") from exc
        return cls(client)

    def close(self) -> None:
        self.client.close()

    # facts --------------------------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return dict(self.client.version())

    def info(self) -> dict[str, Any]:
        return dict(self.client.info())

    def image_exists(self, name: str) -> bool:
        try:
            self.client.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        return True

    def import_image(self, tar_path: Path, name: str) -> None:
        repo, _, tag = name.partition(":")
        with tar_path.open("rb") as fh:
            self.client.api.import_image_from_data(fh.read(), repository=repo, tag=tag or "latest")

    # containers of a project ---------------------------------------------------------------------------
    def _summaries(self, label: str) -> list[dict[str, Any]]:
        """Containers by label, from one list call (no inspect per container, so no race with removal)."""
        return list(self.client.api.containers(all=True, filters={"label": label}))

    def containers(self, project: str) -> list[dict[str, Any]]:
        return self._summaries(f"{PROJECT_LABEL}={project}")

    def states(self, project: str) -> dict[str, ServiceState]:
        """The state of each service's (first) container. A container removed meanwhile is left out."""
        out: dict[str, ServiceState] = {}
        for summary in self.containers(project):
            labels = summary.get("Labels") or {}
            if labels.get(ONEOFF_LABEL) == "True":
                continue
            service = labels.get(SERVICE_LABEL, summary["Id"][:12])
            if service in out:
                continue
            state = self.inspect(summary["Id"])
            if state is not None:
                out[service] = state
        return out

    def inspect(self, container_id: str) -> ServiceState | None:
        try:
            attrs = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        labels = attrs.get("Config", {}).get("Labels") or {}
        return _state(labels.get(SERVICE_LABEL, attrs.get("Name", "?")), attrs)

    def logs(
        self, container_id: str, *, tail: int = 20, since: float | None = None, until: float | None = None
    ) -> str:
        try:
            kwargs: dict[str, Any] = {"tail": tail, "stdout": True, "stderr": True}
            if since is not None:
                kwargs["since"] = datetime.fromtimestamp(since, tz=timezone.utc)
            if until is not None:
                kwargs["until"] = datetime.fromtimestamp(until, tz=timezone.utc)
            raw = self.client.api.logs(container_id, **kwargs)
        except docker.errors.NotFound:
            return ""
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def exec_check(self, container_id: str, test: tuple[str, ...], timeout: float = 5.0) -> bool:
        """Run a healthcheck's own command now (CMD or CMD-SHELL form); True when it exits 0."""
        if not test or test[0] == "NONE":
            return False
        cmd: list[str] = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", " ".join(test[1:])]
        try:
            exec_id = self.client.api.exec_create(container_id, cmd, stdout=False, stderr=False)
            self.client.api.exec_start(exec_id["Id"], detach=False)
            info = self.client.api.exec_inspect(exec_id["Id"])
        except docker.errors.APIError:
            return False
        return bool(info.get("ExitCode") == 0)

    def signal(self, container_id: str, sig: str) -> None:
        try:
            self.client.api.kill(container_id, signal=sig)
        except docker.errors.APIError as exc:
            log.debug("signal %s to %s failed: %s", sig, container_id, exc)

    def stop(self, container_id: str, timeout: float) -> None:
        with suppress(docker.errors.NotFound):
            self.client.api.stop(container_id, timeout=max(0, round(timeout)))

    def copy_out(self, container_id: str, path: str, dest: Path) -> int:
        """Copy ``path`` out of a (possibly stopped) container into ``dest``; return the files written."""
        try:
            stream, _ = self.client.api.get_archive(container_id, path)
        except docker.errors.NotFound:
            return 0
        buf = io.BytesIO(b"".join(stream))
        count = 0
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=buf) as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                target = dest / Path(member.name).name
                extracted = tar.extractfile(member)
                if extracted is None:
                    continue
                target.write_bytes(extracted.read())
                count += 1
        return count

    # stacks by label ------------------------------------------------------------------------------------
    def stacks(self) -> list[StackInfo]:
        """Every stack stacktest started on this engine, found by its labels."""
        found: dict[str, StackInfo] = {}
        for summary in self._summaries(LABEL_RUN):
            labels = summary.get("Labels") or {}
            project = labels.get(PROJECT_LABEL, "")
            if not project:
                continue
            prev = found.get(project)
            found[project] = StackInfo(
                project=project,
                run=labels.get(LABEL_RUN, ""),
                checkout=labels.get(LABEL_CHECKOUT, ""),
                root=labels.get(LABEL_ROOT, ""),
                pid=int(labels.get(LABEL_PID, "0") or 0),
                host=labels.get(LABEL_HOST, ""),
                created=float(labels.get(LABEL_CREATED, "0") or 0),
                containers=(prev.containers if prev else 0) + 1,
                kept=labels.get(LABEL_KEPT) == "true",
            )
        return sorted(found.values(), key=lambda s: s.created)

    def remove_project(self, project: str) -> tuple[int, int, int]:
        """Remove every container, network and volume of ``project``; return how many of each."""
        label = {"label": f"{PROJECT_LABEL}={project}"}
        removed = [0, 0, 0]
        for summary in self.containers(project):
            try:
                self.client.api.remove_container(summary["Id"], force=True, v=True)
                removed[0] += 1
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as exc:
                log.warning("could not remove container %s: %s", summary["Id"][:12], _short(exc))
        for n in self.client.networks.list(filters=label):
            try:
                n.remove()
                removed[1] += 1
            except docker.errors.APIError as exc:
                log.warning("could not remove network %s: %s", n.name, _short(exc))
        for v in self.client.volumes.list(filters=label):
            for attempt in range(3):
                try:
                    v.remove(force=True)
                    removed[2] += 1
                    break
                except docker.errors.NotFound:
                    break
                except docker.errors.APIError as exc:  # a container may still be going away
                    if attempt == 2:
                        log.warning("could not remove volume %s: %s", v.name, _short(exc))
                    time.sleep(0.2)  # bounded retry: 3 attempts
        return removed[0], removed[1], removed[2]

    def leftovers(self, project: str) -> dict[str, list[str]]:
        """Names of anything of ``project`` that still exists (used to prove teardown)."""
        label = {"label": f"{PROJECT_LABEL}={project}"}
        return {
            "containers": [n.lstrip("/") for c in self.containers(project) for n in c.get("Names", [])[:1]],
            "networks": [n.name for n in self.client.networks.list(filters=label)],
            "volumes": [v.name for v in self.client.volumes.list(filters=label)],
        }


def _state(service: str, attrs: Mapping[str, Any]) -> ServiceState:
    st = attrs.get("State", {}) or {}
    health = st.get("Health") or None
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
        status=str(st.get("Status", "unknown")),
        health=str(health.get("Status")) if health else None,
        exit_code=int(st.get("ExitCode", 0) or 0),
        oom_killed=bool(st.get("OOMKilled", False)),
        restart_count=int(attrs.get("RestartCount", 0) or 0),
        ports=ports,
        has_healthcheck=bool(test) and test[0] != "NONE",
        healthcheck=test,
        started_at=str(st.get("StartedAt", "")),
        image=str(config.get("Image", "")),
        hostname=str(config.get("Hostname", "")),
    )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
