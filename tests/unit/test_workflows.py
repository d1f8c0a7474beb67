"""Decisions of the workflows that need no engine: what fails a coverage run whose tests passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest import _coverage, _engine, workflows
from stacktest._engine import ServiceState
from stacktest.errors import CoverageBelowTarget, CoverageError, UsageError
from stacktest.settings import Settings, load_settings

pytestmark = pytest.mark.unit


def report(percent: float) -> _coverage.Report:
    total = _coverage.ServiceFigure("TOTAL", 100, int(100 - percent), percent)
    return _coverage.Report([], total, Path("h"), Path("x"), Path("j"))


def test_what_fails_a_run_whose_tests_passed(tmp_path: Path) -> None:
    s = load_settings(cwd=tmp_path, environ={})
    missing = _coverage.Harvest({"web": 0}, {"web": "it was killed (exit code 137)"})
    problem = workflows._problem(s, missing, report(90))
    assert isinstance(problem, CoverageError) and "web: it was killed" in str(problem)
    lenient = s.with_overrides(coverage_require_data=False, coverage_fail_under=95.0)
    assert isinstance(workflows._problem(lenient, missing, report(90)), CoverageBelowTarget)
    assert workflows._problem(lenient, _coverage.Harvest({"web": 3}), report(96)) is None


def test_a_run_request_is_checked_before_anything_starts(tmp_path: Path) -> None:
    s = load_settings(cwd=tmp_path, environ={})
    with pytest.raises(UsageError, match="needs one process"):
        workflows.RunRequest.checked(s, "fast", ["--pdb"])
    assert workflows.RunRequest.checked(s, "n", ["-k", "x"], workers=3).workers == 3


def test_covered_containers_are_never_stopped_with_a_grace_period_of_zero(tmp_path: Path) -> None:
    """Podman before 4.7 records a stop timeout of 0 for containers created through the Docker API
    without one (containers/podman#19139): `compose stop` would kill them at once, their coverage lost."""
    s = load_settings(cwd=tmp_path, environ={})

    def state(container_id: str, stop_timeout: int | None) -> ServiceState:
        return ServiceState("web", container_id, "running", None, 0, False, 0, stop_timeout=stop_timeout)

    def timeout(settings: Settings, recorded: dict[str, int | None]) -> float | None:
        running = [state(c, t) for c, t in recorded.items()]
        return workflows._stop_timeout(settings, running)

    assert timeout(s, {"a": None, "b": 30}) is None  # Docker: each container's own, as compose does
    assert timeout(s, {"a": 0, "b": 0}) == 10  # Podman 4.3: Docker's default instead of an instant kill
    assert timeout(s, {"a": 0, "b": 30}) == 30  # the longest of their own
    assert timeout(s.with_overrides(stop_timeout=3.0), {"a": 0}) == 3.0  # the setting wins
    # read from the inspect that every ServiceState comes from (Config.StopTimeout)
    assert _engine._state("web", {"Config": {"StopTimeout": 0}}).stop_timeout == 0
    assert _engine._state("web", {"Config": {}}).stop_timeout is None
