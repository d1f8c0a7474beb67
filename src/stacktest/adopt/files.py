"""Reading a repository safely: init reads files it did not write, named by other files (a compose
``dockerfile:``, an ``ENTRYPOINT`` script), on any repository. Only regular files inside the repository
are read (a symlink out of it, a FIFO or ``/dev/zero`` is refused, never waited on), and at most
:data:`MAX_BYTES` of each."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["MAX_BYTES", "inside", "parse_toml", "python_files", "read_text"]

MAX_BYTES = 256 * 1024
MAX_FILES = 2000  # Python files looked at per search (routes, packages): a monorepo stays quick
_SKIP_DIRS = {".git", ".hg", ".venv", "venv", "node_modules", ".tox", ".nox", ".stacktest", "__pycache__"}


def inside(path: Path, root: Path) -> bool:
    """``path`` (symlinks resolved) is ``root`` or below it."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def read_text(path: Path, root: Path, limit: int = MAX_BYTES) -> str | None:
    """The first ``limit`` bytes of a regular file inside ``root``, as text; None otherwise."""
    if not inside(path, root):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode("utf-8", errors="replace")
    finally:
        os.close(fd)


def python_files(folder: Path, root: Path) -> Iterator[Path]:
    """The ``.py`` files under ``folder`` (inside ``root``; no symlinked folders, no virtualenvs)."""
    if not folder.is_dir() or not inside(folder, root):
        return
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(".py"):
                seen += 1
                if seen > MAX_FILES:
                    return
                yield Path(dirpath) / name


def parse_toml(text: str) -> dict[str, Any]:
    """TOML text as a table; ValueError when it is not TOML."""
    try:
        return dict(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(str(exc)) from None
