"""Secrets and local traffic: a token with a line ending is refused without being shown, request errors
never carry the token into a message, and no client that talks to the stack goes through a proxy."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from stacktest.cleanup.web import HttpBackend
from stacktest.errors import CleanupError
from stacktest.settings import CleanupBackend, Probe
from stacktest.stack.rules import probe_once

TOKEN = "s3cret-admin-token"
CONFIG = CleanupBackend(
    name="api",
    kind="http",
    service="auth",
    port=8000,
    list_path="/admin/clients",
    list_auth_env="ADMIN_TOKEN",
    delete_path="/register/{client_id}",
    delete_token_field="registration_access_token",
)


class Recorder(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[tuple[str, str, str]] = []  # method, path, authorization
        self.records: list[dict[str, object]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Recorder

    def _answer(self, body: object) -> None:
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer({"clients": self.server.records} if self.path.endswith("/admin/clients") else {"ok": 1})

    def do_DELETE(self) -> None:
        self._answer({})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def servers() -> Iterator[tuple[Recorder, Recorder]]:
    """(the service, a 'proxy' that must never see a request)."""
    made = [Recorder(), Recorder()]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in made]
    for t in threads:
        t.start()
    yield made[0], made[1]
    for s in made:
        s.shutdown()
        s.server_close()


def test_a_token_with_a_line_ending_is_refused_and_never_shown(
    servers: tuple[Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, _ = servers
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN + "\r")  # a token file saved with CRLF
    with pytest.raises(CleanupError) as info:
        HttpBackend(CONFIG, service.url).find("TEST ")
    assert "line ending" in str(info.value)
    assert TOKEN not in str(info.value) + str(info.value.hint)
    assert service.seen == []


def test_a_failed_request_does_not_show_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    with pytest.raises(CleanupError) as info:
        HttpBackend(CONFIG, "http://127.0.0.1:9").find("TEST ")  # nothing listens there
    assert "ConnectError" in str(info.value) and TOKEN not in str(info.value)


def test_cleanup_and_probes_never_go_through_a_proxy(
    servers: tuple[Recorder, Recorder], monkeypatch: pytest.MonkeyPatch
) -> None:
    service, proxy = servers
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("ADMIN_TOKEN", TOKEN)
    service.records = [
        {"client_name": "TEST a", "client_id": "../../admin/clients", "registration_access_token": "t1"},
        {"client_name": "TEST b", "client_id": "x?force=1", "registration_access_token": "t2"},
        {"client_name": "TEST c", "client_id": None},
        {"client_name": "Production", "client_id": "p1"},
    ]
    backend = HttpBackend(CONFIG, service.url)
    found = backend.find("TEST ")
    assert backend.delete(found) == 2
    assert probe_once(Probe("http", 8000, path="/health"), "127.0.0.1", service.server_address[1])[0]
    assert proxy.seen == []
    deletes = [path for method, path, _ in service.seen if method == "DELETE"]
    assert deletes == ["/register/..%2F..%2Fadmin%2Fclients", "/register/x%3Fforce%3D1"]  # one segment each
    assert backend.skipped == ["TEST c"]  # no id: never "None"
