"""Decisions of the workflows that need no engine: what fails a coverage run whose tests passed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from stacktest import _coverage, workflows
from stacktest.errors import CoverageBelowTarget, CoverageError, UsageError
from stacktest.settings import load_settings

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


class _Timeouts:  # the engine's side of a stop: each container's recorded stop timeout
    def __init__(self, timeouts: dict[str, int | None]) -> None:
        self.timeouts = timeouts

    def stop_timeout(self, container_id: str) -> int | None:
        return self.timeouts[container_id]


def test_covered_containers_are_never_stopped_with_a_grace_period_of_zero(tmp_path: Path) -> None:
    """Podman before 4.7 records a stop timeout of 0 for containers created through the Docker API
    without one (containers/podman#19139): `compose stop` would kill them at once, their coverage lost."""
    s = load_settings(cwd=tmp_path, environ={})

    def timeout(settings: object, recorded: dict[str, int | None]) -> float | None:
        stack = SimpleNamespace(engine=_Timeouts(recorded))
        running = [("web", SimpleNamespace(container_id=cid)) for cid in recorded]
        return workflows._stop_timeout(settings, stack, running)  # type: ignore[arg-type]

    assert timeout(s, {"a": None, "b": 30}) is None  # Docker: each container's own, as compose does
    assert timeout(s, {"a": 0, "b": 0}) == 10  # Podman 4.3: Docker's default instead of an instant kill
    assert timeout(s, {"a": 0, "b": 30}) == 30  # the longest of their own
    assert timeout(s.with_overrides(stop_timeout=3.0), {"a": 0}) == 3.0  # the setting wins
