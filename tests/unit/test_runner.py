"""Test modes: the pytest argv of each, serial safety, exit codes, JUnit merging."""

from __future__ import annotations

import signal
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stacktest.errors import UsageError
from stacktest.testrun import junit, runner
from stacktest.testrun.runner import (
    MODES,
    Phase,
    has_test_path,
    merge_exit_codes,
    plan,
    run_tests,
)

pytestmark = pytest.mark.unit

OUT = Path("out")  # never written: plan() only names the files


def argv(mode: str, args: list[str], **kw: object) -> list[list[str]]:
    return [p.argv[3:] for p in plan(MODES[mode], args, tests=["tests/stack"], out_dir=OUT, **kw)]  # type: ignore[arg-type]


def test_default_passes_arguments_untouched() -> None:
    [args] = argv("default", ["-k", "oauth and not slow", "-vvv", "--pdb", "-s"])
    assert args[:5] == ["-k", "oauth and not slow", "-vvv", "--pdb", "-s"]
    assert "tests/stack" in args  # no path given: the configured tests are added
    assert args[-1] == f"--junitxml={OUT / 'junit-run.xml'}"


def test_a_node_id_replaces_the_configured_tests(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.py").write_text("")
    [args] = argv("default", ["t.py::test_x", "-v"])
    assert "tests/stack" not in args and args[0] == "t.py::test_x"


def test_value_of_an_option_is_not_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "oauth").mkdir()
    assert not has_test_path(["-k", "oauth"])
    assert has_test_path(["oauth"])


@pytest.mark.parametrize(
    ("mode", "xdist"),
    [
        ("parallel", ["-n", "auto"]),
        ("fast", ["-n", "auto", "--dist", "worksteal"]),
        ("by-module", ["-n", "auto", "--dist", "loadfile"]),
        ("by-class", ["-n", "auto", "--dist", "loadscope"]),
    ],
)
def test_parallel_modes_run_two_phases(mode: str, xdist: list[str]) -> None:
    first, second = argv(mode, ["-v"])
    assert first[: len(xdist)] == xdist
    assert first[len(xdist) : len(xdist) + 2] == ["-m", "not serial"]
    assert second[:4] == ["-n", "0", "-m", "serial"]


def test_worker_count() -> None:
    first, _ = argv("n", [], workers=3)
    assert first[:2] == ["-n", "3"]
    with pytest.raises(UsageError, match="worker count"):
        argv("n", [])


def test_user_marker_is_combined_with_the_phase() -> None:
    first, second = argv("parallel", ["-m", "auth or protocol"])
    assert first[2:4] == ["-m", "(auth or protocol) and (not serial)"]
    assert second[2:4] == ["-m", "(auth or protocol) and (serial)"]
    [only] = argv("serial", ["-mslow"])
    assert only[:2] == ["-m", "(slow) and (serial)"]


def test_parallel_safe_skips_serial_in_one_phase() -> None:
    [only] = argv("parallel-safe", [])
    assert only[:4] == ["-n", "auto", "-m", "not serial"]


def test_pdb_needs_one_process() -> None:
    with pytest.raises(UsageError, match="--pdb needs one process"):
        argv("fast", ["--pdb"])


def test_n_in_arguments_conflicts_with_a_parallel_mode() -> None:
    with pytest.raises(UsageError, match="-n"):
        argv("parallel", ["-n", "4"])


def test_user_junit_is_taken_out_of_the_phases() -> None:
    first, second = argv("fast", ["--junitxml=mine.xml"])
    assert not any(a.startswith("--junitxml=mine") for a in first + second)


def test_phases_use_this_python() -> None:
    assert plan(MODES["default"], [], tests=[], out_dir=OUT)[0].argv[:3] == [sys.executable, "-m", "pytest"]


@pytest.mark.parametrize(
    ("codes", "merged"),
    [
        ([0, 0], 0),
        ([0, 5], 0),
        ([5, 0], 0),
        ([5, 5], 5),
        ([1, 0], 1),
        ([0, 1], 1),
        ([1, 5], 1),
        ([2, 0], 2),
        ([1, 4], 4),
        ([5], 5),
        ([3, 1], 3),
    ],
)
def test_merge_exit_codes(codes: list[int], merged: int) -> None:
    assert merge_exit_codes(codes) == merged


def test_merge_junit_keeps_every_testcase(tmp_path: Path) -> None:
    a, b = tmp_path / "junit-parallel.xml", tmp_path / "junit-serial.xml"
    a.write_text(
        '<testsuites><testsuite name="pytest" tests="3" failures="1" errors="0" skipped="1">'
        '<testcase name="x"/><testcase name="y"/><testcase name="z"/></testsuite></testsuites>'
    )
    b.write_text(
        '<testsuites><testsuite name="pytest" tests="2" failures="0" errors="0" skipped="0">'
        '<testcase name="s1"/><testcase name="s2"/></testsuite></testsuites>'
    )
    junit.merge([a, b, tmp_path / "missing.xml"], tmp_path / "junit.xml")
    assert junit.count(tmp_path / "junit.xml") == {"tests": 5, "failed": 1, "errors": 0, "skipped": 1}


def test_run_tests_keeps_serial_tests_off_the_workers_and_merges_the_phases(tmp_path: Path) -> None:
    """Real pytest processes on a small generated suite: two phases, one result, one JUnit file."""
    (tmp_path / "test_gen.py").write_text(
        "import os, pytest\n\n"
        "def test_a(): pass\n\n"
        "def test_b(): assert os.environ.get('PYTEST_XDIST_WORKER')\n\n"
        "@pytest.mark.serial\n"
        "def test_s(): assert not os.environ.get('PYTEST_XDIST_WORKER')\n"
    )
    phases: list[str] = []
    result = run_tests(
        MODES["n"],
        ["-q", "-p", "no:cacheprovider", "-p", "no:asyncio"],
        tests=["test_gen.py"],
        out_dir=tmp_path / "out",
        env={},
        cwd=tmp_path,
        workers=2,
        on_phase=phases.append,
    )
    assert phases == ["parallel", "serial"]
    assert result.exit_code == 0 and result.phases == [("parallel", 0), ("serial", 0)]
    assert result.counts["passed"] == 3 and result.summary == "3 passed, 0 failed"
    assert result.junit is not None
    root = ET.parse(result.junit).getroot()  # noqa: S314 - written by the pytest run above
    cases = {
        s.get("name", "").rsplit("-", 1)[-1]: [c.get("name", "") for c in s.iter("testcase")] for s in root
    }
    assert sorted(cases["parallel"]) == ["test_a", "test_b"] and cases["serial"] == ["test_s"]


@pytest.mark.parametrize(
    ("args", "in_process"),
    [
        ([], True),
        (["-k", "x", "-n", "0"], True),
        (["-n0"], True),
        (["-n", "2"], False),
        (["-nauto", "--dist", "worksteal"], False),
        (["--numprocesses=3"], False),
        (["--numprocesses", "2"], False),
        (["-n"], False),  # pytest's own usage error, from a subprocess as before
    ],
)
def test_a_phase_without_workers_runs_in_process(args: list[str], in_process: bool) -> None:
    assert Phase("p", [sys.executable, "-m", "pytest", *args], Path("j.xml")).in_process is in_process


def test_the_chosen_count_replaces_auto_and_none_drops_xdist() -> None:
    """`auto` becomes the count chosen for the run (testrun.workers); 0 runs the phase in one process
    without xdist; a count the user gave (test-n) and the serial phase are left alone."""
    assert argv("fast", [])[0][:4] == ["-n", "auto", "--dist", "worksteal"]
    parallel, serial = argv("fast", [], auto=8)
    assert parallel[:4] == ["-n", "8", "--dist", "worksteal"] and serial[:2] == ["-n", "0"]
    assert argv("n", [], workers=3, auto=8)[0][:2] == ["-n", "3"]
    [alone] = argv("fast", [], auto=0)  # one process, one phase: the serial tests run in it too
    assert "-n" not in alone and "--dist" not in alone and "-m" not in alone


SWALLOWED = """
import pathlib, signal, time

class Swallows:
    def __del__(self):  # an exception raised in here can only be printed: the interrupt is lost
        signal.raise_signal(signal.SIGHUP)
        for _ in range(100_000):
            pass

def test_waits():
    Swallows()
    time.sleep(30)
    pathlib.Path("slept").touch()
"""


@pytest.mark.parametrize("redeliver", [True, False])
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # the inner run's, of the loss
def test_an_interrupt_lost_on_its_way_is_raised_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redeliver: bool
) -> None:
    """An interrupt raised where Python can only print the exception (here a ``__del__``) is lost, and
    in-process pytest would go on into a long test: it is raised again until pytest takes it. (Without
    the second delivery, the case shows the loss is real: the test sleeps and passes.)"""
    if not redeliver:
        monkeypatch.setattr(runner, "REDELIVER_SECONDS", 60.0)
    module = f"test_swallow_{redeliver}.py"  # one name per case: both are imported into this process
    (tmp_path / module).write_text(SWALLOWED.replace("30", "30" if redeliver else "1"))
    args = ["-p", "no:stacktest", "-p", "no:cacheprovider", "-p", "no:asyncio", "-q", module]
    seen: list[int] = []  # this process's own SIGHUP handler (one that does not raise) is still called
    previous = signal.signal(signal.SIGHUP, lambda signum, frame: seen.append(signum))
    try:
        code = runner._run_in_process(args, env={}, cwd=tmp_path)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert seen == [signal.SIGHUP]
    if redeliver:
        assert code == pytest.ExitCode.INTERRUPTED
        assert not (tmp_path / "slept").exists()
    else:
        assert code == pytest.ExitCode.OK and (tmp_path / "slept").exists()


def test_a_selection_is_what_the_arguments_name_to_run() -> None:
    """The key a run's measurement is kept under (testrun.workers): the paths, node ids, -k and -m it
    names; how pytest runs (-q, -p, -x, --tb, -n) is not part of it."""
    from stacktest.testrun.runner import selection

    assert selection(["-q", "-p", "no:cacheprovider", "--tb", "short", "-x"]) == ""
    assert (
        selection(["tests/b.py", "-k", "x and y", "tests/a.py::t"]) == "-k x and y tests/a.py::t tests/b.py"
    )
    assert selection(["-mslow", "-k=fast"]) == "-k fast -m slow"
    assert selection(["tests/a.py", "-q"]) != selection(["tests/b.py", "-q"])


@pytest.mark.parametrize(
    ("args", "rest", "expr"),
    [
        (["-m", "slow", "-q"], ["-q"], "slow"),
        (["-mslow and not db"], [], "slow and not db"),
        (["-m=slow"], [], "slow"),
        (["--maxfail", "1", "-m"], ["--maxfail", "1", "-m"], None),  # no value: left to pytest to refuse
        (["--markers"], ["--markers"], None),
    ],
)
def test_the_user_s_marker_expression_is_taken_out_to_combine(
    args: list[str], rest: list[str], expr: str | None
) -> None:
    assert runner._split_markers(args) == (rest, expr)


@pytest.mark.parametrize(
    ("args", "rest", "path"),
    [
        (["--junitxml", "out.xml", "-q"], ["-q"], "out.xml"),
        (["--junit-xml", "out.xml"], [], "out.xml"),
        (["-q", "--junitxml=a/b.xml"], ["-q"], "a/b.xml"),
        (["--junit-xml=b.xml", "-x"], ["-x"], "b.xml"),
        (["--junitxml"], ["--junitxml"], None),
        (["-q"], ["-q"], None),
    ],
)
def test_the_user_s_junit_file_is_taken_out_and_written_merged(
    args: list[str], rest: list[str], path: str | None
) -> None:
    assert runner._split_junit(args) == (rest, Path(path) if path else None)


def test_the_user_s_marker_and_the_mode_s_are_both_required() -> None:
    parallel, serial = argv("fast", ["-m", "db or api"])
    assert parallel[parallel.index("-m") + 1] == "(db or api) and (not serial)"
    assert serial[serial.index("-m") + 1] == "(db or api) and (serial)"
    [safe] = argv("parallel-safe", ["-m", "db"])
    assert safe[safe.index("-m") + 1] == "(db) and (not serial)"
    [alone] = argv("default", ["-m", "db"])
    assert alone[alone.index("-m") + 1] == "db"
