"""Where the Docker Engine is: DOCKER_HOST, DOCKER_CONTEXT or the CLI's current context, else the default
socket; and the host at which published ports answer."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from stacktest._lazy import lazy_module
from stacktest.errors import EngineUnavailable

if TYPE_CHECKING:
    import docker
    import docker.errors
    import requests
else:
    docker = lazy_module("docker")
    requests = lazy_module("requests")

__all__ = [
    "Endpoint",
    "endpoint",
    "engine_host",
    "is_loopback",
    "probe_unix_socket",
]


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
    from docker.utils.config import find_config_file

    if find_config_file() is None:  # the SDK would then read contexts from ./contexts of the working folder
        return _context_of_the_cli(name, env)
    ctx = ContextAPI.get_context(name)
    if ctx is None:
        raise EngineUnavailable(
            f"the docker context {name!r} does not exist",
            hint="see `docker context ls`, or unset DOCKER_CONTEXT",
        )
    host = str(ctx.Host or "")
    return Endpoint(host, f"docker context {name} ({host})", name, ctx.TLSConfig)


def _context_of_the_cli(name: str, env: Mapping[str, str]) -> Endpoint:
    """Context ``name`` read where the docker CLI keeps it (``$DOCKER_CONFIG/contexts``, else
    ``~/.docker/contexts``), for a machine with no CLI configuration file. Never the working folder."""
    folder = Path(env.get("DOCKER_CONFIG") or Path.home() / ".docker") / "contexts"  # env: DOCKER_CONFIG
    key = hashlib.sha256(name.encode()).hexdigest()
    try:
        meta = json.loads((folder / "meta" / key / "meta.json").read_text(encoding="utf-8"))
        host = str(meta["Endpoints"]["docker"]["Host"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineUnavailable(
            f"the docker context {name!r} does not exist in {folder}",
            hint="see `docker context ls`, or unset DOCKER_CONTEXT",
        ) from exc
    if (folder / "tls" / key).exists():
        raise EngineUnavailable(
            f"the docker context {name!r} uses TLS, and this machine has no docker CLI configuration",
            hint="set DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH instead",
        )
    return Endpoint(host, f"docker context {name} ({host})", name)


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


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (what is sent there never crosses a network)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def engine_host(environ: Mapping[str, str] | None = None) -> str:
    """The address at which published ports answer: the engine's host, or loopback."""
    return endpoint(environ).host


def probe_unix_socket(target: Endpoint, timeout: float) -> None:
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
