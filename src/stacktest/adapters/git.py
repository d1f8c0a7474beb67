"""git, for what stacktest reads of a repository: its top folder, its files, HEAD, a diff and a file as it
was at a revision. Read-only: stacktest never writes to a repository's history or index.

Every call answers None (or an empty answer) when git is missing, the folder is no work tree, or the
revision is unknown: the callers say what that means for them.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Change", "changes", "head", "run", "show", "top", "untracked", "verify"]

log = logging.getLogger("stacktest")

TIMEOUT = 60.0


def run(cwd: Path, *args: str) -> bytes | None:
    """``git ARGS`` in ``cwd``: its output, or None when it failed."""
    argv = ["git", *args]
    log.debug("run: %s", shlex.join(argv))
    try:
        done = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def top(root: Path) -> Path | None:
    found = run(root, "rev-parse", "--show-toplevel")
    return Path(os.fsdecode(found.rstrip(b"\n"))).resolve() if found else None


def head(root: Path) -> str | None:
    found = run(root, "rev-parse", "HEAD")
    return found.decode().strip() or None if found else None


def verify(root: Path, rev: str) -> bool:
    """Whether ``rev`` names a commit of this repository."""
    return (
        not rev.startswith("-")
        and run(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}") is not None
    )


def show(root: Path, rev: str, path: str) -> bytes | None:
    """File ``path`` (from the top folder) as it is at ``rev``; None when it did not exist there."""
    return run(root, "show", f"{rev}:{path}")


def untracked(root: Path) -> list[str]:
    """Files git would track that it does not yet (new, not ignored), from the top folder."""
    found = run(root, "ls-files", "--others", "--exclude-standard", "-z", "--full-name")
    return [os.fsdecode(p) for p in (found or b"").split(b"\0") if p]


@dataclass(frozen=True)
class Change:
    """One file of a diff: its path before and after (from the top folder; None where it did not exist)
    and the lines of the old file the change touches. A pure insertion touches no old line: it is
    entered as the old lines on either side of where it goes."""

    old: str | None
    new: str | None
    old_lines: frozenset[int]


_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def changes(root: Path, rev: str) -> list[Change] | None:
    """What differs between ``rev`` and the work tree (staged or not; new untracked files are not in
    it: see :func:`untracked`). None when git cannot tell."""
    text = run(root, "diff", "-U0", "--no-color", "--no-ext-diff", "--no-renames", rev, "--")
    if text is None:
        return None
    return parse_diff(text)


def _path(raw: bytes) -> str | None:
    name = raw.rstrip(b"\n").split(b"\t")[0]
    if name == b"/dev/null":
        return None
    decoded = os.fsdecode(name)
    if decoded.startswith('"'):  # a name git quoted (unusual characters): undo C-style escapes
        decoded = decoded[1:-1].encode("latin-1").decode("unicode_escape").encode("latin-1").decode()
    return decoded[2:] if decoded[:2] in ("a/", "b/") else decoded


def parse_diff(text: bytes) -> list[Change]:
    out: list[Change] = []
    old: str | None = None
    new: str | None = None
    lines: set[int] = set()
    started = False

    def close() -> None:
        if started:
            out.append(Change(old, new, frozenset(lines)))

    for raw in text.splitlines():
        if raw.startswith(b"diff --git "):
            close()
            started, old, new, lines = True, None, None, set()
        elif raw.startswith(b"--- "):
            old = _path(raw[4:])
        elif raw.startswith(b"+++ "):
            new = _path(raw[4:])
        elif (hunk := _HUNK.match(raw)) is not None:
            start = int(hunk.group(1))
            count = 1 if hunk.group(2) is None else int(hunk.group(2))
            if count:
                lines.update(range(start, start + count))
            else:  # inserted after old line `start`: the lines around it
                lines.update({start, start + 1})
    close()
    return out
