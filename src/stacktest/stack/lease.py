"""A run's lease with the reaper on the engine (stack/reaper_service.py): taken before the first
container is created, ended by the run's teardown (or turned into a lifetime for a kept stack). A run
killed with SIGKILL cannot end it: its kernel closes the connection, and the reaper removes the run's
containers, networks and volumes ``reaper.grace`` seconds later, with no later stacktest command.

One reaper serves every run on an engine that uses the same reaper settings; it removes itself
``reaper.idle`` seconds after its last lease ends. The reap at the next start (stack/reap.py) stays as
a second line, for engines on which the reaper cannot run.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from pathlib import Path

from stacktest.adapters.endpoint import Endpoint, endpoint, is_loopback
from stacktest.adapters.engine import Engine
from stacktest.adapters.images import PUBLIC_IMAGES
from stacktest.errors import EngineUnavailable
from stacktest.settings import Settings
from stacktest.stack import reaper_service

__all__ = ["Lease", "end", "hold", "reaper_name"]

log = logging.getLogger("stacktest")

REAPER_LABEL = "io.stacktest.reaper"
_CONNECT_FOR = 20.0  # seconds to reach a reaper that is starting (or to replace one that is exiting)
_HINT = (
    "the reaper runs as a container with the engine's socket mounted; point reaper.socket at the socket's "
    "path on the engine's host and reaper.image at an image with python3, or set reaper.enabled = false "
    "(the next start still removes the stacks of runs that died)"
)


class Lease:
    """An open connection to the reaper that names one run's token."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def _say(self, line: str) -> None:
        self.sock.sendall(line.encode("ascii") + b"\n")
        answer = self.sock.makefile("r", encoding="ascii").readline().strip()
        if answer != "ACK":
            raise OSError(f"the reaper answered {answer!r} to {line.split(maxsplit=1)[0]}")

    def end(self, keep_seconds: float | None = None) -> None:
        """The orderly end: the run removed its stack (``keep_seconds`` None), or keeps it: then the
        reaper removes it that many seconds from now (0: never)."""
        try:
            self.sock.settimeout(10)
            self._say("DONE" if keep_seconds is None else f"KEEP {keep_seconds:g}")
        except OSError as exc:
            if keep_seconds is None:  # the stack is removed already: nothing is lost
                log.debug("could not tell the reaper that the run ended in order (%s)", exc)
            else:
                log.warning(
                    "could not tell the reaper to keep the stack (%s): it may remove it; "
                    "`stacktest status` tells, `stacktest up` starts one again",
                    exc,
                )
        finally:
            self.sock.close()


_held: dict[str, Lease] = {}  # project -> its lease, for the run's teardown in this process


def reaper_name(settings: Settings, image: str, target: Endpoint | None = None) -> str:
    """One reaper per engine and reaper settings (runs with other settings get their own)."""
    key = f"{image} {_socket(settings, target)} {settings.reaper_grace:g} {settings.reaper_idle:g}"
    return "stacktest-reaper-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def _image(settings: Settings, engine: Engine) -> str:
    """The setting; else the local base image when there is one (or the run builds it); else the public
    Python image (pulled, with a registry)."""
    if settings.reaper_image:
        return settings.reaper_image
    if settings.images == "local" or engine.image_exists(settings.base_image):
        return settings.base_image
    return PUBLIC_IMAGES["STACKTEST_PYTHON_IMAGE"]


def _socket(settings: Settings, target: Endpoint | None = None) -> str:
    if settings.reaper_socket:
        return settings.reaper_socket
    url = (target or endpoint()).url
    return url.removeprefix("unix://") if url.startswith("unix://") else "/var/run/docker.sock"


def hold(settings: Settings, engine: Engine, project: str, token: str) -> Lease | None:
    """Take the run's lease (None when the reaper is turned off). Raises :class:`EngineUnavailable`,
    saying how to go on, when no reaper can be started or reached."""
    if not settings.reaper_enabled:
        return None
    target = endpoint()
    host, image = target.host, _image(settings, engine)
    name, mounted = reaper_name(settings, image, target), _socket(settings, target)
    deadline = time.monotonic() + _CONNECT_FOR
    why = "it did not start"
    while time.monotonic() < deadline:
        port = engine.published_port(name, reaper_service.PORT)
        if port is None:
            try:
                engine.start_service(
                    name,
                    image,
                    ["python3", "-c", _program(), f"{settings.reaper_grace:g}", f"{settings.reaper_idle:g}"],
                    port=reaper_service.PORT,
                    on_all_interfaces=not is_loopback(host),
                    binds={mounted: reaper_service.SOCKET},
                    labels={REAPER_LABEL: "true"},
                )
            except EngineUnavailable as exc:
                exc.hint = _HINT
                raise
            time.sleep(0.1)  # bounded: the loop's deadline
            continue
        try:
            lease = _connect(host, port, token)
        except OSError as exc:  # not listening yet (the engine's proxy took the connection), or exiting
            why = f"{host}:{port}: {exc.strerror or exc}"
            time.sleep(0.1)  # bounded: the loop's deadline
            continue
        _held[project] = lease
        log.debug("lease of %s held by reaper %s at %s:%d", project, name, host, port)
        return lease
    raise EngineUnavailable(f"cannot reach the reaper {name} on the engine: {why}", hint=_HINT)


def _connect(host: str, port: int, token: str) -> Lease:
    """A lease on the reaper at ``host:port``, acknowledged; raises OSError."""
    sock = socket.create_connection((host, port), timeout=5)
    try:
        lease = Lease(sock)
        lease._say(f"LEASE {token}")
    except OSError:
        sock.close()
        raise
    sock.settimeout(None)
    return lease


def end(project: str, keep_seconds: float | None = None) -> None:
    """End the run's lease, if this process holds one (see :meth:`Lease.end`)."""
    lease = _held.pop(project, None)
    if lease is not None:
        lease.end(keep_seconds)


def _program() -> str:
    return Path(reaper_service.__file__).read_text(encoding="utf-8")
