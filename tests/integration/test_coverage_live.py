"""Sidecar coverage on the real engine, with test-only services built offline like the bundled stack."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import coverage
import pytest

from stacktest import _coverage
from stacktest._engine import Engine
from stacktest.settings import load_settings
from tests.conftest import run_cli, wait_until


@pytest.fixture
def cov_project(stack_copy: Callable[[str], Path]) -> Path:
    return stack_copy("cov")


def covered_lines(root: Path, service: str) -> set[int]:
    data = coverage.CoverageData(
        basename=str(root / ".stacktest" / "coverage" / "latest" / f".coverage.{service}")
    )
    data.read()
    return set(data.lines(str(root / "apps" / service / "server.py")) or [])


def line_of(root: Path, service: str, text: str) -> int:
    lines = (root / "apps" / service / "server.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_pid1_and_forking_services_are_measured(cov_project: Path, docker_engine: object) -> None:
    result = run_cli(["coverage", "run"], cov_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 0 failed, 1 skipped" in result.stdout
    # PID 1 with no signal handling: its lines are there, the untaken one is not
    pid1 = covered_lines(cov_project, "pid1")
    assert line_of(cov_project, "pid1", 'return "negative"') in pid1
    assert line_of(cov_project, "pid1", 'return "positive"') in pid1
    assert line_of(cov_project, "pid1", 'return "zero"') not in pid1
    # the forking server's children end with os._exit: their lines are kept
    forking = covered_lines(cov_project, "forking")
    assert line_of(cov_project, "forking", 'return "child %d of %d"') in forking
    # the images have no coverage: the spy brought its own; reports are written
    assert "pid1" in result.stdout and "TOTAL" in result.stdout
    report_dir = cov_project / ".stacktest" / "coverage" / "latest"
    assert (report_dir / "coverage.xml").is_file() and (report_dir / "html" / "index.html").is_file()
    assert json.loads((report_dir / "coverage.json").read_text())["totals"]["num_statements"] > 0


def test_a_broken_coveragerc_fails_before_pytest(cov_project: Path) -> None:
    (cov_project / "broken.rc").write_text("[run]\nbranch = perhaps\n")
    result = run_cli(["--set", "coverage.rcfile=broken.rc", "coverage", "run"], cov_project)
    assert result.returncode == 15
    assert f"the coverage configuration {cov_project / 'broken.rc'} is broken" in result.stderr
    assert "error[coverage]" in result.stderr
    assert "passed" not in result.stdout  # pytest never ran


def test_a_service_killed_during_the_run_fails_it_named_and_the_others_reported(cov_project: Path) -> None:
    result = run_cli(["coverage", "run"], cov_project, env={"KILL_VICTIM": "1"})
    assert result.returncode == 15, result.stdout + result.stderr  # a covered service without data
    assert "error[coverage]: no coverage data from victim" in result.stderr
    assert "killed (exit code 137)" in result.stderr
    assert "3 passed, 0 failed" in result.stdout  # the tests themselves passed
    assert "pid1" in result.stdout and "forking" in result.stdout
    assert covered_lines(cov_project, "pid1")


def sigterm_caught(engine: Engine, container_id: str) -> bool:
    """Whether PID 1 of the container has a SIGTERM handler yet (bit 15 of SigCgt in /proc/1/status):
    the spy is running, so the stop below is timed from a known state."""
    status = engine.exec(container_id, ["cat", "/proc/1/status"]).output
    caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def test_spy_stops_a_pid1_service_fast_with_its_data(
    cov_project: Path, docker_engine: Engine, tmp_path: Path
) -> None:
    """The spy alone, in a plain container: PID 1 without a handler stops in well under a second."""
    settings = load_settings(config=cov_project / "pyproject.toml", environ={})
    spy = _coverage.prepare_spy(settings, tmp_path / "run")
    data = tmp_path / "data"
    data.mkdir()
    client = docker_engine.client
    container = client.containers.run(
        settings.base_image,
        ["python3", "/app/server.py"],
        detach=True,
        environment={
            "PYTHONPATH": "/coverage-spy",
            "COVERAGE_FILE": "/coverage-data/.coverage",
            "STACKTEST_COVERAGE_SOURCE": "/app",
            "STACKTEST_COVERAGE_RCFILE": "/coverage-spy/.coveragerc",
        },
        volumes={
            str(spy): {"bind": "/coverage-spy", "mode": "ro"},
            str(data): {"bind": "/coverage-data"},
            str(cov_project / "apps" / "pid1"): {"bind": "/app", "mode": "ro"},
        },
        labels={"io.stacktest.root": str(cov_project)},
    )
    try:
        assert wait_until(lambda: sigterm_caught(docker_engine, container.id), timeout=30)
        start = time.monotonic()
        container.stop(timeout=10)
        stopped_in = time.monotonic() - start
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 143  # SystemExit(128 + SIGTERM), not SIGKILL's 137
        assert stopped_in < 1.0
        assert list(data.glob(".coverage.*")), "the data file was saved"
    finally:
        container.remove(force=True)
