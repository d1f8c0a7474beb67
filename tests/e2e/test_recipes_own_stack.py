"""The just recipes that start and remove their own stack of the bundled project: `just test` with no
stack running, and the coverage job."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import NOTHING, REPO, engine_leftovers
from tests.e2e.conftest import just
from tests.e2e.test_recipes import TOTAL


@pytest.fixture
def proj(project: Path) -> Path:
    """A project of its own, with the repository's justfile."""
    shutil.copy2(REPO / "justfile", project / "justfile")
    return project


def test_test_runs_the_whole_live_suite(proj: Path) -> None:
    result = just(proj, "test", "-q")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{TOTAL} passed" in result.stdout


def test_sidecar_coverage_reports_auth_and_api(proj: Path, docker_engine: Engine) -> None:
    result = just(proj, "test-sidecar-coverage")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    figures = dict(re.findall(r"│ (auth|api|TOTAL)\s*│\s*\d+\s*│\s*\d+\s*│\s*([0-9.]+)%", result.stdout))
    assert set(figures) == {"auth", "api", "TOTAL"}, result.stdout
    assert all(float(v) > 80 for v in figures.values()), figures
    report = proj / ".stacktest" / "coverage" / "latest"
    assert (report / "coverage.xml").is_file() and (report / "html" / "index.html").is_file()
    assert engine_leftovers(docker_engine, proj) == NOTHING
