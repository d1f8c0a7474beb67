"""Error handling with real requests: 401s from the api, 400s from registration."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.security]


def test_missing_token_gets_401_with_challenge(api_client: httpx.Client) -> None:
    response = api_client.post("/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_invalid_token_gets_401_invalid_token(api_client: httpx.Client) -> None:
    response = helpers.rpc(api_client, "not-a-real-token", "ping")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.slow
def test_expired_token_gets_401(
    auth_client: httpx.Client, api_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered("short-lived", access_token_lifetime=1)
    tokens = helpers.access_token(auth_client, client)
    assert helpers.rpc(api_client, tokens["access_token"], "ping").status_code == 200
    deadline = time.monotonic() + 10
    status = 200
    while time.monotonic() < deadline:
        status = helpers.rpc(api_client, tokens["access_token"], "ping").status_code
        if status == 401:
            break
        time.sleep(0.2)
    assert status == 401


def test_revoked_token_is_refused_at_introspection(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    tokens = helpers.access_token(auth_client, registered())
    assert auth_client.post("/revoke", data={"token": tokens["access_token"]}).status_code == 200
    response = auth_client.post(
        "/introspect",
        data={"token": tokens["access_token"]},
        headers={"Authorization": "Bearer stacktest-introspection-secret"},
    )
    assert response.json() == {"active": False}


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "invalid_client_metadata"),
        ({"client_name": "   ", "redirect_uris": [helpers.REDIRECT_URI]}, "invalid_client_metadata"),
        ({"client_name": "TEST x" * 50, "redirect_uris": [helpers.REDIRECT_URI]}, "invalid_client_metadata"),
        ({"client_name": "TEST x", "redirect_uris": []}, "invalid_redirect_uri"),
        ({"client_name": "TEST x", "redirect_uris": ["ftp://example/cb"]}, "invalid_redirect_uri"),
        ({"client_name": "TEST x", "redirect_uris": ["http://x/cb#frag"]}, "invalid_redirect_uri"),
        (
            {"client_name": "TEST x", "redirect_uris": [helpers.REDIRECT_URI], "grant_types": ["password"]},
            "invalid_client_metadata",
        ),
        (
            {"client_name": "TEST x", "redirect_uris": [helpers.REDIRECT_URI], "access_token_lifetime": 0},
            "invalid_client_metadata",
        ),
    ],
)
def test_invalid_registration_gets_400(
    auth_client: httpx.Client, body: dict[str, object], error: str
) -> None:
    response = auth_client.post("/register", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == error


def test_registration_body_must_be_json(auth_client: httpx.Client) -> None:
    response = auth_client.post("/register", content=b"nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.health
def test_health_endpoints(auth_client: httpx.Client, api_client: httpx.Client) -> None:
    assert auth_client.get("/health").json() == {"status": "ok", "redis": True}
    assert api_client.get("/health").json() == {"status": "ok"}
