"""Signals an audit tried: a second Ctrl-C while a child is being stopped, and a closed terminal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from stacktest.adapters.engine import Engine
from tests.conftest import NOTHING, Spawn, engine_leftovers, wait_until

CHILD = """
import os, signal, sys, time
# like compose during its own shutdown: deaf to Ctrl-C (it only notes that one came)
signal.signal(signal.SIGINT, lambda *_: open(sys.argv[1] + ".sigint", "w").close())
open(sys.argv[1], "w").write(str(os.getpid()))
for _ in range(1200):
    time.sleep(0.1)
"""
PARENT = """
import sys
from stacktest.adapters import process as _process
_process.run([sys.executable, sys.argv[1], sys.argv[2]], timeout=300)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"


def test_a_second_ctrl_c_during_shutdown_still_stops_the_child(tmp_path: Path, spawn: Spawn) -> None:
    (tmp_path / "child.py").write_text(CHILD)
    (tmp_path / "parent.py").write_text(PARENT)
    pid_file = tmp_path / "child.pid"
    parent = spawn(
        [sys.executable, str(tmp_path / "parent.py"), str(tmp_path / "child.py"), str(pid_file)],
        stderr=subprocess.DEVNULL,
    )
    assert wait_until(lambda: pid_file.is_file() and pid_file.read_text(), timeout=30)
    child = int(pid_file.read_text())
    parent.send_signal(signal.SIGINT)  # the child ignores it: shutdown waits its grace period ...
    assert wait_until(Path(f"{pid_file}.sigint").exists, timeout=30)  # the parent passed it on
    parent.send_signal(signal.SIGINT)  # ... and a second Ctrl-C arrives meanwhile
    parent.wait(timeout=30)
    # the parent ended only after the child: SIGTERM came at once instead of the child being left
    assert not alive(child), "the child outlived the parent"
    assert parent.returncode != 0


def test_a_closed_terminal_tears_the_stack_down(project: Path, docker_engine: Engine, spawn: Spawn) -> None:
    body = (
        "import pathlib, time\n\ndef test_hang():\n    pathlib.Path('started').touch()\n    time.sleep(600)\n"
    )
    proc = spawn.test_run(project, "test_zz_hang", body)
    assert wait_until((project / "started").exists, timeout=120)  # pytest is in the test
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=120) == 129
    assert engine_leftovers(docker_engine, project) == NOTHING
