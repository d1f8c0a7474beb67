"""Bad input at the command line: a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from stacktest.cli.boundary import main
from tests.conftest import run_cli

pytestmark = pytest.mark.unit


def main_here(args: list[str]) -> int:
    """``stacktest ARGS`` in this process; main() installs the command's signal handlers, and this test
    process gets its own back (a later in-process pytest run would call stacktest's)."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        return main(args)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main_here(list(args))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--set", "nope=1", "status"], 18, "unknown setting"),
        (["--set", "ready_timeout", "status"], 18, "expected KEY=VALUE"),
        (["--set", "ready_timeout=soon", "status"], 10, "--set ready_timeout"),
        (["test", "--mode", "turbo"], 18, "unknown mode 'turbo'"),
        (["coverage", "run", "--mode", "turbo"], 18, "unknown mode"),
        (["frobnicate"], 18, "No such command"),
    ],
)
def test_bad_input(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    code: int,
    words: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    got, text = run(capsys, *args)
    assert got == code
    assert words in text
    assert "Traceback" not in text


def test_missing_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, text = run(capsys, "--config", str(tmp_path / "missing.toml"), "status")
    assert code == 10 and "does not exist" in text and "error[config]" in text


def test_no_stack_recorded(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    code, text = run(capsys, "status")
    assert code == 13 and "error[no-stack]" in text and "stacktest up" in text


def test_cleanup_with_an_empty_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n[tool.stacktest.cleanup]\nprefix = ' '\n")
    code, text = run(capsys, "cleanup", "--yes")
    assert code == 17 and "empty" in text


def test_diagnose_with_an_unreachable_engine_exits_11(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.stacktest]\n")
    (tmp_path / "docker-compose.yml").write_text("services:\n  a:\n    image: x\n")
    result = run_cli(["diagnose"], tmp_path, env={"DOCKER_HOST": "tcp://127.0.0.1:9"}, timeout=120)
    assert result.returncode == 11  # needs no engine: it runs (never skips) on any machine
    assert "the Docker Engine is unreachable" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_a_swallowed_ctrl_c_still_ends_the_run_as_interrupted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Something on the way (a weakref callback, a library's bare except) swallows the KeyboardInterrupt:
    the run goes on, and still exits 130, saying it was interrupted."""
    import contextlib
    import signal

    from stacktest.commands import lifecycle

    def swallowing_reap(*args: object, **kwargs: object) -> lifecycle.Reaped:
        with contextlib.suppress(KeyboardInterrupt):  # swallowed, as inside a weakref callback
            signal.raise_signal(signal.SIGINT)
        return lifecycle.Reaped([], [], [], [])

    monkeypatch.setattr(lifecycle, "reap", swallowing_reap)
    code = main_here(["reap"])
    assert code == 130
    assert "interrupted by SIGINT" in capsys.readouterr().err


@pytest.mark.parametrize("outcome", ["returns", "keyboard-interrupt"])
def test_after_the_entry_point_decided_a_signal_cannot_turn_the_exit_code_into_a_kill(
    monkeypatch: pytest.MonkeyPatch, outcome: str
) -> None:
    """However the command ended, Ctrl-C from then on is ignored (an uncaught KeyboardInterrupt there
    made Python end itself with SIGINT: exit -2 instead of 130 in CI)."""
    from stacktest.cli import boundary, entry

    def command(argv: list[str] | None = None) -> int:
        if outcome == "keyboard-interrupt":
            raise KeyboardInterrupt
        return 3

    monkeypatch.setattr(boundary, "main", command)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        assert entry.main() == (130 if outcome == "keyboard-interrupt" else 3)
        assert all(signal.getsignal(sig) == signal.SIG_IGN for sig in saved)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
