"""The sequences the CLI runs, each a short readable function with teardown in ``finally``."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacktest._lazy import lazy_module
from stacktest.adapters import compose as _compose
from stacktest.adapters import images as _images
from stacktest.adapters.engine import DEFAULT_STOP_TIMEOUT, ServiceState, StackInfo
from stacktest.errors import (
    ConfigError,
    CoverageBelowTarget,
    CoverageError,
    NotReady,
    StackNotFound,
    StacktestError,
    UsageError,
)
from stacktest.settings import Settings
from stacktest.stack import lifecycle as stacks
from stacktest.stack.lifecycle import Stack
from stacktest.stack.readiness import Progress
from stacktest.state import (
    ENV_LOG_LINES,
    ENV_PROJECT,
    ENV_REPLICA_URLS,
    ENV_SHARD,
    ENV_SHARD_TIMES,
    ENV_URLS,
    HARVEST_MARK,
    shown,
)
from stacktest.testrun.runner import Mode, RunResult, mode_named, plan, run_tests

if TYPE_CHECKING:
    from stacktest.adopt.propose import Proposal
    from stacktest.cleanup.rules import BackendResult
    from stacktest.coverage import harvest as _harvest
    from stacktest.coverage import ledger as _ledger
    from stacktest.coverage import paths as _paths
    from stacktest.coverage import report as _report
    from stacktest.coverage import spy as _spy
    from stacktest.diagnose.checks import Report as DiagnoseReport
else:  # coverage and yaml load only for the commands that measure (the edit-test loop never does)
    _harvest = lazy_module("stacktest.coverage.harvest")
    _report = lazy_module("stacktest.coverage.report")
    _spy = lazy_module("stacktest.coverage.spy")
    _ledger = lazy_module("stacktest.coverage.ledger")
    _paths = lazy_module("stacktest.coverage.paths")

__all__ = [
    "CoverageRun",
    "Reaped",
    "RunRequest",
    "Snapshot",
    "attach",
    "cleanup",
    "combine",
    "coverage_run",
    "diagnose",
    "down",
    "harvest",
    "harvest_running",
    "init",
    "logs",
    "managed_stack",
    "merge_junit",
    "reap",
    "report_latest",
    "snapshot",
    "stack_env",
    "test",
    "up",
    "wait",
]

log = logging.getLogger("stacktest")

ProgressFn = Callable[[Progress], None]
PhaseFn = Callable[[str], None]


@dataclass(frozen=True)
class RunRequest:
    """What the user asked of one pytest run: its mode, pytest's arguments and what to do with the stack.
    Build it with :meth:`checked`, which refuses bad options before anything starts."""

    mode: Mode
    args: tuple[str, ...]
    workers: int | None = None
    keep: bool = False
    build: bool = False
    shard: str | None = None  # "I/N": only that part of the suite (checked by shards.parse_shard)

    @classmethod
    def checked(
        cls,
        settings: Settings,
        mode: str,
        args: Sequence[str],
        *,
        workers: int | None = None,
        keep: bool = False,
        build: bool = False,
        shard: str | None = None,
    ) -> RunRequest:
        chosen = mode_named(mode)
        plan(chosen, args, tests=settings.tests, out_dir=Path("junit"), workers=workers)
        if shard is not None:
            from stacktest.testrun.shards import parse_shard

            index, count = parse_shard(shard)
            shard = f"{index}/{count}"
        return cls(chosen, tuple(args), workers, keep, build, shard)


def _run_suite(
    settings: Settings, stack: Stack, request: RunRequest, out_dir: Path, on_phase: PhaseFn | None
) -> RunResult:
    """pytest against ``stack``, every phase of the mode; the merged JUnit XML becomes the last one."""
    result = run_tests(
        request.mode,
        request.args,
        tests=settings.tests,
        out_dir=out_dir,
        env=stack_env(stack) | _shard_env(settings, request, out_dir),
        cwd=settings.root,
        workers=request.workers,
        workers_per_core=settings.workers_per_core,
        on_phase=on_phase,
    )
    _publish_junit(settings, result)
    return result


def _shard_env(settings: Settings, request: RunRequest, out_dir: Path) -> dict[str, str]:
    """For ``--shard``: the part, and the test times read once, so that every phase and worker of this run
    splits alike even if another run rewrites the JUnit files meanwhile."""
    if not request.shard:
        return {}
    from stacktest.testrun.shards import durations_from

    out_dir.mkdir(parents=True, exist_ok=True)
    times = out_dir / "shard-times.json"
    times.write_text(json.dumps(durations_from(settings.shard_durations, settings.root)))
    return {ENV_SHARD: request.shard, ENV_SHARD_TIMES: str(times)}


def _publish_junit(settings: Settings, result: RunResult) -> None:
    """The merged JUnit XML of the newest finished run, at .stacktest/last/junit.xml (atomic replace)."""
    if result.junit is None or not result.junit.is_file():
        return
    last = settings.state.last("junit.xml")
    last.parent.mkdir(parents=True, exist_ok=True)
    tmp = last.with_name(f".junit-{os.getpid()}.xml")
    shutil.copyfile(result.junit, tmp)
    tmp.replace(last)
    result.junit = last


def up(
    settings: Settings,
    *,
    services: Sequence[str] = (),
    build: bool = False,
    keep_on_error: bool = False,
    wait: bool = True,
    on_progress: ProgressFn | None = None,
    coverage: bool = False,
) -> Stack:
    """Start a stack that outlives this command (``stacktest down`` removes it).

    If it cannot be made ready, it is removed again unless ``keep_on_error``. ``coverage``: its covered
    services run with the spy, which saves on `stacktest coverage snapshot`; `stacktest test` runs reuse
    it, and a snapshot reports what they reached so far."""
    project = _new_project(settings)
    extra: list[Path] = []
    before_start: Callable[[Stack], None] | None = None
    if coverage:
        overlay, before_start, _, _ = _covered(settings, project)
        extra = [overlay]
    with managed_stack(
        settings,
        keep=True,
        keep_on_error=keep_on_error,
        build=build,
        reuse=False,
        services=services,
        wait=wait,
        extra_files=extra,
        coverage=coverage,
        on_progress=on_progress,
        project=project,
        before_start=before_start,
    ) as started:
        if coverage and wait:
            covered = _replicas(started, settings.coverage_services)
            _harvest.check_spy(started.engine, covered, settings.state.run(project))
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
    record = next((r for r in stacks.load_records(settings) if r.project == project), None)
    if record is not None:  # no record: nothing was started
        from stacktest.adapters.engine import Engine

        with stacks.signals_deferred():  # connecting is part of teardown: a Ctrl-C must not cut it
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
    extra_files: Sequence[Path] = (),
    coverage: bool = False,
    on_progress: ProgressFn | None = None,
    project: str | None = None,
    before_start: Callable[[Stack], None] | None = None,
) -> Iterator[Stack]:
    """A ready stack for one run: this checkout's running one when it is healthy, else a new one that is
    removed afterwards (on success, failure, error, Ctrl-C or SIGTERM) unless ``keep``. A stack that
    could not be started or made ready is removed unless ``keep_on_error`` (default: ``keep``)."""
    if reuse and not coverage and not extra_files:
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
                extra_files=extra_files,
                coverage=coverage,
                project=project,
                before_start=before_start,
            )
            if wait:
                _record_readiness(settings, started, started.wait(on_progress))
                started.remember_urls()
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
        record = stacks.find_record(settings)
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
    """What the pytest plugin reads to find the stack (no second stack per xdist worker)."""
    return {
        ENV_PROJECT: stack.project,
        ENV_URLS: json.dumps(stack.urls()),
        ENV_REPLICA_URLS: json.dumps(stack.replica_urls()),
        ENV_LOG_LINES: str(stack.settings.log_section_lines),
    }


def test(
    settings: Settings,
    request: RunRequest,
    *,
    on_progress: ProgressFn | None = None,
    on_phase: PhaseFn | None = None,
) -> RunResult:
    """Make sure the stack is up and ready, run pytest against it, clean test data if asked."""
    out_dir = settings.state.new_results()
    with managed_stack(settings, keep=request.keep, build=request.build, on_progress=on_progress) as stack:
        try:
            result = _run_suite(settings, stack, request, out_dir, on_phase)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        if result.exit_code not in (0, 5):  # 5: no tests were collected, the services are not to blame
            keep_logs(stack)
        if settings.cleanup_after_tests:
            from stacktest.cleanup.rules import run as run_cleanup

            run_cleanup(settings, stack, apply=True)
    return result


@dataclass
class CoverageRun:
    tests: RunResult
    harvest: _harvest.Harvest
    report: _report.Report
    stop_seconds: dict[str, float]  # per covered container: stop request to exit
    problem: StacktestError | None = None  # what fails a run whose tests passed
    unmapped: dict[str, _UnmappedFiles] = field(default_factory=dict)  # service -> files, proposals


def _covered(
    settings: Settings, project: str
) -> tuple[Path, Callable[[Stack], None], dict[str, Any], dict[str, Path]]:
    """What a covered stack needs before it starts: the spy, the compose overlay, and the step between
    `up --no-start` and the start (each image's own PYTHONPATH kept, data volumes writable for any user,
    the spy copied into its volume). Returns the overlay, that step, the stack's own configuration and
    the repository's packages (measured wherever pip installed them)."""
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
    extra = _spy.overlay(settings, base, run_dir / "coverage.yml", packages=list(packages))
    covered = list(settings.coverage_services)

    def before_start(stack: Stack) -> None:
        replicas = _replicas(stack, covered)
        from_images = _spy.image_pythonpath(stack.engine, replicas)
        if from_images:
            _spy.overlay(settings, base, extra, from_images, packages=list(packages))
            stack.compose.run(stack.compose.up_argv(no_start=True), what="compose up --no-start")
            replicas = _replicas(stack, covered)
        _spy.make_data_writable(stack.engine, replicas)
        _spy.deliver_spy(stack.engine, replicas, spy)

    return extra, before_start, base, packages


def coverage_run(
    settings: Settings,
    request: RunRequest,
    *,
    on_progress: ProgressFn | None = None,
    on_phase: PhaseFn | None = None,
) -> CoverageRun:
    """up with the overlay -> ready -> spy check -> pytest -> graceful stop -> harvest -> combine -> report
    -> down. Harvest, combine and report run whether the tests passed or failed."""
    project = _new_project(settings)
    extra, before_start, base, packages = _covered(settings, project)
    report_root = settings.root / settings.coverage_report_dir
    _report.check_report_dir(report_root)
    report_dir = report_root / project  # each run its own folder: two runs of one checkout never mix
    data_dir = report_dir / "data"
    covered = list(settings.coverage_services)
    run_dir = settings.state.run(project)

    with managed_stack(
        settings,
        keep=request.keep,
        build=request.build,
        extra_files=[extra],
        coverage=True,
        on_progress=on_progress,
        project=project,
        before_start=before_start,
    ) as stack:
        _harvest.check_spy(stack.engine, _replicas(stack, covered), run_dir)
        result = _run_suite(settings, stack, request, report_dir / "junit", on_phase)
        harvested, stop_seconds = _stop_and_harvest(settings, stack, covered, data_dir, base)
        if result.exit_code not in (0, 5):
            keep_logs(stack)  # stopped now: the logs end with how each service shut down
    per_service, rep = _combine_and_report(
        settings, data_dir, covered, report_dir, harvested.containers, harvested.ledger, packages
    )
    settings.state.write_last(
        "coverage.json",
        {
            "project": project,
            "files": harvested.files,
            "missing": harvested.missing,
            "total": rep.total.percent,
            "stop_seconds": stop_seconds,
            "processes": harvested.ledger.as_json(),
        },
    )
    unmapped = _unmapped(settings, per_service)
    return CoverageRun(
        result, harvested, rep, stop_seconds, _problem(settings, harvested, rep, unmapped), unmapped
    )


@dataclass(frozen=True)
class _UnmappedFiles:
    files: tuple[str, ...]  # measured container paths that are no file of the repository
    proposals: tuple[_paths.Proposal, ...]  # coverage.paths entries that would map (some of) them


def _unmapped(settings: Settings, per_service: Mapping[str, Path]) -> dict[str, _UnmappedFiles]:
    """Per covered service, the measured files that map to no repository file, and the entries that
    would map them (found by name and content)."""
    out = {}
    files: list[str] | None = None
    for service, data_file in sorted(per_service.items()):
        measured = _paths.unmapped(data_file, settings.root, ignore=(_spy.SPY_MOUNT + "/",))
        if not measured:
            continue
        if files is None:
            files = _paths.repository_files(settings.root)
        proposals, _ = _paths.propose(measured, settings.root, files)
        out[service] = _UnmappedFiles(tuple(measured), tuple(proposals))
    return out


def _lost_message(lost: Sequence[_ledger.Process]) -> str:
    lines = []
    for p in lost[:20]:
        how = f": {p.how}" if p.how else ": killed (SIGKILL, a worker timeout, the OOM killer) or crashed"
        lines.append(f"{p.container} pid {p.pid} `{p.command}`{how}")
    more = f"\n  ... and {len(lost) - 20} more" if len(lost) > 20 else ""
    return "\n  ".join(lines) + more


def _problem(
    settings: Settings,
    harvested: _harvest.Harvest,
    rep: _report.Report,
    unmapped: Mapping[str, _UnmappedFiles] | None = None,
) -> StacktestError | None:
    if harvested.missing and settings.coverage_require_data:
        service, why = sorted(harvested.missing.items())[0]
        return CoverageError(
            f"no coverage data from {', '.join(sorted(harvested.missing))}: {service}: {why}",
            hint="see `stacktest logs` of that service; set coverage.require_data = false to accept "
            "a covered service without data",
        )
    # a service accepted without data (require_data = false) is not failed again for its processes
    lost = [p for p in harvested.ledger.unaccepted() if p.service not in harvested.missing]
    if lost:
        services = sorted({p.service for p in lost})
        return CoverageError(
            f"{len(lost)} measured process(es) of {', '.join(services)} ran code and left no coverage "
            f"data, so no figure above includes what they ran:\n  {_lost_message(lost)}",
            hint="see why they ended (`stacktest logs SERVICE`, the run's logs folder); if these losses "
            "are expected, list the service in coverage.accept_lost",
        )
    if unmapped:
        return CoverageError(
            "coverage data maps to no file of this repository, so no figure includes it:\n  "
            + "\n  ".join(_unmapped_lines(service, u) for service, u in sorted(unmapped.items())),
            hint="add the coverage.paths entries above to [tool.stacktest.coverage] (container folder "
            "= repository folder), or map those folders yourself",
        )
    empty = [f.service for f in rep.services if f.statements == 0 and f.service not in harvested.missing]
    if empty and settings.coverage_require_data:
        return CoverageError(
            f"{', '.join(empty)} measured no statement of this repository: a figure of 0 statements "
            "would count as nothing in the total",
            hint="check tool.stacktest.coverage.paths for that service (container folder = repository "
            "folder), or set coverage.require_data = false",
        )
    if settings.coverage_fail_under and rep.total.percent < settings.coverage_fail_under:
        return CoverageBelowTarget(
            f"coverage {rep.total.percent:.1f}% is below fail_under = {settings.coverage_fail_under:g}%"
        )
    return None


def _unmapped_lines(service: str, u: _UnmappedFiles) -> str:
    shown = ", ".join(u.files[:6]) + (f" and {len(u.files) - 6} more" if len(u.files) > 6 else "")
    said = f"{service}: {shown}"
    if u.proposals:
        entries = ", ".join(f'"{p.container}" = "{p.host}"' for p in u.proposals)
        said += f"\n    proposed: paths.{service} = {{ {entries} }}"
    return said


def _replicas(stack: Stack, services: Sequence[str]) -> dict[str, list[ServiceState]]:
    found = stack.engine.replicas(stack.project)
    return {s: found.get(s, []) for s in services}


def _stop_and_harvest(
    settings: Settings, stack: Stack, services: Sequence[str], dest: Path, config: Mapping[str, Any]
) -> tuple[_harvest.Harvest, dict[str, float]]:
    """Stop the covered services gracefully (so coverage saves at exit), then copy their data out.
    Returns the harvest and, per container that was running, the seconds from the stop request to its
    exit (as the engine recorded it)."""
    replicas = _replicas(stack, services)
    config_services = config.get("services") or {}
    running = [(svc, st) for svc, states in replicas.items() for st in states if st.status == "running"]
    requested = time.time()

    def forward(item: tuple[str, ServiceState]) -> None:
        service, state = item
        stop_signal = str((config_services.get(service) or {}).get("stop_signal") or "SIGTERM")
        if stack.engine.forward_stop(state.container_id, stop_signal):
            log.info("%s: PID 1 is a shell; sent %s to its children", state.label, stop_signal)

    _harvest.ask_to_save(stack.engine, replicas, settings.state.run(stack.project))
    with ThreadPoolExecutor(max_workers=8) as pool:  # one exec per container, at once
        list(pool.map(forward, running))
    stack.compose.run(
        stack.compose.stop_argv(services, timeout=_stop_timeout(settings, [st for _, st in running])),
        timeout=settings.command_timeout,
        what="compose stop (saving coverage)",
    )
    stopped: dict[str, float] = {}
    for _, before in running:
        after = stack.engine.inspect(before.container_id)
        if after is not None and after.finished_at:
            stopped[after.label] = round(max(0.0, after.finished_at - requested), 3)
    return _harvest.harvest(stack.engine, replicas, dest, settings.coverage_accept_lost), stopped


def _stop_timeout(settings: Settings, running: Sequence[ServiceState]) -> float | None:
    """The grace period `compose stop` gives the covered containers: the setting, else each container's
    own. An engine that recorded 0 for a container (Podman before 4.7 does so for every container created
    through the Docker API without a stop_grace_period, containers/podman#19139) would kill it at once
    and lose its coverage data: then every covered container gets the longest of their own timeouts,
    10 s where none is set."""
    if settings.stop_timeout is not None:
        return settings.stop_timeout
    own = [state.stop_timeout for state in running]
    if 0 not in own:
        return None
    log.info(
        "the engine recorded a stop timeout of 0 for a covered container; giving each one its own or 10 s"
    )
    return max(t or DEFAULT_STOP_TIMEOUT for t in own)


def harvest_running(settings: Settings, stack: Stack, dest: Path) -> _harvest.Harvest:
    """`stacktest coverage harvest`: the data of a kept coverage stack, for `coverage combine`.

    ``dest`` is emptied only when stacktest made it (a marker file inside says so); any other folder
    must be empty or new, so a mistyped ``--into`` never deletes the user's files."""
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest} is not a folder", hint="give --into a new or empty folder")
    if dest.is_dir() and any(dest.iterdir()):
        if not (dest / HARVEST_MARK).is_file():
            raise UsageError(
                f"{dest} is not empty and stacktest did not make it; nothing was changed",
                hint="give --into a new or empty folder",
            )
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / HARVEST_MARK).write_text("made by `stacktest coverage harvest`; emptied by the next one\n")
    harvested, _ = _stop_and_harvest(
        settings, stack, settings.coverage_services, dest, stack.compose.config()
    )
    return harvested


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

    records = stacks.load_records(settings) if every else [stacks.find_record(settings, project)]
    engine = Engine.connect()
    for record in records:
        stacks.teardown(Stack(settings, record, record.compose(settings), engine), volumes=volumes)
    return [r.project for r in records]


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
    stale = stacks.stale_stacks(engine, settings)
    removed = stacks.reap(settings, engine, [info for info, _ in stale]) if remove and stale else []
    images = stacks.stale_images(engine)
    gone = [name for name, _ in images if engine.remove_image(name)] if remove else []
    return Reaped(stale, removed, images, gone)


def combine(settings: Settings, folders: Sequence[Path]) -> _report.Report:
    """`stacktest coverage combine`: merge harvested data of several runs or CI jobs, then report."""
    report_root = settings.root / settings.coverage_report_dir
    merged_run = report_root / f"combined-{int(time.time())}"
    merged = merged_run / "data"
    contributors: list[dict[str, Any]] = []
    for i, folder in enumerate(folders):
        if not folder.is_dir():
            raise UsageError(f"{folder} is not a folder of harvested coverage data")
        for service_dir in folder.iterdir():
            if service_dir.is_dir():
                (merged / service_dir.name).mkdir(parents=True, exist_ok=True)
                for f in service_dir.glob(".coverage.*"):  # the same file name may come from two jobs
                    shutil.copy2(f, merged / service_dir.name / f"{f.name}.job{i}")
        contributors += _report.read_contributors(folder / _harvest.CONTRIBUTORS)
    services = sorted(p.name for p in merged.iterdir()) if merged.is_dir() else []
    return _combine_and_report(settings, merged, services, merged_run, contributors)[1]


def _combine_and_report(
    settings: Settings,
    data: Path,
    services: Sequence[str],
    out: Path,
    contributors: Sequence[Mapping[str, Any]] | None,
    ledger: _ledger.Ledger | None = None,
    packages: Mapping[str, Path] | None = None,
) -> tuple[dict[str, Path], _report.Report]:
    """Combine harvested ``data`` per service into ``out`` (container paths and the repository's
    installed packages mapped back), report it there, and point ``latest`` at it: what a coverage run,
    a snapshot and a combine of CI jobs share."""
    if packages is None:
        packages = _paths.repository_packages(settings.root)
    paths, root = settings.coverage_paths, settings.root
    per_service = _report.combine(data, services, paths, root, out, packages)
    rep = _report.report(out, per_service, paths, root, out, contributors, packages=packages, ledger=ledger)
    _report.link_latest(settings.root / settings.coverage_report_dir, out)
    return per_service, rep


@dataclass
class Snapshot:
    report: _report.Report
    harvest: _harvest.Harvest
    unanswered: dict[str, list[str]]  # container -> ledger entries of live processes that did not save


def snapshot(settings: Settings, project: str | None = None) -> Snapshot:
    """`stacktest coverage snapshot`: what the kept covered stack (`stacktest up --coverage`) has measured
    so far, reported without stopping it. Each snapshot holds everything since the stack started."""
    found = stacks.attach(settings, project)
    if not found.record.coverage:
        raise UsageError(
            f"stack {found.project} was not started with coverage",
            hint="start one with `stacktest up --coverage`, run tests against it, then snapshot",
        )
    covered = _replicas(found, settings.coverage_services)
    report_root = settings.root / settings.coverage_report_dir
    _report.check_report_dir(report_root)
    run = report_root / f"snapshot-{found.project}-{time.strftime('%Y%m%d-%H%M%S')}"
    answers = _harvest.ask_to_save(found.engine, covered, settings.state.run(found.project))
    unanswered: dict[str, list[str]] = {}
    for label, said in sorted(answers.items()):
        late = sorted(name for name, answer in said.items() if answer in ("no answer", "cannot ask"))
        if late:
            unanswered[label] = late
            log.warning("%s: %s did not save for the snapshot", label, ", ".join(late))
    harvested = _harvest.harvest(found.engine, covered, run / "data")
    _, rep = _combine_and_report(
        settings, run / "data", list(covered), run, harvested.containers, harvested.ledger
    )
    return Snapshot(rep, harvested, unanswered)


def merge_junit(files: Sequence[Path], into: Path) -> dict[str, int]:
    """`stacktest junit merge`: one JUnit XML of the shards' files, each test once (a test found in two
    files means two shards ran it: refused, naming it)."""
    import xml.etree.ElementTree as ET

    from stacktest.testrun.runner import count_junit, merge_junit

    seen: dict[str, Path] = {}
    for path in files:
        try:
            root = ET.parse(path).getroot()  # noqa: S314 - JUnit files of this project's own runs
        except (ET.ParseError, OSError) as exc:
            raise UsageError(f"{path}: not a readable JUnit XML file ({exc})") from None
        for case in root.iter("testcase"):
            key = f"{case.get('classname', '')}::{case.get('name', '')}"
            if key in seen:
                raise UsageError(
                    f"{key} is in {seen[key]} and in {path}: two shards ran it",
                    hint="give each shard's file once, and the same N to every --shard I/N",
                )
            seen[key] = path
    merge_junit(files, into)
    return count_junit(into)


def report_latest(settings: Settings) -> _report.Report:
    """`stacktest coverage report`: the latest combined data, reported again."""
    latest = (settings.root / settings.coverage_report_dir / "latest").resolve()
    per = {p.name.removeprefix(".coverage."): p for p in latest.glob(".coverage.*")}
    if not per:
        raise CoverageError(
            f"no combined coverage data in {latest}",
            hint="run `stacktest coverage run` (just test-sidecar-coverage) first",
        )
    packages = _paths.repository_packages(settings.root)
    return _report.report(latest, per, settings.coverage_paths, settings.root, latest, packages=packages)


def cleanup(
    settings: Settings, *, apply: bool, names: Sequence[str], project: str | None
) -> list[BackendResult]:
    """Test data ("TEST " names) in the services: shown, or removed when ``apply``."""
    from stacktest.cleanup import rules as cleaning
    cleaning.check_prefix(settings.cleanup_prefix)
    return cleaning.run(settings, stacks.attach(settings, project), apply=apply, names=names)


def harvest(settings: Settings, *, into: Path | None, project: str | None) -> tuple[Path, _harvest.Harvest]:
    """`stacktest coverage harvest`: stop the covered services of a kept coverage stack, copy their data."""
    found = stacks.attach(settings, project)
    if not found.record.coverage:
        raise UsageError(
            f"stack {found.project} was not started with coverage",
            hint="start one with `stacktest coverage run --keep`",
        )
    dest = into or settings.root / settings.coverage_report_dir / "harvest"
    return dest, harvest_running(settings, found, dest)


def diagnose(settings: Settings, project: str | None) -> DiagnoseReport:
    from stacktest.diagnose import checks as diagnosing
    return diagnosing.diagnose(settings, project)


def init(settings: Settings, root: Path, *, write: bool) -> tuple[Proposal, list[Path]]:
    """`stacktest init`: what it proposes for ``root``, and the files written when ``write``."""
    from stacktest.adopt import propose as adopt
    proposal = adopt.propose(root, settings.compose_command)
    return proposal, adopt.apply(proposal) if write else []
