"""Cleanup attacked with data it does not expect, on a real Redis: it deletes test records and their own
keys, never a real record's, and skips what it cannot read with a warning instead of crashing."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from stacktest.adapters.engine import Engine
from stacktest.cleanup.rules import RedisBackend
from stacktest.settings import CleanupBackend, RelatedKeys
from tests.conftest import REPO, wait_until

CONFIG = CleanupBackend(
    name="t",
    kind="redis",
    service="redis",
    port=6379,
    match="client:*",
    related=(RelatedKeys("token:*", "client_id"),),
)


@pytest.fixture
def r(docker_engine: Engine, base_image: str) -> Iterator[redis.Redis]:
    client = docker_engine.client
    container = client.containers.run(
        base_image,
        ["redis-server", "--save", "", "--protected-mode", "no"],
        detach=True,
        ports={"6379/tcp": ("127.0.0.1", None)},
        labels={"io.stacktest.root": str(REPO / "tests" / "reliability")},
    )
    try:
        container.reload()
        port = int(container.attrs["NetworkSettings"]["Ports"]["6379/tcp"][0]["HostPort"])
        conn = redis.Redis(host="127.0.0.1", port=port)
        assert wait_until(lambda: _pings(conn), timeout=20)
        yield conn
    finally:
        container.remove(force=True)


def _pings(conn: redis.Redis) -> bool:
    try:
        return bool(conn.ping())
    except redis.RedisError:
        return False


def doc(name: str, cid: str) -> str:
    return json.dumps({"client_name": name, "client_id": cid})


def backend(conn: redis.Redis) -> RedisBackend:
    kwargs = conn.connection_pool.connection_kwargs
    return RedisBackend(CONFIG, kwargs["host"], kwargs["port"])


def test_a_test_record_claiming_a_real_id_never_takes_the_real_keys(r: redis.Redis) -> None:
    r.set("client:p1", doc("Production app", "p1"))
    r.set("token:p1", json.dumps({"client_id": "p1"}))
    r.set("client:t1", doc("TEST evil", "p1"))  # claims the production client's id
    r.set("client:t2", doc("TEST fine", "t2"))
    r.set("token:t2", json.dumps({"client_id": "t2"}))
    b = backend(r)
    found = b.find("TEST ")
    assert sorted(x.key for x in found.records) == ["client:t1", "client:t2"]
    assert found.related == 1  # token:t2 only
    assert b.delete(found) == 3
    assert sorted(r.keys()) == [b"client:p1", b"token:p1"]


def test_a_production_record_without_an_id_keeps_its_related_keys(r: redis.Redis) -> None:
    """An id-less real record (its id is its key's name) cannot be claimed by a test record: its token
    stays; a test record without an id has no related keys (its key's name is no id the tokens use)."""
    r.set("client:prod2", json.dumps({"client_name": "Production 2"}))  # no client_id field
    r.set("token:prod2", json.dumps({"client_id": "prod2"}))
    r.set("client:t3", doc("TEST claims prod2", "prod2"))
    r.set("client:t4", json.dumps({"client_name": "TEST no id"}))
    r.set("token:x", json.dumps({"client_id": "client:t4"}))  # names the id-less test record's key
    b = backend(r)
    found = b.find("TEST ")
    assert sorted(x.key for x in found.records) == ["client:t3", "client:t4"]
    assert found.related == 0
    assert b.delete(found) == 2
    assert sorted(r.keys()) == [b"client:prod2", b"token:prod2", b"token:x"]


def test_data_it_cannot_read_is_skipped_with_a_warning(r: redis.Redis) -> None:
    r.set("client:list", json.dumps([doc("TEST in a list", "x")]))
    r.set("client:bytes", b"\xff\xfe TEST")
    r.set("client:text", "TEST not json")
    r.rpush("client:queue", "TEST item")
    r.set(b"client:\xff", doc("TEST odd key name", "odd"))
    r.hset("client:h", mapping={"client_name": "TEST hash", "client_id": "h"})
    b = backend(r)
    found = b.find("TEST ")
    assert sorted(x.name for x in found.records) == ["TEST hash", "TEST odd key name"]
    assert sorted(b.skipped) == ["client:bytes", "client:list", "client:queue", "client:text"]
    assert b.delete(found) == 2
    assert sorted(r.keys()) == [b"client:bytes", b"client:list", b"client:queue", b"client:text"]


def test_a_record_renamed_after_it_was_found_is_kept(r: redis.Redis) -> None:
    r.set("client:t3", doc("TEST soon renamed", "t3"))
    r.set("token:t3", json.dumps({"client_id": "t3"}))
    b = backend(r)
    found = b.find("TEST ")
    r.set("client:t3", doc("Renamed by a person", "t3"))
    r.set("token:t3", json.dumps({"client_id": "someone-else"}))
    assert b.delete(found) == 0
    assert sorted(r.keys()) == [b"client:t3", b"token:t3"]
