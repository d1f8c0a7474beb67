"""An OAuth 2.1-style authorization server on the standard library's HTTP server.

Dynamic client registration (RFC 7591) with read and delete (RFC 7592), the authorization code grant
with PKCE S256 (no user interaction: the demo resource owner approves every request), token exchange and
refresh, introspection (RFC 7662), revocation (RFC 7009) and server metadata (RFC 8414).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from auth_service.store import CODE_TTL, Store

log = logging.getLogger("auth")

ISSUER = os.environ.get("AUTH_ISSUER", "http://auth:8000")
DEFAULT_LIFETIME = int(os.environ.get("AUTH_TOKEN_LIFETIME", "3600"))
ADMIN_TOKEN = os.environ.get("AUTH_ADMIN_TOKEN", "")
INTROSPECTION_TOKEN = os.environ.get("AUTH_INTROSPECTION_TOKEN", "")
MAX_NAME = 200
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
GRANTS = {"authorization_code", "refresh_token"}


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def validate_metadata(body: Any) -> dict[str, Any]:
    """RFC 7591 client metadata, checked; returns the accepted fields."""
    if not isinstance(body, dict):
        raise OAuthError(400, "invalid_client_metadata", "the body must be a JSON object")
    name = body.get("client_name")
    if not isinstance(name, str) or not name.strip():
        raise OAuthError(400, "invalid_client_metadata", "client_name is required")
    if len(name) > MAX_NAME:
        raise OAuthError(400, "invalid_client_metadata", f"client_name is longer than {MAX_NAME} characters")
    uris = body.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        raise OAuthError(400, "invalid_redirect_uri", "redirect_uris must be a non-empty list")
    for uri in uris:
        parsed = urlparse(uri) if isinstance(uri, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.fragment:
            raise OAuthError(
                400, "invalid_redirect_uri", f"not an absolute http(s) URI without fragment: {uri!r}"
            )
    grants = body.get("grant_types", ["authorization_code", "refresh_token"])
    if not isinstance(grants, list) or not set(grants) <= GRANTS:
        raise OAuthError(400, "invalid_client_metadata", f"grant_types must be a subset of {sorted(GRANTS)}")
    method = body.get("token_endpoint_auth_method", "client_secret_post")
    if method not in ("none", "client_secret_post"):
        raise OAuthError(
            400, "invalid_client_metadata", "token_endpoint_auth_method must be none or client_secret_post"
        )
    lifetime = body.get("access_token_lifetime", DEFAULT_LIFETIME)
    if not isinstance(lifetime, int) or isinstance(lifetime, bool) or not 1 <= lifetime <= 86400:
        raise OAuthError(400, "invalid_client_metadata", "access_token_lifetime must be 1 to 86400 seconds")
    scope = body.get("scope", "tools")
    if not isinstance(scope, str):
        raise OAuthError(400, "invalid_client_metadata", "scope must be a string")
    return {
        "client_name": name,
        "redirect_uris": uris,
        "grant_types": grants,
        "response_types": ["code"],
        "token_endpoint_auth_method": method,
        "access_token_lifetime": lifetime,
        "scope": scope,
    }


class AuthServer:
    """The endpoints, independent of the HTTP plumbing."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/authorize",
            "token_endpoint": f"{ISSUER}/token",
            "registration_endpoint": f"{ISSUER}/register",
            "introspection_endpoint": f"{ISSUER}/introspect",
            "revocation_endpoint": f"{ISSUER}/revoke",
            "response_types_supported": ["code"],
            "grant_types_supported": sorted(GRANTS),
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none", "client_secret_post"],
        }

    def register(self, body: Any) -> dict[str, Any]:
        if not self.store.registration_open():
            raise OAuthError(403, "access_denied", "client registration is closed")
        meta = validate_metadata(body)
        client_id = "c_" + secrets.token_hex(12)
        client = {
            **meta,
            "client_id": client_id,
            "client_id_issued_at": int(time.time()),
            "registration_access_token": secrets.token_urlsafe(32),
            "registration_client_uri": f"{ISSUER}/register/{client_id}",
        }
        if meta["token_endpoint_auth_method"] == "client_secret_post":
            client["client_secret"] = secrets.token_urlsafe(32)
            client["client_secret_expires_at"] = 0
        self.store.save_client(client)
        return client

    def registered_client(self, client_id: str, bearer: str | None) -> dict[str, Any]:
        client = self.store.get_client(client_id)
        if (
            client is None
            or not bearer
            or not hmac.compare_digest(bearer, client["registration_access_token"])
        ):
            # RFC 7592: an unknown client and a wrong token look the same
            raise OAuthError(401, "invalid_token", "unknown client or wrong registration access token")
        return client

    def authorize(self, q: dict[str, str]) -> str:
        """Returns the redirect location (code or error), or raises for errors that must not redirect."""
        client = self.store.get_client(q.get("client_id", ""))
        if client is None:
            raise OAuthError(400, "invalid_client", "unknown client_id")
        redirect_uri = q.get("redirect_uri", "")
        if redirect_uri not in client["redirect_uris"]:
            raise OAuthError(400, "invalid_request", "redirect_uri is not registered for this client")
        state = q.get("state", "")

        def back(params: dict[str, str]) -> str:
            if state:
                params["state"] = state
            sep = "&" if urlparse(redirect_uri).query else "?"
            return redirect_uri + sep + urlencode(params)

        if q.get("response_type") != "code":
            return back({"error": "unsupported_response_type"})
        challenge = q.get("code_challenge", "")
        if not challenge or q.get("code_challenge_method") != "S256":
            return back({"error": "invalid_request", "error_description": "PKCE with S256 is required"})
        if state and not self.store.remember_state(client["client_id"], state):
            return back({"error": "invalid_request", "error_description": "state was already used"})
        code = secrets.token_urlsafe(24)
        self.store.save_code(
            code,
            {
                "client_id": client["client_id"],
                "redirect_uri": redirect_uri,
                "code_challenge": challenge,
                "scope": q.get("scope") or client["scope"],
                "sub": q.get("login_hint") or "demo-user",
                "expires": int(time.time()) + CODE_TTL,
            },
        )
        return back({"code": code})

    def _client_for_token(self, form: dict[str, str]) -> dict[str, Any]:
        client = self.store.get_client(form.get("client_id", ""))
        if client is None:
            raise OAuthError(401, "invalid_client", "unknown client")
        if client["token_endpoint_auth_method"] == "client_secret_post":
            secret = form.get("client_secret", "")
            if not secret or not hmac.compare_digest(secret, client["client_secret"]):
                raise OAuthError(401, "invalid_client", "client authentication failed")
        return client

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        grant = form.get("grant_type")
        if grant not in GRANTS:
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
        client = self._client_for_token(form)
        if grant not in client["grant_types"]:
            raise OAuthError(400, "unauthorized_client", f"this client may not use {grant}")
        if grant == "authorization_code":
            code = self.store.take_code(form.get("code", ""))
            if code is None or code["client_id"] != client["client_id"]:
                raise OAuthError(400, "invalid_grant", "the code is unknown, used or expired")
            if form.get("redirect_uri") != code["redirect_uri"]:
                raise OAuthError(
                    400, "invalid_grant", "redirect_uri does not match the authorization request"
                )
            verifier = form.get("code_verifier", "")
            if not VERIFIER_RE.match(verifier):
                raise OAuthError(
                    400, "invalid_request", "code_verifier must be 43 to 128 unreserved characters"
                )
            if not hmac.compare_digest(pkce_s256(verifier), code["code_challenge"]):
                raise OAuthError(400, "invalid_grant", "PKCE verification failed")
            sub, scope = code["sub"], code["scope"]
        else:
            data = self.store.take_refresh(form.get("refresh_token", ""))
            if data is None or data["client_id"] != client["client_id"]:
                raise OAuthError(400, "invalid_grant", "the refresh token is unknown or used")
            sub, scope = data["sub"], data["scope"]
        return self.store.issue_tokens(client["client_id"], sub, scope, client["access_token_lifetime"])

    def introspect(self, token: str) -> dict[str, Any]:
        data = self.store.get_token(token)
        if data is None:
            return {"active": False}
        return {
            "active": True,
            "client_id": data["client_id"],
            "sub": data["sub"],
            "scope": data["scope"],
            "exp": int(data["exp"]),
            "token_type": "Bearer",
        }


class Handler(BaseHTTPRequestHandler):
    server_version = "stacktest-auth/1.0"
    protocol_version = "HTTP/1.1"
    # headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms for each reply
    disable_nagle_algorithm = True
    app: AuthServer

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), format % args)

    # plumbing -----------------------------------------------------------------------------------------
    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: OAuthError) -> None:
        headers = {"WWW-Authenticate": f'Bearer error="{exc.error}"'} if exc.status == 401 else None
        self._send(exc.status, {"error": exc.error, "error_description": exc.description}, headers)

    def _body(self) -> bytes:
        return self._raw

    def _json(self) -> Any:
        try:
            return json.loads(self._body() or b"null")
        except ValueError:
            raise OAuthError(400, "invalid_client_metadata", "the body is not valid JSON") from None

    def _form(self) -> dict[str, str]:
        parsed = parse_qs(self._body().decode("utf-8", errors="replace"), keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def _bearer(self) -> str | None:
        value = self.headers.get("Authorization", "")
        return value[7:].strip() if value.lower().startswith("bearer ") else None

    def _admin(self) -> None:
        bearer = self._bearer()
        if not ADMIN_TOKEN or not bearer or not hmac.compare_digest(bearer, ADMIN_TOKEN):
            raise OAuthError(401, "invalid_token", "admin token required")

    # routes -------------------------------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""  # always consumed: keep-alive stays in sync
        url = urlparse(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            self._route(method, path, {k: v[0] for k, v in parse_qs(url.query).items()})
        except OAuthError as exc:
            self._error(exc)
        except Exception:
            log.exception("unhandled error on %s %s", method, path)
            self._send(500, {"error": "server_error", "error_description": "internal error"})

    def _route(self, method: str, path: str, query: dict[str, str]) -> None:
        app = self.app
        if method == "GET" and path == "/health":
            ok = app.store.ping()
            self._send(200 if ok else 503, {"status": "ok" if ok else "degraded", "redis": ok})
        elif method == "GET" and path == "/.well-known/oauth-authorization-server":
            self._send(200, app.metadata())
        elif method == "POST" and path == "/register":
            self._send(201, app.register(self._json()))
        elif path.startswith("/register/") and method in ("GET", "DELETE"):
            client = app.registered_client(path.rsplit("/", 1)[1], self._bearer())
            if method == "GET":
                self._send(200, {k: v for k, v in client.items() if k != "client_secret"})
            else:
                app.store.delete_client(client["client_id"])
                self._send(204)
        elif method == "GET" and path == "/authorize":
            self._send(302, None, {"Location": app.authorize(query)})
        elif method == "POST" and path == "/token":
            self._send(200, app.token(self._form()))
        elif method == "POST" and path == "/introspect":
            bearer = self._bearer()
            if not INTROSPECTION_TOKEN or not bearer or not hmac.compare_digest(bearer, INTROSPECTION_TOKEN):
                raise OAuthError(401, "invalid_token", "introspection needs the resource server's token")
            self._send(200, app.introspect(self._form().get("token", "")))
        elif method == "POST" and path == "/revoke":
            app.store.revoke(self._form().get("token", ""))
            self._send(200, {})
        elif method == "GET" and path == "/admin/clients":
            self._admin()
            self._send(200, {"clients": app.store.list_clients()})
        elif path == "/admin/registration" and method in ("GET", "PUT"):
            self._admin()
            if method == "PUT":
                body = self._json()
                if not isinstance(body, dict) or not isinstance(body.get("open"), bool):
                    raise OAuthError(400, "invalid_request", 'body must be {"open": true|false}')
                app.store.set_registration_open(body["open"])
            self._send(200, {"open": app.store.registration_open()})
        else:
            self._send(
                HTTPStatus.NOT_FOUND, {"error": "not_found", "error_description": f"no route {method} {path}"}
            )


def serve(host: str = "0.0.0.0", port: int = 8000) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    store = Store(os.environ.get("REDIS_URL", "redis://redis:6379/0"))
    Handler.app = AuthServer(store)
    httpd = ThreadingHTTPServer((host, port), Handler)
    httpd.daemon_threads = True
    log.info("auth listening on %s:%d", host, port)
    # No signal handling on purpose: as PID 1 this process ignores SIGTERM, as many real services do.
    # The coverage spy is what makes such a service stop fast with its data saved.
    httpd.serve_forever()
