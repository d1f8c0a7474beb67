"""Sharded CI on one engine: three shards of the live suite at once, each with its own covered stack; their
coverage data combined and their JUnit files merged equal one unsharded run, line for line and test for
test."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import coverage

from tests.conftest import Spawn, report_dir, run_cli

SUITE = ["tests/stack/test_oauth_flow.py", "tests/stack/test_errors.py", "tests/stack/test_mcp_protocol.py"]


def lines_of(data_file: Path) -> dict[str, set[int]]:
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    return {
        Path(f).name + ":" + f.split("/services/")[-1]: set(data.lines(f) or ())
        for f in data.measured_files()
    }


def test_three_shards_at_once_equal_one_run(project: Path, spawn: Spawn) -> None:
    whole = run_cli(["coverage", "run", *SUITE, "-q"], project)
    assert whole.returncode == 0, whole.stdout[-3000:] + whole.stderr[-2000:]
    whole_dir = report_dir(whole.stdout)
    whole_junit = project / "whole.xml"
    (project / ".stacktest" / "last" / "junit.xml").rename(whole_junit)  # no times to balance by: by count

    shards = [
        spawn(
            [sys.executable, "-m", "stacktest", "coverage", "run", "--shard", f"{i}/3", *SUITE, "-q"],
            cwd=project,
            env=dict(os.environ) | {"NO_COLOR": "1", "COLUMNS": "200"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in (1, 2, 3)
    ]
    outputs = [p.communicate(timeout=900) for p in shards]
    for p, (out, err) in zip(shards, outputs, strict=True):
        assert p.returncode == 0, out[-3000:] + err[-2000:]
    dirs = [report_dir(out) for out, _ in outputs]
    assert len({d.name for d in dirs}) == 3  # each shard brought up its own stack

    combined = run_cli(["coverage", "combine", *(str(d / "data") for d in dirs)], project)
    assert combined.returncode == 0, combined.stderr
    merged_dir = (project / ".stacktest" / "coverage" / "latest").resolve()
    for service in ("auth", "api"):
        whole_lines = lines_of(whole_dir / f".coverage.{service}")
        assert sum(len(lines) for lines in whole_lines.values()) > 100, whole_lines  # measured, not empty
        assert lines_of(merged_dir / f".coverage.{service}") == whole_lines

    junits = [d / "junit" / "junit.xml" for d in dirs]
    merged = run_cli(["junit", "merge", *map(str, junits), "--into", "merged.xml"], project)
    assert merged.returncode == 0, merged.stderr

    def cases(path: Path) -> list[str]:
        root = ET.parse(path).getroot()  # noqa: S314 - our own runs wrote them
        return sorted(f"{c.get('classname')}::{c.get('name')}" for c in root.iter("testcase"))

    assert cases(project / "merged.xml") == cases(whole_junit)  # every test once, none lost
    assert len(cases(whole_junit)) > 20
    again = run_cli(["junit", "merge", str(junits[0]), str(junits[0]), "--into", "twice.xml"], project)
    assert again.returncode == 18 and "two shards ran it" in again.stderr
