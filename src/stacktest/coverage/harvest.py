"""Every measured process asked to save, then the data and the ledger copied out of the containers, with
how each lost process ended (from its logs, or the out-of-memory killer)."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import ServiceState
from stacktest.coverage import ledger as _ledger
from stacktest.coverage.spy import DATA_DIR
from stacktest.errors import CoverageError

__all__ = [
    "CONTRIBUTORS",
    "MARKERS",
    "Harvest",
    "ask_to_save",
    "check_spy",
    "harvest",
]

log = logging.getLogger("stacktest")

MARKERS = (".spy-error", ".spy-too-old")
MAX_DATA_FILES = 200_000
MAX_DATA_BYTES = 8 * 2**30
CONTRIBUTORS = "contributors.json"  # in a run's data folder: which containers wrote its data, and when
SAVE_WAIT = 5.0  # seconds the measuring processes of a container have to answer a save request


def _is_data(name: str) -> bool:
    return name.startswith(".coverage.") or name.startswith(MARKERS) or _ledger.is_entry(name)


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


@dataclass
class Harvest:
    files: dict[str, int] = field(default_factory=dict)  # service -> data files
    missing: dict[str, str] = field(default_factory=dict)  # covered services with no data -> why
    # one row per covered container: service, container (web, web-2), name, files, started, stopped
    containers: list[dict[str, Any]] = field(default_factory=list)
    ledger: _ledger.Ledger = field(default_factory=_ledger.Ledger)  # every measured process


def harvest(
    engine: Engine,
    replicas: Mapping[str, Sequence[ServiceState]],
    dest: Path,
    accept_lost: Sequence[str] = (),
) -> Harvest:
    """Copy the data files and the process ledger out of the (stopped) containers through the Engine
    API, one folder per service. ``replicas``: each container's state after the run, as the caller
    inspected it (it is not asked again) (every replica's files: they share the service's volume). Which
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
        for st in states:
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
