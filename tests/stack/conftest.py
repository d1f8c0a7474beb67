"""Fixtures of the live suite: real HTTP clients of the bundled stack, and registrations that clean up."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from stacktest.plugin import CleanupTracker, StackHandle
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
def auth_redis(stack: StackHandle) -> Iterator[redis.Redis]:
    """The auth service's Redis database, for the factories."""
    host, port = stack.address("redis")
    client = redis.Redis(host=host, port=port, db=0, decode_responses=True, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def seeded(
    auth_redis: redis.Redis, unique_name: Callable[[str], str], cleanup: CleanupTracker
) -> Callable[..., helpers.Client]:
    """``seeded()`` writes a registered client straight into the auth service's Redis (no registration
    request) and deletes it, and everything issued to it, afterwards."""

    def make(label: str = "seeded", **extra: Any) -> helpers.Client:
        client = helpers.seed_client(auth_redis, unique_name(label), **extra)
        cleanup.add(helpers.forget, auth_redis, client)
        return client

    return make


@pytest.fixture
def token(auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]) -> str:
    """An access token the api accepts, issued by the factories rather than the authorization flow (the
    flow has tests of its own): an api test depends on the api and on introspection only."""
    return helpers.seed_token(auth_redis, seeded("api").client_id)


@pytest.fixture
def session(api_client: httpx.Client, token: str) -> str:
    response = helpers.rpc(
        api_client, token, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}}
    )
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]
