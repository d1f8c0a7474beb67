"""What a person sees of the CLI itself: help with value names, and shell completion that works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.unit

# `test` and `coverage run` pass --help on to pytest, by design
COMMANDS = [
    [], ["up"], ["wait"], ["status"], ["logs"], ["down"], ["reap"], ["cleanup"], ["init"], ["diagnose"],
    ["coverage"], ["coverage", "harvest"], ["coverage", "combine"], ["coverage", "report"],
]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "stacktest")
def test_help_names_values_as_users_know_them(tmp_path: Path, command: list[str]) -> None:
    result = run_cli([*command, "--help"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "<bool>" not in result.stdout and "<list" not in result.stdout and "<str>" not in result.stdout
    assert "<float>" not in result.stdout and "<int>" not in result.stdout and "<path>" not in result.stdout


def test_value_names_of_options(tmp_path: Path) -> None:
    up = run_cli(["up", "--help"], tmp_path).stdout
    assert "--ready-timeout" in up and "SECONDS" in up and "always|missing|never" in up
    logs = run_cli(["logs", "--help"], tmp_path).stdout
    assert "--tail" in logs and " N " in logs
    top = run_cli(["--help"], tmp_path).stdout
    assert "KEY=VALUE" in top and "--install-completion" in top
    assert "[tool.stacktest]" in top  # the init command's help, not eaten as markup


def completions(words: str, tmp_path: Path) -> list[str]:
    env = {
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        "_STACKTEST_COMPLETE": "complete_bash",
    }
    result = run_cli([], tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_completes_commands_and_options(tmp_path: Path) -> None:
    assert completions("stacktest sta", tmp_path) == ["status"]
    assert "--mode" in completions("stacktest test --mo", tmp_path)
    assert {"run", "combine", "harvest"} <= set(completions("stacktest coverage ", tmp_path))


def test_install_completion_writes_a_script_the_shell_sources(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # as a person runs it: from bash, which is the shell it detects and installs for
    result = subprocess.run(
        [
            "bash",
            "-c",
            f"'{sys.executable}' -m stacktest --install-completion; exit $?",
        ],  # bash stays the parent
        cwd=tmp_path,
        env=dict(os.environ) | {"HOME": str(home), "SHELL": "/bin/bash"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "bash completion installed" in result.stdout
    script = home / ".bash_completions" / "stacktest.sh"
    assert "_STACKTEST_COMPLETE=complete_bash" in script.read_text()
    assert f"source '{script}'" in (home / ".bashrc").read_text()
    # bash itself loads it and registers the completion function for the command
    shown = subprocess.run(
        ["bash", "-c", f"source '{script}' && complete -p stacktest"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "_stacktest_completion" in shown.stdout, shown.stderr
