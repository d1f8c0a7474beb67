"""How init proposes to tell that a service is ready: one rule set, in order, each decision with its
reason.

1. One-shot and test-runner services get no probe (their exit 0 is their success).
2. A healthcheck (compose's, or the image's Dockerfile ``HEALTHCHECK``) that asks an HTTP URL gives an
   HTTP probe on that path and port; any other healthcheck is left to stacktest, which runs it itself.
3. A service that speaks HTTP (its server, ``app_protocol: http``) gets an HTTP probe on a path that
   answers: a health route found in its code, else ``/`` when a route serves it, else the framework's
   own page (FastAPI's ``/docs``, Django's ``/admin/``).
4. Databases, caches and brokers get a TCP probe on their port, with no advice.
5. Workers get a log probe on their ready line when their log reaches the container output; otherwise
   a note says that "ready" means "running".
6. Anything else with a published port gets a TCP probe, and a note saying what is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacktest.adopt.runs import Runs

__all__ = ["DATASTORES", "Choice", "choose", "healthcheck_url", "published_ports"]

# images of services that are not the repository's code: databases, caches, brokers, search
DATASTORES = re.compile(
    r"(^|/)(postgres|postgis|mysql|mariadb|redis|valkey|keydb|mongo|memcached|rabbitmq|elasticsearch|"
    r"opensearch|kafka|zookeeper|minio|cassandra|clickhouse|nats|localstack|mailhog|mailpit|couchdb|"
    r"neo4j|influxdb|etcd|consul|vault|azurite|pgbouncer|timescale)[^/]*$"
)
# images of web servers and proxies: HTTP on their port, / answers
WEB_SERVERS = re.compile(r"(^|/)(nginx|httpd|apache2?|caddy|traefik|lighttpd|openresty|envoy)[^/]*$")
_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0|\[::1\]|[\w.-]+):(\d+)(/[^\s'\")]*)?")
_URL_NO_PORT = re.compile(r"https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0)(/[^\s'\")]*)")


@dataclass
class Choice:
    probe: dict[str, Any] | None
    why: str
    notes: list[str] = field(default_factory=list)


def healthcheck_url(test: object) -> tuple[int | None, str] | None:
    """(port, path) of the URL a healthcheck command asks; None when it asks none."""
    text = " ".join(str(t) for t in test) if isinstance(test, list) else str(test or "")
    match = _URL.search(text)
    if match:
        return int(match[1]), match[2] or "/"
    bare = _URL_NO_PORT.search(text)
    return (80, bare[1]) if bare else None


def published_ports(spec: Mapping[str, Any]) -> list[int]:
    """The container ports a compose service publishes (long or short syntax)."""
    out = []
    for p in spec.get("ports") or []:
        target = p.get("target") if isinstance(p, Mapping) else str(p).split(":")[-1].split("/")[0]
        try:
            out.append(int(str(target).split("-")[0]))
        except ValueError:
            continue
    return out


def choose(
    name: str,
    spec: Mapping[str, Any],
    runs: Runs,
    *,
    image_healthcheck: object = None,
    exposed: Sequence[int] = (),
    routes: Sequence[str] = (),
    frameworks: Sequence[str] = (),
    base_image: str = "",
) -> Choice:
    """The probe for one service, with the reason; notes for what a user must know. ``base_image``:
    the image its Dockerfile builds FROM, for a built service."""
    ports = published_ports(spec)
    image = base_image or str(spec.get("image") or "")
    bare = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image.split("@")[0]
    check = (spec.get("healthcheck") or {}).get("test") or image_healthcheck
    if runs.kind in ("oneshot", "tests"):
        return Choice(None, f"{runs.why}: it exits when done, so no probe")
    if (spec.get("healthcheck") or {}).get("disable") or check in (["NONE"], "NONE"):
        check = None
    asked = healthcheck_url(check) if check else None
    if asked and asked[0] in ports:
        where = "compose healthcheck" if spec.get("healthcheck") else "Dockerfile HEALTHCHECK"
        return Choice({"http": asked[1], "port": asked[0]}, f"its {where} asks {asked[1]} on port {asked[0]}")
    if check:
        return Choice(None, "it has a healthcheck: stacktest runs that command itself, at once")
    protocols = {
        int(p["target"])
        for p in spec.get("ports") or []
        if isinstance(p, Mapping) and p.get("app_protocol") == "http"
    }
    if not runs.python and WEB_SERVERS.search(bare) and ports:
        web = 80 if 80 in ports else ports[0]
        return Choice({"http": "/", "port": web}, f"{image} is a web server: / on port {web}")
    serves = runs.kind == "python" and "http" in frameworks  # a Python program whose code serves HTTP
    speaks_http = runs.kind == "http" or bool(protocols) or serves
    if speaks_http:
        if serves and not runs.why.endswith("HTTP"):
            runs.why += " (its code serves HTTP)"
        return _http(name, runs, ports, exposed, protocols, routes, frameworks)
    if DATASTORES.search(bare):
        return _datastore(name, image, bare, ports)
    if runs.kind in ("worker", "scheduler"):
        return _worker(name, runs)
    if ports:
        return Choice(
            {"tcp": ports[0]},
            f"it publishes port {ports[0]} and nothing says what it speaks",
            [f"{name}: a TCP probe only says port {ports[0]} is open; if it speaks HTTP, give it a path"],
        )
    return Choice(None, "it publishes no port and has no healthcheck: ready once running")


def _http(
    name: str,
    runs: Runs,
    ports: list[int],
    exposed: Sequence[int],
    protocols: set[int],
    routes: Sequence[str],
    frameworks: Sequence[str],
) -> Choice:
    port = runs.port if runs.port in ports else next(iter(sorted(protocols & set(ports))), None)
    port = port or (ports[0] if len(ports) == 1 else None) or runs.port or (exposed[0] if exposed else None)
    notes = []
    if port not in ports:
        notes.append(
            f"{name}: serves HTTP on port {port} but publishes no port for it, so tests cannot reach it; "
            f'add `ports: ["127.0.0.1::{port}"]`'
        )
        return Choice(None, f"{runs.why or 'it speaks HTTP'}, but on no published port", notes)
    path, where = _path(routes, frameworks)
    if path is None:
        notes.append(f"{name}: no route known to answer below 400; the probe asks / (edit it to a real path)")
        path, where = "/", "no route found"
    return Choice(
        {"http": path, "port": port}, f"{runs.why or 'it speaks HTTP'} on port {port}; {where}", notes
    )


_HEALTHY = re.compile(
    r"^/?(health|healthz|healthcheck|health-check|_health|ping|ready|readyz|readiness|livez|liveness|status|heartbeat)/?$",
    re.I,
)


def _path(routes: Sequence[str], frameworks: Sequence[str]) -> tuple[str | None, str]:
    for route in routes:
        if _HEALTHY.match(route):
            return "/" + route.strip("/") + (
                "/" if route.endswith("/") and route != "/" else ""
            ), f"{route} is a route in its code"
    if "/" in routes or "" in routes:
        return "/", "/ is a route in its code"
    if "fastapi" in frameworks:
        return "/docs", "FastAPI serves /docs unless told not to"
    if "django-admin" in frameworks:
        return "/admin/", "Django's admin answers /admin/ (a redirect to its login)"
    return None, ""


def _worker(name: str, runs: Runs) -> Choice:
    if runs.ready_line:
        return Choice({"log": runs.ready_line}, f"{runs.why}: ready when its log says so")
    if runs.logs_to_file:
        return Choice(
            None,
            f"{runs.why}, logging to a file",
            [f"{name}: it logs to a file, not to the container output: ready will mean running"],
        )
    return Choice(
        None,
        runs.why,
        [f"{name}: {runs.program} prints no ready line stacktest knows: ready will mean running"],
    )


def _sql_dialect(image: str) -> str:
    name = image.rsplit("/", 1)[-1]
    if re.match(r"(postgres|postgis|timescale)", name):
        return "postgresql"
    if name.startswith("mariadb"):
        return "mariadb"
    return "mysql" if name.startswith("mysql") else ""


def _sql_driver(dialect: str) -> bool:
    """Whether this machine can run a sql probe of ``dialect`` (SQLAlchemy and the driver)."""
    import importlib.util

    driver = "psycopg" if dialect == "postgresql" else "pymysql"
    return all(importlib.util.find_spec(m) is not None for m in ("sqlalchemy", driver))


def _datastore(name: str, image: str, bare: str, ports: list[int]) -> Choice:
    """A database, cache or broker: a sql probe for SQL databases (when this machine has the driver),
    else a TCP probe on its port; no advice."""
    sql = _sql_dialect(bare)
    if sql and ports:
        port = next((p for p in ports if p in (5432, 3306)), ports[0])
        if _sql_driver(sql):
            why = f"{image} is a SQL database: ready when it answers a query (SELECT 1)"
            return Choice({"sql": sql, "port": port}, why)
        return Choice(
            {"tcp": port},
            f"{image} is a SQL database; ready when its port opens",
            [
                f"{name}: `pip install 'stacktest[{'postgres' if sql == 'postgresql' else 'mysql'}]'` "
                "and set `sql = '" + sql + "'`: a probe that waits until it answers queries"
            ],
        )
    if ports:
        return Choice({"tcp": ports[0]}, f"{image} is a database, cache or broker: ready when its port opens")
    return Choice(
        None,
        f"{image} is a database, cache or broker; it publishes no port (tests reach it through others)",
    )
