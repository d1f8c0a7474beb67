"""Cleanup against the bundled stack's real Redis and real auth service."""

from __future__ import annotations

import json
import random
import string
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import run_cli

NEAR_MISSES = ["TEST", "test ", " TEST ", "TESTx", "Test x", "TEST\tx", "\u200bTEST x", "XTEST x", ""]


def urls(project: Path) -> dict[str, str]:
    data = json.loads(run_cli(["status", "--json"], project).stdout)
    return {k: v["url"] for k, v in data["services"].items()}


@pytest.fixture
def live(kept_stack: Path) -> tuple[Path, dict[str, str]]:
    return kept_stack, urls(kept_stack)


def redis_of(url: str) -> redis.Redis:
    address = httpx.URL(url)
    return redis.Redis(host=address.host, port=address.port or 6379, decode_responses=True)


def snapshot(r: redis.Redis) -> dict[str, object]:
    out: dict[str, object] = {}
    for key in r.scan_iter(count=1000):
        out[key] = r.hgetall(key) if r.type(key) == "hash" else r.get(key)
    return out


def test_only_prefixed_records_and_their_keys_go(live: tuple[Path, dict[str, str]]) -> None:
    project, services = live
    seed = random.randrange(1_000_000)
    print(f"random seed: {seed}")
    rng = random.Random(seed)
    with (
        httpx.Client(base_url=services["auth"], follow_redirects=False) as auth,
        redis_of(services["redis"]) as r,
    ):
        _property_check(project, auth, r, rng)


def _property_check(project: Path, auth: httpx.Client, r: redis.Redis, rng: random.Random) -> None:
    names = [f"TEST {''.join(rng.choices(string.printable, k=rng.randint(0, 12)))}" for _ in range(25)]
    names += [m + "".join(rng.choices(string.ascii_letters, k=4)) for m in NEAR_MISSES]
    names += ["".join(rng.choices(string.ascii_letters + " ", k=rng.randint(1, 20))) for _ in range(15)]
    test_ids: set[str] = set()
    other_ids: set[str] = set()
    for name in names:
        body = {"client_name": name or "x", "redirect_uris": ["http://localhost/cb"]}
        response = auth.post("/register", json=body)
        if response.status_code != 201:
            continue  # e.g. a whitespace-only name is refused by the service itself
        client = response.json()
        (test_ids if client["client_name"].startswith("TEST ") else other_ids).add(client["client_id"])
        # related keys: a code, a state and tokens for every other client
        if rng.random() < 0.5:
            params = {
                "response_type": "code",
                "client_id": client["client_id"],
                "redirect_uri": "http://localhost/cb",
                "code_challenge": "x" * 43,
                "code_challenge_method": "S256",
                "state": f"s{rng.random()}",
            }
            assert auth.get("/authorize", params=params).status_code == 302
    r.set("unrelated:key", "TEST keep me")  # a key outside the pattern is never read as a record
    assert test_ids and other_ids
    before = snapshot(r)

    dry = run_cli(["cleanup", "--json"], project)
    assert dry.returncode == 0, dry.stderr
    found = json.loads(dry.stdout)["backends"][0]
    assert {x["id"] for x in found["records"]} == test_ids
    assert snapshot(r) == before, "the dry run changed nothing"

    done = run_cli(["cleanup", "--yes", "--json"], project)
    assert done.returncode == 0, done.stderr
    after = snapshot(r)
    for key, value in before.items():
        owner = value.get("client_id") if isinstance(value, dict) else _json_owner(value)
        if owner in test_ids or key.removeprefix("client:") in test_ids:
            assert key not in after, f"{key} should be gone"
        else:
            assert after.get(key) == value, f"{key} should be intact"
    assert run_cli(["cleanup", "--json"], project).stdout.count('"id"') == 0


def _json_owner(value: object) -> object:
    try:
        doc = json.loads(str(value))
    except ValueError:
        return None
    return doc.get("client_id") if isinstance(doc, dict) else None


def test_the_http_backend_deletes_through_rfc7592(live: tuple[Path, dict[str, str]]) -> None:
    project, services = live
    with httpx.Client(base_url=services["auth"]) as auth:
        _http_check(project, auth)


def _http_check(project: Path, auth: httpx.Client) -> None:
    ids = {}
    for name in ("TEST http one", "TEST http two", "keep me"):
        ids[name] = auth.post(
            "/register", json={"client_name": name, "redirect_uris": ["http://x/cb"]}
        ).json()
    env = {"AUTH_ADMIN_TOKEN": "stacktest-admin-secret"}
    result = run_cli(["cleanup", "--backend", "auth-http", "--yes", "--json"], project, env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["backends"][0]["deleted"] == 2
    assert "stacktest-admin-secret" not in result.stdout + result.stderr
    for name, client in ids.items():
        got = auth.get(
            f"/register/{client['client_id']}",
            headers={"Authorization": f"Bearer {client['registration_access_token']}"},
        )
        assert got.status_code == (200 if name == "keep me" else 401)


def test_the_http_backend_says_which_variable_is_missing(live: tuple[Path, dict[str, str]]) -> None:
    project, _ = live
    result = run_cli(["cleanup", "--backend", "auth-http"], project, env={"AUTH_ADMIN_TOKEN": ""})
    assert result.returncode == 17 and "AUTH_ADMIN_TOKEN is not set" in result.stderr
