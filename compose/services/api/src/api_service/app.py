"""A JSON-RPC 2.0 API over HTTP that demands a bearer token and checks it with the auth service.

Methods: ``initialize`` (opens a session, returned in the ``Mcp-Session-Id`` header), ``ping``,
``tools/list`` and ``tools/call`` with the tools ``echo``, ``add``, ``counter`` (a named counter kept in
Redis) and ``whoami``. Batches and notifications are supported as JSON-RPC 2.0 defines them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import redis

log = logging.getLogger("api")

AUTH_URL = os.environ.get("AUTH_URL", "http://auth:8000")
INTROSPECTION_TOKEN = os.environ.get("AUTH_INTROSPECTION_TOKEN", "")
PROTOCOL_VERSION = "2025-06-18"
CACHE_SECONDS = 5.0

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602

TOOLS = [
    {
        "name": "echo",
        "description": "Return the text it is given.",
        "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
    },
    {
        "name": "add",
        "description": "Add two numbers.",
        "inputSchema": {
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
        },
    },
    {
        "name": "counter",
        "description": "Increment a named counter shared by every client and return its new value.",
        "inputSchema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
    {"name": "whoami", "description": "Who the bearer token belongs to.", "inputSchema": {"type": "object"}},
]


class RpcError(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class TokenChecker:
    """Introspects bearer tokens at the auth service, caching answers briefly (never past ``exp``)."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def check(self, token: str) -> dict[str, Any] | None:
        now = time.time()
        with self._lock:
            hit = self._cache.get(token)
        if hit and hit[0] > now:
            return hit[1]
        request = urllib.request.Request(  # noqa: S310 - AUTH_URL is the stack's own http URL
            f"{AUTH_URL}/introspect",
            data=urlencode({"token": token}).encode(),
            headers={
                "Authorization": f"Bearer {INTROSPECTION_TOKEN}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - fixed http URL
            info = json.loads(response.read())
        if not info.get("active"):
            return None
        with self._lock:
            self._cache[token] = (min(now + CACHE_SECONDS, float(info["exp"])), info)
        return dict(info)


class Api:
    def __init__(self, store: redis.Redis) -> None:
        self.store = store
        self.sessions: set[str] = set()

    def call(
        self, method: str, params: Any, who: dict[str, Any], session: str | None
    ) -> tuple[Any, str | None]:
        """Returns (result, new session id or None)."""
        if method == "initialize":
            if not isinstance(params, dict) or "protocolVersion" not in params:
                raise RpcError(INVALID_PARAMS, "initialize needs protocolVersion")
            sid = secrets.token_hex(16)
            self.sessions.add(sid)
            return {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "stacktest-example-api", "version": "1.0.0"},
            }, sid
        if method == "ping":
            return {}, None
        if method not in ("tools/list", "tools/call"):
            raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
        if session is None or session not in self.sessions:
            raise RpcError(INVALID_REQUEST, "call initialize first and send its Mcp-Session-Id header")
        if method == "tools/list":
            return {"tools": TOOLS}, None
        # tools/call
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            raise RpcError(INVALID_PARAMS, "tools/call needs a tool name")
        args = params.get("arguments") or {}
        if not isinstance(args, dict):
            raise RpcError(INVALID_PARAMS, "arguments must be an object")
        return self.tool(params["name"], args, who), None

    def tool(self, name: str, args: dict[str, Any], who: dict[str, Any]) -> dict[str, Any]:
        if name == "echo":
            if not isinstance(args.get("text"), str):
                raise RpcError(INVALID_PARAMS, "echo needs text (a string)")
            return _text(args["text"])
        if name == "add":
            a, b = args.get("a"), args.get("b")
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (a, b)):
                raise RpcError(INVALID_PARAMS, "add needs numbers a and b")
            return _text(str(a + b))  # type: ignore[operator]
        if name == "counter":
            counter = args.get("name")
            if not isinstance(counter, str) or not counter:
                raise RpcError(INVALID_PARAMS, "counter needs a name")
            return _text(str(self.store.incr(f"api:counter:{counter}")))
        if name == "whoami":
            return _text(json.dumps({"sub": who.get("sub"), "client_id": who.get("client_id")}))
        raise RpcError(INVALID_PARAMS, f"unknown tool: {name}")


def _text(text: str) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": False}


def _error(id_: Any, exc: RpcError) -> dict[str, Any]:
    err: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.data is not None:
        err["data"] = exc.data
    return {"jsonrpc": "2.0", "id": id_, "error": err}


class Handler(BaseHTTPRequestHandler):
    server_version = "stacktest-api/1.0"
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms for each reply
    disable_nagle_algorithm = True
    api: Api
    tokens: TokenChecker

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._send(200, {"status": "ok"})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path not in ("/rpc", "/mcp"):
            self._send(404, {"error": "not found"})
            return
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            self._drain()
            self._send(401, {"error": "unauthorized"}, {"WWW-Authenticate": 'Bearer realm="api"'})
            return
        try:
            who = self.tokens.check(auth[7:].strip())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.error("token introspection failed: %s", exc)
            self._drain()
            self._send(503, {"error": "auth service unavailable"})
            return
        if who is None:
            self._drain()
            self._send(
                401,
                {"error": "invalid_token"},
                {
                    "WWW-Authenticate": 'Bearer realm="api", error="invalid_token", '
                    'error_description="the access token is invalid or expired"'
                },
            )
            return
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        session = self.headers.get("Mcp-Session-Id")
        try:
            message = json.loads(raw)
        except ValueError:
            self._send(200, _error(None, RpcError(PARSE_ERROR, "parse error")))
            return
        new_session: list[str] = []
        if isinstance(message, list):
            if not message:
                self._send(200, _error(None, RpcError(INVALID_REQUEST, "empty batch")))
                return
            replies = [r for r in (self._one(m, who, session, new_session) for m in message) if r is not None]
            body: Any = replies or None
        else:
            body = self._one(message, who, session, new_session)
        headers = {"Mcp-Session-Id": new_session[0]} if new_session else None
        if body is None:
            self._send(202, None, headers)
        else:
            self._send(200, body, headers)

    def _drain(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)

    def _one(self, msg: Any, who: dict[str, Any], session: str | None, new_session: list[str]) -> Any:
        if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or not isinstance(msg.get("method"), str):
            return _error(
                msg.get("id") if isinstance(msg, dict) else None,
                RpcError(INVALID_REQUEST, "not a JSON-RPC 2.0 request"),
            )
        is_notification = "id" not in msg
        try:
            result, sid = self.api.call(
                msg["method"], msg.get("params"), who, session or (new_session or [None])[0]
            )
        except RpcError as exc:
            return None if is_notification else _error(msg["id"], exc)
        except redis.RedisError as exc:
            log.error("redis: %s", exc)
            return None if is_notification else _error(msg["id"], RpcError(-32000, "storage unavailable"))
        if sid:
            new_session.append(sid)
        return None if is_notification else {"jsonrpc": "2.0", "id": msg["id"], "result": result}


def serve(host: str = "0.0.0.0", port: int = 8000) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://redis:6379/0"), socket_timeout=5)
    Handler.api = Api(store)
    Handler.tokens = TokenChecker()
    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True

    def graceful(signum: int, frame: Any) -> None:
        # The application's own handler: stop accepting, finish, exit. It must keep working under the spy.
        log.info("received signal %d, shutting down", signum)
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, graceful)
    log.info("api listening on %s:%d", host, port)
    httpd.serve_forever()
    httpd.server_close()
    log.info("api stopped")
