"""Redis storage of the authorization server.

Keys (every record that belongs to a client names it in its ``client_id`` field):

- ``client:<client_id>``    JSON string: the registration (RFC 7591 metadata + secrets)
- ``code:<code>``           JSON string, 60 s TTL: an authorization code and its PKCE challenge
- ``state:<client>:<state>`` JSON string, 10 min TTL: a seen ``state`` value (replay protection)
- ``token:<access_token>``  hash, TTL = token lifetime: client_id, sub, scope, exp
- ``refresh:<token>``       hash, 1 day TTL: client_id, sub, scope
- ``config:registration_open`` "1" or "0"
"""

from __future__ import annotations

import json
import math
import secrets
import time
from typing import Any

import redis

CODE_TTL = 60
STATE_TTL = 600
REFRESH_TTL = 86400


class Store:
    def __init__(self, url: str) -> None:
        self.r = redis.Redis.from_url(url, decode_responses=True, socket_timeout=5, socket_connect_timeout=2)

    def ping(self) -> bool:
        try:
            return bool(self.r.ping())
        except redis.RedisError:
            return False

    # clients ----------------------------------------------------------------------------------------
    def save_client(self, client: dict[str, Any]) -> None:
        self.r.set(f"client:{client['client_id']}", json.dumps(client))

    def get_client(self, client_id: str) -> dict[str, Any] | None:
        raw = self.r.get(f"client:{client_id}")
        return json.loads(raw) if raw else None

    def list_clients(self) -> list[dict[str, Any]]:
        out = []
        for key in self.r.scan_iter(match="client:*", count=500):
            raw = self.r.get(key)
            if raw:
                out.append(json.loads(raw))
        return out

    def delete_client(self, client_id: str) -> int:
        """Delete a registration and every code, state and token issued to it."""
        doomed = [f"client:{client_id}"]
        for pattern in ("code:*", "state:*"):
            for key in self.r.scan_iter(match=pattern, count=500):
                raw = self.r.get(key)
                if raw and json.loads(raw).get("client_id") == client_id:
                    doomed.append(key)
        for pattern in ("token:*", "refresh:*"):
            for key in self.r.scan_iter(match=pattern, count=500):
                if self.r.hget(key, "client_id") == client_id:
                    doomed.append(key)
        return int(self.r.delete(*doomed))

    # authorization --------------------------------------------------------------------------------------
    def remember_state(self, client_id: str, state: str) -> bool:
        """True the first time a client presents ``state``; False on a replay."""
        key = f"state:{client_id}:{state}"
        return bool(self.r.set(key, json.dumps({"client_id": client_id}), nx=True, ex=STATE_TTL))

    def save_code(self, code: str, data: dict[str, Any]) -> None:
        self.r.set(f"code:{code}", json.dumps(data), ex=CODE_TTL)

    def take_code(self, code: str) -> dict[str, Any] | None:
        """Codes are single use: read and delete in one round trip."""
        pipe = self.r.pipeline()
        pipe.get(f"code:{code}")
        pipe.delete(f"code:{code}")
        raw, _ = pipe.execute()
        return json.loads(raw) if raw else None

    # tokens -------------------------------------------------------------------------------------------
    def issue_tokens(self, client_id: str, sub: str, scope: str, lifetime: int) -> dict[str, Any]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        exp = math.ceil(time.time()) + lifetime  # never shorter than the lifetime promised
        pipe = self.r.pipeline()
        pipe.hset(f"token:{access}", mapping={"client_id": client_id, "sub": sub, "scope": scope, "exp": exp})
        pipe.expire(f"token:{access}", lifetime)
        pipe.hset(f"refresh:{refresh}", mapping={"client_id": client_id, "sub": sub, "scope": scope})
        pipe.expire(f"refresh:{refresh}", REFRESH_TTL)
        pipe.execute()
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": lifetime,
            "refresh_token": refresh,
            "scope": scope,
        }

    def get_token(self, token: str) -> dict[str, str] | None:
        data = self.r.hgetall(f"token:{token}")
        if not data or int(data.get("exp", "0")) <= time.time():
            return None
        return data

    def take_refresh(self, token: str) -> dict[str, str] | None:
        pipe = self.r.pipeline()
        pipe.hgetall(f"refresh:{token}")
        pipe.delete(f"refresh:{token}")
        data, _ = pipe.execute()
        return data or None

    def revoke(self, token: str) -> None:
        self.r.delete(f"token:{token}", f"refresh:{token}")

    # settings -----------------------------------------------------------------------------------------
    def registration_open(self) -> bool:
        return self.r.get("config:registration_open") != "0"

    def set_registration_open(self, value: bool) -> None:
        self.r.set("config:registration_open", "1" if value else "0")
