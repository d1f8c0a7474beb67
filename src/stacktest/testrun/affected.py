"""`stacktest test --affected [REV]`: which tests a change can break, by the test map of the last run with
per-test contexts (:mod:`stacktest.coverage.testmap`) and ``git diff REV``.

One rule set, in this order, for each changed file (paths from the project root):

1. it matches ``affected_ignore`` (documentation) or is stacktest's own (``.stacktest/``, the coverage
   reports): no test is affected;
2. it is a compose file of the stack, a Dockerfile, or a dependency list (requirements, lock files,
   pyproject.toml, setup.py/cfg, .dockerignore, env files): the images or the stack change, so the whole
   suite runs;
3. the map measured it: when the file at REV is the file the map measured (same SHA-256), the tests whose
   recorded lines (service side or test side) meet the changed lines are affected; when it is not, the
   map is stale and the whole suite runs;
4. it is a new file under the test folders: its tests are new, and new tests always run;
5. anything else was never measured: the whole suite runs.

Tests the map does not know (added since it was recorded) always run. The plugin applies the selection
(``STACKTEST_AFFECTED``): it deselects every test the map knows that no change reaches.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adapters import git
from stacktest.coverage.testmap import MAP_FILE, TestMap, from_json
from stacktest.settings import Settings
from stacktest.state import FOLDER

__all__ = ["INPUTS", "Selection", "apply", "from_file", "select"]

# what images and stacks are built from: a change to one of these runs everything
INPUTS = (
    "Dockerfile",
    "Dockerfile.*",
    "*.Dockerfile",
    "Containerfile",
    "docker-compose*.yml",
    "docker-compose*.yaml",
    "compose*.yml",
    "compose*.yaml",
    "requirements*.txt",
    "requirements*.in",
    "requirements/*",
    "constraints*.txt",
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "*.lock",
    "Pipfile",
    ".dockerignore",
    ".env",
    "*.env",
)


@dataclass(frozen=True)
class Selection:
    """What to run: everything (with why), or the tests the changes reach and every test the map does
    not know."""

    everything: bool
    why: tuple[str, ...]  # why everything runs, or which changes chose the tests
    tests: frozenset[str] = frozenset()
    known: frozenset[str] = frozenset()
    changed: tuple[str, ...] = field(default_factory=tuple)

    def write(self, path: Path) -> Path:
        """The selection as the plugin reads it (``STACKTEST_AFFECTED``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"tests": sorted(self.tests), "known": sorted(self.known)}))
        return path

    def summary(self) -> str:
        if self.everything:
            return "the whole suite runs: " + "; ".join(self.why)
        if not self.changed:
            return "nothing changed: only tests the map does not know run"
        return (
            f"{len(self.tests)} of the {len(self.known)} tests the map knows are affected, and every "
            f"test added since runs ({', '.join(self.changed[:5])}{' ...' if len(self.changed) > 5 else ''})"
        )


def _matches(path: str, patterns: Sequence[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(path, p) or ("/" not in p and fnmatch.fnmatch(name, p)) for p in patterns)


def _everything(why: str, known: frozenset[str] = frozenset()) -> Selection:
    return Selection(True, (why,), known=known)


def select(settings: Settings, rev: str) -> Selection:
    """The selection for the work tree against ``rev`` (see the module's rules)."""
    root = settings.root
    testmap = from_json(settings.state.read_last(MAP_FILE))
    if testmap is None:
        return _everything(
            "no test map: record one with `stacktest coverage run --contexts` (coverage.contexts = true)"
        )
    known = frozenset(testmap.tests)
    top = git.top(root)
    if top is None:
        return _everything(f"{root} is not in a git work tree, so what changed is unknown", known)
    if not git.verify(root, rev):
        return _everything(f"{rev!r} is no commit of this repository", known)
    found = git.changes(root, rev)
    if found is None:
        return _everything(f"`git diff {rev}` failed", known)
    changes = [c for c in found if c.old or c.new]
    changes += [git.Change(None, path, frozenset()) for path in git.untracked(root)]
    return _decide(settings, top, rev, testmap, changes)


def _relative(top: Path, root: Path, path: str) -> str:
    full = (top / path).resolve()
    try:
        return full.relative_to(root.resolve()).as_posix()
    except ValueError:
        return full.as_posix()


def _decide(
    settings: Settings, top: Path, rev: str, testmap: TestMap, changes: Sequence[git.Change]
) -> Selection:
    root = settings.root
    known = frozenset(testmap.tests)
    compose = {Path(f).as_posix() for f in settings.compose_files}
    test_dirs = tuple(Path(t).as_posix().rstrip("/") + "/" for t in settings.tests)
    chosen: set[str] = set()
    considered: list[str] = []
    own = (FOLDER + "/", settings.coverage_report_dir.rstrip("/") + "/")  # what stacktest itself writes
    for change in changes:
        path = _relative(top, root, change.new or change.old or "")
        if path.startswith(own) or _matches(path, settings.affected_ignore):
            continue
        considered.append(path)
        if path in compose or _matches(path, INPUTS):
            return _everything(f"{path} changed: the images or the stack are built from it", known)
        if path in testmap.files:
            before = git.show(top, rev, change.old) if change.old else None
            if before is None or hashlib.sha256(before).hexdigest() != testmap.files[path]:
                return _everything(
                    f"{path} at {rev} is not the file the map measured: record the map again "
                    "(`stacktest coverage run --contexts`)",
                    known,
                )
            chosen |= testmap.reaching(path, change.old_lines)
            continue
        if change.old is None and path.endswith(".py") and path.startswith(test_dirs):
            continue  # a new test module: its tests are new to the map, and new tests run
        return _everything(f"{path} changed and was never measured: no test is known to reach it", known)
    return Selection(False, tuple(considered), frozenset(chosen), known, tuple(considered))


def from_file(path: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(affected, known) from the file :func:`write` wrote."""
    doc: dict[str, Any] = json.loads(path.read_text())
    return frozenset(doc.get("tests") or ()), frozenset(doc.get("known") or ())


def apply(nodeids: Sequence[str], affected: frozenset[str], known: frozenset[str]) -> list[str]:
    """The node ids that stay: affected, or unknown to the map (new)."""
    return [n for n in nodeids if n in affected or n not in known]
