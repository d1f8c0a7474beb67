"""What a person sees at a terminal: a real pseudo-terminal (tmux) at 80 and 200 columns, its screen read
back as the person would read it."""

from __future__ import annotations

import json
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import required_tool, run_cli


class Terminal:
    """One tmux server of its own, a window of a given width running one command."""

    def __init__(self, tmux: str, cwd: Path, width: int) -> None:
        self.tmux, self.cwd, self.width = tmux, cwd, width
        self.socket = f"stacktest-{secrets.token_hex(4)}"

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            [self.tmux, "-L", self.socket, *args], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def run(self, *args: str) -> None:
        """Start ``stacktest ARGS`` in a fresh window; the shell prints a mark when it ends."""
        argv = " ".join([sys.executable, "-m", "stacktest", *args])
        self._tmux(
            "new-session", "-d", "-s", "t", "-x", str(self.width), "-y", "60", "-c", str(self.cwd),
            "-e", "TERM=xterm-256color", "-e", "CI=", "-e", "NO_COLOR=", "-e", "COLUMNS=", "-e", "LINES=",
            f"{argv}; echo __exit_$?__; sleep 600",
        )  # fmt: skip

    def screen(self) -> str:
        """The window's text as shown, wrapped lines joined (-J): what a person reads."""
        return self._tmux("capture-pane", "-p", "-J", "-t", "t", "-S", "-200")

    def wait_for(self, pattern: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.screen()
            if re.search(pattern, text):
                return text
            time.sleep(0.1)
        raise AssertionError(f"{pattern!r} never appeared:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, check=False)


@pytest.fixture
def terminal() -> Iterator[Callable[[Path, int], Terminal]]:
    tmux = required_tool("tmux")
    opened: list[Terminal] = []

    def make(cwd: Path, width: int) -> Terminal:
        opened.append(Terminal(tmux, cwd, width))
        return opened[-1]

    yield make
    for t in opened:
        t.close()


@pytest.mark.parametrize("width", [80, 200])
def test_status_shows_every_url_whole(
    kept_stack: Path, terminal: Callable[[Path, int], Terminal], width: int
) -> None:
    urls = {
        s: v["url"]
        for s, v in json.loads(run_cli(["status", "--json"], kept_stack).stdout)["services"].items()
    }
    term = terminal(kept_stack, width)
    term.run("status")
    text = term.wait_for(r"__exit_0__")
    for service, url in urls.items():
        assert re.search(rf"\b{service}\b.*{re.escape(url)}(\s|$)", text), (url, text)
    assert "…" not in text, text  # nothing cut short
    if width == 80:  # too narrow for the table: one whole line per container
        assert re.search(rf"^auth: running, ready: yes .*url: {re.escape(urls['auth'])}$", text, re.M), text
    else:  # wide: the table, with its frame
        assert "┃" in text or "│" in text or "━" in text, text


@pytest.mark.parametrize("width", [80, 200])
def test_diagnose_prints_findings_whole(
    project: Path, terminal: Callable[[Path, int], Terminal], width: int
) -> None:
    term = terminal(project, width)
    term.run("diagnose")
    text = term.wait_for(r"__exit_\d+__")
    assert "…" not in text, text
    assert "engine" in text and "compose" in text


@pytest.mark.parametrize("width", [80, 200])
def test_the_live_table_shows_a_pending_service_s_newest_log_line(
    stack_copy: Callable[[str], Path], terminal: Callable[[Path, int], Terminal], width: int
) -> None:
    faults = stack_copy("faults")
    term = terminal(faults, width)
    term.run("up", "chatty")
    # while chatty warms up (3 s), its row shows what it printed last, in the live table
    during = term.wait_for(r"chatty +waiting .*warming cache step [1-6]", timeout=60)
    assert re.search(r"latest log line", during), during
    after = term.wait_for(r"__exit_0__", timeout=60)
    assert re.search(r"chatty +ready", after), after
    assert run_cli(["down"], faults).returncode == 0
