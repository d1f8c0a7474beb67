"""The sql cleanup backend and the sql probe on real PostgreSQL and MariaDB (tests/integration/stacks/sql,
from the stand-in images built offline from Debian's packages).

The property test: random names (``%``, ``_``, the escape character, quotes, unicode, ``TEST`` without
the space, in other case, the prefix inside the name) in a table, with rows in other tables that refer
to them (by foreign key, and listed by hand); `stacktest cleanup` must show exactly the rows whose name
starts with "TEST ", and `cleanup --yes` must delete exactly those and the rows that refer to them. The
seed is printed (STACKTEST_SEED replays it).
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from stacktest.adapters.engine import Engine
from tests.conftest import STACKS, left_nothing, run_cli, stand_in_images

SECRETS = ("pg-secret-not-printed", "maria-secret-not-printed", "root-secret-not-printed")
PIECES = ["TEST ", "TEST", "test ", "Test ", "TEST%", "TEST_", "%", "_", "/", "\\", "'", '"', "ü", " ", "x",
          "\u0422\u0415\u0421\u0422 ", "TEST /", "TEST 日本", "_EST ", "T%ST ", "TES", "T"]  # fmt: skip
DATABASES = {
    "postgres": ("postgresql+psycopg", "app", "pg-secret-not-printed", "pg-clients"),
    "mariadb": ("mysql+pymysql", "app", "maria-secret-not-printed", "maria-clients"),
}


@pytest.fixture(scope="module")
def sql_stack(tmp_path_factory: pytest.TempPathFactory, docker_engine: Engine) -> Iterator[Path]:
    stand_in_images(docker_engine)
    root = tmp_path_factory.mktemp("sql") / "sql"
    import shutil

    shutil.copytree(STACKS / "sql", root)
    up = run_cli(["up"], root)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "probe answered" in up.stdout + up.stderr
        yield root
    finally:
        run_cli(["down"], root)
        left_nothing(docker_engine, root)


def database(root: Path, service: str, engine: Engine) -> sa.Engine:
    """The test's own connection to a database of the stack (credentials as the compose file sets)."""
    driver, user, password, _ = DATABASES[service]
    project = next((root / ".stacktest" / "stacks").glob("*.json")).stem
    port = engine.states(project)[service].ports[5432 if service == "postgres" else 3306]
    url = sa.engine.URL.create(
        driver, username=user, password=password, host="127.0.0.1", port=port, database="appdb"
    )
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def schema(db: sa.Engine) -> tuple[sa.Table, sa.Table, sa.Table, sa.Table]:
    meta = sa.MetaData()
    client = sa.Table(
        "client",
        meta,
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(64), unique=True, nullable=False),
        sa.Column("client_name", sa.String(200, collation=None), nullable=False),
    )
    token = sa.Table(  # refers to client by a foreign key: found by reflection
        "token",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("client.client_id"), nullable=False),
    )
    grant = sa.Table(  # refers to client without a key: listed by hand in the settings
        "grant_code",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_ref", sa.String(64), nullable=False),
    )
    legacy = sa.Table(  # ids that are not unique
        "legacy_client",
        meta,
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("client_name", sa.String(200), nullable=False),
    )
    meta.drop_all(db)
    meta.create_all(db)
    return client, token, grant, legacy


def names(rng: random.Random, count: int) -> list[str]:
    out = [rng.choice(PIECES) + "".join(rng.choices(PIECES, k=rng.randrange(0, 3))) for _ in range(count)]
    return [*out, "TEST x", "xTEST y", "TESTx", "test x", "TEST\\%_"]  # each case at least once


@pytest.mark.parametrize("service", sorted(DATABASES))
def test_cleanup_deletes_exactly_the_prefixed_rows_and_what_refers_to_them(
    sql_stack: Path, docker_engine: Engine, service: str
) -> None:
    seed = int(os.environ.get("STACKTEST_SEED", random.randrange(10**6)))
    print(f"STACKTEST_SEED={seed}")
    rng = random.Random(seed)
    db = database(sql_stack, service, docker_engine)
    client, token, grant, _ = schema(db)
    rows = [{"client_id": f"c{i}", "client_name": n} for i, n in enumerate(names(rng, 60))]
    with db.begin() as conn:
        conn.execute(client.insert(), rows)
        refs = [{"client_id": r["client_id"]} for r in rows for _ in range(rng.randrange(0, 3))]
        grants = [{"client_ref": r["client_id"]} for r in rows if rng.random() < 0.5]
        conn.execute(token.insert(), refs) if refs else None
        conn.execute(grant.insert(), grants) if grants else None
    doomed = {r["client_id"] for r in rows if r["client_name"].startswith("TEST ")}
    backend = DATABASES[service][3]

    shown = run_cli(["cleanup", "--json", "--backend", backend], sql_stack)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    [found] = json.loads(shown.stdout)["backends"]
    assert {r["id"] for r in found["records"]} == doomed, f"seed {seed}"
    assert found["related_by"] == {
        "grant_code.client_ref": sum(g["client_ref"] in doomed for g in grants),
        "token.client_id": sum(t["client_id"] in doomed for t in refs),
    }

    done = run_cli(["cleanup", "--yes", "--backend", backend], sql_stack)
    assert done.returncode == 0, done.stdout + done.stderr
    with db.connect() as conn:
        left = {r.client_id: r.client_name for r in conn.execute(sa.select(client))}
        tokens = [t.client_id for t in conn.execute(sa.select(token))]
        grants_left = [g.client_ref for g in conn.execute(sa.select(grant))]
    assert set(left) == {r["client_id"] for r in rows} - doomed, f"seed {seed}"
    assert sorted(tokens) == sorted(t["client_id"] for t in refs if t["client_id"] not in doomed)
    assert sorted(grants_left) == sorted(g["client_ref"] for g in grants if g["client_ref"] not in doomed)
    for said in (shown, done):
        assert not any(secret in said.stdout + said.stderr for secret in SECRETS)


def test_an_id_shared_with_a_row_that_is_not_test_data_is_never_used(
    sql_stack: Path, docker_engine: Engine
) -> None:
    db = database(sql_stack, "postgres", docker_engine)
    _, _, grant, legacy = schema(db)
    with db.begin() as conn:
        conn.execute(
            legacy.insert(),
            [
                {"client_id": "shared", "client_name": "TEST shared"},
                {"client_id": "shared", "client_name": "a customer"},
                {"client_id": "own", "client_name": "TEST own"},
            ],
        )
        conn.execute(grant.insert(), [{"client_ref": "shared"}, {"client_ref": "own"}])
    done = run_cli(["cleanup", "--yes", "--backend", "pg-legacy"], sql_stack)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "also the id of a row that is not test data" in done.stderr
    with db.connect() as conn:
        left: list[Any] = sorted((r.client_id, r.client_name) for r in conn.execute(sa.select(legacy)))
        grants = sorted(g.client_ref for g in conn.execute(sa.select(grant)))
    assert left == [("shared", "TEST shared"), ("shared", "a customer")]
    assert grants == ["shared"]


def test_status_and_diagnose_ask_the_databases_and_print_no_secret(sql_stack: Path) -> None:
    status = run_cli(["status"], sql_stack)
    assert status.returncode == 0 and "postgresql://127.0.0.1:" in status.stdout, status.stdout
    diagnose = run_cli(["diagnose", "--json"], sql_stack)
    assert diagnose.returncode == 0, diagnose.stdout
    ports = [f for f in json.loads(diagnose.stdout)["findings"] if f["check"] == "port"]
    assert {f["subject"] for f in ports if f["evidence"] == "SELECT 1 answered"} == {"postgres", "mariadb"}
    for said in (status, diagnose):
        assert not any(secret in said.stdout + said.stderr for secret in SECRETS)
