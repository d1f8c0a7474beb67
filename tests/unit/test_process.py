"""The one way stacktest runs a subprocess: argv, a timeout, a typed error with argv, code and stderr."""

from __future__ import annotations

import sys
import time

import pytest

from stacktest.adapters import process as _process
from stacktest.errors import CommandFailed, ComposeError

pytestmark = pytest.mark.unit


def test_output_is_captured() -> None:
    result = _process.run(
        [sys.executable, "-c", "print('out'); import sys; print('err', file=sys.stderr)"], timeout=30
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "out\n", "err\n")


def test_a_failure_carries_argv_exit_code_and_the_stderr_tail() -> None:
    script = "import sys\nfor i in range(40): print(f'line {i}', file=sys.stderr)\nsys.exit(3)"
    with pytest.raises(ComposeError) as info:
        _process.run([sys.executable, "-c", script], timeout=30, error=ComposeError, what="compose up")
    exc = info.value
    assert exc.return_code == 3 and exc.argv[0] == sys.executable
    assert "compose up failed with exit code 3" in str(exc)
    assert exc.stderr_tail.splitlines() == [f"line {i}" for i in range(25, 40)]  # the last 15 lines


def test_a_timeout_stops_the_child_and_says_so() -> None:
    started = time.monotonic()
    with pytest.raises(CommandFailed) as info:
        _process.run([sys.executable, "-c", "import time; time.sleep(60)"], timeout=0.5)
    assert time.monotonic() - started < 10
    assert info.value.return_code is None and "did not finish within 0.5 s" in str(info.value)


def test_no_shell_is_involved() -> None:
    result = _process.run(["echo", "$HOME;", "rm -rf /"], timeout=30)
    assert result.stdout == "$HOME; rm -rf /\n"
