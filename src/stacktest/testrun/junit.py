"""JUnit XML, read and written in one place: the phase files pytest writes, the merged file of a run, the
files of CI shards (their times split the next run; their tests are merged once each), and the failing
tests diagnose names. Every file here was written by pytest for this project, so the standard library's
parser is enough (nothing hostile is parsed); a shard's counts that are no numbers are :class:`Unreadable`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COUNTS", "Case", "Unreadable", "cases", "check_counts", "count", "merge", "read"]

COUNTS = ("tests", "failures", "errors", "skipped")  # a testsuite's counts


class Unreadable(Exception):
    """A JUnit file that is missing or is no XML."""


@dataclass(frozen=True)
class Case:
    classname: str
    name: str
    seconds: float | None
    outcome: str  # passed, failure, error, skipped
    message: str  # the first line of the failure's or error's message

    @property
    def key(self) -> str:
        return f"{self.classname}::{self.name}"


def read(path: Path) -> ET.Element:
    """The root element of a JUnit file, or :class:`Unreadable`."""
    try:
        return ET.parse(path).getroot()  # noqa: S314 - written by this project's own pytest runs
    except (ET.ParseError, OSError) as exc:
        raise Unreadable(f"{path}: not a readable JUnit XML file ({exc})") from None


def cases(root: ET.Element) -> Iterator[Case]:
    for case in root.iter("testcase"):
        outcome, message = "passed", ""
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is not None:
                outcome = kind
                lines = (node.get("message") or "").strip().splitlines()
                message = lines[0] if lines else ""
                break
        try:
            seconds: float | None = float(case.get("time", ""))
        except ValueError:
            seconds = None
        yield Case(case.get("classname", ""), case.get("name", ""), seconds, outcome, message)


def check_counts(root: ET.Element, path: Path) -> None:
    """Every testsuite's counts are whole numbers of 0 or more (absent is 0), else :class:`Unreadable`
    naming the file and the attribute."""
    for suite in root.iter("testsuite"):
        for name in COUNTS:
            value = suite.get(name, "0")
            if not (value.isascii() and value.isdigit()):
                raise Unreadable(
                    f"{path}: testsuite {suite.get('name', '')!r} has {name}={value!r}, which is not a "
                    "count (a whole number of 0 or more)"
                )


def count(path: Path) -> dict[str, int]:
    """Tests, failed, errors and skipped of a file (all 0 when it is missing or unreadable)."""
    counts = {"tests": 0, "failed": 0, "errors": 0, "skipped": 0}
    try:
        root = read(path)
        check_counts(root, path)
    except Unreadable:
        return counts
    for suite in root.iter("testsuite"):
        counts["tests"] += int(suite.get("tests", 0))
        counts["failed"] += int(suite.get("failures", 0))
        counts["errors"] += int(suite.get("errors", 0))
        counts["skipped"] += int(suite.get("skipped", 0))
    return counts


def merge(parts: Sequence[Path], dest: Path) -> None:
    """One JUnit XML with a testsuite per part (named after the part's file); unreadable parts are left
    out."""
    merged = ET.Element("testsuites")
    for part in parts:
        try:
            root = read(part)
        except Unreadable:
            continue
        for suite in [root] if root.tag == "testsuite" else list(root.iter("testsuite")):
            suite.set("name", f"{suite.get('name', 'pytest')}-{part.stem.removeprefix('junit-')}")
            merged.append(suite)
    dest.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(merged).write(dest, encoding="utf-8", xml_declaration=True)
