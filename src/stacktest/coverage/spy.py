"""Coverage measured inside the containers ("sidecar coverage" in the seed's words, though no sidecar
container runs: a spy in each covered service's own processes), combined and reported on the host.

The one module that talks to coverage.py. The sequence (see workflows.coverage_run):
prepare the spy folder and overlay -> up -> ready -> check the spy started -> pytest -> graceful stop ->
harvest (Engine API, so a remote engine works) -> combine per service with path mapping -> report -> down.
"""

from __future__ import annotations

import contextlib
import importlib.resources
import io
import json
import logging
import os
import shutil
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape as html_escape
from pathlib import Path
from typing import Any

import coverage
import yaml
from coverage.exceptions import CoverageException

from stacktest.adapters.engine import Engine, ServiceState
from stacktest.adapters.images import LINUX_WHEELS, pip_download
from stacktest.coverage import ledger as _ledger
from stacktest.coverage import paths as _paths
from stacktest.errors import CommandFailed, ConfigError, CoverageError
from stacktest.settings import Settings

__all__ = [
    "CONTRIBUTORS",
    "DATA_ROOT",
    "Harvest",
    "Report",
    "ServiceFigure",
    "ask_to_save",
    "check_report_dir",
    "check_spy",
    "combine",
    "deliver_spy",
    "harvest",
    "image_pythonpath",
    "link_latest",
    "make_data_writable",
    "overlay",
    "prepare_spy",
    "read_contributors",
    "report",
    "volume_name",
]

log = logging.getLogger("stacktest")

DATA_ROOT = "/coverage-data"  # the service's data volume is mounted here
DATA_DIR = DATA_ROOT + "/run"  # made writable for every user before the service starts
SPY_MOUNT = "/coverage-spy"
SPY_VOLUME = "stacktest-spy"  # one per run (compose prefixes the project), filled through the Engine API
VENDOR_PYTHONS = ("3.10", "3.11", "3.12", "3.13", "3.14")
RCFILE = """\
# written by stacktest for the containers of one coverage run
[run]
parallel = true
branch = false
patch = _exit
disable_warnings = no-data-collected, module-not-measured, couldnt-trace
"""


def spy_source() -> Path:
    """The spy folder shipped with stacktest (coverage-spy/ of the repository)."""
    return Path(str(importlib.resources.files("stacktest_spy")))


def cache_dir() -> Path:
    """Where downloads are kept between runs and checkouts: $XDG_CACHE_HOME/stacktest, ~/.cache/stacktest."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")  # env: XDG_CACHE_HOME
    return Path(base) / "stacktest"


def _vendor(cache: Path) -> Path:
    """Wheels of the host's coverage version, unpacked: C tracer per Python version, and pure Python.

    Downloaded once into a private folder and renamed into place, so an interrupted download is never
    taken for a complete one and two runs never write the same folder."""
    version = coverage.__version__
    target = cache / f"coverage-{version}"
    if (target / ".complete").is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".coverage-{version}-", dir=cache))
    try:
        _download_vendor(version, work)
        (work / ".complete").write_text(version + "\n")
        with contextlib.suppress(OSError):  # another run finished first: use its copy
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def _download_vendor(version: str, target: Path) -> None:
    wheels = target / "wheels"
    base = ["--no-deps", "-d", str(wheels), f"coverage=={version}"]
    try:
        pip_download(
            [*base, "--platform", "any", "--python-version", "3.11"],
            what="pip download (pure-Python coverage for the spy)",
        )
        for py in VENDOR_PYTHONS:  # the C tracer, where a wheel exists for that Python
            pip_download(
                [*base, "--python-version", py, *LINUX_WHEELS],
                check=False,
                what="pip download (coverage C tracer for the spy)",
            )
    except CommandFailed as exc:
        raise CoverageError(
            f"could not download coverage {version} for the spy: {exc.message}",
            hint=f"the host must reach the package index once; the wheels are then kept in {cache_dir()}",
        ) from exc
    import zipfile

    for whl in wheels.glob("*.whl"):
        tag = "pure" if "py3-none-any" in whl.name else whl.name.split("-")[2]
        with zipfile.ZipFile(whl) as zf:
            zf.extractall(target / tag)  # noqa: S202 - a wheel (zip) we downloaded by hash, not a tar


def validate_rcfile(path: Path) -> None:
    """A broken coverage configuration must fail the run here, not yield a silent uncovered run."""
    try:
        coverage.Coverage(config_file=str(path), data_file=None)
    except CoverageException as exc:
        raise CoverageError(
            f"the coverage configuration {path} is broken: {exc}",
            hint="fix that file (or the coverage.rcfile setting) and run again",
        ) from exc


def prepare_spy(settings: Settings, run_dir: Path) -> Path:
    """The spy's files, to be copied into the run's spy volume (:func:`deliver_spy`), which the covered
    services mount read-only at /coverage-spy: sitecustomize.py, .coveragerc and vendored coverage."""
    spy = run_dir / "spy"
    shutil.rmtree(spy, ignore_errors=True)
    spy.mkdir(parents=True)
    shutil.copy2(spy_source() / "sitecustomize.py", spy / "sitecustomize.py")
    rc = spy / ".coveragerc"
    if settings.coverage_rcfile:
        user = (settings.root / settings.coverage_rcfile).resolve()
        if not user.is_file():
            raise CoverageError(
                f"the coverage configuration {user} does not exist", hint="fix tool.stacktest.coverage.rcfile"
            )
        validate_rcfile(user)  # the message names the user's file, not our copy of it
        shutil.copy2(user, rc)
    else:
        rc.write_text(RCFILE)
        validate_rcfile(rc)
    vendor = _vendor(cache_dir())
    shutil.copytree(vendor, spy / "_vendor", ignore=shutil.ignore_patterns("wheels", ".complete"))
    _world_readable(spy)
    return spy


def _world_readable(top: Path) -> None:
    """Every user a service may run as reads the spy (mkdtemp made the vendored copy 0700)."""
    top.chmod(0o755)
    for folder, dirs, files in os.walk(top):
        for d in dirs:
            (Path(folder) / d).chmod(0o755)
        for f in files:
            (Path(folder) / f).chmod(0o644)


def check_report_dir(folder: Path) -> None:
    """Fail before anything starts when the reports could not be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CoverageError(
            f"cannot write the coverage reports in {folder}: {exc.strerror}",
            hint="make that folder writable, or set coverage.report_dir to another one",
        ) from exc


def link_latest(report_root: Path, run_folder: Path) -> Path:
    """``<report_dir>/latest`` points at the newest finished run's reports."""
    latest = report_root / "latest"
    tmp = report_root / f".latest-{run_folder.name}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_folder.name)
    tmp.replace(latest)
    return latest


def volume_name(service: str) -> str:
    """The run's data volume of one covered service: services never share one, so one service can
    neither overwrite nor forge another's data or markers, and replicas of a service share theirs."""
    return f"stacktest-coverage-{service}"


def _environment(spec: Mapping[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env if "=" in item)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def overlay(
    settings: Settings,
    base_config: Mapping[str, Any],
    dest: Path,
    from_images: Mapping[str, str] | None = None,
    *,
    packages: Sequence[str] = (),
) -> Path:
    """A compose overlay in the seed's shape for each covered service, with a data volume per service
    and the run's spy volume mounted read-only. Neither is a folder of this machine: the spy reaches the
    volume through the Engine API (:func:`deliver_spy`), so a remote engine measures as a local one does.

    PYTHONPATH puts the spy first and keeps what the service already had: its compose environment's
    value, else its image's (``from_images``, read from the built image: compose's value would
    replace the image's ENV, and the service would no longer find its own modules)."""
    services = base_config.get("services") or {}
    missing = [s for s in settings.coverage_services if s not in services]
    if missing:
        raise ConfigError(
            f"tool.stacktest.coverage.services names {missing[0]!r}, which the stack does not have "
            f"(it has {', '.join(sorted(services))})"
        )
    out: dict[str, Any] = {"services": {}, "volumes": {}}
    for name in settings.coverage_services:
        spec = services[name] or {}
        own = _environment(spec).get("PYTHONPATH") or (from_images or {}).get(name, "")
        source = ":".join(settings.coverage_paths.get(name, {}).keys())
        env = {
            "PYTHONPATH": ":".join(p for p in (SPY_MOUNT, own) if p),
            "COVERAGE_FILE": f"{DATA_DIR}/.coverage",
            "STACKTEST_COVERAGE_RCFILE": f"{SPY_MOUNT}/.coveragerc",
            "STACKTEST_COVERAGE_SOURCE": source,
        }
        if source and packages:  # the repository's packages, wherever pip installed them
            env["STACKTEST_COVERAGE_PACKAGES"] = ":".join(packages)
        if spec.get("stop_signal"):
            env["STACKTEST_STOP_SIGNAL"] = str(spec["stop_signal"])
        out["services"][name] = {
            "environment": env,
            "volumes": [f"{SPY_VOLUME}:{SPY_MOUNT}:ro", f"{volume_name(name)}:{DATA_ROOT}"],
        }
        out["volumes"][volume_name(name)] = {}
    out["volumes"][SPY_VOLUME] = {}
    dest.write_text(yaml.safe_dump(out, sort_keys=True))
    return dest


def image_pythonpath(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]]) -> dict[str, str]:
    """The PYTHONPATH each covered service's image sets (ENV in its Dockerfile), where it sets one."""
    out = {}
    for service, states in replicas.items():
        value = engine.image_env(states[0].image_id).get("PYTHONPATH", "") if states else ""
        if value:
            out[service] = value
    return out


def make_data_writable(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]]) -> None:
    """Before the services start: their data volumes writable for any user (``USER`` in a Dockerfile,
    ``user:`` in compose), as /tmp is. A new volume belongs to root, and a non-root service could not
    save its data, nor even say so."""
    for states in replicas.values():
        if states:
            engine.make_writable(states[0].container_id, DATA_DIR)


def deliver_spy(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]], spy: Path) -> None:
    """Before the services start: copy the spy into the run's spy volume, through the Engine API (a
    short-lived helper container that mounts the volume is created, filled and removed; it never runs)."""
    first = next((states[0] for states in replicas.values() if states), None)
    if first is None:
        return
    volume = engine.volume_at(first.container_id, SPY_MOUNT)
    if volume is None:
        raise CoverageError(
            f"the covered service {first.service} has no spy volume at {SPY_MOUNT}",
            hint="a compose file of the stack mounts something else there; remove that mount",
        )
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(spy.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(spy)), recursive=False)
    engine.fill_volume(volume, buf.getvalue(), like=first.container_id)


MARKERS = (".spy-error", ".spy-too-old")
MAX_DATA_FILES = 200_000
MAX_DATA_BYTES = 8 * 2**30


def _is_data(name: str) -> bool:
    return name.startswith(".coverage.") or name.startswith(MARKERS) or _ledger.is_entry(name)


SAVE_WAIT = 5.0  # seconds the measuring processes of a container have to answer a save request


def ask_to_save(
    engine: Engine, replicas: Mapping[str, Sequence[ServiceState]], work: Path
) -> dict[str, dict[str, str]]:
    """Ask every measured process that still runs in the covered containers to save its data now (the
    spy's save signal, sent from inside each container by :data:`_ledger.SAVE_SCRIPT`), and wait until
    each has. Returns, per container, each asked entry's answer ("saved", "ended", "no answer",
    "cannot ask"). One ledger read per service, one ``exec`` per container, all containers at once."""
    from concurrent.futures import ThreadPoolExecutor

    jobs: list[tuple[ServiceState, str]] = []
    for service, states in sorted(replicas.items()):
        running = [st for st in states if st.status == "running"]
        if not running:
            continue
        folder = work / "ledger" / service
        shutil.rmtree(folder, ignore_errors=True)
        engine.copy_out(
            running[0].container_id,
            DATA_DIR,
            folder,
            accept=_ledger.is_entry,
            max_files=MAX_DATA_FILES,
            max_bytes=MAX_DATA_BYTES,
        )
        entries = _ledger.read_entries(folder)
        for st in running:
            python = _ledger.save_python(entries, st.hostname)
            if python:
                jobs.append((st, python))

    def ask(job: tuple[ServiceState, str]) -> tuple[str, dict[str, str]]:
        st, python = job
        argv = [python, "-I", "-c", _ledger.SAVE_SCRIPT, DATA_DIR, st.hostname, str(SAVE_WAIT)]
        result = engine.exec(st.container_id, argv)
        try:
            answers = json.loads(result.output.strip().splitlines()[-1]) if result.exit_code == 0 else None
        except (ValueError, IndexError):
            answers = None
        if not isinstance(answers, dict):
            log.info("%s: could not ask its processes to save (exit %s)", st.label, result.exit_code)
            return st.label, {}
        return st.label, {str(k): str(v) for k, v in answers.items()}

    with ThreadPoolExecutor(max_workers=8) as pool:
        done = dict(pool.map(ask, jobs))
    for label, answers in sorted(done.items()):
        if answers:
            log.info(
                "%s: save requests: %s", label, ", ".join(f"{v} {k}" for k, v in sorted(answers.items()))
            )
    return done


def _copy_service(engine: Engine, states: Sequence[ServiceState], dest: Path) -> int:
    """Copy a service's data volume out once, through any of its containers that still exists."""
    for state in states:
        copied = engine.copy_out(
            state.container_id,
            DATA_DIR,
            dest,
            accept=_is_data,
            max_files=MAX_DATA_FILES,
            max_bytes=MAX_DATA_BYTES,
        )
        if copied is not None:
            return copied
    return 0


def check_spy(engine: Engine, replicas: Mapping[str, Sequence[ServiceState]], work: Path) -> None:
    """After readiness, before the tests: did the spy start in every covered service?"""
    problems = []
    for service, states in sorted(replicas.items()):
        folder = work / "spycheck" / service
        shutil.rmtree(folder, ignore_errors=True)
        _copy_service(engine, states, folder)
        for marker in sorted(p for p in folder.iterdir() if p.name.startswith(MARKERS)):
            problems.append(f"{service}: {marker.read_text(errors='replace').strip()[:500]}")
    if problems:
        raise CoverageError(
            "coverage did not start in the containers:\n  " + "\n  ".join(problems),
            hint="fix the coverage configuration or the image's Python, then run again",
        )


@dataclass
class Harvest:
    files: dict[str, int] = field(default_factory=dict)  # service -> data files
    missing: dict[str, str] = field(default_factory=dict)  # covered services with no data -> why
    # one row per covered container: service, container (web, web-2), name, files, started, stopped
    containers: list[dict[str, Any]] = field(default_factory=list)
    ledger: _ledger.Ledger = field(default_factory=_ledger.Ledger)  # every measured process


CONTRIBUTORS = "contributors.json"  # in a run's data folder: which containers wrote its data, and when


def harvest(
    engine: Engine,
    replicas: Mapping[str, Sequence[ServiceState]],
    dest: Path,
    accept_lost: Sequence[str] = (),
) -> Harvest:
    """Copy the data files and the process ledger out of the (stopped) containers through the Engine
    API, one folder per service (every replica's files: they share the service's volume). Which
    container wrote a file is read from its name (coverage's suffix starts with the host name, the
    container's). A process the ledger lists without a save is looked up in its container's output,
    for how it ended."""
    result = Harvest()
    inspected: dict[str, ServiceState] = {}  # host name -> the container's state after the run
    for service, states in sorted(replicas.items()):
        folder = dest / service
        _copy_service(engine, states, folder)
        for marker in folder.glob(".spy-*"):
            marker.unlink()
        names = [p.name for p in folder.glob(".coverage.*")]
        result.files[service] = len(names)
        if not result.files[service]:
            result.missing[service] = _why_no_data(engine, states)
        for before in states:
            st = engine.inspect(before.container_id) or before
            host = st.hostname or st.container_id[:12]
            inspected[host] = st
            result.containers.append(
                {
                    "service": service,
                    "container": st.label,
                    "name": st.name,
                    "files": sum(1 for n in names if n.startswith(f".coverage.{host}.")),
                    "started": st.started,
                    "stopped": st.finished_at,
                }
            )
    hosts = {host: st.label for host, st in inspected.items()}
    ledger = _ledger.Ledger.from_folders({s: dest / s for s in replicas}, hosts, accept_lost)
    result.ledger = ledger.explained(_how_lost(engine, ledger.lost(), inspected))
    dest.mkdir(parents=True, exist_ok=True)
    (dest / CONTRIBUTORS).write_text(json.dumps(result.containers, indent=2))
    return result


def _how_lost(
    engine: Engine, lost: Sequence[_ledger.Process], containers: Mapping[str, ServiceState]
) -> dict[tuple[str, int], str]:
    """How each lost process ended, where its container knows: out of memory, or a line of its output
    that names the process (servers log the workers they kill)."""
    how: dict[tuple[str, int], str] = {}
    logs: dict[str, str] = {}
    for p in lost:
        st = containers.get(p.host)
        if st is None:
            continue
        if st.container_id not in logs:
            logs[st.container_id] = engine.logs(st.container_id, tail=2000)
        said = _ledger.ended_how(logs[st.container_id], p.pid)
        if said:
            how[(p.host, p.pid)] = f"its container said: {said}"
        elif st.oom_killed:
            how[(p.host, p.pid)] = "its container ran out of memory (the OOM killer)"
    return how


def _why_no_data(engine: Engine, states: Sequence[ServiceState]) -> str:
    for before in states:
        st = engine.inspect(before.container_id)
        if st is not None and st.exit_code == 137 and not st.oom_killed:
            return (
                "it was killed (exit code 137), so it never saved: killed from outside, or it did not "
                "stop within its grace period (does its PID 1 ignore the stop signal?)"
            )
        if st is not None and st.oom_killed:
            return "it ran out of memory and was killed"
    return "it ran no Python code that coverage measures, or was killed"


PARALLEL_COMBINE_FROM = 200  # data files of one service from which combining is split across processes


def combine(
    data: Path,
    services: Sequence[str],
    paths: Mapping[str, Mapping[str, str]],
    root: Path,
    dest: Path,
    packages: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """Combine each service's data with its container paths mapped to host folders, into ``dest``
    (and the repository's ``packages`` mapped back from where pip installed them).

    Each service is combined on its own (two services may both keep their code in /app), then the
    per-service files are combined into ``dest/.coverage``. Returns the per-service data files. Many
    files of one service are combined in parts, a process per core, then the parts together (combining
    is CPU-bound Python: one process would use one core).
    """
    dest.mkdir(parents=True, exist_ok=True)
    per_service: dict[str, Path] = {}
    for service in services:
        files = sorted(
            str(p) for p in (data / service).glob(".coverage.*") if not p.name.startswith(".coverage..")
        )
        if not files:
            continue
        out = dest / f".coverage.{service}"
        mapping = {
            f"{service}-{i}": [str((root / host).resolve()), container.rstrip("/") + "/"]
            for i, (container, host) in enumerate(paths.get(service, {}).items())
        } | _paths.package_aliases(packages or {})
        try:
            _combine_parts(files, mapping, out)
        except CoverageException as exc:
            raise CoverageError(f"combining the data of {service} failed: {exc}") from exc
        per_service[service] = out
    total = dest / ".coverage"
    total.unlink(missing_ok=True)
    cov = coverage.Coverage(data_file=str(total), config_file=False)
    if per_service:
        cov.combine([str(p) for p in per_service.values()], keep=True)
    cov.save()
    return per_service


def _combine_files(files: Sequence[str], mapping: Mapping[str, list[str]], out: str) -> str:
    """``coverage combine --keep`` of ``files`` into ``out``, container paths mapped (a worker's job)."""
    Path(out).unlink(missing_ok=True)
    cov = coverage.Coverage(data_file=out, config_file=False)
    if mapping:
        cov.set_option("paths", dict(mapping))
    cov.combine(list(files), keep=True)
    cov.save()
    return out


def _combine_parts(files: Sequence[str], mapping: Mapping[str, list[str]], out: Path) -> None:
    workers = min(os.cpu_count() or 1, 8, len(files) // (PARALLEL_COMBINE_FROM // 2) or 1)
    if len(files) < PARALLEL_COMBINE_FROM or workers < 2:
        _combine_files(files, mapping, str(out))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    parts = [str(out.with_name(f"{out.name}.part{i}")) for i in range(workers)]
    chunks = [files[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_combine_files, chunks, [mapping] * workers, parts))
    try:
        _combine_files(done, {}, str(out))  # the parts hold host paths already
    finally:
        for part in parts:
            Path(part).unlink(missing_ok=True)


@dataclass(frozen=True)
class ServiceFigure:
    service: str
    statements: int
    missing: int
    percent: float


@dataclass
class Report:
    services: list[ServiceFigure]
    total: ServiceFigure
    html: Path
    xml: Path
    json: Path
    processes: dict[str, tuple[int, int]] = field(default_factory=dict)  # service -> (measured, ran)


def _loaded(data_file: Path) -> coverage.Coverage:
    """Combined data, ready to report on the host (files that were not mapped are skipped)."""
    cov = coverage.Coverage(data_file=str(data_file), config_file=False)
    cov.load()
    cov.set_option("report:ignore_errors", True)
    return cov


def _figure(name: str, data_file: Path, include: list[str], json_out: Path) -> ServiceFigure:
    cov = _loaded(data_file)
    try:
        cov.json_report(outfile=str(json_out), include=include)
    except CoverageException:  # "No data to report."
        return ServiceFigure(name, 0, 0, 0.0)
    totals = json.loads(json_out.read_text())["totals"]
    return ServiceFigure(
        name, int(totals["num_statements"]), int(totals["missing_lines"]), float(totals["percent_covered"])
    )


def report(
    combined: Path,
    per_service: Mapping[str, Path],
    paths: Mapping[str, Mapping[str, str]],
    root: Path,
    out_dir: Path,
    contributors: Sequence[Mapping[str, Any]] | None = None,
    *,
    packages: Mapping[str, Path] | None = None,
    ledger: _ledger.Ledger | None = None,
) -> Report:
    """HTML, Cobertura XML and JSON of the total, and a figure per service (sources mapped to the host).

    ``html/index.html`` is stacktest's own page: a row per service linking to that service's coverage.py
    report (``html/<service>/``) and to the whole one (``html/all/``), and which containers contributed
    data and when (``contributors``; read from ``combined/data/contributors.json`` when not given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = [str(folder) + "/*" for folder in (packages or {}).values()]
    include = sorted(
        {str((root / host).resolve()) + "/*" for m in paths.values() for host in m.values()} | set(extra)
    )
    html, xml = out_dir / "html", out_dir / "coverage.xml"
    shutil.rmtree(html, ignore_errors=True)  # a report written again replaces the old pages
    figures, includes = [], {}
    for service, data_file in sorted(per_service.items()):
        own = [str((root / h).resolve()) + "/*" for h in paths.get(service, {}).values()]
        includes[service] = [*own, *extra] if own else include
        figures.append(_figure(service, data_file, includes[service], out_dir / f"coverage-{service}.json"))
    total = _figure("TOTAL", combined / ".coverage", include, out_dir / "coverage.json")
    try:
        for service, data_file in sorted(per_service.items()):
            _html(data_file, includes[service], html / service, f"{service}: coverage inside its containers")
        _html(combined / ".coverage", include, html / "all", "all services")
        _loaded(combined / ".coverage").xml_report(outfile=str(xml), include=include)
    except CoverageException as exc:
        log.warning("no coverage report written: %s", exc)
    except OSError as exc:
        raise CoverageError(
            f"cannot write the coverage report in {out_dir}: {exc.strerror}",
            hint="make the folder writable, or set coverage.report_dir",
        ) from exc
    if contributors is None:
        contributors = read_contributors(combined / "data" / CONTRIBUTORS)
    processes = ledger.counts() if ledger is not None else {}
    if ledger is not None:
        _add_to_json(out_dir / "coverage.json", {"processes": ledger.as_json()})
    html.mkdir(parents=True, exist_ok=True)
    (html / "index.html").write_text(index_page(figures, total, contributors, processes), encoding="utf-8")
    return Report(figures, total, html, xml, out_dir / "coverage.json", processes)


def _add_to_json(path: Path, what: Mapping[str, Any]) -> None:
    """stacktest's own figures beside coverage.py's, under the JSON report's "stacktest" key."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc["stacktest"] = dict(what)
    path.write_text(json.dumps(doc, indent=2))


def _html(data_file: Path, include: list[str], folder: Path, title: str) -> None:
    try:
        _loaded(data_file).html_report(directory=str(folder), include=include, title=title)
    except CoverageException as exc:  # "No data to report" for a service that ran none of its files
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(
            f"<!doctype html><meta charset=utf-8><title>{html_escape(title)}</title>"
            f"<p>{html_escape(str(exc))}</p>",
            encoding="utf-8",
        )


def _measured(processes: Mapping[str, tuple[int, int]] | None, service: str) -> str:
    if not processes or service not in processes:
        return "-"
    done, ran = processes[service]
    return f"{done} of {ran}"


def read_contributors(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)):
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def index_page(
    figures: Sequence[ServiceFigure],
    total: ServiceFigure,
    contributors: Sequence[Mapping[str, Any]],
    processes: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    """The report's first page: a row per service with its figures and a link to its files, then the
    containers whose data it holds, with when each ran."""
    e = html_escape
    rows = []
    for f in figures:
        bar = max(0.0, min(100.0, f.percent))
        rows.append(
            f"<tr><td><a href='{e(f.service)}/index.html'>{e(f.service)}</a></td>"
            f"<td class=n>{f.statements}</td><td class=n>{f.missing}</td>"
            f"<td class=n>{f.percent:.1f}%</td>"
            f"<td><div class=bar><div style='width:{bar:.1f}%'></div></div></td>"
            f"<td class=n>{_measured(processes, f.service)}</td></tr>"
        )
    rows.append(
        "<tr class=total><td><a href='all/index.html'>all services</a></td>"
        f"<td class=n>{total.statements}</td><td class=n>{total.missing}</td>"
        f"<td class=n>{total.percent:.1f}%</td><td></td><td></td></tr>"
    )
    who = [
        f"<tr><td>{e(str(c.get('service', '')))}</td><td>{e(str(c.get('container', '')))}</td>"
        f"<td>{e(str(c.get('name', '')))}</td><td class=n>{e(str(c.get('files', 0)))}</td>"
        f"<td>{_when(c.get('started'))}</td><td>{_when(c.get('stopped'))}</td></tr>"
        for c in contributors
    ]
    who_table = (
        "<table><thead><tr><th>service</th><th>container</th><th>name</th><th>data files</th>"
        "<th>started</th><th>stopped</th></tr></thead><tbody>" + "".join(who) + "</tbody></table>"
        if who
        else "<p>No record of the containers (data combined from elsewhere).</p>"
    )
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>stacktest coverage</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222 }}
h1 {{ font-size: 1.5em }} h2 {{ font-size: 1.15em; margin-top: 2em }}
table {{ border-collapse: collapse; width: 100% }}
th, td {{ text-align: left; padding: .35em .7em; border-bottom: 1px solid #ddd }}
th {{ white-space: nowrap }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums }}
tr.total td {{ font-weight: bold; border-top: 2px solid #888 }}
.bar {{ background: #f3c2c2; height: .8em; width: 12em }} .bar div {{ background: #3a9d3a; height: 100% }}
a {{ color: #0b5cad }}
</style></head>
<body>
<h1>Coverage inside the containers</h1>
<table id=services><thead><tr><th>service</th><th class=n>statements</th><th class=n>missed</th>
<th class=n>cover</th><th></th><th class=n>processes measured</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<h2>Containers that contributed data</h2>
<div id=containers>{who_table}</div>
</body></html>
"""
