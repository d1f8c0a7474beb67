"""The Docker Engine API, through the ``docker`` SDK.

Nothing else in stacktest opens a Docker client. Errors of the SDK are translated here, once, into
:class:`~stacktest.errors.EngineUnavailable`. The SDK (and requests, under it) is loaded on first use,
not on import: a run that reuses a stack by its probes never pays the 70 ms its import costs.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import socket
import tarfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from stacktest._lazy import lazy_module
from stacktest.errors import CoverageError, EngineUnavailable, UsageError

if TYPE_CHECKING:
    import docker
    import docker.errors
    import requests
else:
    docker = lazy_module("docker")
    requests = lazy_module("requests")

__all__ = [
    "DEFAULT_STOP_TIMEOUT",
    "LABEL_CHECKOUT",
    "LABEL_CREATED",
    "LABEL_HOST",
    "LABEL_KEPT",
    "LABEL_PID",
    "LABEL_ROOT",
    "LABEL_RUN",
    "PROJECT_LABEL",
    "SERVICE_LABEL",
    "Endpoint",
    "Engine",
    "ExecResult",
    "ServiceState",
    "StackInfo",
    "endpoint",
    "engine_host",
]

log = logging.getLogger("stacktest")

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


@dataclass(frozen=True)
class Endpoint:
    """Which engine to talk to, chosen as the docker CLI (and so compose) chooses it: ``DOCKER_HOST``;
    else the context ``DOCKER_CONTEXT`` names; else the CLI configuration's current context (``docker
    context use``); else the default socket."""

    url: str  # "" for the default socket
    where: str  # said in messages: "DOCKER_HOST tcp://...", "docker context remote (ssh://...)"
    context: str = ""  # the context's name, when one was used
    tls: Any = None  # the context's TLS configuration (docker.tls.TLSConfig), if any

    @property
    def host(self) -> str:
        """The address at which published ports answer: the engine's host, or loopback."""
        if self.url.startswith(("tcp://", "http://", "https://", "ssh://")):
            return urlparse(self.url).hostname or "127.0.0.1"
        return "127.0.0.1"


def endpoint(environ: Mapping[str, str] | None = None) -> Endpoint:
    env = os.environ if environ is None else environ
    url = env.get("DOCKER_HOST", "")  # env: DOCKER_HOST
    if url:
        return Endpoint(url, f"DOCKER_HOST {url}")
    name = env.get("DOCKER_CONTEXT", "")  # env: DOCKER_CONTEXT
    if not name:
        name = _current_context(env)
    if not name or name == "default":
        return Endpoint("", "the default socket")
    from docker.context import ContextAPI

    ctx = ContextAPI.get_context(name)
    if ctx is None:
        raise EngineUnavailable(
            f"the docker context {name!r} does not exist",
            hint="see `docker context ls`, or unset DOCKER_CONTEXT",
        )
    host = str(ctx.Host or "")
    return Endpoint(host, f"docker context {name} ({host})", name, ctx.TLSConfig)


def _current_context(env: Mapping[str, str]) -> str:
    """``currentContext`` of the docker CLI's configuration (``docker context use``), "" when unset."""
    folder = env.get("DOCKER_CONFIG") or os.path.join(
        os.path.expanduser("~"), ".docker"
    )  # env: DOCKER_CONFIG
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as fh:
            return str(json.load(fh).get("currentContext") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def engine_host(environ: Mapping[str, str] | None = None) -> str:
    """The address at which published ports answer: the engine's host, or loopback."""
    return endpoint(environ).host


def _probe_unix_socket(target: Endpoint, timeout: float) -> None:
    """Connect once to a local socket endpoint ourselves: the SDK leaves the socket of a failed connect
    unclosed (a ResourceWarning wherever the garbage collector meets it), so it only gets to try a socket
    that answers."""
    if target.url and not target.url.startswith("unix://"):
        return
    path = target.url.removeprefix("unix://") or "/var/run/docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except OSError as exc:
            raise EngineUnavailable(
                f"cannot reach the Docker Engine at {target.where}: {exc.strerror or exc}"
            ) from exc


class Engine:
    """A connected Engine API client with the few operations stacktest needs."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, timeout: float = 15.0) -> Engine:
        target = endpoint()
        where = target.where
        _probe_unix_socket(target, timeout)
        client: docker.DockerClient | None = None
        try:
            if target.context:
                client = docker.DockerClient(
                    base_url=target.url,
                    tls=target.tls or False,
                    timeout=int(timeout),
                    use_ssh_client=target.url.startswith("ssh://"),  # the ssh command, as the CLI does
                )
            else:
                client = docker.from_env(timeout=int(timeout))
            client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            if client is not None:
                client.close()  # its connection pool holds the socket of the failed ping
            detail = _short(exc) if isinstance(exc, docker.errors.DockerException) else str(exc)
            raise EngineUnavailable(f"cannot reach the Docker Engine at {where}: {detail}") from exc
        return cls(client)

    def close(self) -> None:
        self.client.close()

    # facts --------------------------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return dict(self.client.version())

    def info(self) -> dict[str, Any]:
        return dict(self.client.info())

    def image_exists(self, name: str) -> bool:
        return self.image_id(name) is not None

    def image_id(self, name: str) -> str | None:
        try:
            return str(self.client.api.inspect_image(name)["Id"])
        except docker.errors.DockerException:
            return None

    def images_labelled(self, label: str) -> list[tuple[str, list[str], dict[str, str]]]:
        """(id, tags, labels) of every image that carries ``label``."""
        return [
            (str(i["Id"]), list(i.get("RepoTags") or []), dict(i.get("Labels") or {}))
            for i in self.client.api.images(filters={"label": label})
        ]

    def remove_image(self, image_id: str) -> bool:
        """Remove an image no container uses; False when it is in use or gone."""
        try:
            self.client.api.remove_image(image_id)
        except docker.errors.DockerException as exc:
            log.debug("image %s kept: %s", image_id[:19], _short(exc))
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

    def replicas(self, project: str, service: str | None = None) -> dict[str, list[ServiceState]]:
        """Every container of each service (``deploy.replicas``, ``scale``), first replica first.
        One-off containers (``compose run``) are left out, and so is a container removed meanwhile."""
        label = f"{PROJECT_LABEL}={project}"
        summaries = (
            self.client.api.containers(all=True, filters={"label": [label, f"{SERVICE_LABEL}={service}"]})
            if service is not None
            else self.containers(project)
        )
        out: dict[str, list[ServiceState]] = {}
        for summary in summaries:
            if (summary.get("Labels") or {}).get(ONEOFF_LABEL) == "True":
                continue
            state = self.inspect(summary["Id"])
            if state is not None:
                out.setdefault(state.service, []).append(state)
        for states in out.values():
            states.sort(key=lambda st: (st.number, st.name))
        return out

    def states(self, project: str) -> dict[str, ServiceState]:
        """The state of each service's first container (see :meth:`replicas` for all of them)."""
        return {service: states[0] for service, states in self.replicas(project).items()}

    def inspect(self, container_id: str) -> ServiceState | None:
        try:
            attrs = self.client.api.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        labels = attrs.get("Config", {}).get("Labels") or {}
        return _state(labels.get(SERVICE_LABEL, attrs.get("Name", "?")), attrs)

    def logs(
        self,
        container_id: str,
        *,
        tail: int | None = 20,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> str:
        """A container's output (stdout and stderr): the last ``tail`` lines (None: all of them),
        between ``since`` and ``until`` (epoch seconds, to the nanosecond the engine keeps)."""
        try:
            kwargs: dict[str, Any] = {
                "tail": "all" if tail is None else tail,
                "stdout": True,
                "stderr": True,
                "timestamps": timestamps,
            }
            if since is not None:
                kwargs["since"] = float(since)
            if until is not None:
                kwargs["until"] = float(until)
            raw = self.client.api.logs(container_id, **kwargs)
        except docker.errors.NotFound:
            return ""
        return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)

    def save_logs(self, container_id: str, dest: Path) -> bool:
        """Write a container's whole output, each line with the engine's timestamp, to ``dest``
        (streamed: a service that logged gigabytes costs no memory). False when it is gone."""
        try:
            chunks = self.client.api.logs(
                container_id, stdout=True, stderr=True, timestamps=True, stream=True, follow=False
            )
            with dest.open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        except docker.errors.NotFound:
            return False
        except (docker.errors.DockerException, requests.RequestException) as exc:
            with dest.open("a") as out:
                out.write(f"\n[stacktest: the log could not be read to its end: {_short(exc)}]\n")
        return True

    def exec(self, container_id: str, argv: list[str]) -> ExecResult:
        """Run ``argv`` in a running container and wait for it to end (output attached, so the call
        returns only when the command has finished and its exit code is known)."""
        try:
            exec_id = self.client.api.exec_create(container_id, argv, stdout=True, stderr=True)
            raw = self.client.api.exec_start(exec_id["Id"], detach=False)
            info = self.client.api.exec_inspect(exec_id["Id"])
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.debug("exec %s in %s failed: %s", argv[:2], container_id[:12], _short(exc))
            return ExecResult(None, "")
        output = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else ""
        code = info.get("ExitCode")
        return ExecResult(int(code) if code is not None else None, output)

    def stop_timeout(self, container_id: str) -> int | None:
        """The container's :attr:`ServiceState.stop_timeout`; None when it cannot be read."""
        try:
            state = self.inspect(container_id)
        except (docker.errors.DockerException, requests.RequestException):
            return None
        return state.stop_timeout if state is not None else None

    def control(
        self, container_id: str, action: str, *, timeout: float | None = None, signal: str = "SIGKILL"
    ) -> None:
        """``stop``, ``start``, ``restart``, ``pause``, ``unpause`` or ``kill`` one container, as
        ``docker <action>`` would. ``timeout`` (stop, restart) defaults to the container's own stop
        timeout (compose's ``stop_grace_period``)."""
        api = self.client.api

        def stop() -> None:  # the SDK's default would cut a stop_grace_period over 10 s short
            grace = (
                timeout if timeout is not None else self.stop_timeout(container_id) or DEFAULT_STOP_TIMEOUT
            )
            api.stop(container_id, timeout=grace)

        def restart() -> None:  # stop, then start: the SDK's restart cannot use the container's timeout
            stop()
            api.start(container_id)

        calls: dict[str, Callable[[], Any]] = {
            "stop": stop,
            "start": lambda: api.start(container_id),
            "restart": restart,
            "pause": lambda: api.pause(container_id),
            "unpause": lambda: api.unpause(container_id),
            "kill": lambda: api.kill(container_id, signal=signal),
        }
        if action not in calls:
            raise UsageError(f"unknown container action {action!r}", hint=f"use one of {', '.join(calls)}")
        try:
            calls[action]()
        except (docker.errors.DockerException, requests.RequestException) as exc:
            raise EngineUnavailable(
                f"could not {action} container {container_id[:12]}: {_short(exc)}",
                hint="read `stacktest diagnose`: the container may be gone or in a state that refuses it",
            ) from exc

    def exec_check(self, container_id: str, test: tuple[str, ...], *, attempts: int = 1) -> ExecResult:
        """Run a healthcheck's own command now (CMD or CMD-SHELL form), exit code 0 meaning healthy.

        With ``attempts`` > 1 the command is retried inside the container every 50 ms until it
        succeeds (one exec for many tries, so success is seen within ~50 ms, not one API round trip
        later). That needs ``sh`` in the image; exit code 126 or 127 means it has none."""
        if not test or test[0] == "NONE":
            return ExecResult(None, "")
        cmd: list[str] = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", " ".join(test[1:])]
        if attempts > 1:
            cmd = ["/bin/sh", "-c", _RETRY_SCRIPT, "sh", str(attempts), *cmd]
        return self.exec(container_id, cmd)

    def forward_stop(self, container_id: str, signal_name: str) -> bool:
        """When PID 1 of a container is a shell, send ``signal_name`` to its children: a shell neither
        exits on SIGTERM as PID 1 nor passes it on (``CMD python app.py`` in shell form, ``sh -c``,
        entrypoint scripts that do not ``exec``), so its Python would be killed after the grace period,
        its coverage data lost. Returns whether it did. Needs ``sh`` in the image, like the shell."""
        result = self.exec(container_id, ["/bin/sh", "-c", _FORWARD_SCRIPT, "sh", signal_name.upper()])
        return result.exit_code == 0 and "forwarded" in result.output

    def image_env(self, image: str) -> dict[str, str]:
        """The environment an image sets (its Dockerfile's ENV lines); empty when it is not there."""
        try:
            attrs = self.client.api.inspect_image(image)
        except docker.errors.DockerException:
            return {}
        env = (attrs.get("Config") or {}).get("Env") or []
        return dict(item.split("=", 1) for item in env if "=" in item)

    def volume_at(self, container_id: str, destination: str) -> str | None:
        """The name of the volume a container mounts at ``destination`` (None: none there)."""
        try:
            mounts = self.client.api.inspect_container(container_id).get("Mounts") or []
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot inspect container {container_id[:12]}: {_short(exc)}") from exc
        return next(
            (
                str(m["Name"])
                for m in mounts
                if m.get("Destination") == destination and m.get("Type") == "volume"
            ),
            None,
        )

    def fill_volume(self, volume: str, archive: bytes, *, like: str) -> None:
        """Unpack a tar ``archive`` into ``volume``, through a helper container made from the image of
        container ``like`` and labelled with its project (so a teardown or reap removes it, should this
        process die meanwhile). The helper is created, never started, and removed."""
        api = self.client.api
        try:
            attrs = api.inspect_container(like)
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            helper = api.create_container(
                attrs["Image"],
                command=["true"],
                labels={PROJECT_LABEL: labels.get(PROJECT_LABEL, ""), ONEOFF_LABEL: "True"},
                host_config=api.create_host_config(binds={volume: {"bind": "/fill", "mode": "rw"}}),
            )
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"could not fill volume {volume}: {_short(exc)}") from exc
        try:
            api.put_archive(helper["Id"], "/fill", archive)
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"could not fill volume {volume}: {_short(exc)}") from exc
        finally:
            with contextlib.suppress(docker.errors.DockerException):
                api.remove_container(helper["Id"], force=True)

    def put_file(self, container_id: str, folder: str, name: str, content: bytes) -> None:
        """Write the file ``folder/name`` into a container (running or not), through the Engine API."""
        entry = tarfile.TarInfo(name)
        entry.size, entry.mode, entry.mtime = len(content), 0o644, int(time.time())
        self._put_entry(container_id, folder, entry, content, f"write {folder}/{name}")

    def make_writable(self, container_id: str, folder: str) -> None:
        """Create ``folder`` in a created (not yet started) container, world-writable with the sticky
        bit like /tmp, so that any user the service runs as can write there. Its parent must be a
        volume: the archive is unpacked into it, which the engine allows on a read-only root filesystem
        too. Done through the Engine API, so it works on a remote engine as well."""
        parent, _, name = folder.rstrip("/").rpartition("/")
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode = tarfile.DIRTYPE, 0o1777
        self._put_entry(container_id, parent or "/", entry, None, f"create {folder}")

    def _put_entry(
        self, container_id: str, folder: str, entry: tarfile.TarInfo, content: bytes | None, what: str
    ) -> None:
        """Unpack a one-entry archive into ``folder`` of a container."""
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            tar.addfile(entry, io.BytesIO(content) if content is not None else None)
        try:
            self.client.api.put_archive(container_id, folder, buf.getvalue())
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(
                f"could not {what} in container {container_id[:12]}: {_short(exc)}"
            ) from exc

    def copy_out(
        self,
        container_id: str,
        path: str,
        dest: Path,
        *,
        accept: Callable[[str], bool],
        max_files: int,
        max_bytes: int,
    ) -> int | None:
        """Copy the files directly inside folder ``path`` of a (possibly stopped) container whose names
        ``accept`` takes into ``dest``; return how many, or None when the container is gone.

        The archive is streamed, never held in memory, and sub-folders, links and other entries are
        skipped. A file count or size over the limits raises :class:`CoverageError` before the file
        is read (a sparse 100 GB file costs the container nothing, but would fill the host)."""
        api = self.client.api
        try:
            # the SDK's get_archive hides the response, which must be closed if we stop early (the engine
            # would go on archiving a 100 GB file, and hold the container meanwhile)
            response = api._get(
                api._url("/containers/{0}/archive", container_id), params={"path": path}, stream=True
            )
            api._raise_for_status(response)
        except docker.errors.NotFound:
            return None
        dest.mkdir(parents=True, exist_ok=True)
        count = size = 0
        try:
            chunks = response.iter_content(chunk_size=1 << 20)
            with tarfile.open(fileobj=io.BufferedReader(_ChunkReader(chunks)), mode="r|") as tar:
                for member in tar:
                    parts = Path(member.name).parts
                    if len(parts) != 2 or not member.isreg() or not accept(parts[1]):
                        continue
                    count += 1
                    size += member.size
                    if count > max_files or size > max_bytes:
                        raise CoverageError(
                            f"{path} of container {container_id[:12]} holds more than {max_files} files "
                            f"or {max_bytes / 2**20:.0f} MiB of coverage data; stopped copying",
                            hint="look at what writes there (`stacktest logs`); raise the limits only if "
                            "the data is real",
                        )
                    source = tar.extractfile(member)
                    if source is None:
                        continue
                    with (dest / parts[1]).open("wb") as fh:
                        shutil.copyfileobj(source, fh)
        finally:
            response.close()
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
        for n in self._listed(self.client.networks, label):
            try:
                n.remove()
                removed[1] += 1
            except docker.errors.APIError as exc:
                log.warning("could not remove network %s: %s", n.name, _short(exc))
        for v in self._listed(self.client.volumes, label):
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

    def _listed(self, collection: Any, label: Mapping[str, str]) -> list[Any]:
        """Networks or volumes by label; an engine error while listing is logged, not raised (teardown
        goes on with what it can, and the label sweep of a later start removes the rest)."""
        try:
            return list(collection.list(filters=label))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.warning("could not list what to remove: %s", _short(exc))
            return []


# Retry a healthcheck command inside the container: sh -c SCRIPT sh ATTEMPTS ARGV...
_RETRY_SCRIPT = """n=$1; shift; i=0
while [ "$i" -lt "$n" ]; do
  if "$@" >/dev/null 2>&1; then exit 0; fi
  i=$((i + 1)); sleep 0.05
done
exit 1"""


# Is PID 1 a shell? Then signal its direct children: sh -c SCRIPT sh SIGNAL
_FORWARD_SCRIPT = """sig=${1#SIG}; shell=
for s in /bin/sh /bin/bash /bin/dash /bin/ash /bin/busybox /usr/bin/bash /usr/bin/dash /usr/bin/zsh; do
  if [ -e "$s" ] && [ /proc/1/exe -ef "$s" ]; then shell=$s; fi
done
[ -n "$shell" ] || exit 0
for d in /proc/[0-9]*; do
  pid=${d#/proc/}; [ "$pid" = 1 ] && continue; ppid=
  while read -r key value; do
    if [ "$key" = "PPid:" ]; then ppid=$value; break; fi
  done < "$d/status" 2>/dev/null
  if [ "$ppid" = 1 ] && kill -s "$sig" "$pid" 2>/dev/null; then echo "forwarded $sig to $pid"; fi
done
exit 0"""


class _ChunkReader(io.RawIOBase):
    """A file over the chunks of an HTTP body, so tarfile can stream it."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _state(service: str, attrs: Mapping[str, Any]) -> ServiceState:
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


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
