"""SQL databases (PostgreSQL, MySQL/MariaDB, SQLite) through SQLAlchemy Core: the one adapter that
connects to them, for the ``sql`` readiness probe and the ``sql`` cleanup backend.

SQLAlchemy is an extra (``pip install 'stacktest[postgres]'``, ``[mysql]``, ``[sqlite]``): it reflects
tables and foreign keys, quotes identifiers, binds every value, and runs the same statements on every
database. The connection is built from the compose service stacktest found (host and published port)
and the credentials in the container's own environment, as the official images read them
(``POSTGRES_USER``/``POSTGRES_PASSWORD``/``POSTGRES_DB``; ``MYSQL_*`` or ``MARIADB_*``), unless host
variables named in the settings give them. A password is never printed: SQLAlchemy's URL masks it in
its text, and errors are reported by their class and the server's message only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from stacktest.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["DEFAULT_PORTS", "DIALECTS", "answers", "connect", "describe", "url_for", "url_from_env"]

DIALECTS = {
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mysql+pymysql",
    "sqlite": "sqlite",
}
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
EXTRA = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}
CONNECT_TIMEOUT = 3  # seconds


def _sqlalchemy(dialect: str) -> Any:
    try:
        import sqlalchemy
    except ImportError:
        raise ConfigError(
            f"a {dialect} probe or cleanup backend needs SQLAlchemy, which is not installed",
            hint=f"pip install 'stacktest[{EXTRA.get(dialect, 'postgres')}]'",
        ) from None
    return sqlalchemy


def url_for(
    dialect: str,
    host: str,
    port: int,
    container_env: Mapping[str, str],
    *,
    database: str = "",
    user_env: str = "",
    password_env: str = "",
) -> URL:
    """The URL of a database in a container, from what its image reads (see the module's text)."""
    sqlalchemy = _sqlalchemy(dialect)
    if dialect not in DIALECTS or dialect == "sqlite":
        raise ConfigError(f"no {dialect!r} database in a container", hint="use postgresql, mysql or mariadb")
    env = dict(container_env)
    if dialect == "postgresql":
        user = env.get("POSTGRES_USER") or "postgres"
        password = env.get("POSTGRES_PASSWORD", "")
        db = env.get("POSTGRES_DB") or user
    else:

        def pick(key: str) -> str:
            return env.get(f"MARIADB_{key}") or env.get(f"MYSQL_{key}") or ""

        user, password = pick("USER"), pick("PASSWORD")
        if not user:
            user, password = "root", pick("ROOT_PASSWORD")
        db = pick("DATABASE")
    user = os.environ[user_env] if user_env and user_env in os.environ else user
    password = os.environ[password_env] if password_env and password_env in os.environ else password
    return sqlalchemy.engine.URL.create(  # type: ignore[no-any-return]
        DIALECTS[dialect],
        username=user,
        password=password or None,
        host=host,
        port=port,
        database=database or db or None,
    )


def url_from_env(name: str) -> URL:
    """The database URL in the host variable ``name`` (``DATABASE_URL``); never printed."""
    text = os.environ.get(name, "")
    if not text:
        raise ConfigError(f"the variable {name} that should hold the database URL is not set")
    sqlalchemy = _sqlalchemy(text.split(":")[0].split("+")[0])
    try:
        url = sqlalchemy.engine.make_url(text)
    except sqlalchemy.exc.ArgumentError:
        raise ConfigError(
            f"the variable {name} does not hold a database URL (dialect://user@host/db)"
        ) from None
    if url.drivername == "postgresql":  # the bare name means psycopg2 to SQLAlchemy; we ship psycopg 3
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername in ("mysql", "mariadb"):
        url = url.set(drivername="mysql+pymysql")
    return url  # type: ignore[no-any-return]


def connect(url: URL) -> Engine:
    """An engine with no pool (every use is one connection, closed after) and a connect timeout."""
    dialect = url.drivername.split("+")[0]
    sqlalchemy = _sqlalchemy(dialect)
    from sqlalchemy.pool import NullPool

    args: dict[str, Any] = {}
    if dialect == "postgresql":
        args = {"connect_timeout": CONNECT_TIMEOUT}
    elif dialect in ("mysql", "mariadb"):
        args = {"connect_timeout": CONNECT_TIMEOUT, "read_timeout": 30, "write_timeout": 30}
    try:
        return sqlalchemy.create_engine(url, poolclass=NullPool, connect_args=args)  # type: ignore[no-any-return]
    except (ImportError, sqlalchemy.exc.NoSuchModuleError) as exc:  # the driver is missing
        raise ConfigError(
            f"cannot use the {url.drivername} database driver: {type(exc).__name__}",
            hint=f"pip install 'stacktest[{EXTRA.get(dialect, dialect)}]'",
        ) from None


def answers(url: URL) -> tuple[bool, str]:
    """Whether the database accepts a query (connect and ``SELECT 1``, as testcontainers' SQL wait
    strategy does): a port that is open is not yet a database that answers."""
    sqlalchemy = _sqlalchemy(url.drivername.split("+")[0])
    engine = connect(url)
    try:
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        return True, "SELECT 1 answered"
    except sqlalchemy.exc.DBAPIError as exc:
        return False, describe(exc)
    finally:
        engine.dispose()


def describe(exc: BaseException) -> str:
    """A database error in one line: the driver's class and the server's first line (no URL)."""
    inner = getattr(exc, "orig", None) or exc
    lines = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {lines[0] if lines else ''}"[:200]
