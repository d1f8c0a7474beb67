"""A stack: one compose project of one run, with labels, a state file, readiness and teardown.

Every run gets its own project name; every container, network and volume carries labels that say which
checkout and which run made it. A state file (see _state.py) records each live stack of the
checkout, so that ``status``, ``logs`` and ``down`` find it without being told.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from stacktest import signals
from stacktest.adapters import compose as _compose
from stacktest.adapters import images as _images
from stacktest.adapters.compose import Compose
from stacktest.adapters.endpoint import engine_host, is_loopback
from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import (
    ServiceState,
)
from stacktest.errors import ComposeError, ConfigError, StackNotFound, UsageError
from stacktest.settings import Settings
from stacktest.stack import lease as _lease
from stacktest.stack.overlay import (
    build_contexts,
    built_images,
    image_prefix,
    images_built,
    labelled_config,
    stack_labels,
)
from stacktest.stack.owner import new_token
from stacktest.stack.readiness import wait_ready
from stacktest.stack.reap import reap_orphans
from stacktest.stack.records import Endpoint, StackRecord, _endpoints, find_record, service_urls, start_order
from stacktest.stack.rules import Progress
from stacktest.state import KEEP_LOGS

__all__ = [
    "Stack",
    "ready_by_probes",
    "save_logs",
    "start",
    "teardown",
]

log = logging.getLogger("stacktest")


@dataclass
class Stack:
    """A started stack: its record, compose and engine handles (connected when first used).

    ``checked_urls``: each service's URLs (one per replica) as a check of its probes just found them;
    set, the stack answers :meth:`urls` without asking the engine. ``seen``: its containers as listed
    once it was ready (:meth:`settle`), for the steps between readiness and the tests."""

    settings: Settings
    record: StackRecord
    _compose: Compose | None = None
    _engine: Engine | None = None
    checked_urls: dict[str, list[str]] | None = None
    seen: dict[str, list[ServiceState]] | None = None

    @property
    def project(self) -> str:
        return self.record.project

    @property
    def compose(self) -> Compose:
        if self._compose is None:
            self._compose = self.record.compose(self.settings)
        return self._compose

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.connect()
        return self._engine

    def states(self) -> dict[str, ServiceState]:
        return self.engine.states(self.project)

    def endpoints(self) -> dict[str, list[Endpoint]]:
        """Each service's published ports, of its first replica."""
        return {service: states[0] for service, states in self._endpoints().items()}

    def _endpoints(
        self, replicas: Mapping[str, list[ServiceState]] | None = None
    ) -> dict[str, list[list[Endpoint]]]:
        found = self.engine.replicas(self.project) if replicas is None else replicas
        return _endpoints(found)

    def urls(self) -> dict[str, str]:
        """One URL per service (its first replica)."""
        return {service: urls[0] for service, urls in self.replica_urls().items()}

    def replica_urls(self, replicas: Mapping[str, list[ServiceState]] | None = None) -> dict[str, list[str]]:
        """A URL per replica of each service that publishes a port."""
        if replicas is None and self.checked_urls is not None:
            return {service: list(urls) for service, urls in self.checked_urls.items()}
        found = self.engine.replicas(self.project) if replicas is None else replicas
        return service_urls(self.settings.probes, found)

    def settle(self) -> None:
        """Once ready: list the containers once; the URLs and the steps before the tests use that list
        (the engine is not asked again), and the state file keeps the URLs (:meth:`remember_urls`)."""
        self.seen = self.engine.replicas(self.project)
        self.checked_urls = self.replica_urls(self.seen)
        self.remember_urls()

    def remember_urls(self) -> None:
        """Keep each service's URLs in the state file, for :func:`ready_by_probes` next time."""
        self.record.urls = self.replica_urls()
        self.record.save(self.settings)

    def overview(self) -> list[dict[str, Any]]:
        """One row per container (``web``, ``web-2``): state, readiness as stacktest judges it now,
        the engine's health, restarts, exit code and URL. What `status` shows, as a table or JSON."""
        replicas = self.engine.replicas(self.project)  # listed once for the whole view
        ready = self.ready_now(replicas)
        urls = self.replica_urls(replicas)
        rows = []
        for service, states in sorted(replicas.items()):
            for i, st in enumerate(states):
                ok, how = ready.get(st.label, (False, "?"))
                service_urls = urls.get(service, [])
                rows.append(
                    {
                        "name": st.label,
                        "service": service,
                        "state": st.status,
                        "ready": ok,
                        "readiness": how,
                        "health": st.health,
                        "restarts": st.restart_count,
                        "exit_code": st.exit_code,
                        "url": service_urls[i] if i < len(service_urls) else None,
                    }
                )
        return rows

    def ready_now(
        self, replicas: Mapping[str, list[ServiceState]] | None = None
    ) -> dict[str, tuple[bool, str]]:
        """Each container's readiness as stacktest judges it at this moment (keyed ``web``, ``web-2``): the
        readiness rules (:func:`~stacktest.stack.rules.judge`) on one observation."""
        from stacktest.stack.rules import Status, judge

        host = engine_host()
        found = self.engine.replicas(self.project) if replicas is None else replicas
        out: dict[str, tuple[bool, str]] = {}
        for service, states in sorted(found.items()):
            for st in states:
                verdict = judge(self.engine, st, self.settings.probes.get(service), host)
                out[st.label] = (verdict.status is Status.READY, verdict.detail)
        return out

    def wait(
        self,
        on_progress: Callable[[Progress], None] | None = None,
        services: Sequence[str] = (),
        *,
        running: bool = False,
    ) -> dict[str, float]:
        """Wait until the stack is ready; returns when each service was (epoch seconds).

        ``running``: the stack was started earlier (reused, or `stacktest wait`): an engine health of
        "unhealthy" it already has predates this wait (a container paused by a test stays so until its
        next healthcheck) and does not fail it by itself; its probe or healthcheck command decides."""
        names = list(services) or self.record.services or sorted(self.states())
        stale = (
            [st.container_id for states in self.engine.replicas(self.project).values() for st in states]
            if running
            else []
        )
        started = time.time()
        host = engine_host()
        if not is_loopback(host) and any(p.kind == "http" for p in self.settings.probes.values()):
            log.warning(
                "the readiness probes and the tests' requests go over plain HTTP to %s, the engine's host: "
                "what they send crosses the network unencrypted",
                host,
            )
        ready = wait_ready(
            self.engine,
            self.project,
            names,
            self.settings.probes,
            host=host,
            timeout=self.settings.ready_timeout,
            timeouts=self.settings.ready_timeouts,
            poll_interval=self.settings.poll_interval,
            on_progress=on_progress,
            log_lines=bool(getattr(on_progress, "shows_log_lines", False)),
            stale_health=stale,
        )
        return {service: started + seconds for service, seconds in ready.items()}


def prepare(
    settings: Settings,
    *,
    extra_files: Sequence[Path] = (),
    project: str | None = None,
    kept: bool = False,
    config: Mapping[str, Any] | None = None,
) -> tuple[Compose, StackRecord, dict[str, Any]]:
    """Name the run, validate the compose files and write the labels override and the state file."""
    for f in settings.compose_paths:
        if not f.is_file():
            where = settings.source or "settings"
            raise ConfigError(f"compose file {f} does not exist (tool.stacktest.compose_files in {where})")
    found = _compose.detect(settings.compose_command)
    name = (
        project or settings.project_name or _compose.new_project_name(settings.project_prefix, settings.root)
    )
    env = _images.image_env(settings)
    files = [*settings.compose_paths, *extra_files]
    compose = found.bind(name, files, env, settings.command_timeout)
    config = dict(config) if config is not None else compose.config()
    run_dir = settings.state.run(name)
    run_dir.mkdir(parents=True, exist_ok=True)
    override = run_dir / "labels.yml"
    token = new_token()
    labels = stack_labels(settings, name, kept, token)
    import yaml

    labelled = labelled_config(config, labels, image_prefix(settings))
    override.write_text(yaml.safe_dump(labelled, sort_keys=True))
    compose = compose.with_files([*files, override])
    record = StackRecord(
        project=name,
        files=[str(f) for f in compose.files],
        compose_command=list(found.command),
        compose_version=list(found.version),
        env=env,
        pid=os.getpid(),
        created=time.time(),
        services=start_order(config),
        kept=kept,
        token=token,
    )
    return compose, record, config


def start(
    settings: Settings,
    *,
    services: Sequence[str] = (),
    build: bool = False,
    kept: bool = False,
    extra_files: Sequence[Path] = (),
    coverage: bool = False,
    project: str | None = None,
    before_start: Callable[[Stack], None] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Stack:
    """Bring a new stack up; :meth:`Stack.wait` then waits until it is ready. ``config``: the merged
    compose configuration when the caller has it already (compose is then not asked again).

    The state file is written before ``up``, so that whatever happens next, ``down`` and ``reap`` can
    find what was started. On any failure the caller's ``finally`` calls :func:`teardown`.
    ``before_start`` is called with the created but not yet started containers (``up --no-start``).
    """
    engine = Engine.connect()
    reap_orphans(settings, engine)
    compose, record, config = prepare(
        settings, extra_files=extra_files, project=project, kept=kept, config=config
    )
    unknown = [s for s in services if s not in record.services]
    if unknown:
        raise UsageError(
            f"unknown service {unknown[0]!r}; the stack has: {', '.join(record.services)}",
            hint="name services as the compose file does",
        )
    record.coverage = coverage
    if services:
        record.services = sorted(set(services))
    record.save(settings)
    stack = Stack(settings, record, compose, engine)
    if settings.images != "compose":
        _images.ensure_base_image(engine, settings)
        _images.ensure_wheels(build_contexts(config))
    build = build or settings.build == "always"
    before = (
        {name: engine.image_id(name) for name in built_images(config, image_prefix(settings))}
        if build
        else {}
    )
    pull = compose.pull_first(settings.pull, services)
    _lease.hold(settings, engine, record.project, record.token)  # before the first container exists
    try:
        if before_start is not None:
            compose.run(
                compose.up_argv(services, build=build, no_start=True, pull=pull), what="compose up --no-start"
            )
            before_start(stack)
            build, pull = False, "never"  # built and pulled by the first up
        compose.run(compose.up_argv(services, build=build, pull=pull), what="compose up")
        images_built(engine, built_images(config, image_prefix(settings)), before)
    except ComposeError as exc:
        exc.hint = _compose.up_hint(exc.stderr_tail) or exc.hint
        raise
    return stack


def attach(settings: Settings, project: str | None = None) -> Stack:
    """The recorded stack of this checkout (or the one named), connected; raises if it is gone."""
    record = find_record(settings, project)
    engine = Engine.connect()
    if not engine.containers(record.project):
        record.path(settings).unlink(missing_ok=True)
        raise StackNotFound(f"the recorded stack {record.project} has no containers any more")
    return Stack(settings, record, record.compose(settings), engine)


def ready_by_probes(settings: Settings, record: StackRecord) -> dict[str, list[str]] | None:
    """The fast check of a kept stack, without the engine: when every service has a probe from the host
    (http or tcp) and the state file knows its URLs, each replica's probe is asked once at its URL. All
    answer: the stack is found and ready, and these are its URLs. Otherwise None, and the caller asks
    the engine (a container started again since has other ports: its old URL no longer answers)."""
    from stacktest.stack.rules import probe_once

    if not record.urls or not record.services:
        return None
    probes = settings.probes
    if any(s not in record.urls or s not in probes or probes[s].kind == "log" for s in record.services):
        return None
    for service in record.services:
        for url in record.urls[service]:
            parsed = urlparse(url)
            if parsed.hostname is None or parsed.port is None:
                return None
            ok, _ = probe_once(probes[service], parsed.hostname, parsed.port)
            if not ok:
                return None
    return {service: list(urls) for service, urls in record.urls.items()}


def teardown(stack: Stack, *, volumes: bool = True, grace: float = 0.0) -> None:
    """Remove the stack's containers, networks and volumes; then sweep by label for anything left.

    ``grace`` is the seconds each service gets to stop: 0 by default, since a run's stack and its
    volumes are thrown away (coverage runs stop their services gracefully before this).
    """
    with signals.deferred():
        try:
            stack.compose.run(stack.compose.down_argv(volumes=volumes, timeout=grace), what="compose down")
        except ComposeError as exc:
            log.warning("compose down failed (%s); removing by label", exc.message)
        stack.engine.remove_project(stack.project)
        _lease.end(stack.project)  # removed: the reaper has nothing left to do for this run
        stack.record.path(stack.settings).unlink(missing_ok=True)
        run_dir = stack.settings.state.run(stack.project)
        if run_dir.is_dir():  # all but the logs a failed run saved there
            import shutil

            for entry in run_dir.iterdir():
                if entry.name == "logs":
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
            with suppress(OSError):
                run_dir.rmdir()  # when empty


def save_logs(stack: Stack) -> Path | None:
    """Every container's full log, with timestamps, in ``.stacktest/runs/<project>/logs/<name>.log``
    (``web``, ``web-2``, one-shots too): the folder a CI job uploads when a run failed. Older folders
    beyond KEEP_LOGS are removed. None when the stack has no containers."""
    import shutil

    replicas = stack.engine.replicas(stack.project)
    if not replicas:
        return None
    folder = stack.settings.state.logs(stack.project)
    folder.mkdir(parents=True, exist_ok=True)
    for states in replicas.values():
        for st in states:
            stack.engine.save_logs(st.container_id, stack.settings.state.log_file(stack.project, st.label))
    for old in stack.settings.state.saved_logs()[KEEP_LOGS:]:
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return folder
