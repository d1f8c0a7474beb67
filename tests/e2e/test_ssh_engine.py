"""An engine reached as ``DOCKER_HOST=ssh://user@host:port``: the docker SDK and compose both run the
ssh command (``docker system dial-stdio`` on the far side), as the docker CLI does. Proved end to end
against a real sshd of the test's own (a private configuration on a free port of 127.0.0.1) whose
login reaches a second engine (tests/second_engine.py), not this machine's: the authorized key sets
DOCKER_HOST there. The ssh client is this machine's, given the test's key and configuration by a
wrapper first on PATH."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import IN_CI, REPO, required_tool, run_cli, wait_until
from tests.reliability.test_reaper import a_killed_run_is_reaped
from tests.reliability.test_reaper import stack as tiny_stack
from tests.second_engine import SecondEngine, second_engine

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def far(tmp_path: Path, base_image: str, docker_engine: Engine) -> Iterator[SecondEngine]:
    for tool in ("dockerd", "unshare", "ip", "iptables", "ssh", "ssh-keygen", SSHD):
        required_tool(tool)
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true and not root: a second engine needs root", pytrace=False)
        pytest.skip("a second engine needs root")
    hide = [REPO, Path(tempfile.gettempdir()), tmp_path / "checkout"]
    (tmp_path / "checkout").mkdir()
    with second_engine(hide, copy_images=[base_image], first=docker_engine.client) as engine:
        yield engine


@pytest.fixture
def ssh_env(tmp_path: Path, far: SecondEngine) -> Iterator[dict[str, str]]:
    """An sshd whose root login has DOCKER_HOST set to the second engine's socket; the environment that
    reaches it as DOCKER_HOST=ssh://root@127.0.0.1:PORT."""
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True)
    far_host = f"unix://{far.socket}"
    (keys / "authorized_keys").write_text(
        f'environment="DOCKER_HOST={far_host}" ' + (keys / "client.pub").read_text()
    )
    port = _free_port()
    (keys / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {keys / 'host'}\n"
        f"AuthorizedKeysFile {keys}/authorized_keys\n"
        f"PidFile {keys / 'sshd.pid'}\nPermitRootLogin prohibit-password\nPermitUserEnvironment yes\n"
        "PasswordAuthentication no\nUsePAM no\nStrictModes no\n"
    )
    (keys / "ssh_config").write_text(
        f"Host 127.0.0.1\n  IdentityFile {keys / 'client'}\n  IdentitiesOnly yes\n"
        "  StrictHostKeyChecking no\n  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n"
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec /usr/bin/ssh -F {keys / "ssh_config"} "$@"\n')
    wrapper.chmod(0o755)
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation folder
    daemon = subprocess.Popen([SSHD, "-D", "-e", "-f", str(keys / "sshd_config")], stderr=subprocess.PIPE)
    try:
        env = {
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "DOCKER_HOST": f"ssh://root@127.0.0.1:{port}",
            "STACKTEST_REAPER_SOCKET": far.socket,
        }
        login = [
            str(wrapper),
            "-p",
            str(port),
            "root@127.0.0.1",
            "docker",
            "version",
            "--format",
            "{{.Server.Os}}",
        ]
        assert wait_until(
            lambda: subprocess.run(login, capture_output=True, timeout=30, check=False).returncode == 0,
            timeout=20,
        ), "the test's sshd did not let the key in"
        yield env
    finally:
        daemon.terminate()
        daemon.communicate(timeout=30)


def test_a_stack_on_an_engine_reached_over_ssh(
    tmp_path: Path, far: SecondEngine, ssh_env: dict[str, str], base_image: str
) -> None:
    checkout = tiny_stack(tmp_path / "checkout" / "app", base_image)
    there = Engine(far.client)
    up = run_cli(["up"], checkout, env=ssh_env)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-2000:]
    try:
        containers = far.client.containers.list(filters={"label": f"io.stacktest.root={checkout}"})
        assert [c.labels["com.docker.compose.service"] for c in containers] == ["app"]
        status = run_cli(["status", "--json"], checkout, env=ssh_env)
        assert status.returncode == 0 and '"running"' in status.stdout, status.stderr
    finally:
        assert run_cli(["down"], checkout, env=ssh_env).returncode == 0
    assert not far.client.containers.list(all=True, filters={"label": f"io.stacktest.root={checkout}"})
    test = run_cli(["test", "-q"], checkout, env=ssh_env)
    assert test.returncode == 0 and "1 passed" in test.stdout, test.stdout[-2000:] + test.stderr[-2000:]

    # a run killed there: the reaper on that engine removes its stack
    a_killed_run_is_reaped(there, checkout, f"streaper-ssh-{os.getpid()}", ssh_env)


def test_without_paramiko_an_ssh_engine_says_what_to_install(tmp_path: Path) -> None:
    """The SDK's ssh transport loads paramiko; without it the error names the extra (no traceback)."""
    blocker = tmp_path / "site"
    blocker.mkdir()
    (blocker / "paramiko.py").write_text("raise ImportError('hidden by the test')\n")
    result = run_cli(
        ["reap"],
        tmp_path,
        env={"DOCKER_HOST": "ssh://nobody@127.0.0.1:1", "PYTHONPATH": f"{blocker}{os.pathsep}{REPO / 'src'}"},
    )
    assert result.returncode == 11, result.stderr
    assert "stacktest[ssh]" in result.stderr and "Traceback" not in result.stderr
