"""What the live suite does again and again: PKCE, registration, the authorization code flow."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

REDIRECT_URI = "http://localhost:9999/callback"
ADMIN_TOKEN = "stacktest-admin-secret"  # the bundled stack's development default, not a real secret


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@dataclass
class Client:
    client_id: str
    client_secret: str | None
    registration_access_token: str
    data: dict[str, Any]


def register(auth: httpx.Client, name: str, **extra: Any) -> Client:
    response = auth.post("/register", json={"client_name": name, "redirect_uris": [REDIRECT_URI], **extra})
    assert response.status_code == 201, response.text
    body = response.json()
    return Client(body["client_id"], body.get("client_secret"), body["registration_access_token"], body)


def delete_registration(auth: httpx.Client, client: Client) -> None:
    response = auth.delete(
        f"/register/{client.client_id}",
        headers={"Authorization": f"Bearer {client.registration_access_token}"},
    )
    assert response.status_code in (204, 401), response.text  # 401: the test already deleted it


def authorize(auth: httpx.Client, client: Client, challenge: str, state: str | None = None) -> dict[str, str]:
    """Ask for a code; returns the query parameters of the redirect."""
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": state or secrets.token_hex(8),
        "scope": "tools",
    }
    response = auth.get("/authorize", params=params)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def exchange(auth: httpx.Client, client: Client, code: str, verifier: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client.client_id,
        "code_verifier": verifier,
    }
    if client.client_secret:
        form["client_secret"] = client.client_secret
    return auth.post("/token", data=form)


def access_token(auth: httpx.Client, client: Client) -> dict[str, Any]:
    """The whole authorization code flow with PKCE; returns the token response."""
    verifier, challenge = pkce_pair()
    params = authorize(auth, client, challenge)
    response = exchange(auth, client, params["code"], verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


def rpc(
    api: httpx.Client,
    token: str,
    method: str,
    params: Any = None,
    *,
    id_: int = 1,
    session: str | None = None,
) -> httpx.Response:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        message["params"] = params
    headers = {"Authorization": f"Bearer {token}"}
    if session:
        headers["Mcp-Session-Id"] = session
    return api.post("/rpc", json=message, headers=headers)
