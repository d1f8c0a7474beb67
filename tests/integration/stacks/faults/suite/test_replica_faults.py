"""Failure injection on one replica: run by test_readiness_faults.py with `stacktest test`."""

import pytest

from stacktest.errors import UsageError


def test_stopping_one_replica_leaves_the_other(stack):
    stack.stop("pair", replica=2, timeout=0)
    assert stack.exec("pair", ["echo", "first"], replica=1).output.strip() == "first"
    with pytest.raises(UsageError, match="pair-2: the container is exited, not running"):
        stack.exec("pair", ["true"], replica=2)
    with pytest.raises(UsageError, match="pair has no replica 3"):
        stack.kill("pair", replica=3)


@pytest.mark.serial
def test_the_stopped_replica_was_started_again(stack):
    assert stack.exec("pair", ["echo", "second"], replica=2).output.strip() == "second"


def test_kill_with_a_signal_and_exec_exit_codes(stack):
    stack.kill("pair", signal="SIGTERM")  # every replica; `init: true` ends on SIGTERM
    with pytest.raises(UsageError, match="not running"):  # stacktest starts nothing mid-test
        stack.exec("pair", ["true"], replica=1)
    result = stack.exec("ok", ["sh", "-c", "echo out; echo err >&2; exit 3"])
    assert result.exit_code == 3 and "out" in result.output and "err" in result.output


@pytest.mark.serial
def test_every_killed_replica_was_started_again(stack):
    for replica in (1, 2):
        assert stack.exec("pair", ["true"], replica=replica).exit_code == 0
