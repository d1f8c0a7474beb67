"""Fixtures of the live suite: real HTTP clients of the bundled stack, and registrations that clean up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from stacktest.plugin import CleanupTracker
from tests.stack import helpers


@pytest.fixture
def auth_client(service_client: Callable[..., httpx.Client]) -> httpx.Client:
    return service_client("auth", follow_redirects=False)


@pytest.fixture
def api_client(service_client: Callable[..., httpx.Client]) -> httpx.Client:
    return service_client("api")


@pytest.fixture
def registered(
    auth_client: httpx.Client, unique_name: Callable[[str], str], cleanup: CleanupTracker
) -> Callable[..., helpers.Client]:
    """``registered()`` registers a client named by the test name factory and deletes it afterwards."""

    def make(label: str = "client", **extra: Any) -> helpers.Client:
        client = helpers.register(auth_client, unique_name(label), **extra)
        cleanup.add(helpers.delete_registration, auth_client, client)
        return client

    return make


@pytest.fixture
def token(auth_client: httpx.Client, registered: Callable[..., helpers.Client]) -> str:
    return str(helpers.access_token(auth_client, registered())["access_token"])


@pytest.fixture
def session(api_client: httpx.Client, token: str) -> str:
    response = helpers.rpc(
        api_client, token, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}}
    )
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]
