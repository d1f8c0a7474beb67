"""PostgreSQL connections (one per request; the service is small)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extras


def url() -> str:
    return os.environ.get("DATABASE_URL", "postgresql://inventory:inventory@localhost:5432/inventory")


@contextmanager
def connect() -> Iterator[psycopg2.extensions.connection]:
    conn = psycopg2.connect(url(), cursor_factory=psycopg2.extras.RealDictCursor)
    try:
        with conn:
            yield conn
    finally:
        conn.close()
