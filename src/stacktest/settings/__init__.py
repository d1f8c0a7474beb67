"""Settings, declared once.

Each setting is one :class:`Field` in :data:`FIELDS`: its key in ``[tool.stacktest]``, its type, default,
environment variable and help. ``--set KEY=VALUE`` reaches every field; the few named flags take their
help from the same table (:func:`help_of`), and docs/configuration.md's table is :func:`keys_table`.
Precedence, lowest first:

1. the defaults declared here;
2. ``[tool.stacktest]`` of the project's pyproject.toml (found upwards from the working directory, or
   named by ``--config`` / ``STACKTEST_CONFIG``);
3. ``STACKTEST_*`` environment variables;
4. command-line flags.

Structured tables (``probes``, ``coverage.paths``, ``cleanup.backends``) are read from the file only.
Every error names the key and the file it came from.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from stacktest.errors import ConfigError, UsageError
from stacktest.state import FOLDER, StateDir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "FIELDS",
    "CleanupBackend",
    "Field",
    "Probe",
    "RelatedKeys",
    "Settings",
    "find_pyproject",
    "help_of",
    "keys_table",
    "load_settings",
]

Kind = Literal["str", "optional-str", "float", "optional-float", "int", "bool", "list", "choice"]


@dataclass(frozen=True)
class Field:
    """One declared setting."""

    key: str  # dotted key under [tool.stacktest]
    kind: Kind
    default: Any
    help: str
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return "STACKTEST_" + self.key.replace(".", "_").replace("-", "_").upper()

    @property
    def attr(self) -> str:
        return self.key.replace(".", "_").replace("-", "_")


FIELDS: tuple[Field, ...] = (
    Field(
        "compose_files",
        "list",
        ["docker-compose.yml"],
        "compose files of the stack, relative to the project root",
    ),
    Field("project_prefix", "str", "stacktest", "prefix of every compose project name stacktest creates"),
    Field(
        "project_name",
        "optional-str",
        None,
        "use exactly this compose project name (default: a new one per run)",
    ),
    Field(
        "compose_command",
        "optional-str",
        None,
        "compose command to use, e.g. 'docker compose' (default: detect)",
    ),
    Field(
        "images",
        "choice",
        "compose",
        "'compose': build and run the stack exactly as compose would; 'local': stacks written for "
        "stacktest's offline base image (the bundled example) get that image built from Debian's packages "
        "and their requirements as wheels downloaded on the host; 'public': the same stacks on public "
        "base images, for machines with a registry",
        choices=("compose", "local", "public"),
    ),
    Field(
        "build",
        "choice",
        "always",
        "'always': build images on every start (cached builds take < 1 s), so "
        "tests run the code on disk; 'missing': only build images that do not exist",
        choices=("always", "missing"),
    ),
    Field(
        "pull",
        "choice",
        "missing",
        "when compose pulls images: 'missing' (compose's default), 'always' (a fresh image every start), "
        "'never' (offline: fail rather than pull)",
        choices=("always", "missing", "never"),
    ),
    Field(
        "base_image",
        "str",
        "stacktest-base:bookworm",
        "name of the local base image built from Debian's packages",
    ),
    Field("ready_timeout", "float", 120.0, "seconds the stack has to become ready"),
    Field("command_timeout", "float", 900.0, "seconds any one compose command may take (builds included)"),
    Field(
        "stop_timeout",
        "optional-float",
        None,
        "seconds every service has to stop gracefully before it is killed (default: each service's "
        "stop_grace_period, 10 s where none is set)",
    ),
    Field("poll_interval", "float", 0.02, "seconds between readiness probes"),
    Field(
        "workers_per_core",
        "float",
        1.0,
        "xdist workers per CPU core in the modes that choose the count (test-parallel, test-fast, "
        "by-module, by-class, parallel-safe): 1 is xdist's 'auto'; more for suites that wait on the "
        "network or a remote engine rather than this machine's CPU (see docs/benchmarks.md)",
    ),
    Field("tests", "list", ["tests"], "test paths pytest runs when none are given"),
    Field("domain_markers", "list", [], "extra pytest markers to register (the seed's auth, servers, ...)"),
    Field("log_section_lines", "int", 40, "log lines per service attached to a failing test's report"),
    Field("reap_age", "float", 6.0, "hours after which a stack is stale even if its owner still runs"),
    Field("cleanup_after_tests", "bool", False, "remove 'TEST ' data after every `stacktest test` run"),
    Field(
        "shard_durations",
        "list",
        [f"{FOLDER}/last/junit.xml"],
        "JUnit XML files (glob patterns, from the project root) whose test times balance `--shard I/N`",
    ),
    Field("coverage.fail_under", "float", 0.0, "minimum total coverage percentage of the services"),
    Field("coverage.report_dir", "str", f"{FOLDER}/coverage", "folder for the HTML, XML and JSON reports"),
    Field("coverage.rcfile", "optional-str", None, "coverage configuration used inside the containers"),
    Field(
        "coverage.require_data",
        "bool",
        True,
        "fail the run when a covered service produced no coverage data (killed, never ran Python, "
        "or the spy could not start)",
    ),
    Field(
        "coverage.accept_lost",
        "list",
        [],
        "covered services whose processes may end without saving their data (killed workers): the run "
        "names them and goes on instead of failing",
    ),
    Field("cleanup.prefix", "str", "TEST ", "name prefix that marks test data"),
)

_FIELD_BY_KEY = {f.key: f for f in FIELDS}
_TABLE_KEYS = {"probes", "coverage", "cleanup"}
_COVERAGE_KEYS = {"services", "paths", "fail_under", "report_dir", "rcfile", "require_data", "accept_lost"}
_CLEANUP_KEYS = {"prefix", "backends"}


@dataclass(frozen=True)
class Probe:
    """How to tell from the host that a service is ready."""

    kind: Literal["http", "tcp", "log"]
    port: int = 0  # the container port (http, tcp); 0 for a log probe
    path: str = "/"
    send: str = ""
    expect: str = ""
    pattern: str = ""  # log: a regular expression searched in the output since the container started


@dataclass(frozen=True)
class RelatedKeys:
    match: str
    field: str


@dataclass(frozen=True)
class CleanupBackend:
    name: str
    kind: Literal["redis", "http"]
    service: str
    port: int
    name_field: str = "client_name"
    id_field: str = "client_id"
    match: str = ""
    related: tuple[RelatedKeys, ...] = ()
    list_path: str = ""
    list_auth_env: str = ""
    delete_path: str = ""
    delete_token_field: str = ""
    enabled: bool = True


@dataclass(frozen=True)
class Settings:
    """The resolved settings. Defaults live in :data:`FIELDS` only; :func:`load_settings` fills every
    field."""

    root: Path
    source: Path | None
    compose_files: tuple[str, ...]
    project_prefix: str
    project_name: str | None
    compose_command: str | None
    images: str
    build: str
    pull: str
    base_image: str
    ready_timeout: float
    command_timeout: float
    stop_timeout: float | None
    poll_interval: float
    workers_per_core: float
    tests: tuple[str, ...]
    domain_markers: tuple[str, ...]
    log_section_lines: int
    reap_age: float
    cleanup_after_tests: bool
    shard_durations: tuple[str, ...]
    coverage_fail_under: float
    coverage_report_dir: str
    coverage_rcfile: str | None
    coverage_require_data: bool
    coverage_accept_lost: tuple[str, ...]
    cleanup_prefix: str
    probes: Mapping[str, Probe]
    ready_timeouts: Mapping[str, float]  # per service, from its probes table; else ready_timeout
    coverage_services: tuple[str, ...]
    coverage_paths: Mapping[str, Mapping[str, str]]
    cleanup_backends: tuple[CleanupBackend, ...]

    @property
    def compose_paths(self) -> list[Path]:
        return [self.root / f for f in self.compose_files]

    @property
    def state(self) -> StateDir:
        return StateDir(self.root)

    def with_cli(self, assignments: Mapping[str, str], **flags: Any) -> Settings:
        """Step 4 of the precedence: ``--set KEY=VALUE`` (parsed like environment values), then named
        flags (``None`` means not given)."""
        values: dict[str, Any] = {}
        for key, raw in assignments.items():
            f = _FIELD_BY_KEY.get(key)
            if f is None:
                raise UsageError(
                    f"--set {key}: unknown setting", hint="see docs/configuration.md for the keys"
                )
            values[f.attr] = _coerce(f, raw, f"--set {key}", text=True)
        values.update({k: v for k, v in flags.items() if v is not None})
        return self.with_overrides(**values) if values else self

    def with_overrides(self, **values: Any) -> Settings:
        """Values already typed (named flags, or parsed by :meth:`with_cli`)."""
        given = {
            k: _coerce(_field_for_attr(k), v, "command line") for k, v in values.items() if v is not None
        }
        return _validated(replace(self, **given))


def help_of(key: str) -> str:
    """The declared help of a setting, for a named command-line flag."""
    return _FIELD_BY_KEY[key].help


def keys_table() -> str:
    """The table of docs/configuration.md, from :data:`FIELDS` (a test keeps the page equal to it)."""
    lines = ["| key | type | default | environment | meaning |", "|---|---|---|---|---|"]
    for f in FIELDS:
        lines.append(f"| `{f.key}` | {f.kind} | `{f.default!r}` | `{f.env}` | {f.help} |")
    return "\n".join(lines) + "\n"


def _field_for_attr(attr: str) -> Field:
    for f in FIELDS:
        if f.attr == attr:
            return f
    raise ConfigError(f"unknown setting {attr!r}")


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
            values[f.attr] = _coerce(f, env[f.env], f"environment variable {f.env}", text=True)
    settings = Settings(root=root, source=path, **values, **_build_tables(tables, path))
    return _validated(settings)


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
                if dotted in _FIELD_BY_KEY:
                    f = _FIELD_BY_KEY[dotted]
                    values[f.attr] = _coerce(f, sub_value, f"tool.stacktest.{dotted} in {path}")
                elif sub_allowed is not None and sub_key not in sub_allowed:
                    raise ConfigError(_unknown(f"{key}.{sub_key}", path))
            continue
        declared = _FIELD_BY_KEY.get(key)
        if declared is None or "." in key:
            raise ConfigError(_unknown(key, path))
        values[declared.attr] = _coerce(declared, value, f"tool.stacktest.{key} in {path}")


def _unknown(key: str, path: Path) -> str:
    import difflib

    names = [f.key for f in FIELDS] + sorted(_TABLE_KEYS)
    close = difflib.get_close_matches(key, names, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown setting tool.stacktest.{key} in {path}{guess}"


def _coerce(f: Field, value: Any, where: str, *, text: bool = False) -> Any:
    """Turn a value into the field's type, or say what is wrong and where. ``text``: the value comes from
    an environment variable or ``--set`` and may be parsed ("30" -> 30.0, "a,b" -> a list); file values
    must have the right TOML type."""
    from_text = text and isinstance(value, str)
    try:
        if f.kind in ("str", "optional-str"):
            if value is None and f.kind == "optional-str":
                return None
            if not isinstance(value, str):
                raise TypeError
            return value
        if f.kind == "choice":
            if not isinstance(value, str) or value not in f.choices:
                raise ConfigError(f"{where}: {value!r} is not one of {', '.join(f.choices)}")
            return value
        if f.kind == "bool":
            if isinstance(value, bool):
                return value
            if from_text and value.strip().lower() in (
                "1",
                "true",
                "yes",
                "on",
                "0",
                "false",
                "no",
                "off",
                "",
            ):
                return value.strip().lower() in ("1", "true", "yes", "on")
            raise TypeError
        if f.kind == "int":
            if isinstance(value, bool):
                raise TypeError
            return int(value) if from_text or isinstance(value, int) else _raise()
        if f.kind in ("float", "optional-float"):
            if value is None and f.kind == "optional-float":
                return None
            if isinstance(value, bool):
                raise TypeError
            if from_text or isinstance(value, (int, float)):
                number = float(value)
                if not math.isfinite(number):
                    raise ValueError
                return number
            raise TypeError
        if f.kind == "list":
            if from_text:
                return tuple(part for part in re.split(r"[,:]", value) if part)
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise TypeError
    except (TypeError, ValueError):
        pass
    expected = {
        "list": "a list of strings",
        "optional-str": "a string",
        "optional-float": "a number",
        "float": "a finite number",
        "choice": "one of the choices",
    }
    raise ConfigError(f"{where}: expected {expected.get(f.kind, f.kind)}, got {value!r}")


def _raise() -> Any:
    raise TypeError


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
    unknown = set(spec) - {"http", "port", "tcp", "send", "expect", "log", "ready_timeout"}
    if unknown:
        raise ConfigError(f"unknown key {key}.{sorted(unknown)[0]} in {where}")
    timeout = spec.get("ready_timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf
    ):
        raise ConfigError(f"{key}.ready_timeout in {where}: expected a number of seconds above 0")
    timeout = float(timeout) if timeout is not None else None
    kinds = [k for k in ("http", "tcp", "log") if k in spec]
    if len(kinds) > 1:
        raise ConfigError(f"{key} in {where}: give one of http, tcp or log, not {' and '.join(kinds)}")
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


def _backend(name: str, spec: Any, where: str) -> CleanupBackend:
    key = f"tool.stacktest.cleanup.backends.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{key} in {where} must be a table")
    kind = spec.get("kind")
    if kind not in ("redis", "http"):
        raise ConfigError(f"{key}.kind in {where}: expected 'redis' or 'http', got {kind!r}")
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


_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def _validated(s: Settings) -> Settings:
    where = str(s.source) if s.source else "settings"
    if not _PREFIX_RE.match(s.project_prefix):
        raise ConfigError(
            f"tool.stacktest.project_prefix in {where}: {s.project_prefix!r} is not a valid compose project "
            "name (lower-case letters, digits, '-' and '_', starting with a letter or digit)"
        )
    if s.project_name is not None and not _PREFIX_RE.match(s.project_name):
        raise ConfigError(f"project_name {s.project_name!r} is not a valid compose project name")
    for name in ("ready_timeout", "command_timeout", "poll_interval", "reap_age"):
        if getattr(s, name) <= 0:
            raise ConfigError(f"tool.stacktest.{name} in {where}: must be greater than 0")
    if s.stop_timeout is not None and s.stop_timeout < 0:
        raise ConfigError(f"tool.stacktest.stop_timeout in {where}: must be 0 or more")
    if not 0 < s.workers_per_core <= 32:
        raise ConfigError(f"tool.stacktest.workers_per_core in {where}: must be more than 0 and at most 32")
    if not s.compose_files:
        raise ConfigError(f"tool.stacktest.compose_files in {where}: name at least one compose file")
    return s
