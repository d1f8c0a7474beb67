"""GitHub Actions workflow commands: stacktest's own escaped as GitHub documents, other text defused."""

from __future__ import annotations

import pytest

from stacktest import github

pytestmark = pytest.mark.unit


def test_annotations_escape_messages_and_properties() -> None:
    line = github.annotation("error", "100% down\r\nnext", title="a: b, c")
    assert line == "::error title=a%3A b%2C c::100%25 down%0D%0Anext"
    assert github.annotation("warning", "plain") == "::warning::plain"


@pytest.mark.parametrize(
    ("text", "defused"),
    [
        ("::error::x", "\\::error::x"),
        ("ok\n  ::add-mask::s\n", "ok\n  \\::add-mask::s\n"),
        ("a\r::stop-commands::t", "a\n\\::stop-commands::t"),
        ("log ##[error]x", "log ##\\[error]x"),
        ("a :: b", "a :: b"),  # not at the start of a line: no command
    ],
)
def test_defused_text_has_no_command_line(text: str, defused: str) -> None:
    assert github.defuse(text) == defused


def test_active_only_in_a_workflow() -> None:
    assert github.active({"GITHUB_ACTIONS": "true"})
    assert not github.active({"GITHUB_ACTIONS": "false"})
    assert not github.active({})


def test_the_cli_s_streams_write_past_a_live_display_s_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A live table puts a proxy into sys.stderr that prints through the console: writing to it again
    from the console would never end."""
    import io
    import sys

    from rich.file_proxy import FileProxy

    from stacktest.cli import render

    real = io.StringIO()
    monkeypatch.setattr(sys, "stderr", FileProxy(render.err, real))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    import threading

    printing = threading.Thread(target=render.err.print, args=("::error::from a log",), daemon=True)
    printing.start()
    printing.join(timeout=10)
    assert not printing.is_alive(), "printing never ended"
    assert real.getvalue() == "\\::error::from a log\n"
