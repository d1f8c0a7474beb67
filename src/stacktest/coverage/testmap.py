"""The test map: which lines of the repository each test reached, in the services (through its requests)
and in the test process, read from the combined data of a coverage run with per-test contexts.

``stacktest test --affected`` selects tests by it (:mod:`stacktest.testrun.affected`), and a failing
test's report names the service lines it reached (:func:`reached_by`). It is kept as JSON at
``.stacktest/last/testmap.json``: per test, per file (repository-relative), the lines as ranges; and the
SHA-256 of every measured file as it was measured, so a map that no longer describes a file is known.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import coverage

from stacktest.adapters import git

__all__ = [
    "FIXTURE",
    "MAP_FILE",
    "UNATTRIBUTED",
    "TestMap",
    "build",
    "digest",
    "from_json",
    "parse_ranges",
    "ranges",
    "reached_by",
]

MAP_FILE = "testmap.json"
VERSION = 1
UNATTRIBUTED = "unattributed"  # the spy's and the plugin's name for lines no test's request ran


@dataclass(frozen=True)
class TestMap:
    """What a recorded run measured: per test, per file, the lines it reached."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    tests: Mapping[str, Mapping[str, frozenset[int]]]
    files: Mapping[str, str]  # every measured file (repository-relative) -> SHA-256 when measured
    created: float = field(default_factory=time.time)
    commit: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "created": self.created,
            "commit": self.commit,
            "files": dict(sorted(self.files.items())),
            "tests": {
                test: {name: ranges(lines) for name, lines in sorted(files.items())}
                for test, files in sorted(self.tests.items())
            },
        }

    def reaching(self, name: str, lines: Iterable[int]) -> set[str]:
        """The tests that reached any of ``lines`` of file ``name``."""
        wanted = set(lines)
        return {test for test, files in self.tests.items() if wanted & files.get(name, frozenset())}


def from_json(doc: Any) -> TestMap | None:
    """The map in ``doc``, or None when it is not one this version reads."""
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        return None
    try:
        tests = {
            str(test): {str(name): parse_ranges(str(text)) for name, text in files.items()}
            for test, files in dict(doc["tests"]).items()
        }
        files = {str(k): str(v) for k, v in dict(doc["files"]).items()}
        return TestMap(tests, files, float(doc.get("created") or 0), doc.get("commit"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def ranges(lines: Iterable[int]) -> str:
    """``[1, 2, 3, 7, 9, 10]`` -> ``"1-3,7,9-10"``."""
    out: list[str] = []
    ordered = sorted(set(lines))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        out.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(out)


def parse_ranges(text: str) -> frozenset[int]:
    found: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return frozenset(found)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _relative(name: str, root: Path) -> str | None:
    try:
        return Path(name).resolve().relative_to(root.resolve()).as_posix()
    except (ValueError, OSError):
        return None


def _by_test(data_file: Path, root: Path) -> tuple[dict[str, dict[str, set[int]]], set[str]]:
    """Per test, per repository file, the lines of one combined data file; and the files it measured."""
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    tests: dict[str, dict[str, set[int]]] = {}
    measured = set()
    for name in data.measured_files():
        rel = _relative(name, root)
        if rel is None:
            continue
        measured.add(rel)
        for line, contexts in data.contexts_by_lineno(name).items():
            for context in contexts:
                if context and context != UNATTRIBUTED:
                    tests.setdefault(context, {}).setdefault(rel, set()).add(line)
    return tests, measured


FIXTURE = "::[fixture:"  # in the context of a fixture broader than a test (the plugin's fixture_context)


_Found = tuple[dict[str, dict[str, set[int]]], set[str]]  # what _by_test read of one data file


def _read(data_files: Iterable[Path], root: Path) -> dict[Path, _Found]:
    return {f: _by_test(f, root) for f in data_files if f.is_file()}


def build(data_files: Sequence[Path], root: Path, uses: Mapping[str, Sequence[str]] | None = None) -> TestMap:
    """The map of a run's combined data files (each service's, and the test process's). ``uses``: per
    test, the broader fixtures it used, whose lines (their setup and teardown, and the requests they
    sent) become the lines of every test that used them."""
    return _build(_read(data_files, root).values(), root, uses)


def _build(read: Iterable[_Found], root: Path, uses: Mapping[str, Sequence[str]] | None) -> TestMap:
    tests: dict[str, dict[str, set[int]]] = {}
    measured: set[str] = set()
    for found, names in read:
        measured |= names
        for test, files in found.items():
            for name, lines in files.items():
                tests.setdefault(test, {}).setdefault(name, set()).update(lines)
    for test, fixtures in (uses or {}).items():
        own = tests.setdefault(test, {})
        for fixture in fixtures:
            for name, lines in tests.get(fixture, {}).items():
                own.setdefault(name, set()).update(lines)
    hashes = {name: digest(root / name) for name in sorted(measured) if (root / name).is_file()}
    frozen = {
        t: {n: frozenset(ls) for n, ls in files.items()} for t, files in tests.items() if FIXTURE not in t
    }
    return TestMap(frozen, hashes, commit=git.head(root))


def reached_by(data_files: Mapping[str, Path], root: Path, tests: Iterable[str]) -> dict[str, dict[str, str]]:
    """For each of ``tests``: per service, ``"file 1-5,9; other.py 3"``, the lines its requests reached."""
    return _reached(_of_services(_read(data_files.values(), root), data_files), tests)


def _of_services(read: Mapping[Path, _Found], data_files: Mapping[str, Path]) -> dict[str, _Found]:
    """What was read of each service's data file (a service without one is left out)."""
    return {s: read[f] for s, f in data_files.items() if f in read}


def _reached(read: Mapping[str, _Found], tests: Iterable[str]) -> dict[str, dict[str, str]]:
    wanted = set(tests)
    out: dict[str, dict[str, str]] = {}
    for service, (found, _) in sorted(read.items()):
        for test in wanted & set(found):
            said = "; ".join(f"{name} {ranges(lines)}" for name, lines in sorted(found[test].items()))
            out.setdefault(test, {})[service] = said
    return out


def record(
    tests_data: Path, out: Path, per_service: Mapping[str, Path], root: Path
) -> tuple[TestMap, dict[str, dict[str, str]]]:
    """After a run with per-test contexts: the test processes' data combined into ``out/.coverage.tests``,
    the map of it and of every service's combined data, and for each failing test (the plugin names
    them in ``tests_data``) the service lines it reached."""
    tests_file = out / ".coverage.tests"
    tests_file.unlink(missing_ok=True)
    parts = sorted(str(p) for p in tests_data.glob(".coverage.*")) if tests_data.is_dir() else []
    if parts:
        cov = coverage.Coverage(data_file=str(tests_file), config_file=False)
        cov.combine(parts, keep=True)
        cov.save()
    uses: dict[str, list[str]] = {}
    for part in tests_data.glob("uses-*.json"):
        uses.update(json.loads(part.read_text()))
    read = _read([*per_service.values(), tests_file], root)  # each data file read once, for both answers
    testmap = _build(read.values(), root, uses)
    failed = sorted(
        {line.strip() for f in tests_data.glob("failed-*.txt") for line in f.read_text().splitlines()} - {""}
    )
    reached = _reached(_of_services(read, per_service), failed)
    return testmap, {test: reached.get(test, {}) for test in failed}
