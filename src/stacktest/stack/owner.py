"""Who owns a stack, and when its owner is known to be dead: the rules a reap decides by.

A run labels every container, network and volume of its stack (through the compose override stacktest
writes, never through an image) with:

- ``io.stacktest.owner``: the process that started it, as ``host/boot/pidns/pid/start``: the host name,
  the kernel's boot id, the PID namespace, the pid and the process's start time (in clock ticks since
  boot). A run's owner is dead only when all of host, boot and PID namespace are this process's own and
  that pid no longer runs the process that started at that time. Two CI jobs in containers with one
  host name (their own PID namespaces), or a host-network container, are never taken for dead: they
  are another machine, reaped only by age. A pid reused by another process is seen as such.
- ``io.stacktest.token``: a random token of the run, also kept in its state file
  (``.stacktest/stacks/<project>.json``). Nothing else knows it.

A project is stacktest's only when every container of it carries these labels as its own: a label the
container inherited from its image (an image built with stacktest's labels) does not count, and neither
does a container whose ``io.stacktest.run`` is not its compose project.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Owner", "dead_because", "new_token"]


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str:
    """The start time of process ``pid`` (clock ticks after boot), '' when it is not running or unknown."""
    stat = _read(f"/proc/{pid}/stat")
    if not stat:
        return ""
    fields = stat.rsplit(")", 1)[-1].split()  # the name may hold spaces and parentheses
    return fields[19] if len(fields) > 19 else ""


@dataclass(frozen=True)
class Owner:
    host: str
    boot: str
    pidns: str
    pid: int
    start: str

    @classmethod
    def me(cls) -> Owner:
        pidns = ""
        try:
            pidns = os.readlink("/proc/self/ns/pid")
        except OSError:
            pidns = ""
        pid = os.getpid()
        return cls(
            socket.gethostname(), _read("/proc/sys/kernel/random/boot_id"), pidns, pid, _start_time(pid)
        )

    def label(self) -> str:
        return "/".join([self.host, self.boot, self.pidns, str(self.pid), self.start])

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.split("/")
        if len(parts) != 5 or not parts[3].isdigit():
            return None
        return cls(parts[0], parts[1], parts[2], int(parts[3]), parts[4])


def dead_because(owner: Owner | None, me: Owner) -> str:
    """Why the run ``owner`` is known to be dead ('' when it may be alive, or cannot be known here)."""
    if owner is None or not owner.boot or not owner.pidns or not owner.start:
        return ""  # no proof from this machine's kernel: only age decides
    if (owner.host, owner.boot, owner.pidns) != (me.host, me.boot, me.pidns):
        return ""  # another machine, container or boot: its processes are not visible from here
    if owner.pid == me.pid and owner.start == me.start:
        return ""
    now = _start_time(owner.pid)
    if not now:
        return f"its owner (pid {owner.pid}) is gone"
    if now != owner.start:
        return f"its owner (pid {owner.pid}) is gone (that pid now runs another process)"
    return ""


def new_token() -> str:
    return secrets.token_hex(16)
