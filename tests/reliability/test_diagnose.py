"""What diagnose writes for CI, attacked with hostile log lines and a corrupt state file."""

from __future__ import annotations

from pathlib import Path

from stacktest.diagnose import checks as diagnose
from stacktest.diagnose.report import Finding, Report, github_annotations, to_markdown
from stacktest.settings import load_settings


def test_a_log_line_cannot_break_out_of_the_step_summary() -> None:
    report = Report()
    evil = "ok\n```\n# Injected heading\n[click](https://example.invalid)\n````"
    report.add(Finding("service", "error", "web | exited", evidence=evil, fix="a|b"))
    text = to_markdown(report)
    body = text[text.index("### ") :]
    fence = body.splitlines()[2]
    assert set(fence) == {"`"} and len(fence) > 4  # longer than any run of backticks in the log
    assert body.splitlines()[-1] == fence  # the block closes only at the end
    assert "| ❌ | service | web \\| exited | a\\|b |" in text


def test_annotations_escape_carriage_returns() -> None:
    report = Report()
    report.add(Finding("service", "error", "web\r::error::forged", fix=""))
    (line,) = github_annotations(report)
    assert "\r" not in line and "\n" not in line  # the forged command cannot start a line of its own
    assert line == "::error title=stacktest service::web%0D::error::forged"


def test_a_corrupt_coverage_record_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    settings = load_settings(cwd=tmp_path, environ={})
    settings.state.last("coverage.json").parent.mkdir(parents=True)
    settings.state.last("coverage.json").write_text("{not json")
    report = Report()
    diagnose._check_coverage(settings, report)
    assert [f.severity for f in report.findings] == ["warning"]
    assert "cannot read" in report.findings[0].title
