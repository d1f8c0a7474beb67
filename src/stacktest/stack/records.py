"""The state file's record of each live stack of a checkout (`.stacktest/stacks/<project>.json`): who
started it, with which compose files, and at which URLs its services answer."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stacktest.adapters import compose as _compose
from stacktest.adapters.compose import Compose
from stacktest.adapters.endpoint import engine_host
from stacktest.adapters.engine_model import (
    ServiceState,
)
from stacktest.adapters.images import IMAGE_ENV_KEYS
from stacktest.errors import StackNotFound
from stacktest.settings import Probe, Settings
from stacktest.state import atomic_write

__all__ = ["Endpoint", "StackRecord", "find_record", "load_records", "service_urls", "start_order"]

log = logging.getLogger("stacktest")


def start_order(config: Mapping[str, object]) -> list[str]:
    """The services of a compose configuration, each after what it depends on (by name otherwise): the
    order that puts a failed dependency before the services that failed because of it."""
    services = config.get("services")
    declared: Mapping[str, object] = services if isinstance(services, Mapping) else {}
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in order or name in path or name not in declared:
            return  # done, a cycle (compose refuses those anyway), or not a service of this file
        spec = declared[name]
        needs = spec.get("depends_on") if isinstance(spec, Mapping) else None
        for dependency in sorted(needs or ()) if isinstance(needs, (Mapping, list)) else ():
            visit(str(dependency), (*path, name))
        order.append(name)

    for name in sorted(declared):
        visit(name, ())
    return order


@dataclass
class StackRecord:
    """What the state file says of one stack."""

    project: str
    files: list[str]
    compose_command: list[str]
    compose_version: list[int]
    env: dict[str, str]
    pid: int
    created: float
    kept: bool = False
    coverage: bool = False
    services: list[str] = field(default_factory=list)
    token: str = ""  # the run's LABEL_TOKEN: proves the labelled stack is this record's
    urls: dict[str, list[str]] = field(default_factory=dict)  # as last found ready: service -> per replica

    def path(self, settings: Settings) -> Path:
        return settings.state.stack_file(self.project)

    def save(self, settings: Settings) -> None:
        atomic_write(self.path(settings), json.dumps(asdict(self), indent=2))

    def compose(self, settings: Settings) -> Compose:
        """The run's compose, bound to its project. A state file is only data: a command it names that is
        not a compose command this machine would choose is not run (compose is detected instead), and of
        its variables only those stacktest sets for compose are passed (a planted ``LD_PRELOAD`` is not)."""
        command = tuple(self.compose_command)
        version = (self.compose_version[0], self.compose_version[1], self.compose_version[2])
        if command not in _compose_commands(settings):
            found = _compose.detect(settings.compose_command)
            command, version = found.command, found.version
        env = {k: str(v) for k, v in self.env.items() if k in IMAGE_ENV_KEYS}
        return Compose(
            command, version, self.project, tuple(Path(f) for f in self.files), env, settings.command_timeout
        )


def _compose_commands(settings: Settings) -> set[tuple[str, ...]]:
    """The compose commands a run of this checkout may have recorded: the configured one, or the two
    that detection tries."""
    if settings.compose_command:
        return {tuple(shlex.split(settings.compose_command))}
    return set(_compose.CANDIDATES)


@dataclass(frozen=True)
class Endpoint:
    service: str
    host: str
    port: int
    container_port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _endpoints(replicas: Mapping[str, list[ServiceState]]) -> dict[str, list[list[Endpoint]]]:
    host = engine_host()
    return {
        service: [[Endpoint(service, host, hp, cp) for cp, hp in sorted(st.ports.items())] for st in states]
        for service, states in sorted(replicas.items())
    }


def _url(probe: Probe | None, endpoints: list[Endpoint]) -> str | None:
    """The probed port when one is configured, else the first published one; ``tcp://`` for a service
    probed over TCP (Redis), ``postgresql://`` (the dialect, no credentials) for a SQL database, else
    ``http://``."""
    if not endpoints:
        return None
    chosen = next((e for e in endpoints if probe and e.container_port == probe.port), endpoints[0])
    scheme = {"tcp": "tcp", "sql": probe.dialect}.get(probe.kind, "http") if probe is not None else "http"
    return f"{scheme}://{chosen.host}:{chosen.port}"


def service_urls(
    probes: Mapping[str, Probe], replicas: Mapping[str, list[ServiceState]]
) -> dict[str, list[str]]:
    """A URL per replica of each service that publishes a port (published ports change when a
    container is stopped and started again, so they are read from the engine, never kept)."""
    out: dict[str, list[str]] = {}
    for service, per_replica in _endpoints(replicas).items():
        urls = [u for u in (_url(probes.get(service), e) for e in per_replica) if u]
        if urls:
            out[service] = urls
    return out


# state files -----------------------------------------------------------------------------------------
def load_records(settings: Settings) -> list[StackRecord]:
    folder = settings.state.stacks
    records = []
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            records.append(StackRecord(**json.loads(p.read_text())))
        except (ValueError, TypeError, OSError):
            log.warning("ignoring unreadable state file %s", p)
    return sorted(records, key=lambda r: r.created)


def find_record(settings: Settings, project: str | None = None) -> StackRecord:
    """The stack a command means: the one named, else this checkout's newest kept stack, else its newest."""
    records = load_records(settings)
    if project:
        for r in records:
            if r.project == project:
                return r
        raise StackNotFound(f"no stack named {project!r} is recorded in {settings.state.stacks}")
    if not records:
        raise StackNotFound(f"no stack of this checkout ({settings.root}) is running")
    kept = [r for r in records if r.kept]
    return (kept or records)[-1]
