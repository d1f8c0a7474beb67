"""Diagnose's report: exit codes, ordering, markdown, annotations, env variable discovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stacktest.diagnose import checks as diagnose
from stacktest.diagnose.report import Finding, Report, github_annotations, to_markdown
from stacktest.settings import load_settings

pytestmark = pytest.mark.unit


def test_exit_codes() -> None:
    assert Report([Finding("a", "ok", "fine"), Finding("b", "warning", "hm")]).exit_code == 0
    assert Report([Finding("a", "error", "bad")]).exit_code == 1
    assert Report([Finding("a", "error", "bad")], could_not_check=True).exit_code == 11


def test_errors_come_first_and_json_parses() -> None:
    r = Report([Finding("a", "ok", "fine"), Finding("b", "error", "api: exited (exit code 3)")])
    assert r.sorted()[0].title.startswith("api")
    assert json.loads(r.to_json())["findings"][0]["severity"] == "error"


def test_markdown_and_annotations() -> None:
    r = Report([Finding("service", "error", "api: exited", evidence="boom\n100%", fix="just logs api")])
    md = to_markdown(r)
    assert "| ❌ | service | api: exited | just logs api |" in md and "boom" in md
    assert github_annotations(r) == ["::error title=stacktest service::api: exited — just logs api"]


def test_env_variables_without_defaults_are_errors_and_values_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  a:\n    environment:\n"
        "      X: ${NEEDED}\n      Y: ${WITH_DEFAULT:-1}\n      Z: $PRESENT\n"
    )
    monkeypatch.delenv("NEEDED", raising=False)
    monkeypatch.delenv("WITH_DEFAULT", raising=False)
    monkeypatch.setenv("PRESENT", "s3cr3t-value")
    r = Report()
    diagnose._check_env(load_settings(config=tmp_path / "pyproject.toml", environ={}), r)
    by_name = {f.subject: f.severity for f in r.findings}
    assert by_name == {"NEEDED": "error", "WITH_DEFAULT": "info", "PRESENT": "ok"}
    assert "s3cr3t-value" not in r.to_json()
