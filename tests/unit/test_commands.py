"""Decisions of the commands that need no engine: what fails a coverage run whose tests passed."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.adapters import engine_model
from stacktest.adapters.engine_model import ServiceState
from stacktest.commands import coverage as covering
from stacktest.commands import testing
from stacktest.coverage import harvest as _harvest
from stacktest.coverage import report as _report
from stacktest.errors import CoverageBelowTarget, CoverageError, UsageError
from stacktest.settings import Settings, load_settings

pytestmark = pytest.mark.unit


def report(percent: float) -> _report.Report:
    total = _report.ServiceFigure("TOTAL", 100, int(100 - percent), percent)
    return _report.Report([], total, Path("h"), Path("x"), Path("j"))


def test_what_fails_a_run_whose_tests_passed(tmp_path: Path) -> None:
    s = load_settings(cwd=tmp_path, environ={})
    missing = _harvest.Harvest({"web": 0}, {"web": "it was killed (exit code 137)"})
    problem = covering._problem(s, missing, report(90))
    assert isinstance(problem, CoverageError) and "web: it was killed" in str(problem)
    lenient = s.with_overrides(coverage_require_data=False, coverage_fail_under=95.0)
    assert isinstance(covering._problem(lenient, missing, report(90)), CoverageBelowTarget)
    assert covering._problem(lenient, _harvest.Harvest({"web": 3}), report(96)) is None


def test_a_run_request_is_checked_before_anything_starts(tmp_path: Path) -> None:
    s = load_settings(cwd=tmp_path, environ={})
    with pytest.raises(UsageError, match="needs one process"):
        testing.RunRequest.checked(s, "fast", ["--pdb"])
    assert testing.RunRequest.checked(s, "n", ["-k", "x"], workers=3).workers == 3


def test_covered_containers_are_never_stopped_with_a_grace_period_of_zero(tmp_path: Path) -> None:
    """Podman before 4.7 records a stop timeout of 0 for containers created through the Docker API
    without one (containers/podman#19139): `compose stop` would kill them at once, their coverage lost."""
    s = load_settings(cwd=tmp_path, environ={})

    def state(container_id: str, stop_timeout: int | None) -> ServiceState:
        return ServiceState("web", container_id, "running", None, 0, False, 0, stop_timeout=stop_timeout)

    def timeout(settings: Settings, recorded: dict[str, int | None]) -> float | None:
        running = [state(c, t) for c, t in recorded.items()]
        return covering._stop_timeout(settings, running)

    assert timeout(s, {"a": None, "b": 30}) is None  # Docker: each container's own, as compose does
    assert timeout(s, {"a": 0, "b": 0}) == 10  # Podman 4.3: Docker's default instead of an instant kill
    assert timeout(s, {"a": 0, "b": 30}) == 30  # the longest of their own
    assert timeout(s.with_overrides(stop_timeout=3.0), {"a": 0}) == 3.0  # the setting wins
    # read from the inspect that every ServiceState comes from (Config.StopTimeout)
    assert engine_model.state_of("web", {"Config": {"StopTimeout": 0}}).stop_timeout == 0
    assert engine_model.state_of("web", {"Config": {}}).stop_timeout is None


def test_a_lost_process_or_unmapped_data_fails_a_run_whose_tests_passed(tmp_path: Path) -> None:
    """Exit 15 (coverage) naming the process, or the files and the mapping to add; a service listed in
    coverage.accept_lost is said, not failed."""
    from stacktest.coverage import ledger as _ledger
    from stacktest.coverage import paths as _paths

    s = load_settings(cwd=tmp_path, environ={})
    lost = _ledger.Process("web", "web-2", "c2", 7, 1, ("python", "-m", "worker"), "/usr/bin/python3", 0)
    fine = _ledger.Process("web", "web", "c1", 1, 0, ("python", "app.py"), "/usr/bin/python3", 1)
    harvest = _harvest.Harvest({"web": 1}, ledger=_ledger.Ledger([fine, lost]))
    problem = covering._problem(s, harvest, report(90))
    assert isinstance(problem, CoverageError) and problem.exit_code == 15
    assert "web-2 pid 7 `python -m worker`" in str(problem) and "accept_lost" in (problem.hint or "")
    accepted = _harvest.Harvest({"web": 1}, ledger=_ledger.Ledger([fine, lost], frozenset({"web"})))
    assert covering._problem(s, accepted, report(90)) is None

    unmapped = {
        "web": covering._UnmappedFiles(
            ("/srv/app/main.py",), (_paths.Proposal("/srv/app", "services/web", ("/srv/app/main.py",)),)
        )
    }
    problem = covering._problem(s, _harvest.Harvest({"web": 1}), report(90), unmapped)
    assert isinstance(problem, CoverageError) and "/srv/app/main.py" in str(problem)
    assert 'paths.web = { "/srv/app" = "services/web" }' in str(problem)


def test_a_service_of_zero_statements_is_never_silently_in_a_total(tmp_path: Path) -> None:
    s = load_settings(cwd=tmp_path, environ={})
    rep = report(90)
    rep.services.append(_report.ServiceFigure("web", 0, 0, 0.0))
    problem = covering._problem(s, _harvest.Harvest({"web": 2}), rep)
    assert isinstance(problem, CoverageError) and "web measured no statement" in str(problem)


def test_a_run_s_measurement_is_kept_per_selection(tmp_path: Path) -> None:
    """What a run measured is kept under what it selected, for the next run of the same tests: a shard
    or a run that ended in errors is not kept, and another selection does not replace it."""
    from stacktest.testrun.runner import MODES, RunResult

    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    settings = load_settings(cwd=tmp_path, environ={})
    junit = tmp_path / "junit.xml"
    junit.write_text(
        '<testsuites><testsuite tests="2"><testcase classname="t" name="a" time="2.5"/>'
        '<testcase classname="t" name="b" time="3.5"/></testsuite></testsuites>'
    )
    whole = testing.RunRequest(MODES["fast"], ("-q",))
    one_file = testing.RunRequest(MODES["default"], ("tests/test_a.py",))
    ok = RunResult(exit_code=0, junit=junit)
    record = testing._record_timing
    record(settings, testing._timing_key(whole), whole, ok, busy=9.0, one_process=False)  # nothing better yet
    record(settings, testing._timing_key(whole), whole, ok, busy=3.0, one_process=True)  # replaces it
    record(settings, testing._timing_key(whole), whole, ok, busy=9.0, one_process=False)  # does not
    record(settings, testing._timing_key(one_file), one_file, ok, busy=12.0, one_process=True)
    shard = testing.RunRequest(MODES["fast"], (), shard="1/2")
    record(settings, "|shard", shard, ok, busy=1.0, one_process=True)
    record(settings, "|broken", whole, RunResult(exit_code=4, junit=junit), busy=1.0, one_process=True)
    kept = settings.state.read_last(testing.TIMING)
    assert kept == {
        "|": {"test_seconds": 6.0, "cpu_per_test_second": 0.5, "one_process": True},
        "|tests/test_a.py": {"test_seconds": 6.0, "cpu_per_test_second": 2.0, "one_process": True},
    }


def test_a_shard_splits_by_the_times_known_when_its_command_started(tmp_path: Path) -> None:
    """Shards started together on one machine split alike: the first to finish rewrites the last JUnit
    file while the others still start their stacks; each read the times when its command started."""
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    settings = load_settings(cwd=tmp_path, environ={})
    last = tmp_path / ".stacktest" / "last" / "junit.xml"
    last.parent.mkdir(parents=True)
    last.write_text('<testsuite><testcase classname="t" name="a" time="4.0"/></testsuite>')
    request = testing.RunRequest.checked(settings, "default", [], shard="1/2")
    last.write_text('<testsuite><testcase classname="t" name="a" time="0.1"/></testsuite>')  # a shard ended
    env = testing._shard_env(settings, request, tmp_path / "out")
    import json

    assert json.loads(Path(env["STACKTEST_SHARD_TIMES"]).read_text()) == {"t.a": 4.0}
    assert env["STACKTEST_SHARD"] == "1/2"
