"""The OAuth flow against the real auth service: registration, PKCE, token exchange, API access."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.auth]


@pytest.mark.contract
def test_metadata_advertises_pkce_and_registration(auth_client: httpx.Client) -> None:
    response = auth_client.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["registration_endpoint"].endswith("/register")
    assert "authorization_code" in meta["grant_types_supported"]


def test_client_registration_returns_rfc7591_fields(
    registered: Callable[..., helpers.Client], unique_name: Callable[[str], str]
) -> None:
    client = registered()
    assert client.client_id.startswith("c_")
    assert client.client_secret
    assert client.data["client_name"].startswith("TEST ")
    assert client.data["registration_client_uri"].endswith(client.client_id)


def test_registration_can_be_read_with_its_access_token(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    response = auth_client.get(
        f"/register/{client.client_id}",
        headers={"Authorization": f"Bearer {client.registration_access_token}"},
    )
    assert response.status_code == 200
    assert response.json()["client_name"] == client.data["client_name"]
    assert "client_secret" not in response.json()


@pytest.mark.security
def test_registration_read_needs_the_right_token(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    response = auth_client.get(f"/register/{client.client_id}", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401


def test_deleted_registration_is_gone(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    helpers.delete_registration(auth_client, client)
    response = auth_client.get(
        f"/register/{client.client_id}",
        headers={"Authorization": f"Bearer {client.registration_access_token}"},
    )
    assert response.status_code == 401


@pytest.mark.e2e
def test_pkce_flow(
    auth_client: httpx.Client, api_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    """1. register, 2. authorize with PKCE S256, 3. exchange the code, 4. call the API with the token."""
    client = registered()
    verifier, challenge = helpers.pkce_pair()
    params = helpers.authorize(auth_client, client, challenge, state="s-123")
    assert params["state"] == "s-123"
    response = helpers.exchange(auth_client, client, params["code"], verifier)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] > 0
    init = helpers.rpc(api_client, tokens["access_token"], "initialize", {"protocolVersion": "2025-06-18"})
    assert init.status_code == 200
    who = helpers.rpc(
        api_client,
        tokens["access_token"],
        "tools/call",
        {"name": "whoami"},
        session=init.headers["mcp-session-id"],
    )
    assert client.client_id in who.json()["result"]["content"][0]["text"]


@pytest.mark.security
def test_code_is_single_use(auth_client: httpx.Client, registered: Callable[..., helpers.Client]) -> None:
    client = registered()
    verifier, challenge = helpers.pkce_pair()
    code = helpers.authorize(auth_client, client, challenge)["code"]
    assert helpers.exchange(auth_client, client, code, verifier).status_code == 200
    again = helpers.exchange(auth_client, client, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


@pytest.mark.security
def test_wrong_code_verifier_is_refused(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    _, challenge = helpers.pkce_pair()
    other_verifier, _ = helpers.pkce_pair()
    code = helpers.authorize(auth_client, client, challenge)["code"]
    response = helpers.exchange(auth_client, client, code, other_verifier)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant", "error_description": "PKCE verification failed"}


@pytest.mark.security
def test_authorize_without_pkce_redirects_with_error(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    response = auth_client.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": helpers.REDIRECT_URI,
            "state": "x",
        },
    )
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]
    assert "state=x" in response.headers["location"]


@pytest.mark.security
def test_state_replay_is_refused(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    _, challenge = helpers.pkce_pair()
    helpers.authorize(auth_client, client, challenge, state="same-state")
    again = helpers.authorize(auth_client, client, challenge, state="same-state")
    assert again["error"] == "invalid_request"


def test_refresh_token_rotates(auth_client: httpx.Client, registered: Callable[..., helpers.Client]) -> None:
    client = registered()
    tokens = helpers.access_token(auth_client, client)
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": client.client_id,
        "client_secret": client.client_secret,
    }
    first = auth_client.post("/token", data=form)
    assert first.status_code == 200
    assert first.json()["access_token"] != tokens["access_token"]
    reused = auth_client.post("/token", data=form)
    assert reused.status_code == 400


@pytest.mark.security
def test_wrong_client_secret_is_refused(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered()
    verifier, challenge = helpers.pkce_pair()
    code = helpers.authorize(auth_client, client, challenge)["code"]
    client.client_secret = "not-the-secret"
    response = helpers.exchange(auth_client, client, code, verifier)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_public_client_uses_pkce_without_secret(
    auth_client: httpx.Client, registered: Callable[..., helpers.Client]
) -> None:
    client = registered("public", token_endpoint_auth_method="none")
    assert client.client_secret is None
    assert helpers.access_token(auth_client, client)["access_token"]
