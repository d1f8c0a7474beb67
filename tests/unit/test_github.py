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
