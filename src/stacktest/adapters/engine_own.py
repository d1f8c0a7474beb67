"""Containers of stacktest's own on the engine (the reaper, stack/lease.py): found by name, started
with a published port and removed by the engine when they exit. :class:`OwnServices` is a part of
:class:`~stacktest.adapters.engine.Engine`."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from stacktest._lazy import lazy_module
from stacktest.adapters.engine_model import short
from stacktest.errors import EngineUnavailable

if TYPE_CHECKING:
    import docker
    import docker.errors
else:
    docker = lazy_module("docker")

__all__ = ["OwnServices"]

log = logging.getLogger("stacktest")


class OwnServices:
    """The operations of :class:`~stacktest.adapters.engine.Engine` on stacktest's own containers."""

    client: docker.DockerClient

    def image_exists(self, name: str) -> bool:
        raise NotImplementedError  # Engine's

    def published_port(self, name: str, port: int) -> int | None:
        """The host port that container ``name`` publishes ``port`` on, while it runs; None otherwise."""
        try:
            attrs = self.client.api.inspect_container(name)
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:  # Podman: a 500 for a container its auto-remove is removing
            log.debug("container %s not inspected: %s", name, short(exc))
            return None
        except docker.errors.DockerException as exc:
            raise EngineUnavailable(f"cannot inspect container {name}: {short(exc)}") from exc
        if not (attrs.get("State") or {}).get("Running"):
            return None
        bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port}/tcp") or []
        return next((int(b["HostPort"]) for b in bindings if b.get("HostPort")), None)

    def start_service(
        self,
        name: str,
        image: str,
        command: list[str],
        *,
        port: int,
        on_all_interfaces: bool,
        binds: Mapping[str, str],
        labels: Mapping[str, str],
    ) -> bool:
        """Create and start container ``name`` (removed by the engine when it exits), publishing ``port``
        on an ephemeral host port. False when a container of that name exists already (another process
        started it first). ``binds``: host path -> container path."""
        api = self.client.api
        if not self.image_exists(image):
            try:
                self.client.images.pull(image)
            except docker.errors.DockerException as exc:
                raise EngineUnavailable(
                    f"image {image} is not on the engine and cannot be pulled: {short(exc)}"
                ) from exc
        host_config = api.create_host_config(
            auto_remove=True,
            binds={src: {"bind": dst, "mode": "rw"} for src, dst in binds.items()},
            port_bindings={port: ("0.0.0.0" if on_all_interfaces else "127.0.0.1", None)},  # noqa: S104
        )
        try:
            created = api.create_container(
                image, command=command, name=name, labels=dict(labels), host_config=host_config, ports=[port]
            )
        except docker.errors.APIError as exc:
            if exc.status_code == 409 or "already in use" in str(exc):  # the name is taken
                return False
            raise EngineUnavailable(f"cannot create container {name}: {short(exc)}") from exc
        try:
            api.start(created["Id"])
        except docker.errors.DockerException as exc:
            with contextlib.suppress(docker.errors.DockerException):
                api.remove_container(created["Id"], force=True)
            raise EngineUnavailable(f"cannot start container {name}: {short(exc)}") from exc
        return True
