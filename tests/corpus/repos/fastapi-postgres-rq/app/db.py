import logging
import time

from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeBase, sessionmaker

from app.config import DATABASE_URL

log = logging.getLogger(__name__)

engine = create_engine(DATABASE_URL, pool_pre_ping=True)
SessionLocal = sessionmaker(bind=engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


def wait_for_db(timeout: float = 60.0) -> None:
    """The database container starts with the API: retry until it accepts connections."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            log.info("database not ready yet, retrying")
            time.sleep(0.5)


def init_db() -> None:
    from app import models  # noqa: F401  (registers the tables)

    wait_for_db()
    with engine.begin() as conn:
        # both uvicorn workers run this at startup: one at a time
        conn.execute(text("SELECT pg_advisory_xact_lock(72783)"))
        Base.metadata.create_all(conn)


def get_session():
    with SessionLocal() as session:
        yield session
