"""The resolved settings (:class:`Settings`) and the tables they hold (probes, cleanup backends), with the
checks that span several fields (:func:`validated`) and step 4 of the precedence (the command line)."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from stacktest.errors import ConfigError, UsageError
from stacktest.state import StateDir

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - exercised on 3.10 only
    pass
from stacktest.settings.fields import FIELD_BY_KEY, coerce, field_for_attr

__all__ = ["CleanupBackend", "Probe", "RelatedKeys", "RelatedRows", "Settings", "as_text", "validated"]


@dataclass(frozen=True)
class Probe:
    """How to tell from the host that a service is ready."""

    kind: Literal["http", "tcp", "log", "sql"]
    port: int = 0  # the container port (http, tcp, sql); 0 for a log probe
    path: str = "/"
    send: str = ""
    expect: str = ""
    pattern: str = ""  # log: a regular expression searched in the output since the container started
    dialect: str = ""  # sql: postgresql, mysql or mariadb
    database: str = ""  # sql: the database to connect to (default: the one the container's env names)


@dataclass(frozen=True)
class RelatedKeys:
    match: str
    field: str


@dataclass(frozen=True)
class RelatedRows:
    """SQL: rows of ``table`` whose ``column`` holds a test record's id (deleted before the record)."""

    table: str
    column: str


@dataclass(frozen=True)
class CleanupBackend:
    name: str
    kind: Literal["redis", "http", "sql"]
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
    # sql: the table of the records and the rows that refer to them; the database from the service (its
    # published port and its container's env) or a URL in a host variable; credentials from host variables
    table: str = ""
    related_rows: tuple[RelatedRows, ...] = ()
    dialect: str = ""
    database: str = ""
    url_env: str = ""
    user_env: str = ""
    password_env: str = ""


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
    reaper_enabled: bool
    reaper_grace: float
    reaper_idle: float
    reaper_image: str | None
    reaper_socket: str | None
    cleanup_after_tests: bool
    shard_durations: tuple[str, ...]
    coverage_fail_under: float
    coverage_report_dir: str
    coverage_rcfile: str | None
    coverage_require_data: bool
    coverage_accept_lost: tuple[str, ...]
    coverage_contexts: bool
    cleanup_prefix: str
    affected_ignore: tuple[str, ...]
    probes: Mapping[str, Probe]
    ready_timeouts: Mapping[str, float]  # per service, from its probes table; else ready_timeout
    coverage_services: tuple[str, ...]
    coverage_paths: Mapping[str, Mapping[str, str]]
    cleanup_backends: tuple[CleanupBackend, ...]
    # what step 4 (the command line) set, as STACKTEST_* variables: see environment()
    command_line: Mapping[str, str] = field(default_factory=dict)

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
            f = FIELD_BY_KEY.get(key)
            if f is None:
                raise UsageError(
                    f"--set {key}: unknown setting", hint="see docs/configuration.md for the keys"
                )
            values[f.attr] = coerce(f, raw, f"--set {key}", text=True)
        values.update({k: v for k, v in flags.items() if v is not None})
        return self.with_overrides(**values) if values else self

    def environment(self) -> dict[str, str]:
        """What a child process (pytest, its plugin, each xdist worker) needs to resolve these same
        settings with :func:`~stacktest.settings.load_settings`: the settings file in use, and what the
        command line set, at step 3 (the environment) of its precedence."""
        env = dict(self.command_line)
        if self.source is not None:
            env["STACKTEST_CONFIG"] = str(self.source)
        return env

    def with_overrides(self, **values: Any) -> Settings:
        """Values already typed (named flags, or parsed by :meth:`with_cli`)."""
        given = {k: coerce(field_for_attr(k), v, "command line") for k, v in values.items() if v is not None}
        texts = {field_for_attr(k).env: as_text(v) for k, v in given.items()}
        return validated(replace(self, **given, command_line={**self.command_line, **texts}))


def as_text(value: Any) -> str:
    """A typed value as an environment variable would give it (what :func:`~stacktest.settings.fields.coerce`
    parses back to the same value)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


def validated(s: Settings) -> Settings:
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
    for name in ("reaper_grace", "reaper_idle"):
        if getattr(s, name) < 0:
            raise ConfigError(f"tool.stacktest.{name.replace('_', '.', 1)} in {where}: must be 0 or more")
    if s.stop_timeout is not None and s.stop_timeout < 0:
        raise ConfigError(f"tool.stacktest.stop_timeout in {where}: must be 0 or more")
    if not 0 <= s.workers_per_core <= 32:
        raise ConfigError(f"tool.stacktest.workers_per_core in {where}: must be 0 (chosen) to 32")
    if not s.compose_files:
        raise ConfigError(f"tool.stacktest.compose_files in {where}: name at least one compose file")
    return s
