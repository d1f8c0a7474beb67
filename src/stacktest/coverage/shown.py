"""Which files a coverage report may show. The containers write the data, so it may name any file of this
machine: the host's copy of a git-ignored ``src/.env`` or of ``~/.ssh/config`` must never reach a report.

A report shows a file only when it is (symlinks followed) a regular file under one of the source roots
(:func:`roots`: the ``coverage.paths`` host folders and the repository's package folders) and a file of
the repository: one git tracks, or Python source (:data:`PYTHON_SOURCE`, what the spy measures) that git
would track (a new module not added yet). Outside a git work tree, the Python source under the roots.
Every other file is left out of the data the reports are made from (:func:`only_shown`).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import coverage

__all__ = ["PYTHON_SOURCE", "Shown", "git_listing", "here", "only_shown", "roots"]

PYTHON_SOURCE = (".py", ".pyw")


def _git(cwd: Path, *args: str) -> bytes | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def git_listing(root: Path) -> dict[str, bool] | None:
    """The files of the git work tree ``root`` is in, by absolute path (its top folder resolved): True
    for a file git tracks, False for one it would track (untracked, not ignored); ignored files are in
    neither. None when ``root`` is in no git work tree (or git is missing)."""
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        return None
    top_dir = Path(os.fsdecode(top.rstrip(b"\n"))).resolve()
    tracked = _git(top_dir, "ls-files", "--cached", "-z")
    others = _git(top_dir, "ls-files", "--others", "--exclude-standard", "-z")
    if tracked is None or others is None:
        return None
    listing = {str(top_dir / os.fsdecode(p)): False for p in others.split(b"\0") if p}
    listing.update({str(top_dir / os.fsdecode(p)): True for p in tracked.split(b"\0") if p})
    return listing


@dataclass(frozen=True)
class Shown:
    """The rule of this module, for one set of source ``roots`` (resolved) and a :func:`git_listing`."""

    roots: tuple[Path, ...]
    listing: Mapping[str, bool] | None

    def allows(self, name: str) -> bool:
        try:
            real = Path(name).resolve()
            if not any(real.is_relative_to(r) for r in self.roots) or not real.is_file():
                return False
        except (OSError, RuntimeError, ValueError):  # unreadable, a symlink loop, a NUL in the name
            return False
        python = real.suffix in PYTHON_SOURCE
        if self.listing is None:
            return python
        tracked = self.listing.get(str(real))
        return tracked is True or (tracked is False and python)


def roots(
    paths: Mapping[str, Mapping[str, str]],
    root: Path,
    packages: Mapping[str, Path] | None,
    service: str | None = None,
) -> tuple[Path, ...]:
    """The source roots of ``service`` (of all services when None): its ``paths`` host folders and the
    repository's packages; every service's when it has none; the repository root when none has any."""
    extra = {folder.resolve() for folder in (packages or {}).values()}
    own = {(root / h).resolve() for h in (paths.get(service, {}) if service else {}).values()}
    if own:
        return tuple(sorted(own | extra))
    every = {(root / h).resolve() for m in paths.values() for h in m.values()} | extra
    return tuple(sorted(every)) or (root.resolve(),)


def here(name: str) -> bool:
    """A file of this machine: one a report could have shown."""
    try:
        return Path(name).is_file()
    except (OSError, ValueError):
        return False


def only_shown(data_file: Path, shown: Shown, dest: Path) -> list[str]:
    """A copy of ``data_file`` at ``dest`` that holds only the files ``shown`` allows (no file at all
    when it allows none), each line under the contexts it had (per-test contexts stay). Returns the files
    left out."""
    source = coverage.CoverageData(basename=str(data_file))
    source.read()
    kept = coverage.CoverageData(basename=str(dest))
    names = sorted(source.measured_files())
    left = [name for name in names if not shown.allows(name)]
    names = [name for name in names if shown.allows(name)]
    contexts = sorted(source.measured_contexts()) or [""]
    for context in contexts:
        if len(contexts) > 1:
            source.set_query_contexts(["^" + re.escape(context) + "$"])
        kept.set_context(context or None)
        if source.has_arcs():
            arcs = {name: pairs for name in names if (pairs := source.arcs(name))}
            if arcs:
                kept.add_arcs(arcs)
        else:
            lines = {name: found for name in names if (found := source.lines(name))}
            if lines:
                kept.add_lines(lines)
    source.set_query_contexts(None)
    empty = [name for name in names if not source.lines(name)]
    if empty:  # measured, with no line (a module with no statement): a file of the report all the same
        kept.set_context(None)
        if source.has_arcs():
            kept.add_arcs({name: [] for name in empty})
        else:
            kept.add_lines({name: [] for name in empty})
    tracers = {n: t for n in names if (t := source.file_tracer(n))}
    if tracers:
        kept.add_file_tracers(tracers)
    kept.write()
    return left
