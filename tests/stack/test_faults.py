"""Failure injection on the live stack: services stopped, restarted and paused under the tests' feet.

These tests act on the stack through the ``stack`` fixture, so stacktest runs them serially (never beside
another test) and brings the stack back to ready after each one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from stacktest.plugin import StackHandle
from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_api_answers_503_while_auth_is_stopped_and_recovers_after(
    stack: StackHandle,
    auth_client: httpx.Client,
    api_client: httpx.Client,
    registered: Callable[..., helpers.Client],
) -> None:
    # a token the api has never seen, so it must ask auth (it caches answers it got)
    token = helpers.access_token(auth_client, registered())["access_token"]
    stack.stop("auth", timeout=1)  # auth ignores SIGTERM as PID 1 (on purpose): killed after 1 s

    started = time.monotonic()
    response = helpers.rpc(api_client, token, "ping")
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "auth service unavailable"}
    assert time.monotonic() - started < 5, "the api hung instead of answering 503 at once"

    stack.start("auth")
    stack.wait()
    response = helpers.rpc(api_client, token, "ping")
    assert response.status_code == 200, response.text
    # auth came back on another published port; the test's client followed it
    assert auth_client.get("/health").status_code == 200


def test_auth_reconnects_after_redis_restarts(
    stack: StackHandle, auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    stack.restart("redis", timeout=2)
    stack.wait()
    health = auth_client.get("/health")
    assert health.status_code == 200, health.text
    assert health.json()["redis"] is True
    client = registered("after-restart")  # written to the restarted Redis through a new connection
    assert helpers.access_token(auth_client, client)["token_type"].lower() == "bearer"


def test_exec_runs_a_command_in_a_service(stack: StackHandle) -> None:
    result = stack.exec("redis", ["redis-cli", "ping"])
    assert result.exit_code == 0
    assert result.output.strip() == "PONG"
    failed = stack.exec("redis", ["redis-cli", "no-such-command"])
    assert "unknown command" in failed.output.lower()


def test_a_paused_service_is_left_running_for_the_next_test(
    stack: StackHandle, auth_client: httpx.Client
) -> None:
    stack.pause("auth")
    with pytest.raises(httpx.TimeoutException):
        auth_client.get("/health", timeout=0.5)
    # not unpaused here: stacktest unpauses it after the test and waits until it is ready


@pytest.mark.serial
def test_the_stack_is_ready_after_a_test_that_left_it_disturbed(auth_client: httpx.Client) -> None:
    """Runs right after the test above (serial, same file, in order): auth answers again."""
    assert auth_client.get("/health").status_code == 200
