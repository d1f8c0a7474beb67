"""Readiness against services that fail: fast, named, with their log tail, nothing left behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import NOTHING, Spawn, engine_leftovers, run_cli, wait_until


@pytest.fixture
def faults(stack_copy: Callable[[str], Path]) -> Path:
    return stack_copy("faults")


def elapsed(service: str, text: str) -> float:
    match = re.search(rf"{service}: failed \(.*\) after ([0-9.]+)s", text)
    assert match, text
    return float(match[1])


def test_a_service_that_exits_at_start_fails_wait_fast(faults: Path) -> None:
    result = run_cli(["up", "ok", "crash"], faults)
    assert result.returncode == 14, result.stderr
    assert "error[not-ready]: service 'crash' exited with code 3" in result.stderr
    assert "fatal: cannot read /etc/crash.conf" in result.stderr  # its log tail
    assert elapsed("crash", result.stderr) < 2.0  # as the tool measured it, from the start of waiting


def test_a_failed_start_leaves_every_container_s_full_log(faults: Path) -> None:
    result = run_cli(["up", "ok", "crash"], faults)
    assert result.returncode == 14, result.stderr
    folders = list((faults / ".stacktest" / "runs").glob("*/logs"))
    assert len(folders) == 1, folders
    shown = folders[0].relative_to(faults)
    assert f"full logs of every container: {shown}" in result.stderr
    assert f"every container's whole log is in {shown}" in result.stderr  # the hint, as the stack is gone
    assert sorted(p.name for p in folders[0].iterdir()) == ["crash.log", "ok.log"]
    lines = (folders[0] / "crash.log").read_text().splitlines()
    # the whole log, not a tail (stdout and stderr, whose order the engine does not keep), timestamped
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z "
    assert all(re.match(stamp, line) for line in lines), lines
    assert sorted(re.sub(stamp, "", line) for line in lines) == [
        "fatal: cannot read /etc/crash.conf",
        "starting crash service",
    ]
    # the diagnose summary points at it
    report = json.loads(run_cli(["diagnose", "--json"], faults).stdout)
    logs = [f for f in report["findings"] if f["check"] == "logs"]
    assert logs and logs[0]["subject"] == str(folders[0]), report


def test_a_never_healthy_service_fails_at_the_deadline(faults: Path) -> None:
    result = run_cli(["up", "ok", "stuck", "--ready-timeout", "3"], faults)
    assert result.returncode == 14
    assert "not ready after 3 s: stuck" in result.stderr
    assert "health: starting" in result.stderr
    assert "raise ready_timeout" in result.stderr


def test_a_service_restarting_in_a_loop_fails_fast(faults: Path) -> None:
    result = run_cli(["up", "flapping"], faults)
    assert result.returncode == 14
    assert "service 'flapping'" in result.stderr
    assert re.search(r"(is restarting|exited with code 1)", result.stderr)


def test_unknown_service_is_refused(faults: Path) -> None:
    result = run_cli(["up", "nope"], faults)
    assert result.returncode == 18 and "unknown service 'nope'" in result.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_wait_leaves_nothing(
    faults: Path, docker_engine: Engine, sig: signal.Signals, spawn: Spawn
) -> None:
    proc = spawn(
        [sys.executable, "-m", "stacktest", "up", "ok", "stuck"],
        cwd=faults,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    both = wait_until(lambda: len(engine_leftovers(docker_engine, faults)["containers"]) == 2, timeout=60)
    if not both or proc.poll() is not None:
        proc.kill()
        pytest.fail(f"`up` did not get to the wait (exit {proc.wait()}): {proc.communicate()[1][-2000:]}")
    time.sleep(1)  # now waiting for `stuck` (the moment of the signal; its aftermath is what is tested)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "interrupted" in err
    assert engine_leftovers(docker_engine, faults) == NOTHING


def test_a_log_probe_waits_for_its_line(faults: Path) -> None:
    result = run_cli(["up", "logline"], faults)
    assert result.returncode == 0, result.stderr
    match = re.search(r"logline: ready \(log: found 'Listening on \\\\d\+'\) after ([0-9.]+)s", result.stderr)
    assert match, result.stderr
    assert float(match[1]) >= 1.4  # the line comes 1.5 s after start: "booting" alone did not pass
    assert run_cli(["down"], faults).returncode == 0


def test_a_service_s_own_ready_timeout_ends_the_wait_before_the_stack_s(faults: Path) -> None:
    started = time.monotonic()
    result = run_cli(["up", "ok", "slowpoke"], faults)
    assert result.returncode == 14, result.stderr
    assert "not ready after 2 s: slowpoke" in result.stderr
    assert time.monotonic() - started < 45  # the stack's own ready_timeout is 60 s


def test_the_pull_policy_reaches_compose(faults: Path, docker_engine: Engine) -> None:
    never = run_cli(["up", "ok", "--pull", "never"], faults)  # the image is local: nothing to pull
    assert never.returncode == 0, never.stderr
    assert run_cli(["down"], faults).returncode == 0
    # this machine has no registry: `always` must try one, fail, say so, and leave nothing
    always = run_cli(["up", "ok", "--pull", "always"], faults)
    assert always.returncode == 12, always.stderr
    assert "compose up" in always.stderr and "registry" in always.stderr
    assert engine_leftovers(docker_engine, faults) == NOTHING
    bad = run_cli(["up", "ok", "--pull", "sometimes"], faults)
    assert bad.returncode == 10 and "'sometimes' is not one of always, missing, never" in bad.stderr


def test_failure_injection_on_one_replica(faults: Path) -> None:
    assert run_cli(["up", "ok", "pair"], faults).returncode == 0  # the tests reuse this stack
    try:
        result = run_cli(["test", "--mode", "fast", "suite", "-p", "no:cacheprovider"], faults)
    finally:
        assert run_cli(["down"], faults).returncode == 0
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # the tests that act on the stack were made serial: the parallel phase ran none of them
    parallel, serial = result.stdout.split("stacktest: serial phase")
    assert "no tests ran" in parallel or "4 deselected" in parallel, parallel
    assert "4 passed" in serial, serial
    assert "total: 4 passed, 0 failed" in result.stdout
