"""Users in Redis: a hash per user (``user:<id>``) and an index of e-mail addresses."""

from __future__ import annotations

import redis


class EmailTaken(Exception):
    pass


class UserStore:
    def __init__(self, client: redis.Redis) -> None:
        self.r = client

    @classmethod
    def from_url(cls, url: str) -> UserStore:
        return cls(redis.Redis.from_url(url, decode_responses=True))

    def ping(self) -> bool:
        return bool(self.r.ping())

    def add(self, email: str, name: str) -> dict:
        email = email.strip().lower()
        if not self.r.hsetnx("users:by-email", email, "pending"):
            raise EmailTaken(email)
        user_id = self.r.incr("users:next-id")
        user = {"id": user_id, "email": email, "name": name}
        self.r.hset(f"user:{user_id}", mapping={"email": email, "name": name})
        self.r.hset("users:by-email", email, user_id)
        return user

    def get(self, user_id: int) -> dict | None:
        found = self.r.hgetall(f"user:{user_id}")
        if not found:
            return None
        return {"id": user_id, **found}

    def remove(self, user_id: int) -> bool:
        user = self.get(user_id)
        if user is None:
            return False
        self.r.hdel("users:by-email", user["email"])
        self.r.delete(f"user:{user_id}")
        return True
