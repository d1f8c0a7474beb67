"""The Docker Engine API, through the ``docker`` SDK.

Nothing else in stacktest opens a Docker client. Errors of the SDK are translated here, once, into
:class:`~stacktest.errors.EngineUnavailable`. The SDK (and requests, under it) is loaded on first use,
not on import: a run that reuses a stack by its probes never pays the 70 ms its import costs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacktest._lazy import lazy_module
from stacktest.adapters.endpoint import endpoint, probe_unix_socket
from stacktest.adapters.engine_files import FileTransfer
from stacktest.adapters.engine_model import (
    DEFAULT_STOP_TIMEOUT,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    ExecResult,
    ServiceState,
    StackInfo,
    short,
    state_of,
)
from stacktest.adapters.engine_own import OwnServices
from stacktest.errors import EngineUnavailable, UsageError

if TYPE_CHECKING:
    import docker
    import docker.errors
    import requests
else:
    docker = lazy_module("docker")
    requests = lazy_module("requests")

__all__ = [
    "Engine",
]

log = logging.getLogger("stacktest")


def _need_paramiko(where: str) -> None:
    """The SDK's ssh transport imports paramiko even when the ssh command does the work."""
    import importlib

    try:
        importlib.import_module("paramiko")
    except ImportError:
        raise EngineUnavailable(
            f"cannot reach the Docker Engine at {where}: ssh:// engines need paramiko (not installed)",
            hint="pip install 'stacktest[ssh]' (the ssh command connects; the SDK only loads paramiko)",
        ) from None


class Engine(FileTransfer, OwnServices):
    """A connected Engine API client with the few operations stacktest needs."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client

    @classmethod
    def connect(cls, timeout: float = 15.0) -> Engine:
        target = endpoint()
        where = target.where
        probe_unix_socket(target, timeout)
        client: docker.DockerClient | None = None
        ssh = target.url.startswith("ssh://")
        if ssh:
            _need_paramiko(where)
        try:
            if target.context or ssh:
                client = docker.DockerClient(
                    base_url=target.url,
                    tls=target.tls or False,
                    timeout=int(timeout),
                    use_ssh_client=ssh,  # the ssh command (its config, keys and agent), as the CLI does
                )
            else:
                client = docker.from_env(timeout=int(timeout))
            client.ping()
        except (docker.errors.DockerException, OSError) as exc:
            if client is not None:
                client.close()  # its connection pool holds the socket of the failed ping
            detail = short(exc) if isinstance(exc, docker.errors.DockerException) else str(exc)
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
            log.debug("image %s kept: %s", image_id[:19], short(exc))
            return False
        return True

    def import_image(self, tar_path: Path, name: str) -> None:
        repo, _, tag = name.partition(":")
        with tar_path.open("rb") as fh:
            self.client.api.import_image_from_data(fh.read(), repository=repo, tag=tag or "latest")

    # containers of a project ---------------------------------------------------------------------------
    def _summaries(self, *labels: str) -> list[dict[str, Any]]:
        """Containers with every label, from one list call (no inspect per container, so no race with
        removal)."""
        log.debug("engine: list %s", " ".join(labels))
        return list(self.client.api.containers(all=True, filters={"label": list(labels)}))

    def containers(self, project: str) -> list[dict[str, Any]]:
        return self._summaries(f"{PROJECT_LABEL}={project}")

    def replicas(self, project: str, service: str | None = None) -> dict[str, list[ServiceState]]:
        """Every container of each service (``deploy.replicas``, ``scale``), first replica first.
        One-off containers (``compose run``) are left out, and so is a container removed meanwhile."""
        label = f"{PROJECT_LABEL}={project}"
        summaries = (
            self._summaries(label, f"{SERVICE_LABEL}={service}")
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
            log.debug("engine: inspect %s: gone", container_id[:12])
            return None
        log.debug("engine: inspect %s: %s", container_id[:12], (attrs.get("State") or {}).get("Status"))
        labels = attrs.get("Config", {}).get("Labels") or {}
        return state_of(labels.get(SERVICE_LABEL, attrs.get("Name", "?")), attrs)

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
                out.write(f"\n[stacktest: the log could not be read to its end: {short(exc)}]\n")
        return True

    def exec(self, container_id: str, argv: list[str]) -> ExecResult:
        """Run ``argv`` in a running container and wait for it to end (output attached, so the call
        returns only when the command has finished and its exit code is known)."""
        try:
            exec_id = self.client.api.exec_create(container_id, argv, stdout=True, stderr=True)
            raw = self.client.api.exec_start(exec_id["Id"], detach=False)
            info = self.client.api.exec_inspect(exec_id["Id"])
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.debug("exec %s in %s failed: %s", argv[:2], container_id[:12], short(exc))
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
                f"could not {action} container {container_id[:12]}: {short(exc)}",
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

    def container_env(self, container_id: str) -> dict[str, str]:
        """A container's environment (a database's credentials, for the sql probe; never printed)."""
        log.debug("engine: inspect %s (environment)", container_id[:12])
        try:
            attrs = self.client.api.inspect_container(container_id)
        except docker.errors.DockerException:
            return {}
        env = (attrs.get("Config") or {}).get("Env") or []
        return dict(item.split("=", 1) for item in env if "=" in item)

    def image_env(self, image: str) -> dict[str, str]:
        """The environment an image sets (its Dockerfile's ENV lines); empty when it is not there."""
        try:
            attrs = self.client.api.inspect_image(image)
        except docker.errors.DockerException:
            return {}
        env = (attrs.get("Config") or {}).get("Env") or []
        return dict(item.split("=", 1) for item in env if "=" in item)

    # stacks by label ------------------------------------------------------------------------------------
    def stacks(self) -> list[StackInfo]:
        """Every stack stacktest started on this engine (see :func:`engine_stacks.stacks`)."""
        from stacktest.adapters.engine_stacks import stacks

        return stacks(self.client)

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
                log.warning("could not remove container %s: %s", summary["Id"][:12], short(exc))
        for n in self._listed(self.client.networks, label):
            try:
                n.remove()
                removed[1] += 1
            except docker.errors.APIError as exc:
                log.warning("could not remove network %s: %s", n.name, short(exc))
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
                        log.warning("could not remove volume %s: %s", v.name, short(exc))
                    time.sleep(0.2)  # bounded retry: 3 attempts
        return removed[0], removed[1], removed[2]

    def _listed(self, collection: Any, label: Mapping[str, str]) -> list[Any]:
        """Networks or volumes by label; an engine error while listing is logged, not raised (teardown
        goes on with what it can, and the label sweep of a later start removes the rest)."""
        try:
            return list(collection.list(filters=label))
        except (docker.errors.DockerException, requests.RequestException) as exc:
            log.warning("could not list what to remove: %s", short(exc))
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
