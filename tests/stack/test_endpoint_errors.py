"""Each error of the authorization server's endpoints, one request each, against clients, codes and tokens
the factories wrote (no registration or authorization flow in front of them)."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import redis

from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.auth]

INTROSPECTOR = {"Authorization": "Bearer stacktest-introspection-secret"}


def authorize_params(client: helpers.Client, **changed: str) -> dict[str, str]:
    _, challenge = helpers.pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": helpers.REDIRECT_URI,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "tools",
    }
    return {k: v for k, v in (params | changed).items() if v != "-"}


def redirected_error(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlparse(response.headers["location"]).query).items()}


def test_authorize_unknown_client_is_400(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client]
) -> None:
    params = authorize_params(seeded()) | {"client_id": "c_unknown"}
    response = auth_client.get("/authorize", params=params)
    assert response.status_code == 400 and response.json()["error"] == "invalid_client"


def test_authorize_unregistered_redirect_is_400_not_a_redirect(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client]
) -> None:
    response = auth_client.get("/authorize", params=authorize_params(seeded(), redirect_uri="http://evil/cb"))
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


@pytest.mark.parametrize(
    ("changed", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": "-"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
    ],
)
def test_authorize_errors_go_back_to_the_client(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client], changed: dict[str, str], error: str
) -> None:
    response = auth_client.get("/authorize", params=authorize_params(seeded(), state="s1", **changed))
    assert redirected_error(response) == {"error": error, "state": "s1"} | (
        {"error_description": "PKCE with S256 is required"} if error == "invalid_request" else {}
    )


def test_authorize_keeps_a_query_of_the_redirect_uri(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client]
) -> None:
    uri = "http://localhost:9999/callback?tenant=7"
    client = seeded(redirect_uris=[uri])
    location = auth_client.get("/authorize", params=authorize_params(client, redirect_uri=uri)).headers[
        "location"
    ]
    assert location.startswith(uri + "&code=")


def test_authorize_uses_the_login_hint_as_subject(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    params = authorize_params(seeded(), login_hint="alice")
    code = redirected_error(auth_client.get("/authorize", params=params))["code"]
    assert '"sub": "alice"' in str(auth_redis.get(f"code:{code}"))


def exchange_form(client: helpers.Client, **changed: str) -> dict[str, str]:
    form = {
        "grant_type": "authorization_code",
        "client_id": client.client_id,
        "client_secret": client.client_secret or "",
        "redirect_uri": helpers.REDIRECT_URI,
    }
    return {k: v for k, v in (form | changed).items() if v != "-"}


@pytest.mark.parametrize(
    ("changed", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"grant_type": "-"}, 400, "unsupported_grant_type"),
        ({"client_id": "c_unknown"}, 401, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_secret": "-"}, 401, "invalid_client"),
        ({"code": "no-such-code"}, 400, "invalid_grant"),
    ],
)
def test_token_request_errors(
    auth_client: httpx.Client,
    seeded: Callable[..., helpers.Client],
    changed: dict[str, str],
    status: int,
    error: str,
) -> None:
    response = auth_client.post("/token", data=exchange_form(seeded(), **changed))
    assert response.status_code == status, response.text
    assert response.json()["error"] == error
    if status == 401:
        assert response.headers["www-authenticate"] == f'Bearer error="{error}"'


def test_a_client_without_the_grant_is_unauthorized(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client]
) -> None:
    client = seeded(grant_types=["authorization_code"])
    form = exchange_form(client, grant_type="refresh_token", refresh_token="x")
    assert auth_client.post("/token", data=form).json()["error"] == "unauthorized_client"


def test_a_code_of_another_client_is_invalid(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    verifier, challenge = helpers.pkce_pair()
    code = helpers.seed_code(auth_redis, seeded("owner"), challenge)
    form = exchange_form(seeded("thief"), code=code, code_verifier=verifier)
    assert auth_client.post("/token", data=form).json()["error"] == "invalid_grant"


def test_a_code_for_another_redirect_uri_is_invalid(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    verifier, challenge = helpers.pkce_pair()
    client = seeded()
    code = helpers.seed_code(auth_redis, client, challenge, "http://localhost:9999/other")
    response = auth_client.post("/token", data=exchange_form(client, code=code, code_verifier=verifier))
    assert response.json()["error_description"] == "redirect_uri does not match the authorization request"


@pytest.mark.parametrize("verifier", ["short", "x" * 129, "has spaces " * 5])
def test_a_malformed_code_verifier_is_an_invalid_request(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client], verifier: str
) -> None:
    _, challenge = helpers.pkce_pair()
    client = seeded()
    code = helpers.seed_code(auth_redis, client, challenge)
    response = auth_client.post("/token", data=exchange_form(client, code=code, code_verifier=verifier))
    assert response.json()["error"] == "invalid_request"


def test_a_seeded_code_exchanges_for_tokens(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    verifier, challenge = helpers.pkce_pair()
    client = seeded(access_token_lifetime=120)
    code = helpers.seed_code(auth_redis, client, challenge)
    body = auth_client.post("/token", data=exchange_form(client, code=code, code_verifier=verifier)).json()
    assert body["expires_in"] == 120 and body["token_type"] == "Bearer" and body["scope"] == "tools"


def test_a_refresh_token_of_another_client_is_invalid(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    refresh = helpers.seed_refresh(auth_redis, seeded("owner").client_id)
    form = exchange_form(seeded("thief"), grant_type="refresh_token", refresh_token=refresh)
    assert auth_client.post("/token", data=form).json()["error"] == "invalid_grant"


def test_a_public_client_needs_no_secret_for_a_refresh(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    client = seeded(token_endpoint_auth_method="none")
    refresh = helpers.seed_refresh(auth_redis, client.client_id)
    form = {"grant_type": "refresh_token", "client_id": client.client_id, "refresh_token": refresh}
    assert auth_client.post("/token", data=form).status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Basic c3RhY2t0ZXN0"])
def test_introspection_needs_the_resource_servers_token(
    auth_client: httpx.Client, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = auth_client.post("/introspect", data={"token": "x"}, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "invalid_token"


def test_introspection_of_a_seeded_token(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    client = seeded()
    token = helpers.seed_token(auth_redis, client.client_id, sub="bob")
    body = auth_client.post("/introspect", data={"token": token}, headers=INTROSPECTOR).json()
    assert body["active"] is True and body["sub"] == "bob" and body["client_id"] == client.client_id


def test_an_expired_token_is_inactive(
    auth_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    token = helpers.seed_token(auth_redis, seeded().client_id)
    auth_redis.hset(f"token:{token}", "exp", 1)
    assert auth_client.post("/introspect", data={"token": token}, headers=INTROSPECTOR).json() == {
        "active": False
    }


def test_revoking_an_unknown_token_is_fine(auth_client: httpx.Client) -> None:
    assert auth_client.post("/revoke", data={"token": "never-issued"}).json() == {}


@pytest.mark.parametrize("bearer", [None, "wrong"])
def test_reading_a_registration_needs_its_token(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client], bearer: str | None
) -> None:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    response = auth_client.get(f"/register/{seeded().client_id}", headers=headers)
    assert response.status_code == 401


def test_reading_a_registration_hides_the_secret(
    auth_client: httpx.Client, seeded: Callable[..., helpers.Client]
) -> None:
    client = seeded()
    headers = {"Authorization": f"Bearer {client.registration_access_token}"}
    body = auth_client.get(f"/register/{client.client_id}", headers=headers).json()
    assert body["client_id"] == client.client_id and "client_secret" not in body


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nowhere"), ("POST", "/authorize"), ("PUT", "/register"), ("DELETE", "/token")],
)
def test_unknown_routes_are_404(auth_client: httpx.Client, method: str, path: str) -> None:
    response = auth_client.request(method, path)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_admin_lists_seeded_clients(auth_client: httpx.Client, seeded: Callable[..., helpers.Client]) -> None:
    client = seeded("listed")
    headers = {"Authorization": f"Bearer {helpers.ADMIN_TOKEN}"}
    ids = {c["client_id"] for c in auth_client.get("/admin/clients", headers=headers).json()["clients"]}
    assert client.client_id in ids


@pytest.mark.parametrize("body", [{"open": "yes"}, [], {"closed": True}])
def test_admin_registration_switch_needs_a_boolean(auth_client: httpx.Client, body: object) -> None:
    headers = {"Authorization": f"Bearer {helpers.ADMIN_TOKEN}"}
    response = auth_client.put("/admin/registration", json=body, headers=headers)
    assert response.status_code == 400 and response.json()["error"] == "invalid_request"


def test_admin_reads_the_registration_switch(auth_client: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {helpers.ADMIN_TOKEN}"}
    assert auth_client.get("/admin/registration", headers=headers).json() == {"open": True}
