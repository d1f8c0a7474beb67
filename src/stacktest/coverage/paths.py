"""Container paths and the repository's files: which packages of the repository a service may run from
where pip installed them, and which measured files map to no file of the repository.

A figure is only true when every file a service measured is a file of the repository: data that maps
to nothing would be dropped from every report without a word (a service at 0 statements inside a total
that looks fine). :func:`unmapped` finds such files after combining; :func:`propose` finds, by name and
content, the repository file each one most likely is, and the ``coverage.paths`` entry that maps it.

Packages: a repository package installed with ``pip install .`` runs from ``.../site-packages/<pkg>``
or ``.../dist-packages/<pkg>``, which no ``coverage.paths`` entry names. Every top-level package found
beside a ``pyproject.toml``, ``setup.py`` or ``setup.cfg`` of the repository (in it or in its ``src/``)
is measured by name in the covered services (coverage's ``source_pkgs``) and mapped back to its folder
here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import coverage
from coverage.exceptions import CoverageException

__all__ = [
    "Proposal",
    "package_aliases",
    "propose",
    "repository_files",
    "repository_packages",
    "unmapped",
]

_SKIP_DIRS = {".git", ".hg", ".venv", "venv", "node_modules", ".tox", ".nox", ".stacktest", "__pycache__"}
_PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_NOT_PACKAGES = {"tests", "test", "testing", "docs", "examples", "benchmarks"}
_INSTALLED = ("site-packages", "dist-packages")


def repository_files(root: Path) -> list[str]:
    """The repository's files, relative to ``root``: those git tracks or would track (not ignored),
    else every file below ``root`` outside the usual tool folders."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    if listed is not None and listed.returncode == 0:
        return sorted(p for p in listed.stdout.decode("utf-8", "replace").split("\0") if p)
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        rel = Path(folder).relative_to(root)
        out += [str(rel / f) if str(rel) != "." else f for f in files]
    return sorted(out)


def repository_packages(root: Path, files: Sequence[str] | None = None) -> dict[str, Path]:
    """Top-level packages of the repository's installable projects: name -> folder (absolute). A name
    found in two projects is left out (it could not be mapped back to one folder)."""
    files = repository_files(root) if files is None else files
    present = set(files)
    projects = {str(PurePosixPath(f).parent) for f in files if PurePosixPath(f).name in _PROJECT_FILES}
    found: dict[str, set[str]] = {}
    for project in sorted(projects):
        for folder in (project, f"{project}/src"):
            top = folder.removeprefix("./") if folder != "." else ""
            prefix = f"{top}/" if top else ""
            for f in files:
                if not f.startswith(prefix) or not f.endswith("/__init__.py"):
                    continue
                parts = f[len(prefix) :].split("/")
                if len(parts) != 2 or parts[0] in _NOT_PACKAGES or not parts[0].isidentifier():
                    continue
                if f"{prefix}__init__.py" in present and prefix:
                    continue  # a sub-package, not a top-level one
                found.setdefault(parts[0], set()).add(prefix + parts[0])
    return {
        name: (root / next(iter(dirs))).resolve() for name, dirs in sorted(found.items()) if len(dirs) == 1
    }


def package_aliases(packages: Mapping[str, Path]) -> dict[str, list[str]]:
    """coverage ``[paths]`` entries that map each package, wherever the container had it (site- or
    dist-packages after ``pip install .``, the folder an editable install points at), back to its
    folder. They come after the service's own entries, which win where both match; a path is mapped
    only where the file exists here."""
    return {f"pkg-{name}": [str(folder), f"*/{name}"] for name, folder in sorted(packages.items())}


def unmapped(data_file: Path, root: Path, ignore: Iterable[str] = ()) -> dict[str, list[int]]:
    """Files measured in ``data_file`` (paths already mapped) that are no file of the repository:
    container paths no entry mapped, or mapped paths with no file on this side. Third-party code that a
    configuration measured (site- and dist-packages) and the folders in ``ignore`` are left out.
    Returns each file with its measured lines."""
    data = coverage.CoverageData(basename=str(data_file))
    try:
        data.read()
    except CoverageException:
        return {}
    top = root.resolve()
    out = {}
    for name in sorted(data.measured_files()):
        path = Path(name)
        if any(part in _INSTALLED for part in path.parts) or any(name.startswith(i) for i in ignore):
            continue
        if path.is_relative_to(top) and path.is_file():
            continue
        out[name] = sorted(data.lines(name) or [])
    return out


@dataclass(frozen=True)
class Proposal:
    """A ``coverage.paths`` entry that maps ``container`` to ``host`` (relative to the root)."""

    container: str
    host: str
    files: tuple[str, ...]  # the measured container files it maps


def _fits(path: Path, lines: Sequence[int]) -> bool:
    """The measured lines are (part of) statements of ``path`` (all but one in twenty): the data was
    measured in this file's content, not only in a file of the same name. (Raw data may name a
    statement's later lines: each is taken to its statement's first line, as coverage's reports do.)"""
    try:
        from coverage.parser import PythonParser

        parser = PythonParser(filename=str(path))
        parser.parse_source()
        if lines and max(lines) > parser.text.count("\n") + 1:
            return False
        # a module's docstring line is in the data (its code object starts there), not a statement
        odd = parser.first_lines(lines) - set(parser.statements) - {1}
        return len(odd) <= len(lines) // 20
    except (OSError, ValueError, SyntaxError, CoverageException):
        return False


def _suffix(a: Sequence[str], b: Sequence[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def propose(
    measured: Mapping[str, Sequence[int]], root: Path, files: Sequence[str] | None = None
) -> tuple[list[Proposal], list[str]]:
    """For each measured container file, the repository file it most likely is: the same name, the
    longest common tail of folders, and every measured line a statement of it (content, not only the
    name). Returns the entries that map them, and the files that match no repository file."""
    files = repository_files(root) if files is None else files
    by_name: dict[str, list[str]] = {}
    for f in files:
        if f.endswith(".py"):
            by_name.setdefault(PurePosixPath(f).name, []).append(f)
    entries: dict[tuple[str, str], list[str]] = {}
    orphans = []
    for container_file, lines in sorted(measured.items()):
        cparts = PurePosixPath(container_file).parts
        best: tuple[int, str] | None = None
        for candidate in by_name.get(cparts[-1], []):
            if not _fits(root / candidate, lines):
                continue
            score = _suffix(cparts, PurePosixPath(candidate).parts)
            if best is None or score > best[0]:
                best = (score, candidate)
        if best is None:
            orphans.append(container_file)
            continue
        score, candidate = best
        score = min(score, len(cparts) - 2)  # keep a folder of the container's: "/pkgs", never "/"
        hparts = PurePosixPath(candidate).parts
        container_dir = str(PurePosixPath(*cparts[: len(cparts) - score])) if score < len(cparts) else "/"
        host_dir = str(PurePosixPath(*hparts[: len(hparts) - score])) if score < len(hparts) else "."
        entries.setdefault((container_dir, host_dir), []).append(container_file)
    proposals = [Proposal(c, h, tuple(fs)) for (c, h), fs in sorted(entries.items())]
    return proposals, orphans
