"""The per-process ledger of a coverage run: every Python process in which the spy started, and whether
its data arrived.

The spy writes one small JSON entry per measured process into its service's data volume
(``.proc-<host>-<pid>-<nonce>``) when measuring starts, and again after every save. Helpers started
into a container from outside (healthchecks, ``docker exec``) are not measured and have no entry. After
the run the entries come out with the data files: an entry with no save is a process that ran code and
left nothing (killed by SIGKILL or the OOM killer, a worker timeout, a crash in C code, ``os.abort()``),
and a figure that silently left it out would not be true.

Before a covered container is stopped, :data:`SAVE_SCRIPT` runs in it (one ``exec``) and asks every
measured process that is still alive to save now, with the real-time signal the spy installed for that:
children of PID 1 are killed by the kernel when PID 1 exits, and some servers kill their own workers on
the way down (werkzeug's reloader, ``subprocess.run`` ended by SystemExit), so their exit never comes.

This module only reads and decides; the engine calls are in :mod:`stacktest.coverage.harvest`.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

__all__ = [
    "PREFIX",
    "SAVE_SCRIPT",
    "Ledger",
    "Process",
    "describe_lost",
    "ended_how",
    "is_entry",
    "read_entries",
    "save_python",
]

PREFIX = ".proc-"


def is_entry(name: str) -> bool:
    """A ledger entry's file name (the spy writes ``.tmp.proc-...`` first and renames it)."""
    return name.startswith(PREFIX)


@dataclass(frozen=True)
class Process:
    service: str
    container: str  # the replica's label (web, web-2), or its host name when the container is unknown
    host: str
    pid: int
    ppid: int
    argv: tuple[str, ...]
    exe: str
    saves: int
    started_at: float | None = None
    how: str = ""  # how a lost process ended, when that is known

    @property
    def measured(self) -> bool:
        return self.saves > 0

    @property
    def command(self) -> str:
        text = shlex.join(self.argv) if self.argv else "(unknown command line)"
        return text if len(text) <= 160 else text[:157] + "..."

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "container": self.container,
            "pid": self.pid,
            "ppid": self.ppid,
            "command": list(self.argv),
            "measured": self.measured,
            "saves": self.saves,
            "how": self.how,
        }


def _process(service: str, entry: Mapping[str, Any], containers: Mapping[str, str]) -> Process | None:
    try:
        host = str(entry["host"])
        argv = entry.get("argv") or []
        return Process(
            service=service,
            container=containers.get(host, host),
            host=host,
            pid=int(entry["pid"]),
            ppid=int(entry.get("ppid") or 0),
            argv=tuple(str(a) for a in argv) if isinstance(argv, list) else (),
            exe=str(entry.get("exe") or ""),
            saves=int(entry.get("saves") or 0),
            started_at=float(entry["started_at"]) if entry.get("started_at") is not None else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


def read_entries(folder: Path) -> list[dict[str, Any]]:
    """The ledger entries in a harvested folder (unreadable ones are skipped: a process that died while
    its spy wrote the entry left only the ``.tmp`` file, never a half-written entry)."""
    out = []
    for path in sorted(folder.glob(PREFIX + "*")) if folder.is_dir() else []:
        try:
            entry = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


@dataclass
class Ledger:
    """Every measured process of a run, by service, and what the run accepts losing."""

    processes: list[Process] = field(default_factory=list)
    accepted: frozenset[str] = frozenset()  # services whose lost processes the settings accept

    @classmethod
    def from_folders(
        cls,
        folders: Mapping[str, Path],
        containers: Mapping[str, str] | None = None,
        accepted: Iterable[str] = (),
    ) -> Ledger:
        """The ledger of harvested service folders; ``containers`` maps a host name to its replica's
        label."""
        processes = []
        for service, folder in sorted(folders.items()):
            for entry in read_entries(folder):
                found = _process(service, entry, containers or {})
                if found is not None:
                    processes.append(found)
        processes.sort(key=lambda p: (p.service, p.container, p.started_at or 0.0, p.pid))
        return cls(processes, frozenset(accepted))

    def services(self) -> list[str]:
        return sorted({p.service for p in self.processes})

    def counts(self) -> dict[str, tuple[int, int]]:
        """Per service: (processes measured, processes that ran)."""
        out: dict[str, tuple[int, int]] = {}
        for p in self.processes:
            done, total = out.get(p.service, (0, 0))
            out[p.service] = (done + p.measured, total + 1)
        return out

    def lost(self) -> list[Process]:
        return [p for p in self.processes if not p.measured]

    def unaccepted(self) -> list[Process]:
        return [p for p in self.lost() if p.service not in self.accepted]

    def explained(self, how: Mapping[tuple[str, int], str]) -> Ledger:
        """The same ledger with how each lost process ended, keyed by (host, pid), where known."""
        return Ledger(
            [
                p if p.measured or (p.host, p.pid) not in how else replace(p, how=how[(p.host, p.pid)])
                for p in self.processes
            ],
            self.accepted,
        )

    def as_json(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "services": {s: {"measured": m, "ran": n} for s, (m, n) in sorted(counts.items())},
            "lost": [p.as_json() for p in self.lost()],
            "accepted": sorted(self.accepted & {p.service for p in self.lost()}),
        }


_ENDED = re.compile(
    r"kill|signal|sig[a-z]+|timeout|timed out|exit|died|dead|terminat|abort|crash|memory", re.I
)


def ended_how(log: str, pid: int) -> str:
    """The last line of a container's output that names ``pid`` and says how a process ended
    (gunicorn: "WORKER TIMEOUT (pid:12)", "Worker (pid:12) was sent SIGKILL!"; Celery: "Process
    'ForkPoolWorker-1' pid:12 exited with 'signal 9 (SIGKILL)'"); empty when none does."""
    mentions = re.compile(rf"(?:pid[:= ]*|process |worker |\[|\(){pid}(?!\d)", re.I)
    found = ""
    for line in log.splitlines():
        if mentions.search(line) and _ENDED.search(line):
            found = line.strip()
    return found[-300:]


def save_python(entries: Sequence[Mapping[str, Any]], host: str) -> str:
    """The Python to run :data:`SAVE_SCRIPT` with in container ``host``: the one its measured processes
    run (the image may have no other, and no shell)."""
    exes = [str(e.get("exe") or "") for e in entries if e.get("host") == host]
    exes = [e for e in exes if e.startswith("/")]
    return max(set(exes), key=exes.count) if exes else ""


# Run in a covered container as `python -I -c SAVE_SCRIPT <data folder> <host> <seconds>` (-I: the spy
# on PYTHONPATH does not load). For each entry of this container whose process still runs (same pid and
# start time) and catches the spy's save signal (SigCgt: a process that reset it to the default would be
# killed by it), send the signal, then wait until the entry counts one more save or the process is gone.
# Prints {entry name: "saved" | "ended" | "no answer" | "cannot ask"} as JSON.
SAVE_SCRIPT = r"""
import json, os, sys, time
folder, host, wait = sys.argv[1], sys.argv[2], float(sys.argv[3])


def stat(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            raw = fh.read()
        fields = raw[raw.rindex(b")") + 2:].split()
        return fields[0].decode(), int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def alive(entry):
    now = stat(entry["pid"])
    return now is not None and now[1] == entry.get("start") and now[0] not in ("Z", "X", "x")


def catches(pid, signum):
    try:
        with open("/proc/%d/status" % pid) as fh:
            for line in fh:
                if line.startswith("SigCgt:"):
                    return bool((int(line.split()[1], 16) >> (signum - 1)) & 1)
    except (OSError, ValueError):
        pass
    return False


def read(path):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


out, asked = {}, {}
for name in sorted(os.listdir(folder)):
    if not name.startswith(".proc-%s-" % host):
        continue
    entry = read(os.path.join(folder, name))
    if not isinstance(entry, dict) or not alive(entry):
        continue
    signum = entry.get("save_signal")
    if not signum or not catches(entry["pid"], signum):
        out[name] = "cannot ask"
        continue
    try:
        os.kill(entry["pid"], signum)
    except OSError:
        continue
    asked[name] = entry
deadline = time.monotonic() + wait
while asked and time.monotonic() < deadline:
    for name, before in list(asked.items()):
        now = read(os.path.join(folder, name))
        if now and now.get("saves", 0) > before.get("saves", 0):
            out[name] = "saved"
        elif not alive(before):
            out[name] = "ended"
        else:
            continue
        del asked[name]
    if asked:
        time.sleep(0.005)
out.update((name, "no answer") for name in asked)
print(json.dumps(out))
"""


def describe_lost(lost: Sequence[Process]) -> str:
    """The lost processes, a line each (the first 20), for the run's error."""
    lines = []
    for p in lost[:20]:
        how = f": {p.how}" if p.how else ": killed (SIGKILL, a worker timeout, the OOM killer) or crashed"
        lines.append(f"{p.container} pid {p.pid} `{p.command}`{how}")
    more = f"\n  ... and {len(lost) - 20} more" if len(lost) > 20 else ""
    return "\n  ".join(lines) + more
