"""Steps 1 to 3 of the precedence: the declared defaults, ``[tool.stacktest]`` of pyproject.toml, then
``STACKTEST_*`` environment variables; and the structured tables, read from the file only."""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stacktest.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib
from stacktest.settings.fields import FIELD_BY_KEY, FIELDS, coerce
from stacktest.settings.model import CleanupBackend, Probe, RelatedKeys, RelatedRows, Settings, validated

__all__ = ["find_pyproject", "load_settings"]

_TABLE_KEYS = {"probes", "coverage", "cleanup"}


_COVERAGE_KEYS = {
    "services",
    "paths",
    "fail_under",
    "report_dir",
    "rcfile",
    "require_data",
    "accept_lost",
    "contexts",
}


_CLEANUP_KEYS = {"prefix", "backends"}


def find_pyproject(start: Path) -> Path | None:
    """The nearest pyproject.toml with a [tool.stacktest] table, from ``start`` upwards."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:  # never skip to a parent folder's settings
                raise ConfigError(
                    f"{candidate} cannot be read: {exc}",
                    hint="fix that file, or name the settings file with --config",
                ) from exc
            tool = data.get("tool", {})
            if isinstance(tool, dict) and "stacktest" in tool:
                return candidate
    return None


def load_settings(
    *,
    config: Path | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Steps 1 to 3 of the precedence; the CLI applies step 4 with :meth:`Settings.with_overrides`."""
    env = os.environ if environ is None else environ
    cwd = (cwd or Path.cwd()).resolve()
    # 1. defaults
    values: dict[str, Any] = {f.attr: _copy(f.default) for f in FIELDS}
    tables: dict[str, Any] = {}
    # 2. the file
    path = config
    if path is None and env.get("STACKTEST_CONFIG"):  # env: STACKTEST_CONFIG
        path = Path(env["STACKTEST_CONFIG"])
    if path is not None:
        path = (cwd / path).resolve()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist", hint="give the path of a pyproject.toml")
    else:
        path = find_pyproject(cwd)
    root = path.parent if path is not None else cwd
    if path is not None:
        table = _read_table(path)
        _apply_file(table, values, tables, path)
    # 3. the environment
    for f in FIELDS:
        if f.env in env:  # env: STACKTEST_<KEY> for every declared field
            values[f.attr] = coerce(f, env[f.env], f"environment variable {f.env}", text=True)
    settings = Settings(root=root, source=path, **values, **_build_tables(tables, path))
    return validated(settings)


def _copy(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _read_table(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
    table = data.get("tool", {}).get("stacktest", {})
    if not isinstance(table, dict):
        raise ConfigError(f"[tool.stacktest] in {path} must be a table")
    return table


def _apply_file(table: dict[str, Any], values: dict[str, Any], tables: dict[str, Any], path: Path) -> None:
    for key, value in table.items():
        if key in _TABLE_KEYS:
            if not isinstance(value, dict):
                raise ConfigError(f"tool.stacktest.{key} in {path} must be a table")
            tables[key] = value
            sub_allowed = {"coverage": _COVERAGE_KEYS, "cleanup": _CLEANUP_KEYS}.get(key)
            for sub_key, sub_value in value.items():
                dotted = f"{key}.{sub_key}"
                if dotted in FIELD_BY_KEY:
                    f = FIELD_BY_KEY[dotted]
                    values[f.attr] = coerce(f, sub_value, f"tool.stacktest.{dotted} in {path}")
                elif sub_allowed is not None and sub_key not in sub_allowed:
                    raise ConfigError(_unknown(f"{key}.{sub_key}", path))
            continue
        declared = FIELD_BY_KEY.get(key)
        if declared is None or "." in key:
            raise ConfigError(_unknown(key, path))
        values[declared.attr] = coerce(declared, value, f"tool.stacktest.{key} in {path}")


def _unknown(key: str, path: Path) -> str:
    import difflib

    names = [f.key for f in FIELDS] + sorted(_TABLE_KEYS)
    close = difflib.get_close_matches(key, names, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown setting tool.stacktest.{key} in {path}{guess}"


def _build_tables(tables: dict[str, Any], path: Path | None) -> dict[str, Any]:
    where = str(path) if path else "settings"
    out: dict[str, Any] = {}
    probes: dict[str, Probe] = {}
    timeouts: dict[str, float] = {}
    for service, spec in tables.get("probes", {}).items():
        probe, timeout = _probe(service, spec, where)
        if probe is not None:
            probes[service] = probe
        if timeout is not None:
            timeouts[service] = timeout
    out["probes"] = probes
    out["ready_timeouts"] = timeouts
    cov = tables.get("coverage", {})
    services = cov.get("services", [])
    if not isinstance(services, list) or not all(isinstance(s, str) for s in services):
        raise ConfigError(f"tool.stacktest.coverage.services in {where}: expected a list of service names")
    out["coverage_services"] = tuple(services)
    paths = cov.get("paths", {})
    if not isinstance(paths, dict) or not all(
        isinstance(m, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in m.items())
        for m in paths.values()
    ):
        raise ConfigError(
            f"tool.stacktest.coverage.paths in {where}: "
            "expected service = { '/container/path' = 'host/path' }"
        )
    out["coverage_paths"] = {k: dict(v) for k, v in paths.items()}
    backends = []
    tables_of_backends = tables.get("cleanup", {}).get("backends", {})
    if not isinstance(tables_of_backends, dict):
        raise ConfigError(
            f"tool.stacktest.cleanup.backends in {where}: expected a table of backends "
            "([tool.stacktest.cleanup.backends.NAME]), not an array of tables"
        )
    for name, spec in tables_of_backends.items():
        backends.append(_backend(name, spec, where))
    out["cleanup_backends"] = tuple(backends)
    return out


def _probe(service: str, spec: Any, where: str) -> tuple[Probe | None, float | None]:
    """A service's probe (None: the default rules) and its own ready_timeout (None: the global one)."""
    key = f"tool.stacktest.probes.{service}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{key} in {where} must be a table with http/port, tcp or log")
    unknown = set(spec) - {"http", "port", "tcp", "send", "expect", "log", "sql", "database", "ready_timeout"}
    if unknown:
        raise ConfigError(f"unknown key {key}.{sorted(unknown)[0]} in {where}")
    timeout = spec.get("ready_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf
    ):
        raise ConfigError(f"{key}.ready_timeout in {where}: expected a number of seconds above 0")
    timeout = float(timeout) if timeout is not None else None
    kinds = [k for k in ("http", "tcp", "log", "sql") if k in spec]
    if len(kinds) > 1:
        raise ConfigError(f"{key} in {where}: give one of http, tcp, log or sql, not {' and '.join(kinds)}")
    if "sql" in spec:
        dialect = spec["sql"]
        if dialect not in SQL_PORTS:
            raise ConfigError(
                f"{key}.sql in {where}: expected one of {', '.join(SQL_PORTS)}, got {dialect!r}"
            )
        port = spec.get("port", SQL_PORTS[dialect])
        if not _is_port(port):
            raise ConfigError(f"{key}.port in {where}: expected a container port number")
        return Probe("sql", port, dialect=dialect, database=str(spec.get("database", ""))), timeout
    if "http" in spec:
        if not _is_port(spec.get("port")) or not isinstance(spec["http"], str):
            raise ConfigError(f"{key} in {where}: http = '/path' needs port = <container port>")
        return Probe("http", spec["port"], path=_path(spec["http"], f"{key}.http in {where}")), timeout
    if "tcp" in spec:
        if not _is_port(spec["tcp"]):
            raise ConfigError(f"{key}.tcp in {where}: expected a container port number")
        probe = Probe("tcp", spec["tcp"], send=str(spec.get("send", "")), expect=str(spec.get("expect", "")))
        return probe, timeout
    if "log" in spec:
        pattern = spec["log"]
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{key}.log in {where}: expected a regular expression, such as 'Listening on'")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(
                f"{key}.log in {where}: {pattern!r} is not a regular expression: {exc}"
            ) from None
        return Probe("log", pattern=pattern), timeout
    if timeout is not None and not set(spec) - {"ready_timeout"}:
        return None, timeout
    raise ConfigError(
        f"{key} in {where}: give http = '/path' and port, tcp = <port>, log = '<regular expression>', "
        "or only ready_timeout"
    )


def _is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 65536


def _path(value: Any, where: str) -> str:
    """A URL path: it must start with '/', or 'host:port' + path would name another host."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        raise ConfigError(f"{where}: {value!r} must be a path starting with '/'")
    return value


SQL_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306}
_SQL_KEYS = {
    "kind", "service", "port", "dialect", "database", "url_env", "user_env", "password_env", "table",
    "name_column", "id_column", "related", "enabled",
}  # fmt: skip


def _backend(name: str, spec: Any, where: str) -> CleanupBackend:
    key = f"tool.stacktest.cleanup.backends.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{key} in {where} must be a table")
    kind = spec.get("kind")
    if kind == "sql":
        return _sql_backend(name, spec, f"{key}", where)
    if kind not in ("redis", "http"):
        raise ConfigError(f"{key}.kind in {where}: expected 'redis', 'http' or 'sql', got {kind!r}")
    allowed = {
        "kind",
        "service",
        "port",
        "name_field",
        "id_field",
        "match",
        "related",
        "list",
        "list_auth_env",
        "delete",
        "delete_token_field",
        "enabled",
    }
    unknown = set(spec) - allowed
    if unknown:
        raise ConfigError(f"unknown key {key}.{sorted(unknown)[0]} in {where}")
    if not isinstance(spec.get("service"), str) or not _is_port(spec.get("port")):
        raise ConfigError(f"{key} in {where}: needs service = 'name' and port = <container port>")
    if not isinstance(spec.get("enabled", True), bool):
        raise ConfigError(f"{key}.enabled in {where}: expected true or false, got {spec['enabled']!r}")
    related = []
    for item in spec.get("related", []):
        if not isinstance(item, dict) or set(item) != {"match", "field"}:
            raise ConfigError(f"{key}.related in {where}: each entry has exactly match and field")
        related.append(RelatedKeys(str(item["match"]), str(item["field"])))
    if kind == "redis" and not spec.get("match"):
        raise ConfigError(f"{key}.match in {where}: a redis backend needs a key pattern, e.g. 'client:*'")
    if kind == "http" and not (spec.get("list") and spec.get("delete")):
        raise ConfigError(f"{key} in {where}: an http backend needs list and delete paths")
    if kind == "http":
        _path(spec["list"], f"{key}.list in {where}")
        _path(spec["delete"], f"{key}.delete in {where}")
    return CleanupBackend(
        name=name,
        kind=kind,
        service=spec["service"],
        port=spec["port"],
        name_field=str(spec.get("name_field", "client_name")),
        id_field=str(spec.get("id_field", "client_id")),
        match=str(spec.get("match", "")),
        related=tuple(related),
        list_path=str(spec.get("list", "")),
        list_auth_env=str(spec.get("list_auth_env", "")),
        delete_path=str(spec.get("delete", "")),
        delete_token_field=str(spec.get("delete_token_field", "")),
        enabled=spec.get("enabled", True),
    )


def _sql_backend(name: str, spec: dict[str, Any], key: str, where: str) -> CleanupBackend:
    unknown = set(spec) - _SQL_KEYS
    if unknown:
        raise ConfigError(f"unknown key {key}.{sorted(unknown)[0]} in {where}")
    for field in ("table", "name_column", "id_column"):
        if not isinstance(spec.get(field), str) or not spec[field]:
            raise ConfigError(
                f"{key}.{field} in {where}: a sql backend needs table, name_column and id_column"
            )
    url_env = spec.get("url_env", "")
    dialect = spec.get("dialect", "")
    if not url_env and (dialect not in SQL_PORTS or not isinstance(spec.get("service"), str)):
        raise ConfigError(
            f"{key} in {where}: give service = 'db' and dialect = 'postgresql', 'mysql' or 'mariadb' "
            "(or url_env = 'DATABASE_URL', a variable holding the database URL)"
        )
    port = spec.get("port", SQL_PORTS.get(dialect, 0))
    if not url_env and not _is_port(port):
        raise ConfigError(f"{key}.port in {where}: expected a container port number")
    related = []
    for item in spec.get("related", []):
        if not isinstance(item, dict) or set(item) != {"table", "column"}:
            raise ConfigError(f"{key}.related in {where}: each entry has exactly table and column")
        related.append(RelatedRows(str(item["table"]), str(item["column"])))
    if not isinstance(spec.get("enabled", True), bool):
        raise ConfigError(f"{key}.enabled in {where}: expected true or false, got {spec['enabled']!r}")
    return CleanupBackend(
        name=name,
        kind="sql",
        service=str(spec.get("service", "")),
        port=int(port or 0),
        name_field=spec["name_column"],
        id_field=spec["id_column"],
        table=spec["table"],
        related_rows=tuple(related),
        dialect=str(dialect),
        database=str(spec.get("database", "")),
        url_env=str(url_env),
        user_env=str(spec.get("user_env", "")),
        password_env=str(spec.get("password_env", "")),
        enabled=spec.get("enabled", True),
    )
