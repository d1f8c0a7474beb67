"""Running pytest: the seed's modes, serial safety, one summary, one JUnit XML, one exit code.

A phase without xdist workers runs pytest in this process (``pytest.main``, as ``python -m pytest``
would: the working directory first on ``sys.path``), so a run on a running stack costs little more than
plain pytest; a phase with workers runs ``python -m pytest -n ...`` as a subprocess. Both are attached to
this terminal, so ``--pdb -s`` stays interactive. Every user argument passes through untouched.
Parallel modes run in two phases: the tests not marked ``serial`` on the xdist workers, then the
serial ones in one process.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stacktest.adapters import process as _process
from stacktest.errors import UsageError
from stacktest.testrun import junit

__all__ = [
    "MODES",
    "Mode",
    "Phase",
    "RunResult",
    "has_test_path",
    "merge_exit_codes",
    "mode_named",
    "plan",
    "run_tests",
    "selection",
]

log = logging.getLogger("stacktest")

# pytest's exit codes
OK, TESTS_FAILED, INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR, NO_TESTS = 0, 1, 2, 3, 4, 5


@dataclass(frozen=True)
class Mode:
    name: str
    xdist: tuple[str, ...]  # xdist options; empty: one process
    marker: str | None  # marker expression the mode adds
    two_phase: bool  # parallel phase of non-serial tests, then the serial tests in one process
    help: str


MODES: dict[str, Mode] = {
    m.name: m
    for m in (
        Mode("default", (), None, False, "one process, every test (interactive options like --pdb work)"),
        Mode("parallel", ("-n", "auto"), None, True, "xdist on every core, then the serial tests"),
        Mode("n", ("-n", "{workers}"), None, True, "xdist on N workers, then the serial tests"),
        Mode(
            "fast", ("-n", "auto", "--dist", "worksteal"), None, True, "xdist with work stealing, then serial"
        ),
        Mode(
            "by-module", ("-n", "auto", "--dist", "loadfile"), None, True, "one file per worker, then serial"
        ),
        Mode(
            "by-class", ("-n", "auto", "--dist", "loadscope"), None, True, "one class per worker, then serial"
        ),
        Mode("serial", (), "serial", False, "only the tests marked serial, in one process"),
        Mode("parallel-safe", ("-n", "auto"), "not serial", False, "xdist, skipping the serial tests"),
    )
}


def mode_named(name: str) -> Mode:
    try:
        return MODES[name]
    except KeyError:
        raise UsageError(f"unknown mode {name!r}; choose one of: {', '.join(MODES)}") from None


_INTERACTIVE = ("--pdb", "--trace", "--pdbcls")
_VALUE_OPTIONS = {
    "-k",
    "-m",
    "-p",
    "-c",
    "-o",
    "-W",
    "-r",
    "-n",
    "--dist",
    "--maxfail",
    "--tb",
    "--deselect",
    "--ignore",
    "--rootdir",
    "--basetemp",
    "--confcutdir",
    "--durations",
    "--log-level",
    "--junitxml",
    "--junit-xml",
    "--timeout",
    "--ignore-glob",
}


@dataclass(frozen=True)
class Phase:
    name: str
    argv: list[str]  # python -m pytest ...
    junit: Path

    @property
    def in_process(self) -> bool:
        """No xdist workers: pytest can run in this process."""
        args = self.argv[3:]
        counts = [nxt for a, nxt in zip(args, [*args[1:], ""], strict=False) if a == "-n"]
        counts += [a[2:] for a in args if a.startswith("-n") and a != "-n"]
        counts += [a.split("=", 1)[1] for a in args if a.startswith("--numprocesses=")]
        return not any(a == "--numprocesses" for a in args) and all(c == "0" for c in counts)


@dataclass
class RunResult:
    exit_code: int
    phases: list[tuple[str, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    junit: Path | None = None
    seconds: float = 0.0
    note: str = ""  # how the worker count was chosen, when the mode chose it

    @property
    def summary(self) -> str:
        c = self.counts
        text = f"{c.get('passed', 0)} passed, {c.get('failed', 0)} failed"
        if c.get("skipped"):
            text += f", {c['skipped']} skipped"
        if c.get("errors"):
            text += f", {c['errors']} errors"
        return text


def _split_markers(args: Sequence[str]) -> tuple[list[str], str | None]:
    """Take the user's ``-m`` expression out of ``args`` (to combine it with the mode's)."""
    rest: list[str] = []
    expr: str | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a == "-m" and i + 1 < len(args):
            expr = args[i + 1]
            i += 2
            continue
        if a.startswith("-m") and len(a) > 2 and not a.startswith("--"):
            expr = a[2:].lstrip("=")
        else:
            rest.append(a)
        i += 1
    return rest, expr


def _split_junit(args: Sequence[str]) -> tuple[list[str], Path | None]:
    rest: list[str] = []
    path: Path | None = None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("--junitxml", "--junit-xml") and i + 1 < len(args):
            path = Path(args[i + 1])
            i += 2
            continue
        if a.startswith(("--junitxml=", "--junit-xml=")):
            path = Path(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return rest, path


def _and(*exprs: str | None) -> str | None:
    parts = [e for e in exprs if e]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return " and ".join(f"({p})" for p in parts)


def _named(args: Sequence[str]) -> Iterator[str]:
    """What the arguments name to run, in order: each path or node id, and ``-k X`` / ``-m X``."""
    prev = ""
    for a in args:
        if prev in ("-k", "-m"):
            yield f"{prev} {a}"
        elif not a.startswith("-") and prev not in _VALUE_OPTIONS:
            yield a
        elif a.startswith(("-k=", "-m=")) or (a[:2] in ("-k", "-m") and len(a) > 2):
            yield f"{a[:2]} {a[2:].lstrip('=')}"
        prev = a if a.startswith("-") and "=" not in a else ""


def has_test_path(args: Sequence[str]) -> bool:
    """Whether the user named what to run (a path or node id), so the configured ``tests`` are not added."""
    return any(not n.startswith("-") and Path(n.split("::", 1)[0]).exists() for n in _named(args))


def selection(args: Sequence[str]) -> str:
    """What a run's arguments select, as a key: the paths and node ids named, and the -k and -m
    expressions ("" for the configured suite). Options that only change how pytest runs are left out."""
    return " ".join(sorted(_named(args)))


def plan(
    mode: Mode,
    args: Sequence[str],
    *,
    tests: Sequence[str],
    out_dir: Path,
    workers: int | None = None,
    auto: int | None = None,
) -> list[Phase]:
    """The pytest invocations of one run. Raises UsageError for options that cannot go together.
    ``auto``: what xdist's ``auto`` becomes (None: ``auto`` itself; 0: no xdist, one process)."""
    args = list(args)
    if mode.xdist and any(a.startswith(_INTERACTIVE) for a in args):
        raise UsageError(
            f"{args[[a.startswith(_INTERACTIVE) for a in args].index(True)]} needs one process; "
            f"the {mode.name} mode runs tests on xdist workers",
            hint="use `just test --pdb -s` (the default mode) to debug",
        )
    if mode.xdist and any(a == "-n" or (a.startswith(("-n", "--numprocesses")) and a != "-n0") for a in args):
        raise UsageError(
            f"-n in the arguments conflicts with the {mode.name} mode, which sets the worker count",
            hint="use `just test-n COUNT` to choose the number of workers",
        )
    if mode.name == "n" and (workers is None or workers < 1):
        raise UsageError("the n mode needs a worker count of at least 1", hint="e.g. `just test-n 4`")
    args, user_marker = _split_markers(args)
    args, _ = _split_junit(args)
    if not has_test_path(args):
        args += list(tests)
    xdist = [a.replace("{workers}", str(workers)) for a in mode.xdist]
    if auto is not None and "auto" in xdist:
        xdist = [str(auto) if a == "auto" else a for a in xdist] if auto > 0 else []

    def phase(name: str, options: list[str], marker: str | None, file: str) -> Phase:
        junit = out_dir / f"junit-{file}.xml"
        argv = [sys.executable, "-m", "pytest", *options, *(["-m", marker] if marker else [])]
        return Phase(name, [*argv, *args, f"--junitxml={junit}"], junit)

    if mode.two_phase and xdist:  # (no workers chosen: one process runs the serial tests too, in one phase)
        return [
            phase("parallel", xdist, _and(user_marker, "not serial"), "parallel"),
            phase("serial", ["-n", "0"], _and(user_marker, "serial"), "serial"),
        ]
    return [phase(mode.name, xdist, _and(user_marker, mode.marker), "run")]


def merge_exit_codes(codes: Sequence[int]) -> int:
    """One exit code for a multi-phase run: errors beat failures beat success beat "no tests"."""
    serious = [c for c in codes if c not in (OK, TESTS_FAILED, NO_TESTS)]
    if serious:
        return max(serious)
    if TESTS_FAILED in codes:
        return TESTS_FAILED
    if OK in codes:
        return OK
    return NO_TESTS


def run_tests(
    mode: Mode,
    args: Sequence[str],
    *,
    tests: Sequence[str],
    out_dir: Path,
    env: Mapping[str, str],
    cwd: Path,
    workers: int | None = None,
    auto: int | None = None,
    on_phase: Callable[[str], None] | None = None,
) -> RunResult:
    """Run every phase (the serial one even when the parallel one failed) and merge their results."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("junit*.xml"):
        old.unlink()
    phases = plan(mode, args, tests=tests, out_dir=out_dir, workers=workers, auto=auto)
    _, user_junit = _split_junit(list(args))
    result = RunResult(exit_code=NO_TESTS)
    start = time.monotonic()
    run_env = dict(os.environ) | dict(env)
    for phase in phases:
        if len(phases) > 1 and on_phase is not None:
            on_phase(phase.name)
        if phase.in_process:
            code = _run_in_process(phase.argv[3:], env=env, cwd=cwd)
        else:
            code = _process.attach(phase.argv, env=run_env, cwd=cwd)
        result.phases.append((phase.name, code))
        if code in (INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR):
            break  # a broken invocation or Ctrl-C: the next phase would fail the same way
    result.seconds = time.monotonic() - start
    result.exit_code = merge_exit_codes([c for _, c in result.phases])
    total = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0}
    for phase in phases:
        for k, v in junit.count(phase.junit).items():
            total[k] += v
    total["passed"] = total["tests"] - total["failed"] - total["errors"] - total["skipped"]
    result.counts = total
    merged = out_dir / "junit.xml"
    junit.merge([p.junit for p in phases], merged)
    if user_junit is not None:
        junit.merge([p.junit for p in phases], cwd / user_junit)
    result.junit = merged
    return result


# pytest warns that a plugin module this process imported first (anyio, under httpx) cannot have its
# assertions rewritten: true of any in-process run, harmless, and an error under filterwarnings = error
_ALREADY_IMPORTED = "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning"


# how often an interrupt that pytest has not taken yet is raised again (see _run_in_process)
REDELIVER_SECONDS = 1.0


def _run_in_process(args: Sequence[str], *, env: Mapping[str, str], cwd: Path) -> int:
    """``pytest.main(args)`` as ``python -m pytest`` in ``cwd`` with ``env`` would run it; everything it
    changes of this process (environment, working directory, sys.path, signal handlers) is put back.

    SIGINT, SIGTERM and SIGHUP reach pytest as KeyboardInterrupt
    (:func:`stacktest.signals.as_keyboard_interrupt`), so it ends the session as on Ctrl-C (fixtures
    torn down, a summary), and the run ends exactly as it would have with pytest in a child process
    (stack removed, exit 130, 143 or 129). Until pytest says it took the interrupt
    (``pytest_keyboard_interrupt``) it is raised again every :data:`REDELIVER_SECONDS`: in CI a run
    given SIGHUP just as pytest started, whose interrupt was lost in a weakref callback, was
    still running 120 s later."""
    import pytest

    from stacktest import signals

    saved_env, saved_cwd, saved_path = dict(os.environ), os.getcwd(), list(sys.path)
    os.environ.update(env)
    os.chdir(cwd)
    sys.path.insert(0, str(cwd))
    try:
        with signals.as_keyboard_interrupt(REDELIVER_SECONDS) as redelivery:

            class InterruptTaken:
                @pytest.hookimpl(tryfirst=True)  # before the terminal's, which takes a while to format it
                def pytest_keyboard_interrupt(self) -> None:
                    redelivery.taken()

            return int(pytest.main([*args, "-W", _ALREADY_IMPORTED], plugins=[InterruptTaken()]))
    finally:
        sys.path[:] = saved_path
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
