"""SIGINT and SIGTERM delivered at random moments of `stacktest coverage run`: every time, nothing of the
run remains on the engine, and the exit code is 130 or 143. The seed is printed (set STACKTEST_SEED to
replay a failure)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import NOTHING, STACKS, cleanup_root, engine_leftovers, wait_until

TRIALS = 24  # half SIGINT, half SIGTERM


def start(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "stacktest", "coverage", "run", "-q"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_interrupted_coverage_runs_leave_nothing(tmp_path: Path, docker_engine: object) -> None:
    seed = int(os.environ.get("STACKTEST_SEED", random.randrange(10**6)))
    print(f"STACKTEST_SEED={seed}")
    rng = random.Random(seed)
    root = tmp_path / "cov"
    shutil.copytree(STACKS / "cov", root)
    # calibrate: how long one whole run takes here (the second run: the first also fills the wheel
    # cache), so that the signals land inside runs
    for _ in range(2):
        begin = time.monotonic()
        calibration = start(root)
        _, err = calibration.communicate(timeout=600)
        assert calibration.returncode == 0, err.decode()
        whole = time.monotonic() - begin
    print(f"one uninterrupted run: {whole:.1f} s")
    outcomes = []
    attempts = 0
    try:
        while len(outcomes) < TRIALS and attempts < 2 * TRIALS:
            attempts += 1
            trial = len(outcomes)
            sig = signal.SIGINT if trial % 2 == 0 else signal.SIGTERM
            delay = rng.uniform(0.3, whole * 0.8)  # from our entry point on (not the interpreter's start)
            proc = start(root)
            time.sleep(delay)  # the random moment of the interruption (what is tested is the aftermath)
            if proc.poll() is not None:  # finished before the signal: not an interruption, try again
                print(f"attempt {attempts}: the run ended before {delay:.2f} s")
                continue
            proc.send_signal(sig)
            _, err = proc.communicate(timeout=120)
            left = engine_leftovers(docker_engine, root)
            outcomes.append((trial, sig.name, round(delay, 2), proc.returncode))
            assert left == NOTHING, f"trial {trial} ({sig.name} at {delay:.2f} s) left {left}"
            assert proc.returncode == 128 + sig, (
                f"trial {trial}: {sig.name} at {delay:.2f} s gave exit {proc.returncode}\n"
                + err.decode()[-2000:]
            )
            assert "interrupted" in err.decode()
    finally:
        print("\n".join(f"trial {t}: {s} at {d} s -> exit {c}" for t, s, d, c in outcomes))
        cleanup_root(docker_engine, root)
    assert len(outcomes) == TRIALS


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_test_run_of_the_bundled_stack(project: Path, sig: signal.Signals) -> None:
    """The same during `stacktest test`, while pytest runs against the bundled stack."""
    (project / "tests" / "stack" / "test_zz_wait.py").write_text(
        "import time\n\ndef test_w():\n    time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "stacktest", "test", "tests/stack/test_zz_wait.py"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert wait_until(_pytest_running, timeout=120)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err.decode()
    # the project fixture asserts that nothing remains on the engine


def _pytest_running() -> bool:
    """Whether the pytest child runs yet (its argv, not stacktest's own "stacktest test tests/...")."""
    out = subprocess.run(
        ["pgrep", "-f", "pytest tests/stack/test_zz_wait"], capture_output=True, text=True, check=False
    )
    return bool(out.stdout.strip())
