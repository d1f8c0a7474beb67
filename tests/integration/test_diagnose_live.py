"""diagnose on the real engine: healthy, crashed, unreachable, JSON, GitHub summary."""

from __future__ import annotations

import json
from pathlib import Path

from stacktest.adapters.engine import Engine
from tests.conftest import run_cli


def test_healthy_stack_exits_0_and_a_stopped_service_is_named_first(
    project: Path, docker_engine: Engine, tmp_path: Path
) -> None:
    assert run_cli(["up"], project).returncode == 0
    try:
        ok = run_cli(["diagnose", "--json"], project)
        assert ok.returncode == 0, ok.stdout
        report = json.loads(ok.stdout)
        assert report["exit_code"] == 0
        assert {f["subject"] for f in report["findings"] if f["check"] == "service"} == {
            "auth",
            "api",
            "redis",
        }
        # stop one service: diagnose names it first, with its log tail, and exits 1
        project_name = next((project / ".stacktest" / "stacks").glob("*.json")).stem
        [auth] = docker_engine.client.containers.list(
            filters={
                "label": [
                    f"com.docker.compose.project={project_name}",
                    "com.docker.compose.service=auth",
                ]
            }
        )
        auth.kill(signal="SIGKILL")
        summary = tmp_path / "summary.md"
        bad = run_cli(
            ["diagnose"], project, env={"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": "true"}
        )
        assert bad.returncode == 1
        first_error = next(line for line in bad.stdout.splitlines() if "error" in line)
        assert "auth: exited with code 137" in first_error
        assert first_error.endswith("(fix: `just logs auth`; then `just down && just up`)")  # whole, one line
        assert "auth listening on" in bad.stdout  # its log tail
        assert "::error title=stacktest service::auth: exited" in bad.stdout
        assert "## stacktest diagnose" in summary.read_text() and "auth: exited" in summary.read_text()
        as_json = json.loads(run_cli(["diagnose", "--json"], project).stdout)
        assert as_json["findings"][0]["subject"] == "auth" and as_json["exit_code"] == 1
    finally:
        assert run_cli(["down"], project).returncode == 0
