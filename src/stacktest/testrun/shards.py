"""Sharding a suite across CI jobs: ``--shard I/N`` runs the I-th of N parts.

The split is a pure function of the collected test ids and the durations recorded in earlier JUnit XML
files, so every job computes the same one: tests are dealt longest first to the part with the least
time so far (a test with no recorded time counts as the median of those with one, or 1 s when none
has). Every test lands in exactly one part; serial tests are dealt like the others and still run in
their part's serial phase.
"""

from __future__ import annotations

import glob
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from stacktest.errors import UsageError
from stacktest.testrun import junit

__all__ = ["Shard", "assign", "durations_from", "junit_key", "parse_shard"]

Shard = tuple[int, int]  # (index from 1, count)


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if match is None or not 1 <= int(match[1]) <= int(match[2]):
        raise UsageError(f"--shard {text!r}: expected I/N with 1 <= I <= N, such as 2/3")
    return int(match[1]), int(match[2])


def junit_key(nodeid: str) -> str:
    """The name a JUnit XML file gives a test (``classname.name``), from its pytest node id:
    ``tests/stack/test_x.py::TestA::test_b[1]`` -> ``tests.stack.test_x.TestA.test_b[1]``."""
    path, *rest = nodeid.split("::")
    module = path[:-3] if path.endswith(".py") else path
    return ".".join([module.replace("/", "."), *rest])


def durations_from(patterns: Iterable[str], root: Path) -> dict[str, float]:
    """Each test's time in the newest JUnit XML files matching ``patterns`` (relative to ``root``):
    the files are read oldest first, so a newer time replaces an older one."""
    files: list[Path] = []
    for pattern in patterns:
        files += [Path(p) for p in glob.glob(str(root / pattern), recursive=True)]
    out: dict[str, float] = {}
    for path in sorted(set(files), key=lambda p: p.stat().st_mtime):
        try:
            found = junit.read(path)
        except junit.Unreadable:
            continue
        for case in junit.cases(found):
            if case.seconds is not None:
                out[f"{case.classname}.{case.name}"] = case.seconds
    return out


def assign(nodeids: Sequence[str], shard: Shard, durations: Mapping[str, float]) -> set[str]:
    """The node ids of part ``shard``: longest first to the least loaded part, ties by id."""
    index, count = shard
    known = [durations[junit_key(n)] for n in nodeids if junit_key(n) in durations]
    default = statistics.median(known) if known else 1.0
    cost = {n: durations.get(junit_key(n), default) for n in nodeids}
    loads = [0.0] * count
    mine: set[str] = set()
    for nodeid in sorted(set(nodeids), key=lambda n: (-cost[n], n)):
        part = min(range(count), key=lambda i: (loads[i], i))
        loads[part] += cost[nodeid]
        if part == index - 1:
            mine.add(nodeid)
    return mine
