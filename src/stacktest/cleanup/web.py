"""The ``http`` cleanup backend: list a service's records through its own API and delete each one
through it (RFC 7592 for the bundled auth service). The admin token comes from a named environment
variable and is never printed."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, urlparse

import httpx

from stacktest.adapters import http as _http
from stacktest.adapters.endpoint import is_loopback
from stacktest.adapters.http import ADMIN_TIMEOUT
from stacktest.cleanup.found import BackendResult, Record, is_test_name
from stacktest.errors import CleanupError
from stacktest.settings import CleanupBackend

__all__ = ["HttpBackend"]

log = logging.getLogger("stacktest")


_TOKEN_RE = re.compile(r"[\x21-\x7e]+")  # visible ASCII: no spaces, control characters or line ends


class HttpBackend:
    def __init__(self, config: CleanupBackend, base_url: str) -> None:
        self.config = config
        self.base_url = base_url
        self._tokens: dict[str, str] = {}
        self.skipped: list[str] = []
        self._warned = False

    def _list_headers(self) -> dict[str, str]:
        env = self.config.list_auth_env
        if not env:
            return {}
        token = os.environ.get(env)  # env: named by cleanup.backends.<name>.list_auth_env
        if not token:
            raise CleanupError(
                f"cleanup backend {self.config.name}: the environment variable {env} is not set",
                hint=f"export {env} with the service's admin token (its value is never printed)",
            )
        if not _TOKEN_RE.fullmatch(token):
            raise CleanupError(
                f"cleanup backend {self.config.name}: the value of {env} is not a usable token: it holds "
                "spaces, control characters or a line ending (a token file saved with CRLF?)",
                hint=f"set {env} to the token alone (its value is never printed)",
            )
        host = urlparse(self.base_url).hostname or ""
        if self.base_url.startswith("http://") and not is_loopback(host) and not self._warned:
            self._warned = True
            log.warning(
                "cleanup backend %s: the admin token in %s goes over plain HTTP to %s, the engine's host, "
                "not this machine: anyone on that network can read it (an engine on this machine, or a "
                "tunnel to that one, keeps it off the network)",
                self.config.name,
                env,
                host,
            )
        return {"Authorization": f"Bearer {token}"}

    def find(self, prefix: str) -> BackendResult:
        c = self.config
        result = BackendResult(c.name, c.kind)
        try:
            with _http.client(ADMIN_TIMEOUT, base_url=self.base_url) as http:
                response = http.get(c.list_path, headers=self._list_headers())
        except httpx.HTTPError as exc:  # its text may hold the request's headers: only its kind is shown
            raise CleanupError(
                f"cleanup backend {c.name}: GET {c.list_path} failed: {type(exc).__name__}"
            ) from exc
        if response.status_code != 200:
            raise CleanupError(f"cleanup backend {c.name}: GET {c.list_path} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise CleanupError(f"cleanup backend {c.name}: GET {c.list_path} did not answer JSON") from None
        items: Iterable[Any] = (
            body
            if isinstance(body, list)
            else next((v for v in body.values() if isinstance(v, list)), [])
            if isinstance(body, dict)
            else []
        )
        for item in items:
            if not isinstance(item, dict) or not is_test_name(item.get(c.name_field), prefix):
                continue
            rid = item.get(c.id_field)
            if not isinstance(rid, (str, int)) or isinstance(rid, bool) or str(rid) == "":
                self.skipped.append(str(item.get(c.name_field)))
                log.warning(
                    "cleanup backend %s: skipped %r: it has no %s", c.name, item[c.name_field], c.id_field
                )
                continue
            result.records.append(Record(str(rid), item[c.name_field]))
            if c.delete_token_field and isinstance(item.get(c.delete_token_field), str):
                self._tokens[str(rid)] = item[c.delete_token_field]
        return result

    def delete(self, found: BackendResult) -> int:
        c = self.config
        deleted = 0
        with _http.client(ADMIN_TIMEOUT, base_url=self.base_url) as client:
            for record in found.records:
                token = self._tokens.get(record.id, "")
                headers = {"Authorization": f"Bearer {token}"} if _TOKEN_RE.fullmatch(token) else {}
                rid = quote(record.id, safe="")  # "../admin" or "x?force=1" stay one path segment
                try:
                    response = client.delete(
                        c.delete_path.format(**{c.id_field: rid, "id": rid}), headers=headers
                    )
                except httpx.HTTPError as exc:
                    raise CleanupError(
                        f"cleanup backend {c.name}: DELETE of {record.id} failed: {type(exc).__name__}"
                    ) from exc
                if response.status_code in (200, 202, 204, 404):
                    deleted += response.status_code != 404
                else:
                    raise CleanupError(
                        f"cleanup backend {c.name}: DELETE of {record.id} answered {response.status_code}"
                    )
        return deleted
