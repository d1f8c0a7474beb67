"""Diagnose: checks -> findings (with evidence and a fix) -> a report (the CLI renders it).

Exit codes: 0 all is well, 1 problems found, 11 could not check (the engine is unreachable).
Services with problems come first, so the first thing a CI log shows is what broke.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

from stacktest.adapters import compose as _compose
from stacktest.adapters.endpoint import engine_host
from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import ServiceState
from stacktest.diagnose.report import Finding, Report, Severity
from stacktest.errors import StacktestError
from stacktest.settings import Probe, Settings
from stacktest.stack import reap as reaping
from stacktest.stack import records
from stacktest.stack.rules import Status, judge, probe_now, probe_once
from stacktest.state import REACHED, shown
from stacktest.testrun import junit, shards

__all__ = ["diagnose"]


_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?[^}]*\}|\$([A-Za-z_][A-Za-z0-9_]*)")


LOG_TAIL = 20


def diagnose(settings: Settings, project: str | None = None) -> Report:
    report = Report()
    engine = _check_engine(settings, report)
    _check_compose(settings, report)
    _check_env(settings, report)
    if engine is not None:
        _check_stack(settings, engine, report, project)
        _check_leftovers(settings, engine, report)
    _check_coverage(settings, report)
    _check_junit(settings, report)
    _check_saved_logs(settings, report)
    return report


def _check_saved_logs(settings: Settings, report: Report) -> None:
    """Point at the full logs the newest failed run left (one folder, for a CI artifact)."""
    saved = settings.state.saved_logs()
    if not saved:
        return
    folder = saved[0]
    files = sorted(p.name for p in folder.glob("*.log"))
    where = shown(folder)
    report.add(
        Finding(
            "logs",
            "info",
            f"full logs of the last failed run: {where}",
            evidence=", ".join(files),
            fix=f"upload {where.parent.parent} as a CI artifact (`if: failure()`)",
            subject=str(folder),
        )
    )


def _check_engine(settings: Settings, report: Report) -> Engine | None:
    try:
        engine = Engine.connect(timeout=10)
    except StacktestError as exc:
        report.could_not_check = True
        report.add(Finding("engine", "error", "the Docker Engine is unreachable", exc.message, exc.hint))
        return None
    version = engine.version()
    report.add(
        Finding(
            "engine",
            "ok",
            f"Docker Engine {version.get('Version', '?')} (API {version.get('ApiVersion', '?')})",
        )
    )
    root = engine.info().get("DockerRootDir", "")
    if root and os.path.isdir(root):
        free = shutil.disk_usage(root).free / 2**30
        severity: Severity = "error" if free < 1 else "warning" if free < 5 else "ok"
        report.add(
            Finding(
                "engine",
                severity,
                f"{free:.1f} GiB free for the engine ({root})",
                fix="free disk space: `docker system prune`" if severity != "ok" else "",
            )
        )
    return engine


def _check_compose(settings: Settings, report: Report) -> None:
    try:
        compose = _compose.detect(settings.compose_command)
    except StacktestError as exc:
        report.add(Finding("compose", "error", "no compose tool", exc.message, exc.hint))
        return
    name = " ".join(compose.command)
    report.add(Finding("compose", "ok", f"{name} {'.'.join(map(str, compose.version))}"))
    missing = [str(p) for p in settings.compose_paths if not p.is_file()]
    if missing:
        report.add(
            Finding(
                "compose-config",
                "error",
                "compose file missing",
                ", ".join(missing),
                "fix tool.stacktest.compose_files",
                subject=missing[0],
            )
        )
        return
    try:
        compose.bind("", settings.compose_paths, {}, 60).config()
    except StacktestError as exc:
        report.add(
            Finding("compose-config", "error", "the compose configuration is invalid", str(exc), exc.hint)
        )
        return
    report.add(
        Finding("compose-config", "ok", f"compose configuration valid ({len(settings.compose_paths)} files)")
    )


def _check_env(settings: Settings, report: Report) -> None:
    """Variables the compose files interpolate: present, defaulted or missing. Values are never shown."""
    needed: dict[str, bool] = {}  # name -> has a default
    for path in settings.compose_paths:
        if not path.is_file():
            continue
        for m in _VAR_RE.finditer(path.read_text(encoding="utf-8")):
            name = m.group(1) or m.group(3)
            has_default = bool(m.group(2) and m.group(2).lstrip(":").startswith(("-", "+")))
            needed[name] = needed.get(name, False) or has_default
    set_by_stacktest = {"STACKTEST_PYTHON_IMAGE", "STACKTEST_REDIS_IMAGE"}
    dotenv = settings.compose_paths[0].parent / ".env" if settings.compose_paths else None
    in_dotenv = _dotenv_names(dotenv) if dotenv is not None else set()
    for name, has_default in sorted(needed.items()):
        if name in set_by_stacktest:
            continue
        present = name in os.environ  # env: any variable the user's compose files name
        if present:
            report.add(Finding("env", "ok", f"{name} is set", subject=name))
        elif name in in_dotenv:
            report.add(Finding("env", "ok", f"{name} is set in {dotenv}", subject=name))
        elif has_default:
            report.add(
                Finding("env", "info", f"{name} is not set; the compose file's default is used", subject=name)
            )
        else:
            report.add(
                Finding(
                    "env",
                    "error",
                    f"{name} is not set and has no default",
                    subject=name,
                    fix=f"export {name} before starting the stack",
                )
            )


def _dotenv_names(path: Path) -> set[str]:
    """The names a compose ``.env`` file sets (compose reads it from the project folder)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    names = set()
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def _check_stack(settings: Settings, engine: Engine, report: Report, project: str | None) -> None:
    try:
        record = records.find_record(settings, project)
    except StacktestError:
        report.add(
            Finding(
                "stack",
                "info",
                "no stack of this checkout is running",
                fix="`just up` starts one; `just test` starts one for a run",
            )
        )
        return
    replicas = engine.replicas(record.project)
    if not replicas:
        report.add(
            Finding(
                "stack",
                "error",
                f"stack {record.project} is recorded but has no containers",
                fix="`stacktest down` clears the record; `just up` starts a new stack",
                subject=record.project,
            )
        )
        return
    host = engine_host()
    # dependencies first (the record keeps compose's start order): a failed dependency is named before
    # the services that failed because of it
    for service in [*record.services, *sorted(set(replicas) - set(record.services))]:
        if not replicas.get(service):
            report.add(
                Finding(
                    "service",
                    "error",
                    f"{service}: no container",
                    subject=service,
                    fix=f"`stacktest up {service}`",
                )
            )
            continue
        for st in replicas[service]:
            _check_container(settings, engine, report, host, st)


def _check_container(settings: Settings, engine: Engine, report: Report, host: str, st: ServiceState) -> None:
    """One container's state, health, log tail and published ports."""
    service = st.label
    if st.completed and st.service not in settings.probes:
        report.add(Finding("service", "ok", f"{service}: completed (one-shot, exit code 0)", subject=service))
        return
    verdict = judge(engine, st, settings.probes.get(st.service), host)  # the rules `wait` decides by
    problems = [] if verdict.status is Status.READY else [verdict.detail]
    if st.restart_count:
        problems.append(f"restarted {st.restart_count} times")
    if problems:
        tail = engine.logs(st.container_id, tail=LOG_TAIL).rstrip()
        report.add(
            Finding(
                "service",
                "error",
                f"{service}: {', '.join(problems)}",
                evidence=f"last {LOG_TAIL} log lines:\n{tail}" if tail else "no log lines",
                fix=f"`just logs {st.service}`; then `just down && just up`",
                subject=service,
            )
        )
        return
    report.add(
        Finding(
            "service",
            "ok",
            f"{service}: {st.status}, ready ({verdict.detail}), health {st.health or 'n/a'}",
            subject=service,
        )
    )
    probe = settings.probes.get(st.service)
    for container_port, host_port in sorted(st.ports.items()):
        p = probe if probe and probe.port == container_port else Probe("tcp", container_port)
        if p.kind == "sql":  # it needs the container's credentials
            answered, what = probe_now(engine, p, st, host)
            ok = bool(answered)
        else:
            ok, what = probe_once(p, host, host_port)
        report.add(
            Finding(
                "port",
                "ok" if ok else "error",
                f"{service}: {host}:{host_port} (container {container_port}) "
                + ("answers" if ok else "does not answer"),
                evidence=what,
                subject=service,
                fix="" if ok else f"check the service listens on 0.0.0.0:{container_port}",
            )
        )


def _check_leftovers(settings: Settings, engine: Engine, report: Report) -> None:
    stale = reaping.stale_stacks(engine, settings)
    for info, why in stale:
        report.add(
            Finding(
                "leftovers",
                "warning",
                f"stack {info.project} was left behind: {why}",
                evidence=f"{info.containers} containers, checkout {info.root or info.checkout}",
                fix="`stacktest reap --yes` removes it",
                subject=info.project,
            )
        )
    if not stale:
        report.add(Finding("leftovers", "ok", "no stacks left behind by earlier runs"))


def _check_coverage(settings: Settings, report: Report) -> None:
    data = settings.state.read_last("coverage.json")
    if not isinstance(data, dict):
        if settings.state.last("coverage.json").is_file():
            report.add(
                Finding(
                    "coverage",
                    "warning",
                    f"cannot read {settings.state.last('coverage.json')}",
                    fix="run the coverage job again",
                )
            )
        return
    for service, count in sorted(data.get("files", {}).items()):
        if count:
            report.add(Finding("coverage", "ok", f"{service}: {count} coverage data files", subject=service))
        else:
            report.add(
                Finding(
                    "coverage",
                    "warning",
                    f"{service}: no coverage data in the last coverage run",
                    fix="was it killed, or did it never run Python code? see `just logs " + service + "`",
                    subject=service,
                )
            )


def _check_junit(settings: Settings, report: Report) -> None:
    last = settings.state.last("junit.xml")
    if not last.is_file():
        return
    try:
        root = junit.read(last)
    except junit.Unreadable as exc:
        report.add(Finding("tests", "warning", f"cannot read {exc}"))
        return
    failed = [c for c in junit.cases(root) if c.outcome in ("failure", "error")]
    if not failed:
        report.add(Finding("tests", "ok", "the last run had no failing tests"))
    reached = _reached(settings, last)
    for case in failed[:20]:
        lines = reached.get(f"{case.classname}.{case.name}", {})
        where = "".join(f"\nreached in {service}: {said}" for service, said in sorted(lines.items()))
        report.add(
            Finding(
                "tests",
                "error",
                f"failed: {case.key}",
                evidence=case.message + where,
                fix=f"`{shlex.join(['just', 'test', '-k', case.name, '-vvv', '-s'])}`",
                subject=case.key,
            )
        )


def _reached(settings: Settings, junit_file: Path) -> dict[str, dict[str, str]]:
    """The service lines each failing test of the last coverage run with contexts reached, by JUnit
    name; nothing when a later run wrote the JUnit file."""
    path = settings.state.last(REACHED)
    try:
        if path.stat().st_mtime < junit_file.stat().st_mtime:
            return {}
    except OSError:
        return {}
    found = settings.state.read_last(REACHED)
    if not isinstance(found, dict):
        return {}
    return {
        shards.junit_key(str(test)): dict(lines) for test, lines in found.items() if isinstance(lines, dict)
    }
