"""What the live suite does again and again: PKCE, registration, the authorization code flow."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import redis

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


# factories: records written straight into the auth service's Redis, as a test database's factories do, so
# that a test of the api or of one endpoint's errors does not depend on the whole registration and
# authorization flow (compose/services/auth/src/auth_service/store.py documents the keys)
def seed_client(r: redis.Redis, name: str, **extra: Any) -> Client:
    client_id = "c_" + secrets.token_hex(12)
    data: dict[str, Any] = {
        "client_name": name,
        "redirect_uris": [REDIRECT_URI],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_post",
        "access_token_lifetime": 3600,
        "scope": "tools",
        "client_id": client_id,
        "client_id_issued_at": int(time.time()),
        "registration_access_token": secrets.token_urlsafe(32),
        "client_secret": secrets.token_urlsafe(32),
        "client_secret_expires_at": 0,
        **extra,
    }
    if data["token_endpoint_auth_method"] == "none":
        data.pop("client_secret")
    r.set(f"client:{client_id}", json.dumps(data))
    return Client(client_id, data.get("client_secret"), data["registration_access_token"], data)


def seed_code(r: redis.Redis, client: Client, challenge: str, redirect_uri: str = REDIRECT_URI) -> str:
    code = secrets.token_urlsafe(24)
    record = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "scope": "tools",
        "sub": "demo-user",
        "expires": int(time.time()) + 60,
    }
    r.set(f"code:{code}", json.dumps(record), ex=60)
    return code


def seed_token(r: redis.Redis, client_id: str, *, sub: str = "demo-user", lifetime: int = 600) -> str:
    token = secrets.token_urlsafe(32)
    exp = int(time.time()) + lifetime
    r.hset(f"token:{token}", mapping={"client_id": client_id, "sub": sub, "scope": "tools", "exp": exp})
    r.expire(f"token:{token}", lifetime)
    return token


def seed_refresh(r: redis.Redis, client_id: str) -> str:
    token = secrets.token_urlsafe(32)
    r.hset(f"refresh:{token}", mapping={"client_id": client_id, "sub": "demo-user", "scope": "tools"})
    r.expire(f"refresh:{token}", 600)
    return token


def forget(r: redis.Redis, client: Client) -> None:
    """Delete a seeded client and everything issued to it (the factories' cleanup)."""
    doomed = [f"client:{client.client_id}"]
    for pattern in ("token:*", "refresh:*"):
        doomed += [
            k for k in r.scan_iter(match=pattern, count=500) if r.hget(k, "client_id") == client.client_id
        ]
    for pattern in ("code:*", "state:*"):
        for key in r.scan_iter(match=pattern, count=500):
            raw = r.get(key)
            if raw and json.loads(raw).get("client_id") == client.client_id:
                doomed.append(key)
    r.delete(*doomed)
