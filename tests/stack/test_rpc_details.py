"""The api's JSON-RPC details, a request or two each, with tokens the factories issued: every tool's
argument checks, the session rules, batches, the HTTP surface."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.protocol]


def call(api: httpx.Client, token: str, session: str, tool: str, arguments: Any) -> dict[str, Any]:
    params = {"name": tool} if arguments is None else {"name": tool, "arguments": arguments}
    return dict(helpers.rpc(api, token, "tools/call", params, session=session).json())


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("echo", {}),
        ("echo", {"text": 3}),
        ("add", {"a": 1}),
        ("add", {"a": True, "b": 1}),
        ("add", {"a": [1], "b": 1}),
        ("counter", {}),
        ("counter", {"name": ""}),
        ("counter", {"name": 5}),
        ("echo", ["not", "an", "object"]),
    ],
)
def test_bad_tool_arguments_are_invalid_params(
    api_client: httpx.Client, token: str, session: str, tool: str, arguments: Any
) -> None:
    body = call(api_client, token, session, tool, arguments)
    assert body["error"]["code"] == -32602, body


@pytest.mark.parametrize("params", [{}, {"name": 7}, "echo", None])
def test_tools_call_needs_a_tool_name(
    api_client: httpx.Client, token: str, session: str, params: Any
) -> None:
    body = helpers.rpc(api_client, token, "tools/call", params, session=session).json()
    assert body["error"]["code"] == -32602


def test_echo_without_arguments_is_invalid_params(api_client: httpx.Client, token: str, session: str) -> None:
    assert call(api_client, token, session, "echo", None)["error"]["code"] == -32602


def test_add_adds_negative_and_float_numbers(api_client: httpx.Client, token: str, session: str) -> None:
    body = call(api_client, token, session, "add", {"a": -1.5, "b": 0.5})
    assert body["result"]["content"][0]["text"] == "-1.0"


def test_counters_are_separate_by_name(api_client: httpx.Client, token: str, session: str) -> None:
    first = call(api_client, token, session, "counter", {"name": f"a-{session}"})
    second = call(api_client, token, session, "counter", {"name": f"b-{session}"})
    assert first["result"]["content"][0]["text"] == second["result"]["content"][0]["text"] == "1"


def test_whoami_names_the_tokens_subject_and_client(
    api_client: httpx.Client, auth_redis: redis.Redis, seeded: Callable[..., helpers.Client]
) -> None:
    client = seeded("whoami")
    token = helpers.seed_token(auth_redis, client.client_id, sub="carol")
    reply = helpers.rpc(api_client, token, "initialize", {"protocolVersion": "2025-06-18"})
    session = reply.headers["mcp-session-id"]
    body = call(api_client, token, session, "whoami", {})
    assert json.loads(body["result"]["content"][0]["text"]) == {"sub": "carol", "client_id": client.client_id}


def test_ping_needs_no_session(api_client: httpx.Client, token: str) -> None:
    assert helpers.rpc(api_client, token, "ping").json()["result"] == {}


@pytest.mark.parametrize("params", [None, [], "2025-06-18"])
def test_initialize_needs_an_object_with_a_version(api_client: httpx.Client, token: str, params: Any) -> None:
    assert helpers.rpc(api_client, token, "initialize", params).json()["error"]["code"] == -32602


def test_an_unknown_session_is_refused(api_client: httpx.Client, token: str) -> None:
    body = helpers.rpc(api_client, token, "tools/list", session="0" * 32).json()
    assert body["error"]["code"] == -32600


def test_initialize_in_a_batch_opens_the_session_for_the_rest(api_client: httpx.Client, token: str) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18"}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    response = api_client.post("/rpc", json=batch, headers={"Authorization": f"Bearer {token}"})
    replies = {r["id"]: r for r in response.json()}
    assert len(replies[2]["result"]["tools"]) == 4 and response.headers["mcp-session-id"]


def test_an_empty_batch_is_an_invalid_request(api_client: httpx.Client, token: str) -> None:
    response = api_client.post("/rpc", json=[], headers={"Authorization": f"Bearer {token}"})
    assert response.json()["error"]["code"] == -32600


def test_a_batch_of_notifications_gets_202(api_client: httpx.Client, token: str) -> None:
    batch = [{"jsonrpc": "2.0", "method": "ping"}, {"jsonrpc": "2.0", "method": "nope"}]
    response = api_client.post("/rpc", json=batch, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202 and response.content == b""


@pytest.mark.parametrize("message", [[1], ["x"], [{"jsonrpc": "1.0", "id": 3, "method": "ping"}]])
def test_invalid_batch_entries_get_their_own_error(
    api_client: httpx.Client, token: str, message: Any
) -> None:
    response = api_client.post("/rpc", json=message, headers={"Authorization": f"Bearer {token}"})
    assert response.json()[0]["error"]["code"] == -32600


def test_a_method_that_is_not_a_string_is_an_invalid_request(api_client: httpx.Client, token: str) -> None:
    message = {"jsonrpc": "2.0", "id": 1, "method": 5}
    response = api_client.post("/rpc", json=message, headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 1,
        "error": {"code": -32600, "message": "not a JSON-RPC 2.0 request"},
    }


def test_an_error_in_a_notification_is_not_answered(api_client: httpx.Client, token: str) -> None:
    message = {"jsonrpc": "2.0", "method": "no/such"}
    response = api_client.post("/rpc", json=message, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202


def test_the_mcp_path_serves_the_same_api(api_client: httpx.Client, token: str) -> None:
    message = {"jsonrpc": "2.0", "id": 9, "method": "ping"}
    response = api_client.post("/mcp", json=message, headers={"Authorization": f"Bearer {token}"})
    assert response.json() == {"jsonrpc": "2.0", "id": 9, "result": {}}


@pytest.mark.parametrize(("method", "path"), [("GET", "/rpc"), ("POST", "/nowhere"), ("GET", "/")])
def test_other_paths_are_404(api_client: httpx.Client, method: str, path: str) -> None:
    assert api_client.request(method, path).status_code == 404


@pytest.mark.parametrize("authorization", ["Basic dXNlcjpwYXNz", "Token abc", ""])
def test_a_non_bearer_authorization_is_401(api_client: httpx.Client, authorization: str) -> None:
    response = api_client.post(
        "/rpc", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers={"Authorization": authorization}
    )
    assert response.status_code == 401 and response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_a_revoked_token_is_inactive_at_introspection(
    api_client: httpx.Client,
    auth_client: httpx.Client,
    auth_redis: redis.Redis,
    seeded: Callable[..., helpers.Client],
) -> None:
    token = helpers.seed_token(auth_redis, seeded("revoked").client_id)
    assert helpers.rpc(api_client, token, "ping").status_code == 200
    assert auth_client.post("/revoke", data={"token": token}).status_code == 200
    # the api caches an answer up to 5 s: a revoked token stays usable that long, never longer
    assert auth_client.post(
        "/introspect",
        data={"token": token},
        headers={"Authorization": "Bearer stacktest-introspection-secret"},
    ).json() == {"active": False}
