"""Create or update the schema: `python -m app.migrate` (the compose service `migrate` runs it once)."""

from __future__ import annotations

import logging
import sys
import time

import psycopg2

from app import db

log = logging.getLogger("migrate")

STEPS = [
    """CREATE TABLE IF NOT EXISTS items (
        sku TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        quantity INTEGER NOT NULL DEFAULT 0 CHECK (quantity >= 0)
    )""",
    """CREATE TABLE IF NOT EXISTS movements (
        id SERIAL PRIMARY KEY,
        sku TEXT NOT NULL REFERENCES items(sku),
        delta INTEGER NOT NULL,
        at TIMESTAMPTZ NOT NULL DEFAULT now()
    )""",
]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    for attempt in range(30):
        try:
            with db.connect() as conn, conn.cursor() as cur:
                for step in STEPS:
                    cur.execute(step)
            log.info("schema up to date (%d steps)", len(STEPS))
            return 0
        except psycopg2.OperationalError as exc:
            log.warning("database not ready (%s), attempt %d", exc, attempt + 1)
            time.sleep(1)
    return 1


if __name__ == "__main__":
    sys.exit(main())
