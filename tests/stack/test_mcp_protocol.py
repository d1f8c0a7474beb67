"""The JSON-RPC protocol of the api service, over real HTTP with real tokens."""

from __future__ import annotations

import httpx
import pytest

from tests.stack import helpers

pytestmark = [pytest.mark.integration, pytest.mark.protocol]


class TestHandshake:
    def test_initialize_returns_capabilities_and_session(self, api_client: httpx.Client, token: str) -> None:
        response = helpers.rpc(api_client, token, "initialize", {"protocolVersion": "2025-06-18"})
        assert response.status_code == 200
        body = response.json()
        assert body["jsonrpc"] == "2.0" and body["id"] == 1
        assert body["result"]["capabilities"]["tools"] == {"listChanged": False}
        assert len(response.headers["mcp-session-id"]) == 32

    def test_initialize_without_version_is_invalid_params(self, api_client: httpx.Client, token: str) -> None:
        body = helpers.rpc(api_client, token, "initialize", {}).json()
        assert body["error"]["code"] == -32602

    def test_calls_before_initialize_are_refused(self, api_client: httpx.Client, token: str) -> None:
        body = helpers.rpc(api_client, token, "tools/list").json()
        assert body["error"]["code"] == -32600


class TestTools:
    def test_tools_list_names_every_tool(self, api_client: httpx.Client, token: str, session: str) -> None:
        body = helpers.rpc(api_client, token, "tools/list", session=session).json()
        assert {t["name"] for t in body["result"]["tools"]} == {"echo", "add", "counter", "whoami"}

    @pytest.mark.parametrize(
        ("tool", "args", "expected"),
        [
            ("echo", {"text": "hello"}, "hello"),
            ("add", {"a": 2, "b": 40}, "42"),
            ("add", {"a": 0.5, "b": 0.25}, "0.75"),
        ],
    )
    def test_tools_call(
        self,
        api_client: httpx.Client,
        token: str,
        session: str,
        tool: str,
        args: dict[str, object],
        expected: str,
    ) -> None:
        body = helpers.rpc(
            api_client, token, "tools/call", {"name": tool, "arguments": args}, session=session
        ).json()
        assert body["result"]["content"] == [{"type": "text", "text": expected}]

    def test_counter_counts_in_redis(self, api_client: httpx.Client, token: str, session: str) -> None:
        name = f"c-{session}"
        values = [
            helpers.rpc(
                api_client,
                token,
                "tools/call",
                {"name": "counter", "arguments": {"name": name}},
                session=session,
            ).json()["result"]["content"][0]["text"]
            for _ in range(3)
        ]
        assert values == ["1", "2", "3"]


class TestErrors:
    def test_unknown_method(self, api_client: httpx.Client, token: str, session: str) -> None:
        body = helpers.rpc(api_client, token, "no/such", session=session).json()
        assert body["error"]["code"] == -32601

    def test_unknown_tool_is_invalid_params(self, api_client: httpx.Client, token: str, session: str) -> None:
        body = helpers.rpc(api_client, token, "tools/call", {"name": "nope"}, session=session).json()
        assert body["error"]["code"] == -32602

    def test_bad_arguments_are_invalid_params(
        self, api_client: httpx.Client, token: str, session: str
    ) -> None:
        body = helpers.rpc(
            api_client, token, "tools/call", {"name": "add", "arguments": {"a": "1", "b": 2}}, session=session
        ).json()
        assert body["error"]["code"] == -32602

    def test_parse_error(self, api_client: httpx.Client, token: str) -> None:
        response = api_client.post("/rpc", content=b"{not json", headers={"Authorization": f"Bearer {token}"})
        assert response.json()["error"]["code"] == -32700

    def test_not_jsonrpc_is_invalid_request(self, api_client: httpx.Client, token: str) -> None:
        response = api_client.post(
            "/rpc", json={"method": "ping"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.json()["error"]["code"] == -32600


class TestBatches:
    def test_batch_answers_each_request_and_skips_notifications(
        self, api_client: httpx.Client, token: str
    ) -> None:
        batch = [
            {"jsonrpc": "2.0", "id": 1, "method": "ping"},
            {"jsonrpc": "2.0", "method": "ping"},
            {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        ]
        response = api_client.post("/rpc", json=batch, headers={"Authorization": f"Bearer {token}"})
        replies = {r["id"]: r for r in response.json()}
        assert set(replies) == {1, 2}
        assert replies[1]["result"] == {}
        assert replies[2]["error"]["code"] == -32601

    def test_notification_alone_gets_202(self, api_client: httpx.Client, token: str) -> None:
        response = api_client.post(
            "/rpc", json={"jsonrpc": "2.0", "method": "ping"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 202
        assert response.content == b""


async def test_async_client_talks_to_the_api(async_service_client: object, token: str) -> None:
    async with async_service_client("api") as client:  # type: ignore[operator]
        response = await client.post(
            "/rpc",
            json={"jsonrpc": "2.0", "id": 7, "method": "ping"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.json() == {"jsonrpc": "2.0", "id": 7, "result": {}}
