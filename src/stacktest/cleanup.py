"""Test-data cleanup: find and remove what tests left in real services, and never anything else.

One rule everywhere: a record is test data when its name starts with the configured prefix (``"TEST "``
by default, the prefix of the plugin's ``unique_name`` factory). Backends sit behind one small protocol:

- ``redis``: SCAN for the records, read their name (JSON string or hash), then one SCAN pass per kind of
  related key (codes, tokens, ...) to find the keys that name a test record's id; delete in pipelined
  batches. No KEYS, and no scan inside a loop over records.
- ``http``: list through the service's own API and delete each record through it (RFC 7592 for the
  bundled auth service).

This is the one module that talks to Redis.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
import redis

from stacktest.errors import CleanupError
from stacktest.settings import CleanupBackend, Settings
from stacktest.stack import Stack

__all__ = ["BackendResult", "Record", "backends_for", "check_prefix", "is_test_name", "run"]

log = logging.getLogger("stacktest")

BATCH = 500


@dataclass(frozen=True)
class Record:
    id: str
    name: str
    key: str = ""  # where it lives (a Redis key), for the report


@dataclass
class BackendResult:
    backend: str
    kind: str
    records: list[Record] = field(default_factory=list)
    related: int = 0  # keys that refer to the records (Redis)
    deleted: int = 0  # records and keys removed (0 in a dry run)
    applied: bool = False


def check_prefix(prefix: str) -> str:
    if not prefix or not prefix.strip():
        raise CleanupError(
            f"the cleanup prefix {prefix!r} is empty: it would match every record",
            hint="set tool.stacktest.cleanup.prefix to the prefix your tests use, e.g. 'TEST '",
        )
    return prefix


def is_test_name(name: object, prefix: str) -> bool:
    """The one rule: a string that starts with the prefix, exactly (case and spaces included)."""
    return isinstance(name, str) and name.startswith(check_prefix(prefix))


class Backend(Protocol):
    def find(self, prefix: str) -> BackendResult: ...

    def delete(self, found: BackendResult) -> int: ...


def _chunks(items: Sequence[str], size: int = BATCH) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class RedisBackend:
    def __init__(self, config: CleanupBackend, host: str, port: int) -> None:
        self.config = config
        self.r = redis.Redis(host=host, port=port, decode_responses=True, socket_timeout=10)
        self._related: list[str] = []

    def _fields(self, keys: Sequence[str], name: str) -> list[Any]:
        """The field ``name`` of each key, whether the key holds a JSON string or a hash (pipelined)."""
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.type(k)
        types = pipe.execute()
        pipe = self.r.pipeline(transaction=False)
        for k, t in zip(keys, types, strict=True):
            if t == "hash":
                pipe.hget(k, name)
            else:
                pipe.get(k)
        values = []
        for t, raw in zip(types, pipe.execute(), strict=True):
            if t == "hash" or raw is None:
                values.append(raw)
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                values.append(None)
                continue
            values.append(doc.get(name) if isinstance(doc, dict) else None)
        return values

    def _scan(self, pattern: str) -> list[str]:
        return list(self.r.scan_iter(match=pattern, count=BATCH))

    def find(self, prefix: str) -> BackendResult:
        c = self.config
        result = BackendResult(c.name, c.kind)
        try:
            keys = self._scan(c.match)
            for batch in _chunks(keys):
                names = self._fields(batch, c.name_field)
                ids = self._fields(batch, c.id_field)
                for key, name, id_ in zip(batch, names, ids, strict=True):
                    if is_test_name(name, prefix):
                        result.records.append(Record(str(id_ or key), name, key))
            ids_wanted = {r.id for r in result.records}
            related: list[str] = []
            if ids_wanted:
                for rel in c.related:  # one SCAN pass per kind of related key
                    candidates = self._scan(rel.match)
                    for batch in _chunks(candidates):
                        owners = self._fields(batch, rel.field)
                        related += [k for k, owner in zip(batch, owners, strict=True) if owner in ids_wanted]
        except redis.RedisError as exc:
            raise CleanupError(
                f"cleanup backend {c.name}: Redis at {c.service}:{c.port} failed: {exc}"
            ) from exc
        self._related = related
        result.related = len(related)
        return result

    def delete(self, found: BackendResult) -> int:
        doomed = [r.key for r in found.records] + self._related
        deleted = 0
        try:
            for batch in _chunks(doomed):
                pipe = self.r.pipeline(transaction=False)
                pipe.delete(*batch)
                deleted += int(pipe.execute()[0])
        except redis.RedisError as exc:
            raise CleanupError(f"cleanup backend {self.config.name}: delete failed: {exc}") from exc
        return deleted


class HttpBackend:
    def __init__(self, config: CleanupBackend, base_url: str) -> None:
        self.config = config
        self.base_url = base_url
        self._tokens: dict[str, str] = {}

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
        return {"Authorization": f"Bearer {token}"}

    def find(self, prefix: str) -> BackendResult:
        c = self.config
        result = BackendResult(c.name, c.kind)
        try:
            response = httpx.get(self.base_url + c.list_path, headers=self._list_headers(), timeout=30)
        except httpx.HTTPError as exc:
            raise CleanupError(f"cleanup backend {c.name}: GET {c.list_path} failed: {exc}") from exc
        if response.status_code != 200:
            raise CleanupError(f"cleanup backend {c.name}: GET {c.list_path} answered {response.status_code}")
        body = response.json()
        items: Iterable[Any] = (
            body if isinstance(body, list) else next((v for v in body.values() if isinstance(v, list)), [])
        )
        for item in items:
            if isinstance(item, dict) and is_test_name(item.get(c.name_field), prefix):
                rid = str(item.get(c.id_field))
                result.records.append(Record(rid, item[c.name_field]))
                if c.delete_token_field:
                    self._tokens[rid] = str(item.get(c.delete_token_field, ""))
        return result

    def delete(self, found: BackendResult) -> int:
        c = self.config
        deleted = 0
        with httpx.Client(base_url=self.base_url, timeout=30) as client:
            for record in found.records:
                headers = (
                    {"Authorization": f"Bearer {self._tokens[record.id]}"}
                    if record.id in self._tokens
                    else {}
                )
                response = client.delete(
                    c.delete_path.format(**{c.id_field: record.id, "id": record.id}), headers=headers
                )
                if response.status_code in (200, 202, 204, 404):
                    deleted += response.status_code != 404
                else:
                    raise CleanupError(
                        f"cleanup backend {c.name}: DELETE of {record.id} answered {response.status_code}"
                    )
        return deleted


def backends_for(
    settings: Settings, stack: Stack, names: Sequence[str] = ()
) -> list[tuple[CleanupBackend, Backend]]:
    chosen = [b for b in settings.cleanup_backends if (b.name in names if names else b.enabled)]
    unknown = set(names) - {b.name for b in settings.cleanup_backends}
    if unknown:
        raise CleanupError(
            f"no cleanup backend named {sorted(unknown)[0]!r} in tool.stacktest.cleanup.backends"
        )
    endpoints = stack.endpoints()
    out: list[tuple[CleanupBackend, Backend]] = []
    for b in chosen:
        match = next((e for e in endpoints.get(b.service, []) if e.container_port == b.port), None)
        if match is None:
            raise CleanupError(
                f"cleanup backend {b.name}: service {b.service!r} publishes no port {b.port}",
                hint="publish it as '127.0.0.1::PORT' in the compose file",
            )
        backend: Backend = (
            RedisBackend(b, match.host, match.port) if b.kind == "redis" else HttpBackend(b, match.url)
        )
        out.append((b, backend))
    return out


def run(
    settings: Settings, stack: Stack, *, apply: bool, names: Sequence[str] = (), prefix: str | None = None
) -> list[BackendResult]:
    """Find test data in every enabled backend; delete it when ``apply``."""
    prefix = check_prefix(settings.cleanup_prefix if prefix is None else prefix)
    results = []
    for _, backend in backends_for(settings, stack, names):
        found = backend.find(prefix)
        if apply and (found.records or found.related):
            found.deleted = backend.delete(found)
            found.applied = True
        results.append(found)
    return results
