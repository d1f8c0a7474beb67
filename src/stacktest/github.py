"""GitHub Actions workflow commands, written and defused in one place.

The runner reads every line a step writes (stdout and stderr) and obeys a line that starts, after
blanks, with ``::name ...::`` (``::error``, ``::add-mask``, ``::stop-commands``, ...), or that holds the
older ``##[name]`` form anywhere. stacktest writes its own annotations with :func:`annotation`, which
escapes the message and the properties as GitHub documents (``%``, CR and LF; in properties also ``:`` and
``,``). Text stacktest did not write (container logs, service answers, test names) goes through
:func:`defuse` before it is printed in a workflow, so a log line can never become a command: a line
starting with ``::`` gets a backslash before it, and ``##[`` becomes ``##\\[``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

__all__ = ["active", "annotation", "defuse", "escape_data", "escape_property"]

_COMMAND_LINE = re.compile(r"^(\s*)(?=::)", re.MULTILINE)


def active(environ: Mapping[str, str] | None = None) -> bool:
    """Running as a step of a GitHub Actions workflow."""
    env = os.environ if environ is None else environ
    return env.get("GITHUB_ACTIONS") == "true"  # env: GITHUB_ACTIONS


def escape_data(text: str) -> str:
    """A command's message: one line."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command's property value (``title=...``): one line, no ``:`` or ``,`` of its own."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, **properties: str) -> str:
    """``::error title=...::message`` (level: error, warning or notice)."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{level}{' ' + props if props else ''}::{escape_data(message)}"


def defuse(text: str) -> str:
    """``text`` with no line the runner would read as a workflow command (CR is a line break too)."""
    text = text.replace("##[", "##\\[")
    return _COMMAND_LINE.sub(lambda m: m.group(1) + "\\", text.replace("\r\n", "\n").replace("\r", "\n"))
