"""Decisions of the workflows that need no engine: what fails a coverage run whose tests passed."""

from __future__ import annotations

from pathlib import Path

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
