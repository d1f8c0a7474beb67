"""The spy, run as a service would run it (PYTHONPATH=<spy>, COVERAGE_FILE=<data>/.coverage), here on the
host's Python: it must not change how a process ends, must measure what it should and say why when not."""

from __future__ import annotations

import json
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

from stacktest.coverage import ledger as _ledger
from stacktest.coverage import spy as _spy
from stacktest.settings import load_settings
from tests.conftest import Spawn, children_of, required_tool, wait_until


@pytest.fixture
def spy(tmp_path: Path) -> Path:
    settings = load_settings(cwd=tmp_path, environ={})
    return _spy.prepare_spy(settings, tmp_path / "run")


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


def entries(data: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text()) for p in sorted(data.glob(".proc-*"))]


@pytest.fixture
def pid_namespace(spawn: Spawn) -> int:
    """A PID namespace as a container has one: its PID 1 (a sleep) runs for the test. Returns the host
    pid of that PID 1, for nsenter."""
    required_tool("unshare")
    holder = spawn(["unshare", "--pid", "--fork", "--mount-proc", "sleep", "300"], stdout=subprocess.PIPE)
    found: list[int] = []

    def inner() -> bool:
        found[:] = [pid for pid, argv in children_of(holder.pid) if argv.startswith("sleep ")]
        return bool(found)

    assert wait_until(inner, timeout=10), "unshare started no sleep"
    return found[0]


def in_namespace(pid1: int, argv: list[str]) -> list[str]:
    """``argv`` entered into the namespace from outside, as ``docker exec`` and healthchecks enter a
    container: its parent is outside the namespace (pid 0 inside)."""
    return ["nsenter", f"--target={pid1}", "--pid", "--mount", *argv]


def test_a_process_entered_from_outside_is_not_measured(
    spy: Path, tmp_path: Path, spawn: Spawn, pid_namespace: int
) -> None:
    """A healthcheck or `docker exec` in a container: whatever its command line, neither data nor a
    ledger entry."""
    script = tmp_path / "check.py"
    script.write_text("print('healthcheck')\n")
    for argv in ([sys.executable, "-u", "-B", "-c", "print('healthcheck')"], [sys.executable, str(script)]):
        proc = start(spawn, spy, tmp_path / "data", in_namespace(pid_namespace, argv))
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0 and out.strip() == "healthcheck", err
    assert list((tmp_path / "data").iterdir()) == []


def test_every_worker_of_a_service_is_measured_and_entered_in_the_ledger(
    spy: Path, tmp_path: Path, spawn: Spawn
) -> None:
    """multiprocessing starts spawn and forkserver workers with `python -c`: they are the service's own
    processes (descendants of its PID 1), measured like fork workers; every one is in the ledger with a
    save."""
    script = tmp_path / "service.py"
    script.write_text(
        "import multiprocessing as mp\n"
        "def work(x):\n    return x * 2\n"
        "if __name__ == '__main__':\n"
        "    for method in ('fork', 'spawn', 'forkserver'):\n"
        "        with mp.get_context(method).Pool(1) as pool:\n"
        "            assert pool.map(work, [1]) == [2]\n"
    )
    data = tmp_path / "data"
    proc = start(spawn, spy, data, [sys.executable, str(script)])
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    # the forkserver and the resource tracker end just after the service: wait until all have saved
    assert wait_until(lambda: all(e["saves"] for e in entries(data)), timeout=10), entries(data)
    commands = [" ".join(map(str, e["argv"])) for e in entries(data)]  # type: ignore[call-overload]
    assert any("spawn_main" in c for c in commands) and any("forkserver" in c for c in commands), commands
    measured = set()
    for f in data.glob(".coverage.*"):
        d = coverage.CoverageData(basename=str(f))
        d.read()
        measured |= set(d.lines(str(script)) or ())
    assert 3 in measured  # the body of work(), which ran only in the workers


def test_a_save_request_saves_a_running_process_and_its_ledger_says_so(
    spy: Path, tmp_path: Path, spawn: Spawn
) -> None:
    """Before a container stops, stacktest asks each measured process to save with the spy's real-time
    signal: the process saves, goes on running, and its entry counts the save; one killed afterwards
    keeps that data. One killed without a save is an entry with none."""
    script = tmp_path / "service.py"
    script.write_text(
        "import time\ndef served():\n    return 1\nserved()\nprint('up', flush=True)\ntime.sleep(300)\n"
    )
    data = tmp_path / "data"
    asked = start(spawn, spy, data, [sys.executable, str(script)])
    lost = start(spawn, spy, data, [sys.executable, str(script)])
    assert asked.stdout is not None and asked.stdout.readline().strip() == "up"
    assert lost.stdout is not None and lost.stdout.readline().strip() == "up"
    [entry] = [e for e in entries(data) if e["pid"] == asked.pid]
    assert entry["saves"] == 0 and isinstance(entry["save_signal"], int)
    os.kill(asked.pid, entry["save_signal"])
    assert wait_until(lambda: [e["saves"] for e in entries(data) if e["pid"] == asked.pid] == [1], timeout=10)
    assert asked.poll() is None  # still running
    for proc in (asked, lost):
        proc.kill()
        proc.communicate()
    saves = {e["pid"]: e["saves"] for e in entries(data)}
    assert saves == {asked.pid: 1, lost.pid: 0}
    ledger = _ledger.Ledger.from_folders({"web": data})
    assert ledger.counts() == {"web": (1, 2)} and [p.pid for p in ledger.lost()] == [lost.pid]
    files = list(data.glob(f".coverage.*pid{asked.pid}.*"))
    assert len(files) == 1
    kept = coverage.CoverageData(basename=str(files[0]))
    kept.read()
    assert 3 in set(kept.lines(str(script)) or ())


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
        spy = _spy.prepare_spy(load_settings(cwd=top, environ={}), top / "run")
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


def test_a_symlink_planted_for_the_ledger_s_next_write_is_never_followed(
    spy: Path, tmp_path: Path, spawn: Spawn
) -> None:
    """The data folder is writable for every user of the container, like /tmp: another process there can
    see a measured process's ledger entry and plant a symlink where that process writes the entry next
    (on a save: a snapshot's save request, its exit), to have it (root, say) overwrite a file."""
    victim, go, data = tmp_path / "victim", tmp_path / "go", tmp_path / "data"
    victim.write_text("precious\n")
    script = tmp_path / "service.py"
    script.write_text(
        f"import os, time\nprint('up', flush=True)\nwhile not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
    )
    proc = start(spawn, spy, data, [sys.executable, str(script)])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "up"
    (entry,) = data.glob(".proc-*")
    (data / f".tmp{entry.name}").symlink_to(victim)  # the name the spy wrote its entry through
    go.touch()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert victim.read_text() == "precious\n"
    assert not entry.is_symlink()
    (saved,) = entries(data)
    assert saved["saves"] == 1  # the entry itself was still written
