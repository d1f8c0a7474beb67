"""Sidecar coverage: measure the services inside their containers, then combine and report on the host.

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
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coverage
import yaml
from coverage.exceptions import CoverageException

from stacktest._engine import Engine
from stacktest._images import LINUX_WHEELS, pip_download
from stacktest.errors import CommandFailed, ConfigError, CoverageError
from stacktest.settings import Settings

__all__ = [
    "DATA_ROOT",
    "Covered",
    "Harvest",
    "Report",
    "ServiceFigure",
    "check_spy",
    "combine",
    "harvest",
    "overlay",
    "prepare_spy",
    "report",
]

log = logging.getLogger("stacktest")

DATA_ROOT = "/coverage-data"
SPY_MOUNT = "/coverage-spy"
VENDOR_PYTHONS = ("3.10", "3.11", "3.12", "3.13")
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
            zf.extractall(target / tag)


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
    """The folder mounted read-only at /coverage-spy: sitecustomize.py, .coveragerc and vendored coverage."""
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
    spy.chmod(0o755)
    return spy


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


def overlay(settings: Settings, base_config: Mapping[str, Any], spy: Path, dest: Path) -> Path:
    """A compose overlay in the seed's shape for each covered service, with a data volume of the run."""
    services = base_config.get("services") or {}
    missing = [s for s in settings.coverage_services if s not in services]
    if missing:
        raise ConfigError(
            f"tool.stacktest.coverage.services names {missing[0]!r}, which the stack does not have "
            f"(it has {', '.join(sorted(services))})"
        )
    out: dict[str, Any] = {"services": {}, "volumes": {"coverage-data": {}}}
    for name in settings.coverage_services:
        env = (services[name] or {}).get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env if "=" in item)
        pythonpath = ":".join(p for p in (SPY_MOUNT, env.get("PYTHONPATH")) if p)
        source = ":".join(settings.coverage_paths.get(name, {}).keys())
        out["services"][name] = {
            "environment": {
                "PYTHONPATH": pythonpath,
                "COVERAGE_FILE": f"{DATA_ROOT}/.coverage",
                "STACKTEST_COVERAGE_RCFILE": f"{SPY_MOUNT}/.coveragerc",
                "STACKTEST_COVERAGE_SOURCE": source,
            },
            "volumes": [f"{spy}:{SPY_MOUNT}:ro", f"coverage-data:{DATA_ROOT}"],
        }
    dest.write_text(yaml.safe_dump(out, sort_keys=True))
    return dest


def _copy_volume(engine: Engine, containers: Mapping[str, Covered], dest: Path) -> bool:
    """Copy the shared data volume out once, through any covered container that still exists."""
    shutil.rmtree(dest, ignore_errors=True)
    for covered in containers.values():
        if engine.copy_out(covered.container_id, DATA_ROOT, dest) or dest.is_dir():
            return True
    return False


def check_spy(engine: Engine, containers: Mapping[str, Covered], work: Path) -> None:
    """After readiness, before the tests: did the spy start in every covered service?"""
    problems = []
    folder = work / "spycheck"
    _copy_volume(engine, containers, folder)
    for service, covered in sorted(containers.items()):
        for marker in (".spy-error", ".spy-too-old"):
            path = folder / f"{marker}.{covered.hostname}"
            if path.is_file():
                problems.append(f"{service}: {path.read_text().strip()}")
    if problems:
        raise CoverageError(
            "coverage did not start in the containers:\n  " + "\n  ".join(problems),
            hint="fix the coverage configuration or the image's Python, then run again",
        )


@dataclass
class Harvest:
    folder: Path
    files: dict[str, int] = field(default_factory=dict)  # service -> data files
    missing: list[str] = field(default_factory=list)  # covered services that produced no data
    seconds: float = 0.0


@dataclass(frozen=True)
class Covered:
    """A covered service's container: its id, and the hostname its data files are named by."""

    container_id: str
    hostname: str


def harvest(engine: Engine, containers: Mapping[str, Covered], dest: Path) -> Harvest:
    """Copy the data files out of the (stopped) containers through the Engine API, and sort them into a
    folder per service by the hostname in their names (``.coverage.<hostname>.pid<N>.<random>``)."""
    start = time.monotonic()
    result = Harvest(dest)
    raw = dest / "_volume"
    _copy_volume(engine, containers, raw)
    files = sorted(raw.glob(".coverage.*")) if raw.is_dir() else []
    for service, covered in sorted(containers.items()):
        mine = [f for f in files if f.name.startswith(f".coverage.{covered.hostname}.")]
        (dest / service).mkdir(parents=True, exist_ok=True)
        for f in mine:
            f.replace(dest / service / f.name)
        result.files[service] = len(mine)
        if not mine:
            result.missing.append(service)
    shutil.rmtree(raw, ignore_errors=True)
    result.seconds = time.monotonic() - start
    return result


def combine(
    data: Path,
    services: Sequence[str],
    paths: Mapping[str, Mapping[str, str]],
    root: Path,
    dest: Path,
) -> dict[str, Path]:
    """Combine each service's data with its container paths mapped to host folders, into ``dest``.

    Each service is combined on its own (two services may both keep their code in /app), then the
    per-service files are combined into ``dest/.coverage``. Returns the per-service data files.
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
        out.unlink(missing_ok=True)
        cov = coverage.Coverage(data_file=str(out), config_file=False)
        mapping = {
            f"{service}-{i}": [str((root / host).resolve()), container.rstrip("/") + "/"]
            for i, (container, host) in enumerate(paths.get(service, {}).items())
        }
        if mapping:
            cov.set_option("paths", mapping)
        try:
            cov.combine(files, keep=True)
        except CoverageException as exc:
            raise CoverageError(f"combining the data of {service} failed: {exc}") from exc
        cov.save()
        per_service[service] = out
    total = dest / ".coverage"
    total.unlink(missing_ok=True)
    cov = coverage.Coverage(data_file=str(total), config_file=False)
    if per_service:
        cov.combine([str(p) for p in per_service.values()], keep=True)
    cov.save()
    return per_service


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
) -> Report:
    """HTML, Cobertura XML and JSON of the total, and a figure per service (sources mapped to the host)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    include = sorted({str((root / host).resolve()) + "/*" for m in paths.values() for host in m.values()})
    figures = []
    for service, data_file in sorted(per_service.items()):
        svc_include = [str((root / h).resolve()) + "/*" for h in paths.get(service, {}).values()] or include
        figures.append(_figure(service, data_file, svc_include, out_dir / f"coverage-{service}.json"))
    total = _figure("TOTAL", combined / ".coverage", include, out_dir / "coverage.json")
    cov = _loaded(combined / ".coverage")
    html, xml = out_dir / "html", out_dir / "coverage.xml"
    try:
        cov.html_report(directory=str(html), include=include)
        cov.xml_report(outfile=str(xml), include=include)
    except CoverageException as exc:
        log.warning("no coverage report written: %s", exc)
    except OSError as exc:
        raise CoverageError(
            f"cannot write the coverage report in {out_dir}: {exc.strerror}",
            hint="make the folder writable, or set coverage.report_dir",
        ) from exc
    return Report(figures, total, html, xml, out_dir / "coverage.json")


def text_table(rep: Report) -> str:
    """A plain table for logs; the CLI renders its own rich one."""
    buf = io.StringIO()
    for f in [*rep.services, rep.total]:
        buf.write(f"{f.service:<12} {f.statements:>6} {f.missing:>6} {f.percent:>6.1f}%\n")
    return buf.getvalue()
