"""Run state on disk: the one module that knows the layout of a checkout's ``.stacktest`` folder.

::

    .stacktest/
      stacks/<project>.json   one record per live stack of this checkout (stack.StackRecord)
      runs/<project>/         a run's generated compose overlays and spy; removed with the stack
      runs/<project>/logs/    a failed run's full logs, one file per container: kept (newest KEEP_LOGS)
      results/<id>/           one test run's JUnit phase files; removed after the run
      last/junit.xml          the newest finished run's merged JUnit XML
      last/coverage.json      the newest coverage run: data files, missing services, stop times
      last/readiness.json     when each service of the newest started stack became ready (epoch)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "ENV_AFFECTED",
    "ENV_CONTEXTS",
    "ENV_PROJECT",
    "ENV_REPLICA_URLS",
    "ENV_SHARD",
    "ENV_SHARD_TIMES",
    "ENV_URLS",
    "FOLDER",
    "HARVEST_MARK",
    "KEEP_LOGS",
    "REACHED",
    "StateDir",
    "atomic_write",
    "has_mark",
    "make_mark",
    "safe_name",
    "shown",
]

FOLDER = ".stacktest"
KEEP_LOGS = 10  # log folders of failed runs kept; older ones are removed when a new one is written
HARVEST_MARK = FOLDER + "-harvest"  # in a folder `coverage harvest --into` made: it may empty it again

# What `stacktest test` hands the pytest plugin (and every xdist worker) in the environment.
ENV_PROJECT = "STACKTEST_PROJECT"  # the compose project of the stack under test
ENV_URLS = "STACKTEST_URLS"  # JSON: service -> URL of its first replica
ENV_REPLICA_URLS = "STACKTEST_REPLICA_URLS"  # JSON: service -> [URL of each replica]
ENV_SHARD = "STACKTEST_SHARD"  # I/N: the part of the suite this run runs
ENV_SHARD_TIMES = "STACKTEST_SHARD_TIMES"  # JSON file: the test times every phase splits by, read once
ENV_CONTEXTS = "STACKTEST_CONTEXTS"  # folder for the test process's coverage data: per-test contexts on
REACHED = "reached.json"  # last/: each failing test of the last coverage run, the service lines it reached
ENV_AFFECTED = "STACKTEST_AFFECTED"  # JSON file: the tests `--affected` keeps, and those the map knows


def atomic_write(target: Path, data: str | bytes) -> Path:
    """Replace ``target`` with ``data`` at once: a reader (another run, diagnose) sees the old file or
    the new one, never half of one. The one way stacktest writes a file others read."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(3)}")
    if isinstance(data, bytes):
        tmp.write_bytes(data)
    else:
        tmp.write_text(data)
    tmp.replace(target)
    return target


def has_mark(folder: Path, name: str) -> bool:
    """``folder`` holds marker ``name`` as a regular file of its own (a symlink there marks nothing)."""
    try:
        return stat.S_ISREG(os.lstat(folder / name).st_mode)
    except OSError:
        return False


def make_mark(folder: Path, name: str, text: str) -> None:
    """Create marker ``name`` in ``folder`` as a new file: never one that was there, never through a
    symlink (another user of a shared folder may put one there). FileExistsError when anything is."""
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(text: str) -> str:
    """``text`` as one file name: only letters, digits, ``_``, ``-`` and ``.``, not starting with ``.``,
    at most 80 characters. A name that had to change ends with a hash of ``text``, so two texts never
    share a name (``../x`` and ``x`` stay apart)."""
    name = _UNSAFE.sub("_", text)[:80]
    if name.startswith("."):
        name = "_" + name[1:]
    if name == text and name:
        return name
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"{name}-{digest}" if name else digest


def shown(path: Path) -> Path:
    """A path as messages show it: relative to the working directory when it is below it."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


@dataclass(frozen=True)
class StateDir:
    root: Path  # the checkout

    @property
    def path(self) -> Path:
        return self.root / FOLDER

    @property
    def stacks(self) -> Path:
        return self.path / "stacks"

    def stack_file(self, project: str) -> Path:
        return self.stacks / f"{project}.json"

    def run(self, project: str) -> Path:
        return self.path / "runs" / project

    def logs(self, project: str) -> Path:
        return self.run(project) / "logs"

    def log_file(self, project: str, label: str) -> Path:
        """A container's log file in :meth:`logs`, named after its label (``web``, ``web-2``) made one
        safe file name: the label comes from the engine, where any container may set it."""
        return self.logs(project) / f"{safe_name(label)}.log"

    def saved_logs(self) -> list[Path]:
        """The kept log folders of failed runs, newest first."""
        runs = self.path / "runs"
        found = [d for d in runs.glob("*/logs") if d.is_dir()] if runs.is_dir() else []
        return sorted(found, key=lambda d: d.stat().st_mtime, reverse=True)

    def new_results(self) -> Path:
        """A folder of its own for one test run's phase files (two runs of one checkout may overlap)."""
        name = f"{int(time.time())}-{os.getpid()}-{secrets.token_hex(2)}"
        return self.path / "results" / name

    def last(self, name: str) -> Path:
        return self.path / "last" / name

    def write_last(self, name: str, data: Any) -> Path:
        """Replace ``last/<name>`` atomically with ``data`` as JSON."""
        return atomic_write(self.last(name), json.dumps(data, indent=2, sort_keys=True))

    def read_last(self, name: str) -> Any:
        """``last/<name>`` as JSON; None when missing or unreadable."""
        try:
            return json.loads(self.last(name).read_text())
        except (OSError, ValueError):
            return None
