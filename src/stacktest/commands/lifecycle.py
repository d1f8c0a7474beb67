"""The stack commands (up, down, wait, logs, attach, reap) and the one place a run's stack is made and
removed (:func:`managed_stack`, teardown in ``finally``), covered or not."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stacktest import signals
from stacktest._lazy import lazy_module
from stacktest.adapters import compose as _compose
from stacktest.adapters import images as _images
from stacktest.adapters.engine_model import ServiceState, StackInfo
from stacktest.errors import (
    ConfigError,
    NotReady,
    StackNotFound,
    StacktestError,
    UsageError,
)
from stacktest.settings import Settings
from stacktest.stack import lease as _lease
from stacktest.stack import lifecycle as stacks
from stacktest.stack import reap as reaping
from stacktest.stack import records
from stacktest.stack.lifecycle import Stack
from stacktest.stack.rules import Progress
from stacktest.state import (
    ENV_PROJECT,
    ENV_REPLICA_URLS,
    ENV_URLS,
    shown,
)

if TYPE_CHECKING:
    from stacktest.coverage import harvest as _harvest
    from stacktest.coverage import paths as _paths
    from stacktest.coverage import spy as _spy
else:  # coverage and yaml load only for the commands that measure (the edit-test loop never does)
    _harvest = lazy_module("stacktest.coverage.harvest")
    _spy = lazy_module("stacktest.coverage.spy")
    _paths = lazy_module("stacktest.coverage.paths")

__all__ = [
    "Covered",
    "PhaseFn",
    "ProgressFn",
    "Reaped",
    "attach",
    "covered",
    "down",
    "keep_logs",
    "logs",
    "managed_stack",
    "reap",
    "stack_env",
    "up",
    "wait",
]

log = logging.getLogger("stacktest")

ProgressFn = Callable[[Progress], None]
PhaseFn = Callable[[str], None]


def up(
    settings: Settings,
    *,
    services: Sequence[str] = (),
    build: bool = False,
    keep_on_error: bool = False,
    wait: bool = True,
    on_progress: ProgressFn | None = None,
    coverage: bool = False,
    ttl: float | None = None,
) -> Stack:
    """Start a stack that outlives this command (``stacktest down`` removes it; with ``ttl``, the
    reaper on the engine removes it that many seconds from now, if ``down`` has not).

    If it cannot be made ready, it is removed again unless ``keep_on_error``. ``coverage``: its covered
    services run with the spy, which saves on `stacktest coverage snapshot`; `stacktest test` runs reuse
    it, and a snapshot reports what they reached so far."""
    if ttl is not None and not settings.reaper_enabled:
        raise UsageError(
            "--ttl needs the reaper, and reaper.enabled is false",
            hint="leave reaper.enabled on, or remove the stack with `stacktest down`",
        )
    project = _new_project(settings)
    cov = covered(settings, project) if coverage else None
    with managed_stack(
        settings,
        keep=True,
        keep_on_error=keep_on_error,
        build=build,
        reuse=False,
        services=services,
        wait=wait,
        covered=cov,
        on_progress=on_progress,
        project=project,
        ttl=ttl,
    ) as started:
        if coverage and wait:
            replicas = _replicas(started, settings.coverage_services)
            _harvest.check_spy(started.engine, replicas, settings.state.run(project))
        return started


def _new_project(settings: Settings) -> str:
    return settings.project_name or _compose.new_project_name(settings.project_prefix, settings.root)


def _teardown_partial(settings: Settings, started: Stack | None, project: str) -> None:
    """Remove a stack whose start failed midway, even when ``start`` raised before returning it: the
    project was named before anything started, so its record is found by name (not by recency, which
    another run of the same checkout could have changed)."""
    if started is not None:
        stacks.teardown(started)
        return
    record = next((r for r in records.load_records(settings) if r.project == project), None)
    if record is not None:  # no record: nothing was started
        from stacktest.adapters.engine import Engine

        with signals.deferred():  # connecting is part of teardown: a Ctrl-C must not cut it
            stacks.teardown(Stack(settings, record, record.compose(settings), Engine.connect()))


@contextmanager
def managed_stack(
    settings: Settings,
    *,
    keep: bool = False,
    keep_on_error: bool | None = None,
    build: bool = False,
    reuse: bool = True,
    services: Sequence[str] = (),
    wait: bool = True,
    covered: Covered | None = None,
    on_progress: ProgressFn | None = None,
    project: str | None = None,
    ttl: float | None = None,
) -> Iterator[Stack]:
    """A ready stack for one run: this checkout's running one when it is healthy, else a new one that is
    removed afterwards (on success, failure, error, Ctrl-C or SIGTERM) unless ``keep``. A stack that
    could not be started or made ready is removed unless ``keep_on_error`` (default: ``keep``). A kept
    stack is the reaper's after ``ttl`` seconds (None: never)."""
    if reuse and covered is None:
        existing = _reusable(settings, on_progress)
        if existing is not None:
            yield existing
            return
    project = project or _new_project(settings)
    started: Stack | None = None
    ready = False
    try:
        try:
            started = stacks.start(
                settings,
                services=services,
                build=build,
                kept=keep,
                extra_files=[covered.overlay] if covered else [],
                coverage=covered is not None,
                project=project,
                before_start=covered.before_start if covered else None,
                config=covered.config if covered else None,
            )
            if wait:
                _record_readiness(settings, started, started.wait(on_progress))
                started.settle()
            ready = True
            yield started
        except StacktestError as exc:
            folder = keep_logs(started) if started is not None else None
            if folder is not None and isinstance(exc, NotReady) and not ready:  # the stack goes away
                where = f"every container's whole log is in {shown(folder)}"
                default = exc.hint == NotReady.default_hint
                exc.hint = f"read the log lines above; {where}" if default else f"{exc.hint}; {where}"
            raise
    finally:
        failed_start = not ready and not (keep if keep_on_error is None else keep_on_error)
        if not keep or failed_start:
            _teardown_partial(settings, started, project)
        else:  # kept: the reaper leaves it (or removes it after its ttl)
            _lease.end(project, keep_seconds=ttl or 0.0)


def keep_logs(stack: Stack) -> Path | None:
    """After a failure: every container's full log in the run's folder, and say where."""
    try:
        folder = stacks.save_logs(stack)
    except (StacktestError, OSError) as exc:
        log.warning("could not save the services' logs: %s", exc)
        return None
    if folder is not None:
        log.warning("full logs of every container: %s", shown(folder))
    return folder


def _record_readiness(settings: Settings, stack: Stack, ready: dict[str, float]) -> None:
    """``last/readiness.json``: when (epoch seconds) each service of the newest started stack was ready."""
    settings.state.write_last("readiness.json", {"project": stack.project, "ready_at": dict(ready)})


def _reusable(settings: Settings, on_progress: ProgressFn | None) -> Stack | None:
    try:
        record = records.find_record(settings)
    except StackNotFound:
        return None
    if not record.kept:
        return None  # a kept covered stack (`up --coverage`) is reused too: snapshots report what ran
    urls = stacks.ready_by_probes(settings, record)
    if urls is not None:  # every service answered its probe where it last was: no engine round trip
        log.info("reusing the running stack %s (every probe answered)", record.project)
        return Stack(settings, record, checked_urls=urls)
    try:
        existing = stacks.attach(settings, record.project)
        existing.wait(on_progress, running=True)
    except (StackNotFound, NotReady) as exc:
        log.warning("not reusing stack %s: %s", record.project, exc.message.splitlines()[0])
        return None
    existing.remember_urls()
    log.info("reusing the running stack %s", record.project)
    return existing


def stack_env(stack: Stack) -> dict[str, str]:
    """What the pytest plugin reads to find the stack (no second stack per xdist worker), and the run's
    settings as given on the command line (the plugin reads the settings again, in each worker)."""
    return {
        **stack.settings.environment(),
        ENV_PROJECT: stack.project,
        ENV_URLS: json.dumps(stack.urls()),
        ENV_REPLICA_URLS: json.dumps(stack.replica_urls()),
    }


# the stack commands -----------------------------------------------------------------------------------
def attach(settings: Settings, project: str | None = None) -> Stack:
    """This checkout's running stack (or the one named): for status, logs, wait and cleanup."""
    return stacks.attach(settings, project)


def wait(settings: Settings, project: str | None, on_progress: ProgressFn | None = None) -> Stack:
    """Wait until every service of a running stack is ready (the seed's ensure-services-ready)."""
    found = stacks.attach(settings, project)
    _record_readiness(settings, found, found.wait(on_progress, running=True))
    found.remember_urls()
    return found


def logs(
    settings: Settings, services: Sequence[str], *, follow: bool, tail: int | None, project: str | None
) -> int:
    """The services' logs on this terminal; returns compose's exit code."""
    found = stacks.attach(settings, project)
    unknown = [x for x in services if x not in found.record.services]
    if unknown:
        raise UsageError(f"unknown service {unknown[0]!r}; the stack has: {', '.join(found.record.services)}")
    return found.compose.attach(found.compose.logs_argv(services, follow=follow, tail=tail))


def down(settings: Settings, *, project: str | None, every: bool, volumes: bool) -> list[str]:
    """Remove this checkout's stack (or the one named, or all of them); returns the projects removed."""
    from stacktest.adapters.engine import Engine

    found = records.load_records(settings) if every else [records.find_record(settings, project)]
    engine = Engine.connect()
    for record in found:
        stacks.teardown(Stack(settings, record, record.compose(settings), engine), volumes=volumes)
    return [r.project for r in found]


@dataclass
class Reaped:
    stale: list[tuple[StackInfo, str]]  # each stale stack, and why it is stale
    removed: list[tuple[str, tuple[int, int, int]]]  # project, (containers, networks, volumes)
    images: list[tuple[str, str]]  # images built for checkouts that are gone: (image, checkout)
    images_removed: list[str]


def reap(settings: Settings, *, remove: bool) -> Reaped:
    """Stacks left by crashed runs (owner gone, or older than reap_age), and images built for
    checkouts that no longer exist; removed when ``remove`` (an image still in use is kept)."""
    from stacktest.adapters.engine import Engine

    engine = Engine.connect()
    stale = reaping.stale_stacks(engine, settings)
    removed = reaping.reap(settings, engine, [info for info, _ in stale]) if remove and stale else []
    images = reaping.stale_images(engine)
    gone = [name for name, _ in images if engine.remove_image(name)] if remove else []
    return Reaped(stale, removed, images, gone)


@dataclass(frozen=True)
class Covered:
    """What a covered stack needs before it starts (:func:`covered`)."""

    overlay: Path  # the compose overlay of the spy and the data volumes
    before_start: Callable[[Stack], None]  # the step between `up --no-start` and the start
    base: dict[str, Any]  # the stack's own compose configuration
    config: dict[str, Any]  # the configuration with the overlay: compose is not asked again
    packages: dict[str, Path]  # the repository's packages, measured wherever pip installed them


def covered(settings: Settings, project: str) -> Covered:
    """What a covered stack needs before it starts: the spy, the compose overlay, and the step between
    `up --no-start` and the start (each image's own PYTHONPATH kept, data volumes writable for any user,
    the spy copied into its volume). Compose's configuration is read once, here."""
    if not settings.coverage_services:
        raise ConfigError(
            "no covered services: set tool.stacktest.coverage.services",
            hint="list the services whose Python code the run should measure",
        )
    run_dir = settings.state.run(project)
    run_dir.mkdir(parents=True, exist_ok=True)
    spy = _spy.prepare_spy(settings, run_dir)
    base = (
        _compose.detect(settings.compose_command)
        .bind("", settings.compose_paths, _images.image_env(settings), settings.command_timeout)
        .config()
    )
    packages = _paths.repository_packages(settings.root)
    spec = _spy.overlay_spec(settings, base, packages=list(packages))
    extra = run_dir / "coverage.yml"
    extra.write_text(yaml.safe_dump(spec, sort_keys=True))
    names = list(settings.coverage_services)

    def before_start(stack: Stack) -> None:
        replicas = _replicas(stack, names)
        from_images = _spy.image_pythonpath(stack.engine, replicas)
        if from_images:
            _spy.overlay(settings, base, extra, from_images, packages=list(packages))
            again = stack.compose.up_argv(stack.record.services, no_start=True, pull="never")  # pulled
            stack.compose.run(again, what="compose up --no-start (the images' own PYTHONPATH kept)")
            replicas = _replicas(stack, names)
        _spy.make_data_writable(stack.engine, replicas)
        _spy.deliver_spy(stack.engine, replicas, spy)

    return Covered(extra, before_start, base, _spy.with_overlay(base, spec), packages)


def _replicas(stack: Stack, services: Sequence[str], *, fresh: bool = False) -> dict[str, list[ServiceState]]:
    """The services' containers: as listed once the stack was ready (:meth:`Stack.settle`), or, before
    that or when ``fresh``, as the engine lists them now."""
    found = stack.seen if stack.seen is not None and not fresh else stack.engine.replicas(stack.project)
    return {s: found.get(s, []) for s in services}
