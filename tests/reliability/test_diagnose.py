"""What diagnose writes for CI, attacked with hostile log lines and a corrupt state file."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.diagnose import checks as diagnose
from stacktest.diagnose.report import Finding, Report, github_annotations, to_markdown
from stacktest.settings import load_settings
from stacktest.state import REACHED


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


# Container output that tries to talk to the GitHub Actions runner: a line that starts (after blanks)
# with `::` is a workflow command, and so is the old `##[...]` form anywhere in a line.
FORGED = (
    "started\n::add-mask::hunter2\n   ::error file=app.py::forged\nok ##[error]legacy\r::stop-commands::t"
)


def _commands(text: str) -> list[str]:
    """The lines of ``text`` the runner would obey (it breaks lines at CR too)."""
    lines = text.replace("\r", "\n").splitlines()
    return [line for line in lines if line.lstrip().startswith("::") or "##[" in line]


def test_annotations_escape_their_title_and_message() -> None:
    report = Report()
    report.add(Finding("service, web:8000", "error", "50% of web\nexited", fix="see a,b: c"))
    assert github_annotations(report) == [
        "::error title=stacktest service%2C web%3A8000::50%25 of web%0Aexited — see a,b: c"
    ]


def test_log_lines_that_diagnose_prints_in_a_workflow_cannot_be_commands(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacktest.cli import render

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    report = Report()
    title = "web exited:\n::error::title"
    report.add(Finding("service", "error", title, evidence=FORGED, fix="::warning::x"))
    render.diagnose(report, as_json=False)
    printed = capsys.readouterr()
    assert _commands(printed.err) == []
    assert _commands(printed.out) == github_annotations(report)  # stacktest's own, and only those
    assert "hunter2" in printed.out  # the evidence is still shown, defused


def test_a_log_tail_in_an_error_message_cannot_be_a_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from stacktest.cli.boundary import report_error
    from stacktest.errors import NotReady

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    report_error(NotReady(f"service 'web' exited with code 1; its last log lines:\n{FORGED}"))
    printed = capsys.readouterr()
    assert _commands(printed.out + printed.err) == []
    assert "::add-mask::hunter2" in printed.err  # shown, after a backslash


def test_a_failing_test_s_log_section_cannot_be_a_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin attaches each service's log to a failing test's report; pytest prints it."""
    from types import SimpleNamespace

    from stacktest import plugin
    from stacktest.adapters.engine import Engine
    from stacktest.adapters.engine_model import ServiceState

    class FakeEngine:
        def states(self, project: str) -> dict[str, ServiceState]:
            return {"web": ServiceState("web", "c1", "running", None, 0, False, 0)}

        def logs(self, container_id: str, *, tail: int | None, since: float, until: float) -> str:
            return FORGED

        def close(self) -> None:
            pass

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("STACKTEST_PROJECT", "p")
    monkeypatch.setattr(Engine, "connect", classmethod(lambda cls, timeout=15.0: FakeEngine()))
    settings = load_settings(cwd=Path(__file__).parent, environ={})
    item = SimpleNamespace(config=SimpleNamespace(stash={plugin._settings_key: settings}))
    sections = plugin._service_logs(item, 0.0)  # type: ignore[arg-type]  # the config's stash only
    assert [title for title, _ in sections] == ["stacktest: web log during the test"]
    assert _commands(sections[0][1]) == []


def test_stacktest_logs_stops_workflow_commands_while_compose_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`stacktest logs` lets compose write the services' output to the terminal itself: the runner is
    told to obey no command until a token nobody could guess is printed again."""
    import signal
    import sys

    from stacktest.cli.boundary import main
    from stacktest.commands import lifecycle

    def compose_logs(*args: object, **kwargs: object) -> int:
        sys.stdout.write(FORGED + "\n")
        return 0

    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    monkeypatch.setattr(lifecycle, "logs", compose_logs)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        assert main(["logs"]) == 0
    finally:  # main() installs the command's signal handlers: this process gets its own back
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    lines = capsys.readouterr().out.splitlines()
    first, last = lines[0], lines[-1]
    assert first.startswith("::stop-commands::") and len(first) > len("::stop-commands::") + 16
    assert last == f"::{first.removeprefix('::stop-commands::')}::"
    assert "::add-mask::hunter2" in lines[1:-1]


def test_the_rerun_hint_quotes_a_hostile_test_name(tmp_path: Path) -> None:
    """A parametrized test's id comes from test data: pasted into a shell, the hint must run that one
    test and nothing else."""
    import shlex

    name = "test_login[x'; touch pwned; echo '$(id)`id`]"
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    settings = load_settings(cwd=tmp_path, environ={})
    junit = settings.state.last("junit.xml")
    junit.parent.mkdir(parents=True)
    from xml.sax.saxutils import quoteattr

    junit.write_text(
        f"<testsuites><testsuite name='pytest' tests='1' failures='1'><testcase classname='t' "
        f"name={quoteattr(name)}><failure message='boom'/></testcase></testsuite></testsuites>"
    )
    report = Report()
    diagnose._check_junit(settings, report)
    (finding,) = report.findings
    command = finding.fix.strip("`")
    assert shlex.split(command) == ["just", "test", "-k", name, "-vvv", "-s"]


def test_a_failing_test_names_the_service_lines_its_last_coverage_run_reached(tmp_path: Path) -> None:
    import os

    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    settings = load_settings(cwd=tmp_path, environ={})
    junit = settings.state.last("junit.xml")
    junit.parent.mkdir(parents=True)
    junit.write_text(
        "<testsuites><testsuite name='pytest' tests='1' failures='1'>"
        "<testcase classname='tests.test_x.TestA' name='test_b[1]'><failure message='boom'/></testcase>"
        "</testsuite></testsuites>"
    )
    settings.state.write_last(REACHED, {"tests/test_x.py::TestA::test_b[1]": {"api": "app.py 3-9"}})
    report = Report()
    diagnose._check_junit(settings, report)
    assert report.findings[0].evidence == "boom\nreached in api: app.py 3-9"
    os.utime(junit, (junit.stat().st_mtime + 60,) * 2)  # a later run (without contexts) wrote the JUnit
    report = Report()
    diagnose._check_junit(settings, report)
    assert report.findings[0].evidence == "boom"
