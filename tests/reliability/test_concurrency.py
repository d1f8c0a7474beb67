"""Two complete coverage runs of the same checkout at the same time: both pass, each with its own report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from stacktest.adapters.engine import Engine
from tests.conftest import STACKS, Spawn, cleanup_root, engine_leftovers


def test_two_coverage_runs_at_once(tmp_path: Path, docker_engine: Engine, spawn: Spawn) -> None:
    root = tmp_path / "cov"
    shutil.copytree(STACKS / "cov", root)
    (root / "suite" / "test_marker.py").write_text(
        "import os\n\ndef test_marker(service_client):\n"
        "    assert service_client('pid1').get('/n/' + os.environ['RUN_MARK']).status_code == 200\n"
    )
    runs = [
        spawn(
            [sys.executable, "-m", "stacktest", "coverage", "run", "-q"],
            cwd=root,
            env={**os.environ, "RUN_MARK": mark, "NO_COLOR": "1"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for mark in ("0", "7")  # the "zero" branch runs in one of the two runs only
    ]
    try:
        outputs = [r.communicate(timeout=600) for r in runs]
        for r, (out, err) in zip(runs, outputs, strict=True):
            assert r.returncode == 0, out[-2000:] + err[-2000:]
            assert "3 passed, 0 failed, 1 skipped" in out
        folders = [
            p for p in (root / ".stacktest" / "coverage").iterdir() if p.is_dir() and p.name != "latest"
        ]
        assert len(folders) == 2, folders
        lines = (root / "apps" / "pid1" / "server.py").read_text().splitlines()
        zero = next(i for i, line in enumerate(lines, 1) if 'return "zero"' in line)
        seen = []
        for folder in folders:
            report = json.loads((folder / "coverage-pid1.json").read_text())
            executed = set(report["files"][next(iter(report["files"]))]["executed_lines"])
            seen.append(zero in executed)
        assert sorted(seen) == [False, True], "each report holds its own run's lines only"
        assert engine_leftovers(docker_engine, root) == {"containers": [], "networks": [], "volumes": []}
    finally:
        spawn.close()  # before the cleanup: a run still going would start what it removes
        cleanup_root(docker_engine, root)
