"""SIGINT and SIGTERM delivered at random moments of `stacktest coverage run`: every time, nothing of the
run remains on the engine, and the exit code is 130 or 143. The run is cut into TRIALS equal spans and
one signal lands at a random moment of each, so every phase (start, readiness, tests, stop, harvest,
report, removal) is interrupted at least once in each run of the suite. The seed is printed (set
STACKTEST_SEED to replay a failure)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from stacktest.adapters.engine import Engine
from tests.conftest import (
    NOTHING,
    STACKS,
    Spawn,
    cleanup_root,
    engine_leftovers,
    wait_until,
)

TRIALS = 8  # alternately SIGINT and SIGTERM, one per span of the run


def _handles_sigterm(pid: int, timeout: float = 60) -> bool:
    """Wait until the process catches SIGTERM (the kernel's SigCgt mask): stacktest's entry point has
    installed its handlers. Before that the interpreter is still starting, which is not ours to test
    (on a loaded machine that took over a second, and a SIGINT then ends Python with a traceback)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False  # already gone
        caught = next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:"))
        if int(caught, 16) & (1 << (signal.SIGTERM - 1)):
            return True
        time.sleep(0.005)
    return False


class Run:
    """`stacktest coverage run` with the moment its last output line (the summary) was written."""

    def __init__(self, spawn: Spawn, root: Path) -> None:
        self.proc = spawn(
            [sys.executable, "-m", "stacktest", "coverage", "run", "-q"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.summary_at: float | None = None
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._readers:
            t.start()
        self.entered = _handles_sigterm(self.proc.pid)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("total: "):
                self.summary_at = time.monotonic()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self._err.extend(self.proc.stderr)

    @property
    def stderr(self) -> str:
        return "".join(self._err)

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        for t in self._readers:
            t.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return code


def test_interrupted_coverage_runs_leave_nothing(tmp_path: Path, docker_engine: Engine, spawn: Spawn) -> None:
    seed = int(os.environ.get("STACKTEST_SEED", random.randrange(10**6)))
    print(f"STACKTEST_SEED={seed}")
    rng = random.Random(seed)
    root = tmp_path / "cov"
    shutil.copytree(STACKS / "cov", root)
    # calibrate: how long one whole run takes here (the second run: the first also fills the wheel
    # cache), so that the signals land inside runs
    for _ in range(2):
        calibration = Run(spawn, root)
        begin = time.monotonic()
        assert calibration.wait(600) == 0, calibration.stderr
        whole = time.monotonic() - begin
    print(f"one uninterrupted run: {whole:.1f} s")
    outcomes: list[tuple[int, str, float, int]] = []
    attempts = 0
    try:
        while len(outcomes) < TRIALS and attempts < 3 * TRIALS:
            attempts += 1
            trial = len(outcomes)
            sig = signal.SIGINT if trial % 2 == 0 else signal.SIGTERM
            span = whole * 0.85 / TRIALS  # from our entry point on (not the interpreter's start)
            delay = span * (trial + rng.random())
            run = Run(spawn, root)
            assert run.entered, "stacktest did not reach its entry point within 60 s"
            begin = time.monotonic()
            time.sleep(delay)  # the random moment of the interruption (what is tested is the aftermath)
            sent = time.monotonic()
            run.proc.send_signal(sig)
            code = run.wait(120)
            if run.summary_at is not None and run.summary_at < sent:
                # the run had finished its work and written its summary: not an interruption; runs are
                # quicker than the calibration found (the machine is less busy now): spans from this one
                whole = min(whole, (run.summary_at - begin) / 0.85)
                print(f"attempt {attempts}: the run was done before {delay:.2f} s")
                continue
            left = engine_leftovers(docker_engine, root)
            outcomes.append((trial, sig.name, round(delay, 2), code))
            assert left == NOTHING, f"trial {trial} ({sig.name} at {delay:.2f} s) left {left}"
            assert code == 128 + sig, (
                f"trial {trial}: {sig.name} at {delay:.2f} s gave exit {code}\n" + run.stderr[-2000:]
            )
            assert "interrupted" in run.stderr
    finally:
        print("\n".join(f"trial {t}: {s} at {d} s -> exit {c}" for t, s, d, c in outcomes))
        cleanup_root(docker_engine, root)
    assert len(outcomes) == TRIALS


def test_interrupted_test_run_of_the_bundled_stack(project: Path, spawn: Spawn) -> None:
    """The same during `stacktest test`, while pytest runs against the bundled stack (SIGTERM, as a CI job
    is cancelled; both signals take one path, which the coverage runs above interrupt with each)."""
    sig = signal.SIGTERM
    body = "import pathlib, time\n\ndef test_w():\n    pathlib.Path('started').touch()\n    time.sleep(60)\n"
    proc = spawn.test_run(project, "test_zz_wait", body, stderr=subprocess.PIPE)
    assert wait_until((project / "started").exists, timeout=120)  # pytest is in the test
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    # the project fixture asserts that nothing remains on the engine
