"""The coverage commands: a measured run (up with the spy, test, ask every process to save, stop,
harvest, combine, report, down), harvest from a running stack, snapshot, combine of CI jobs' data, and the
report of the latest run. Each result says which processes were measured and why a run fails."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stacktest._lazy import lazy_module
from stacktest.adapters.engine_model import DEFAULT_STOP_TIMEOUT, ServiceState
from stacktest.commands.lifecycle import (
    PhaseFn,
    ProgressFn,
    _new_project,
    _replicas,
    covered,
    keep_logs,
    managed_stack,
)
from stacktest.commands.testing import RunRequest, _run_suite
from stacktest.errors import (
    CoverageBelowTarget,
    CoverageError,
    StacktestError,
    UsageError,
)
from stacktest.settings import Settings
from stacktest.stack import lifecycle as stacks
from stacktest.stack.lifecycle import Stack
from stacktest.state import ENV_CONTEXTS, HARVEST_MARK, REACHED, has_mark, make_mark
from stacktest.testrun.runner import RunResult

if TYPE_CHECKING:
    from stacktest.coverage import harvest as _harvest
    from stacktest.coverage import ledger as _ledger
    from stacktest.coverage import paths as _paths
    from stacktest.coverage import report as _report
    from stacktest.coverage import spy as _spy
    from stacktest.coverage import testmap as _testmap
else:  # coverage and yaml load only for the commands that measure (the edit-test loop never does)
    _harvest = lazy_module("stacktest.coverage.harvest")
    _report = lazy_module("stacktest.coverage.report")
    _spy = lazy_module("stacktest.coverage.spy")
    _ledger = lazy_module("stacktest.coverage.ledger")
    _paths = lazy_module("stacktest.coverage.paths")
    _testmap = lazy_module("stacktest.coverage.testmap")

__all__ = [
    "CoverageRun",
    "Snapshot",
    "combine",
    "coverage_run",
    "harvest",
    "harvest_running",
    "report_latest",
    "snapshot",
]

log = logging.getLogger("stacktest")


@dataclass
class CoverageRun:
    tests: RunResult
    harvest: _harvest.Harvest
    report: _report.Report
    stop_seconds: dict[str, float]  # per covered container: stop request to exit
    problem: StacktestError | None = None  # what fails a run whose tests passed
    unmapped: dict[str, _UnmappedFiles] = field(default_factory=dict)  # service -> files, proposals
    reached: dict[str, dict[str, str]] = field(default_factory=dict)  # failing test -> service -> lines


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
    cov = covered(settings, project)
    report_root = settings.root / settings.coverage_report_dir
    _report.check_report_dir(report_root)
    report_dir = report_root / project  # each run its own folder: two runs of one checkout never mix
    data_dir = report_dir / "data"
    names = list(settings.coverage_services)
    run_dir = settings.state.run(project)

    tests_data = report_dir / "tests-data"  # the test processes' own lines, per test (contexts)
    env = {ENV_CONTEXTS: str(tests_data)} if settings.coverage_contexts else {}
    with managed_stack(
        settings,
        keep=request.keep,
        build=request.build,
        covered=cov,
        on_progress=on_progress,
        project=project,
    ) as stack:
        _harvest.check_spy(stack.engine, _replicas(stack, names), run_dir)
        result = _run_suite(settings, stack, request, report_dir / "junit", on_phase, env)
        harvested, stop_seconds = _stop_and_harvest(settings, stack, names, data_dir, cov.base)
        if result.exit_code not in (0, 5):
            keep_logs(stack)  # stopped now: the logs end with how each service shut down
    per_service, rep = _combine_and_report(
        settings, data_dir, names, report_dir, harvested.containers, harvested.ledger, cov.packages
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
    run = CoverageRun(
        result, harvested, rep, stop_seconds, _problem(settings, harvested, rep, unmapped), unmapped
    )
    if settings.coverage_contexts:
        testmap, run.reached = _testmap.record(tests_data, report_dir, per_service, settings.root)
        settings.state.write_last(_testmap.MAP_FILE, testmap.as_json())
    settings.state.write_last(REACHED, run.reached)  # for `stacktest diagnose`
    return run


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
            f"data, so no figure above includes what they ran:\n  {_ledger.describe_lost(lost)}",
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


def _stop_and_harvest(
    settings: Settings, stack: Stack, services: Sequence[str], dest: Path, config: Mapping[str, Any]
) -> tuple[_harvest.Harvest, dict[str, float]]:
    """Stop the covered services gracefully (so coverage saves at exit), then copy their data out.
    Returns the harvest and, per container that was running, the seconds from the stop request to its
    exit (as the engine recorded it)."""
    replicas = _replicas(stack, services, fresh=True)  # a test may have stopped or killed some
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
    after = {  # each container inspected once after the stop, for its stop time and the harvest
        service: [stack.engine.inspect(st.container_id) or st for st in states]
        for service, states in replicas.items()
    }
    was_running = {st.container_id for _, st in running}
    stopped = {
        st.label: round(max(0.0, st.finished_at - requested), 3)
        for states in after.values()
        for st in states
        if st.container_id in was_running and st.finished_at
    }
    return _harvest.harvest(stack.engine, after, dest, settings.coverage_accept_lost), stopped


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
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise UsageError(f"{dest} is not a folder", hint="give --into a new or empty folder")
    if dest.is_dir() and any(dest.iterdir()):
        if not has_mark(dest, HARVEST_MARK):
            raise UsageError(
                f"{dest} is not empty and stacktest did not make it; nothing was changed",
                hint="give --into a new or empty folder",
            )
        shutil.rmtree(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        make_mark(dest, HARVEST_MARK, "made by `stacktest coverage harvest`; emptied by the next one\n")
    except FileExistsError:
        raise UsageError(
            f"something else made {dest / HARVEST_MARK} meanwhile; nothing was written",
            hint="give --into a new folder that only you can write to",
        ) from None
    harvested, _ = _stop_and_harvest(
        settings, stack, settings.coverage_services, dest, stack.compose.config()
    )
    return harvested


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
