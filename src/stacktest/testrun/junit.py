"""JUnit XML, read and written in one place: the phase files pytest writes, the merged file of a run, the
files of CI shards (their times split the next run; their tests are merged once each), and the failing
tests diagnose names. Every file here was written by pytest for this project, so the standard library's
parser is enough (nothing hostile is parsed); a shard's counts that are no numbers are :class:`Unreadable`.
A merged file carries :data:`MARK`, so that a later merge knows it may replace it (:func:`ours`)."""

from __future__ import annotations

import os
import stat
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["COUNTS", "MARK", "Case", "Unreadable", "cases", "check_counts", "count", "merge", "ours", "read"]

MARK = b"<!-- written by stacktest: a later `stacktest junit merge` may replace this file -->"
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


def ours(path: Path) -> bool:
    """A regular file (not a symlink) that a merge wrote: it begins with :data:`MARK`."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return False
        return MARK in fh.read(512)


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
    body = ET.tostring(merged, encoding="utf-8", xml_declaration=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
    try:  # a new file renamed into place: never written through a symlink, never half-written
        with os.fdopen(fd, "wb") as fh:
            fh.write(b"<?xml version='1.0' encoding='utf-8'?>\n" + MARK + b"\n" + body + b"\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone already when renamed
