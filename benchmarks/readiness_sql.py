"""Readiness of a SQL database: a `sql` probe (connect and SELECT 1) against a `tcp` probe.

A fresh PostgreSQL (the stand-in image of tests/corpus/repos/_images: Debian's PostgreSQL 15, set up
as the official image is) spends its first seconds in initdb. A thread polls it with SELECT 1 every
10 ms from the host and notes when it first answers: the moment the database accepts queries. Per
probe kind, per trial, from the moment stacktest says the service is ready: how long after that moment
(the goal: within 100 ms for the sql probe; the poller and the probe race, so a few ms either way), or,
negative, how long before it (a published port is open at once: the engine's proxy accepts connections
before the database listens). The ratio: how much further from that moment the tcp probe is.

    python benchmarks/readiness_sql.py [--trials 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa
import yaml
from _common import REPO, median, record

from stacktest.adapters.engine import Engine
from stacktest.settings import load_settings
from stacktest.stack import lifecycle as stacks
from stacktest.stack.rules import Status

PASSWORD = "bench-secret"  # noqa: S105 - the benchmark's own throwaway database
STACK = {
    "services": {
        "db": {
            "image": "postgres:15-stacktest",
            "environment": {"POSTGRES_PASSWORD": PASSWORD},
            "ports": ["127.0.0.1::5432"],
        }
    }
}
PROBES = {
    "sql": "[tool.stacktest.probes.db]\nsql = 'postgresql'\n",
    "tcp": "[tool.stacktest.probes.db]\ntcp = 5432\n",
}


def images(engine: Engine) -> None:
    spec = importlib.util.spec_from_file_location("images", REPO / "tests/corpus/repos/_images/build.py")
    assert spec is not None and spec.loader is not None
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.ensure_images(engine)


def trial(root: Path, engine: Engine, kind: str) -> float:
    """Seconds from the database first answering a query to stacktest saying it is ready."""
    (root / "pyproject.toml").write_text("[tool.stacktest]\nready_timeout = 120\n" + PROBES[kind])
    settings = load_settings(config=root / "pyproject.toml")
    started = stacks.start(settings)
    answered: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        port = None
        while not stop.is_set() and not answered:
            port = port or engine.states(started.project)["db"].ports.get(5432)
            if port:
                url = sa.engine.URL.create(
                    "postgresql+psycopg", "postgres", PASSWORD, "127.0.0.1", port, "postgres"
                )
                db = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 1})
                try:
                    with db.connect() as conn:
                        conn.execute(sa.text("SELECT 1"))
                    answered.append(time.time())
                except sa.exc.DBAPIError:
                    pass
                finally:
                    db.dispose()
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    declared: list[float] = []
    try:
        started.wait(lambda p: declared.append(time.time()) if p.status is Status.READY else None)
        poller.join(timeout=60)
        assert answered, "the database never answered"
        return declared[-1] - answered[0]
    finally:
        stop.set()
        stacks.teardown(started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    engine = Engine.connect()
    images(engine)
    delays: dict[str, list[float]] = {"sql": [], "tcp": []}
    with tempfile.TemporaryDirectory(prefix="stacktest-bench-") as tmp:
        root = Path(tmp)
        (root / "docker-compose.yml").write_text(yaml.safe_dump(STACK))
        for i in range(args.trials):  # interleaved, so drift of the machine hits both alike
            for kind in ("sql", "tcp"):
                delays[kind].append(trial(root, engine, kind))
            print(
                f"trial {i + 1}: ready after the first answered query: "
                f"sql probe {delays['sql'][-1] * 1000:.0f} ms, "
                f"tcp probe {delays['tcp'][-1] * 1000:.0f} ms"
            )
    sql, tcp = median(delays["sql"]), median(delays["tcp"])
    print(
        f"median: the sql probe said ready {sql * 1000:.0f} ms after the database first answered a query; "
        f"the tcp probe {tcp * 1000:.0f} ms ({'before' if tcp < 0 else 'after'} it)"
    )
    record(
        "readiness-sql",
        abs(tcp) / max(abs(sql), 0.001),
        "the sql probe says ready within 100 ms of the database first answering a query",
        max(abs(d) for d in delays["sql"]) <= 0.1,
        {
            "sql_probe_after_first_answer_ms": round(sql * 1000, 1),
            "tcp_probe_after_first_answer_ms": round(tcp * 1000, 1),
            "trials": args.trials,
        },
        f"python benchmarks/readiness_sql.py --trials {args.trials}",
    )


if __name__ == "__main__":
    main()
