"""Test-data cleanup: find and remove what tests left in real services, and never anything else.

One rule everywhere: a record is test data when its name starts with the configured prefix (``"TEST "``
by default, the prefix of the plugin's ``unique_name`` factory). Backends sit behind one small protocol:

- ``redis``: SCAN for the records, read their name (JSON string or hash), then one SCAN pass per kind of
  related key (codes, tokens, ...) to find the keys that name a test record's id; delete in pipelined
  batches. No KEYS, and no scan inside a loop over records.
- ``http`` (cleanup/web.py): list through the service's own API and delete each record through it
  (RFC 7592 for the bundled auth service);
- ``sql`` (cleanup/sql.py): one transaction per backend.

The records and the name rule are in cleanup/found.py. This is the one module that talks to Redis.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence

import redis

from stacktest.cleanup.found import (
    BATCH,
    Backend,
    BackendResult,
    Record,
    _chunks,
    check_prefix,
    is_test_name,
)
from stacktest.cleanup.web import HttpBackend
from stacktest.errors import CleanupError
from stacktest.settings import CleanupBackend, Settings
from stacktest.stack.lifecycle import Stack
from stacktest.stack.records import Endpoint

__all__ = ["BackendResult", "Record", "backends_for", "check_prefix", "is_test_name", "run"]

log = logging.getLogger("stacktest")

# Delete KEYS[1] only if it still is a test record: its name field (ARGV[1], in a hash or a JSON string)
# starts with the prefix (ARGV[2]); or, for a related key, its owner field (ARGV[1]) still names the test
# record's id (ARGV[3]). Checked and deleted in one step, so a record renamed meanwhile is kept.
_DELETE_IF = """
local t = redis.call('TYPE', KEYS[1])['ok']
local value
if t == 'hash' then
  value = redis.call('HGET', KEYS[1], ARGV[1])
elseif t == 'string' then
  local ok, doc = pcall(cjson.decode, redis.call('GET', KEYS[1]))
  if ok and type(doc) == 'table' then value = doc[ARGV[1]] end
end
if type(value) ~= 'string' then return 0 end
if ARGV[3] ~= '' then
  if value == ARGV[3] then return redis.call('DEL', KEYS[1]) end
elseif string.sub(value, 1, string.len(ARGV[2])) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


class RedisBackend:
    def __init__(self, config: CleanupBackend, host: str, port: int) -> None:
        self.config = config
        self.r = redis.Redis(host=host, port=port, decode_responses=False, socket_timeout=10)
        self._related: list[tuple[bytes, str, str]] = []  # (key, its owner field, the test id it names)
        self.skipped: list[str] = []  # keys whose content cleanup could not read

    def _fields(self, keys: Sequence[bytes], name: str) -> list[str | None]:
        """The field ``name`` of each key that holds a hash or a JSON object (pipelined); None for a key
        of another type, with a value that is no JSON object, or that is not UTF-8 (each one noted)."""
        pipe = self.r.pipeline(transaction=False)
        for k in keys:
            pipe.type(k)
        types = [_text(t) for t in pipe.execute()]
        pipe = self.r.pipeline(transaction=False)
        readable = [(k, t) for k, t in zip(keys, types, strict=True) if t in ("hash", "string")]
        for k, kind in readable:
            if kind == "hash":
                pipe.hget(k, name)
            else:
                pipe.get(k)
        found: dict[bytes, str | None] = {}
        for (k, kind), raw in zip(readable, pipe.execute(), strict=True):
            text = _text(raw)
            if raw is not None and text is None:
                self._skip(k, "its value is not UTF-8")
            elif kind == "string" and text is not None:
                try:
                    doc = json.loads(text)
                except ValueError:
                    doc = None
                if not isinstance(doc, dict):
                    self._skip(k, "its value is not a JSON object")
                    text = None
                else:
                    text = doc.get(name) if isinstance(doc.get(name), str) else None
            found[k] = text
        for k, seen in zip(keys, types, strict=True):
            if seen not in ("hash", "string", "none"):
                self._skip(k, f"it holds a Redis {seen}")
        return [found.get(k) for k in keys]

    def _skip(self, key: bytes, why: str) -> None:
        shown = key.decode("utf-8", errors="replace")
        if shown not in self.skipped:
            self.skipped.append(shown)
            log.warning("cleanup backend %s: skipped %s: %s", self.config.name, shown, why)

    def _scan(self, pattern: str) -> list[bytes]:
        return list(self.r.scan_iter(match=pattern, count=BATCH))

    def find(self, prefix: str) -> BackendResult:
        c = self.config
        result = BackendResult(c.name, c.kind)
        self._keys: dict[str, bytes] = {}
        try:
            keys = self._scan(c.match)
            kept_ids: set[str] = set()  # ids of records that are not test data
            test_ids: set[str] = set()  # the test records' own ids
            for batch in _chunks(keys):
                names = self._fields(batch, c.name_field)
                ids = self._fields(batch, c.id_field)
                for key, name, id_ in zip(batch, names, ids, strict=True):
                    shown = key.decode("utf-8", errors="replace")
                    if is_test_name(name, prefix):
                        result.records.append(Record(id_ or shown, str(name), shown))
                        self._keys[shown] = key
                        if id_:
                            test_ids.add(id_)
                    else:  # a real record without an id field may be named by its key's last part
                        kept_ids.add(id_ or shown.rsplit(":", 1)[-1])
            # an id that a real record has (or may have) too is never used to find related keys; a test
            # record without an id has none to find them by
            ids_wanted = test_ids - kept_ids
            related: list[tuple[bytes, str, str]] = []
            if ids_wanted:
                for rel in c.related:  # one SCAN pass per kind of related key
                    candidates = self._scan(rel.match)
                    for batch in _chunks(candidates):
                        owners = self._fields(batch, rel.field)
                        related += [
                            (k, rel.field, o) for k, o in zip(batch, owners, strict=True) if o in ids_wanted
                        ]
        except redis.RedisError as exc:
            raise CleanupError(
                f"cleanup backend {c.name}: Redis at {c.service}:{c.port} failed: {type(exc).__name__}"
            ) from exc
        self._related = related
        self._prefix = prefix
        result.related = len(related)
        return result

    def delete(self, found: BackendResult) -> int:
        """Each record, then each related key, deleted only if it still is what was found (atomically)."""
        c = self.config
        work = [(self._keys[r.key], c.name_field, "") for r in found.records] + self._related
        deleted = 0
        try:
            script = self.r.register_script(_DELETE_IF)
            for batch in _chunks(work):
                pipe = self.r.pipeline(transaction=False)
                for key, field_name, owner in batch:
                    script(keys=[key], args=[field_name, self._prefix, owner], client=pipe)
                deleted += sum(int(n) for n in pipe.execute())
        except redis.RedisError as exc:
            raise CleanupError(f"cleanup backend {c.name}: delete failed: {type(exc).__name__}") from exc
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
        if b.kind == "sql":
            out.append((b, _sql_backend(b, stack, endpoints)))
            continue
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


def _sql_backend(b: CleanupBackend, stack: Stack, endpoints: Mapping[str, list[Endpoint]]) -> Backend:
    """A sql backend's database: the URL in its variable, or its service's published port and the
    credentials its container's environment holds."""
    from stacktest.adapters import sql as _sql
    from stacktest.cleanup.sql import SqlBackend

    if b.url_env:
        return SqlBackend(b, _sql.url_from_env(b.url_env))
    match = next((e for e in endpoints.get(b.service, []) if e.container_port == b.port), None)
    state = stack.states().get(b.service) if match is not None else None
    if match is None or state is None:
        raise CleanupError(
            f"cleanup backend {b.name}: service {b.service!r} publishes no port {b.port}",
            hint="publish it as '127.0.0.1::PORT' in the compose file, or set url_env",
        )
    env = stack.engine.container_env(state.container_id)
    url = _sql.url_for(
        b.dialect,
        match.host,
        match.port,
        env,
        database=b.database,
        user_env=b.user_env,
        password_env=b.password_env,
    )
    return SqlBackend(b, url)


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
        found.skipped = list(backend.skipped)
        results.append(found)
    return results
