"""A second Docker Engine on this machine that cannot see this checkout: its own dockerd, data root,
exec root and mount namespace (in which the checkout and the temporary folder are empty tmpfs), reached
over tcp on 127.0.0.1 like a remote engine. Used by tests/e2e/test_remote_engine.py.

What it changes on the machine, and takes back when it stops: a bridge of its own (so it never touches
the first engine's docker0), and firewall rules letting its networks forward and reach the machine's DNS
resolver, as the first engine's networks do (it runs with --iptables=false: two daemons managing the same
chains would remove each other's rules).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker

COMMENT = "stacktest-second-engine"  # then "-<pid>" of the test process whose engine the rule serves
STATE = Path("/var/lib/stacktest-test-engines")  # data roots: not under any folder it must not see
RUN = Path("/run/stacktest-test-engines")

# the child, started by unshare in a new mount namespace: hide the folders, then become dockerd
_CHILD = """
import json, os, subprocess, sys
hidden, argv = json.loads(sys.argv[1]), sys.argv[2:]
subprocess.run(["mount", "--make-rprivate", "/"], check=True)
for path in hidden:
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", path], check=True)
os.execvp(argv[0], argv)
"""


@dataclass
class SecondEngine:
    url: str
    client: docker.DockerClient
    socket: str  # its API socket on this machine: what the reaper there mounts (reaper.socket)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _free_subnet() -> ipaddress.IPv4Network:
    """A /16 of 172.16.0.0/12 that no route of this machine (the first engine's networks) overlaps."""
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
    used = []
    for line in routes.splitlines():
        with contextlib.suppress(ValueError):
            used.append(ipaddress.ip_network(line.split()[0], strict=False))
    for third in range(29, 15, -1):
        candidate = ipaddress.IPv4Network(f"172.{third}.0.0/16")
        if not any(candidate.overlaps(net) for net in used if net.prefixlen > 0):
            return candidate
    raise RuntimeError("no free /16 in 172.16.0.0/12 for the second engine")


def _bridges() -> set[str]:
    listed = subprocess.run(
        ["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True, check=True
    )
    return {line.split(":")[1].strip() for line in listed.stdout.splitlines()}


def _hidden(paths: list[Path]) -> list[str]:
    """The folders to hide, outermost first, none inside another."""
    kept: list[Path] = []
    for path in sorted({p.resolve() for p in paths}, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return [str(p) for p in kept]


def _firewall(subnet: str, action: str, comment: str) -> None:
    rules = [
        ["filter", "FORWARD", "-s", subnet, "-j", "ACCEPT"],
        ["filter", "FORWARD", "-d", subnet, "-j", "ACCEPT"],
        ["nat", "POSTROUTING", "-s", subnet, "!", "-d", subnet, "-j", "MASQUERADE"],
    ]
    for table, chain, *match in rules:
        position = ["1"] if action == "-I" else []  # first, before the first engine's DROP policy applies
        tagged = [*match, "-m", "comment", "--comment", comment]
        subprocess.run(
            ["iptables", "-t", table, action, chain, *position, *tagged],
            capture_output=True,
            check=action == "-I",
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_stale_rules() -> None:
    """Rules a killed test run left (found by their comment, which names the test process): never those
    of a second engine another test process runs at the same time (xdist workers do)."""
    for table in ("filter", "nat"):
        listed = subprocess.run(
            ["iptables", "-t", table, "-S"], capture_output=True, text=True, check=False
        ).stdout
        for line in listed.splitlines():
            owner = re.search(COMMENT + r"-(\d+)", line)
            if owner is not None and _alive(int(owner[1])):
                continue
            if COMMENT in line and line.startswith("-A "):
                args = line.split()
                args[0] = "-D"
                subprocess.run(["iptables", "-t", table, *[a.strip('"') for a in args]], check=False)


@contextlib.contextmanager
def second_engine(
    hide: list[Path], *, copy_images: list[str], first: docker.DockerClient
) -> Iterator[SecondEngine]:
    """Start the engine, copy ``copy_images`` into it through the API, yield it; stop it and take back
    everything it changed. Needs root, dockerd, unshare, ip and iptables."""
    RUN.mkdir(parents=True, exist_ok=True)
    choosing = (RUN / "choose.lock").open("w")
    fcntl.flock(choosing, fcntl.LOCK_EX)  # two test processes never pick one subnet, or see half a start
    comment = f"{COMMENT}-{os.getpid()}"
    _remove_stale_rules()
    bridges = _bridges()  # the first engine's: this engine must leave them as they are
    name = f"stt{os.getpid() % 100000}"
    subnet = _free_subnet()
    bridge_net = list(subnet.subnets(new_prefix=24))[-1]  # the default bridge: the last /24
    pool = next(subnet.subnets(new_prefix=17))  # compose networks: /24s from the first half
    port = _free_port()
    data_root, exec_root = STATE / name, RUN / name
    for folder in (data_root, exec_root):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    first_info = first.info()
    config = RUN / f"{name}.json"
    config.write_text(
        json.dumps(
            {
                "data-root": str(data_root),
                "exec-root": str(exec_root),
                "pidfile": str(exec_root / "dockerd.pid"),
                "hosts": [f"tcp://127.0.0.1:{port}", f"unix://{exec_root}/docker.sock"],
                "bridge": name,
                "iptables": False,
                "storage-driver": first_info.get("Driver", "overlay2"),
                "default-address-pools": [{"base": str(pool), "size": 24}],
                "cgroup-parent": name,
                "mtu": 1400,
            }
        )
    )
    url = f"tcp://127.0.0.1:{port}"
    client = docker.DockerClient(base_url=url, version="1.41", timeout=120)  # 1.41: Engine 20.10+
    log = tempfile.NamedTemporaryFile(prefix="stacktest-second-engine-", suffix=".log", delete=False)  # noqa: SIM115
    daemon: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
        subprocess.run(
            ["ip", "addr", "add", f"{bridge_net[1]}/{bridge_net.prefixlen}", "dev", name], check=True
        )
        subprocess.run(["ip", "link", "set", name, "mtu", "1400", "up"], check=True)
        _firewall(str(subnet), "-I", comment)
        choosing.close()  # the subnet's route and rules exist: another engine chooses around them
        daemon = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", _CHILD,
             json.dumps(_hidden(hide)), "dockerd", "--config-file", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                client.ping()
                break
            except Exception:
                if daemon.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "the second engine did not start:\n" + Path(log.name).read_text()[-3000:]
                    ) from None
                time.sleep(0.2)
        for image in copy_images:  # streamed from one engine's API into the other's
            client.api.load_image(first.api.get_image(image))
        yield SecondEngine(url=url, client=client, socket=str(exec_root / "docker.sock"))
    finally:
        client.close()
        if daemon is not None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(timeout=60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        choosing.close()
        _firewall(str(subnet), "-D", comment)
        subprocess.run(["ip", "link", "del", name], check=False)
        shutil.rmtree(data_root, ignore_errors=True)
        shutil.rmtree(exec_root, ignore_errors=True)
        config.unlink(missing_ok=True)
        log.close()
        os.unlink(log.name)
    # a bridge of a network the first engine still has (other tests remove their own networks meanwhile)
    alive = {"docker0"} | {f"br-{n.id[:12]}" for n in first.networks.list()}
    gone = (bridges - _bridges()) & alive
    assert not gone, f"the second engine removed the first engine's bridges {sorted(gone)}"
