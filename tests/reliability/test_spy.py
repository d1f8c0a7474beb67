"""The spy, run as a service would run it (PYTHONPATH=<spy>, COVERAGE_FILE=<data>/.coverage), here on the
host's Python: it must not change how a process ends, must measure what it should and say why when not."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import coverage
import pytest

from stacktest import _coverage
from stacktest.settings import load_settings
from tests.conftest import Spawn, wait_until


@pytest.fixture
def spy(tmp_path: Path) -> Path:
    settings = load_settings(cwd=tmp_path, environ={})
    return _coverage.prepare_spy(settings, tmp_path / "run")


def start(spawn: Spawn, spy: Path, data: Path, argv: list[str], **env: str) -> subprocess.Popen[str]:
    data.mkdir(exist_ok=True)
    full = dict(os.environ) | {"PYTHONPATH": str(spy), "COVERAGE_FILE": str(data / ".coverage")} | env
    return spawn(argv, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


SERVICES = {
    # a non-daemon thread: SystemExit in the main thread would leave the process waiting on it forever
    "non-daemon thread": (
        "import threading, time\n"
        "threading.Thread(target=lambda: [time.sleep(0.05) for _ in iter(int, 1)]).start()\n"
        "print('up', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    ),
    # a bare except swallows SystemExit: the loop would go on
    "bare except loop": (
        "import time\nprint('up', flush=True)\n"
        "while True:\n    try:\n        time.sleep(0.05)\n    except:\n        pass\n"
    ),
}


@pytest.mark.parametrize("name", SERVICES)
def test_sigterm_saves_the_data_and_ends_the_process_as_without_the_spy(
    spy: Path, tmp_path: Path, name: str, spawn: Spawn
) -> None:
    script = tmp_path / "service.py"
    script.write_text(SERVICES[name])
    proc = start(spawn, spy, tmp_path / "data", [sys.executable, str(script)])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        code = proc.wait(timeout=5)
        assert time.monotonic() - started < 2
    finally:
        proc.kill()
        proc.communicate()
    assert code == -signal.SIGTERM  # killed by the signal, as it would have been without the spy
    assert len(list((tmp_path / "data").glob(".coverage.*"))) == 1  # saved, once


def test_python_dash_c_with_options_is_not_measured(spy: Path, tmp_path: Path, spawn: Spawn) -> None:
    proc = start(spawn, spy, tmp_path / "data", [sys.executable, "-u", "-B", "-c", "print('healthcheck')"])
    proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert list((tmp_path / "data").glob(".coverage.*")) == []


def test_the_image_sitecustomize_still_runs(spy: Path, tmp_path: Path, spawn: Spawn) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import os\nos.environ['IMAGE_HOOK'] = 'ran'\n")
    script = tmp_path / "app.py"
    script.write_text("import os\nprint(os.environ.get('IMAGE_HOOK'))\n")
    proc = start(spawn, spy, tmp_path / "data", [sys.executable, str(script)], PYTHONPATH=f"{spy}:{theirs}")
    out, _ = proc.communicate(timeout=30)
    assert out.strip() == "ran"
    assert len(list((tmp_path / "data").glob(".coverage.*"))) == 1


def test_an_unwritable_data_folder_is_said_on_stderr(spawn: Spawn) -> None:
    """A service running as another user than the data folder's owner (nobody, here)."""
    top = Path(tempfile.mkdtemp(prefix="stacktest-spy-"))
    try:
        top.chmod(0o755)
        spy = _coverage.prepare_spy(load_settings(cwd=top, environ={}), top / "run")
        data = top / "data"
        data.mkdir(mode=0o755)
        (top / "app.py").write_text("print('served')\n")
        argv = [sys.executable, str(top / "app.py")]
        if os.getuid() == 0:
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        else:
            data.chmod(0o555)
        proc = start(spawn, spy, data, argv)
        out, err = proc.communicate(timeout=30)
    finally:
        (top / "data").chmod(0o755)
        shutil.rmtree(top)
    assert out.strip() == "served", err  # the service runs, unmeasured
    assert "stacktest coverage spy: coverage did not start" in err and "not writable" in err


def test_a_snapshot_saves_a_running_process_without_stopping_it(
    spy: Path, tmp_path: Path, spawn: Spawn
) -> None:
    """`stacktest coverage snapshot`: a new generation in .snap-request makes every measuring process save
    and answer; it keeps running and measuring, and its next save only adds to the same file."""
    script = tmp_path / "service.py"
    script.write_text(
        "import sys, time\n"
        "def first():\n    return 1\n"  # line 3: the body of first()
        "def second():\n    return 2\n"  # line 5: the body of second()
        "first()\nprint('up', flush=True)\n"
        "sys.stdin.readline()\nsecond()\nprint('second', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    data = tmp_path / "data"
    data.mkdir()
    env = dict(os.environ) | {
        "PYTHONPATH": str(spy),
        "COVERAGE_FILE": str(data / ".coverage"),
        "STACKTEST_COVERAGE_SNAPSHOTS": "1",
    }
    proc = spawn(
        [sys.executable, str(script)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "up"
        alive = list(data.glob(".snap-alive-*"))
        assert len(alive) == 1
        me = alive[0].name.removeprefix(".snap-alive-")

        def snapshot(generation: int) -> set[int]:
            (data / ".snap-request").write_text(str(generation))
            assert wait_until((data / f".snap-ack-{generation}-{me}").exists, timeout=10)
            files = list(data.glob(".coverage.*"))
            assert len(files) == 1  # one process, one file, saved again in place
            measured = coverage.CoverageData(basename=str(files[0]))
            measured.read()
            return set(measured.lines(str(script)) or ())

        first = snapshot(1)
        assert proc.poll() is None  # still running
        assert 3 in first and 5 not in first  # first() ran, second() not yet
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "second"
        second = snapshot(2)
        assert first < second and 5 in second
    finally:
        proc.kill()
        proc.communicate()
