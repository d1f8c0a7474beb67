"""Needs the compose database (the `tests` service has DATABASE_URL)."""

from app import db


def test_the_schema_is_there():
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = 'items'")
        assert cur.fetchone()["n"] == 1
