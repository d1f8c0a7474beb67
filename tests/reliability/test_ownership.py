"""Ownership that cannot be forged or guessed (stack/owner.py, adapters/engine_stacks.py), tried as an
attacker and as a busy CI machine would:

- a stranger's compose project whose image carries stacktest's labels (an old run's pid on this host, a
  creation time long past) is never reaped, by `stacktest reap --yes` nor by the next start;
- a live run in a PID namespace of its own (a CI job in a container, with this machine's host name), or
  on this machine, is never taken for dead by runs in the other place, though its pid does not exist
  there.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import (
    Spawn,
    children_of,
    copy_project,
    engine_leftovers,
    left_nothing,
    run_cli,
    wait_until,
)

HANG = "import pathlib, time\n\ndef test_hang():\n    pathlib.Path('started').touch()\n    time.sleep(600)\n"


def own_pid_namespace(busy: int = 0) -> list[str]:
    """A command prefix: run in a new PID namespace (as a CI job's container is); ``busy`` processes
    are started there first, so that the command's pid (about ``busy``) names no process elsewhere."""
    burn = 'i=0; while [ "$i" -lt "$1" ]; do /bin/true; i=$((i+1)); done; shift; "$@"'
    return ["unshare", "--pid", "--fork", "--mount-proc", "--", "sh", "-c", burn, "sh", str(busy)]


def test_a_strangers_project_whose_image_carries_stacktests_labels_is_never_reaped(
    tmp_path: Path, docker_engine: Engine, base_image: str
) -> None:
    from stacktest.stack.owner import Owner

    me = Owner.me()
    dead_owner = Owner(me.host, me.boot, me.pidns, 2**22 + 7, "1").label()
    labels = {
        "io.stacktest.run": "victim",
        "io.stacktest.pid": str(2**22 + 7),
        "io.stacktest.host": socket.gethostname(),
        "io.stacktest.created": "1",  # decades old: past any reap_age
        "io.stacktest.kept": "false",
        "io.stacktest.owner": dead_owner,
        "io.stacktest.token": "guessed",
        "io.stacktest.root": str(tmp_path / "nowhere"),
    }
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    label_lines = "".join(f'LABEL {k}="{v}"\n' for k, v in labels.items())
    (stranger / "Dockerfile").write_text(f'FROM {base_image}\n{label_lines}CMD ["sleep", "infinity"]\n')
    (stranger / "docker-compose.yml").write_text(
        "services:\n  db:\n    build: .\n    image: stacktest-test-forged:1\n    init: true\n"
        "    volumes: [data:/data]\nvolumes:\n  data: {}\n"
    )
    compose = ["docker", "compose", "-p", "victim", "-f", str(stranger / "docker-compose.yml")]
    env = os.environ | {"DOCKER_BUILDKIT": "0"}
    checkout = copy_project(tmp_path / "proj", with_suite=False)
    subprocess.run([*compose, "up", "-d", "--build"], check=True, capture_output=True, env=env, timeout=300)
    try:
        reap = run_cli(["reap", "--yes"], checkout)
        assert reap.returncode == 0, reap.stderr
        assert "victim" not in reap.stdout + reap.stderr
        assert "stacktest-test-forged" not in reap.stdout + reap.stderr  # its image is no stacktest build
        assert docker_engine.image_exists("stacktest-test-forged:1")
        alive = docker_engine.client.containers.list(filters={"label": "com.docker.compose.project=victim"})
        assert len(alive) == 1, "a stranger's container was removed"
        assert docker_engine.client.volumes.list(filters={"label": "com.docker.compose.project=victim"})
    finally:
        down = [*compose, "down", "-v", "-t", "0", "--rmi", "all"]
        subprocess.run(down, capture_output=True, timeout=120, check=False)
        left_nothing(docker_engine, checkout)


def tiny(root: Path, base_image: str) -> Path:
    """A one-service stack with a test that waits (the run's own containers are all that matter here)."""
    (root / "suite").mkdir(parents=True)
    (root / "docker-compose.yml").write_text(
        f"services:\n  app:\n    image: {base_image}\n    command: [sleep, infinity]\n    init: true\n"
    )
    (root / "pyproject.toml").write_text("[tool.stacktest]\ntests = ['suite']\n")
    (root / "suite" / "test_hang.py").write_text(HANG)
    return root


@pytest.mark.parametrize("live_in", ["own-namespace", "machine"])
def test_a_live_run_in_another_pid_namespace_is_never_taken_for_dead(
    tmp_path: Path, docker_engine: Engine, spawn: Spawn, base_image: str, live_in: str
) -> None:
    """Both orders: the live run in a PID namespace of its own while runs start and stop on this machine
    and in another namespace; and the live run on this machine while they do."""
    project = tiny(tmp_path / "ci-job", base_image)
    other = tiny(tmp_path / "other", base_image)
    namespaced = live_in == "own-namespace"
    hang = spawn(
        [*(own_pid_namespace(300) if namespaced else []), sys.executable, "-m", "stacktest", "test",
         "suite/test_hang.py"],
        cwd=project,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        assert wait_until((project / "started").exists, timeout=120), "the run did not reach its test"
        ours = engine_leftovers(docker_engine, project)["containers"]
        assert len(ours) == 1
        for prefix in (own_pid_namespace(), []):  # another CI job's container; this machine itself
            up = run_cli(["up"], other, prefix=prefix)
            assert up.returncode == 0, up.stderr
            assert "died without removing it" not in up.stderr, up.stderr
            assert engine_leftovers(docker_engine, project)["containers"] == ours, (
                "a live run's stack was removed"
            )
            assert run_cli(["down"], other, prefix=prefix).returncode == 0
    finally:
        if namespaced:
            shells = children_of(hang.pid)  # unshare -> sh (pid 1 there) -> stacktest
            runs = children_of(shells[0][0]) if shells else []  # unshare and sh pass no signal on
        else:
            runs = [(hang.pid, "")] if hang.poll() is None else []
        if runs:
            os.kill(runs[0][0], signal.SIGTERM)  # it ends as a run does: its stack removed by itself
        _, err = hang.communicate(timeout=120)
        assert runs, f"the run ended before it was stopped:\n{err[-3000:]}"
        left_nothing(docker_engine, other)
        left_nothing(docker_engine, project)
    assert hang.returncode == 128 + signal.SIGTERM, err
