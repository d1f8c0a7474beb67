"""The declared settings: one :class:`Field` per key of ``[tool.stacktest]`` (type, default, environment
variable, help) and the one rule that turns a given value into the field's type (:func:`coerce`)."""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from stacktest.errors import ConfigError
from stacktest.state import FOLDER

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - exercised on 3.10 only
    pass

__all__ = ["FIELDS", "FIELD_BY_KEY", "Field", "Kind", "coerce", "field_for_attr", "help_of", "keys_table"]


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
        0.0,
        "xdist workers per CPU core in the modes that choose the count (test-parallel, test-fast, "
        "by-module, by-class, parallel-safe); 0: chosen from what the last run measured (more than one "
        "per core for suites that wait, none for short CPU-bound ones; docs/workers.md)",
    ),
    Field("tests", "list", ["tests"], "test paths pytest runs when none are given"),
    Field("domain_markers", "list", [], "extra pytest markers to register (the seed's auth, servers, ...)"),
    Field("log_section_lines", "int", 40, "log lines per service attached to a failing test's report"),
    Field("reap_age", "float", 6.0, "hours after which a stack is stale even if its owner still runs"),
    Field(
        "reaper.enabled",
        "bool",
        True,
        "a reaper on the engine removes a run's stack when the run dies without its teardown",
    ),
    Field("reaper.grace", "float", 1.0, "seconds from a run's lost lease to the reaper's removal"),
    Field("reaper.idle", "float", 5.0, "seconds the reaper stays with no lease before it removes itself"),
    Field(
        "reaper.image",
        "optional-str",
        None,
        "image the reaper runs in, with python3 (default: base_image; any python image with a registry)",
    ),
    Field(
        "reaper.socket",
        "optional-str",
        None,
        "the engine's API socket on the engine's host (default: the local one, else /var/run/docker.sock)",
    ),
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
    Field(
        "coverage.contexts",
        "bool",
        False,
        "record which test reached each line, in the services and the tests (per-test contexts): the "
        "reports show them and `stacktest test --affected` selects tests by them",
    ),
    Field("cleanup.prefix", "str", "TEST ", "name prefix that marks test data"),
    Field(
        "affected_ignore",
        "list",
        ["*.md", "*.rst", "docs/*", "LICENSE*", ".github/*", ".gitignore"],
        "changed files (glob patterns, from the project root) that `stacktest test --affected` ignores",
    ),
)


FIELD_BY_KEY = {f.key: f for f in FIELDS}


def help_of(key: str) -> str:
    """The declared help of a setting, for a named command-line flag."""
    return FIELD_BY_KEY[key].help


def keys_table() -> str:
    """The table of docs/configuration.md, from :data:`FIELDS` (a test keeps the page equal to it)."""
    lines = ["| key | type | default | environment | meaning |", "|---|---|---|---|---|"]
    for f in FIELDS:
        lines.append(f"| `{f.key}` | {f.kind} | `{f.default!r}` | `{f.env}` | {f.help} |")
    return "\n".join(lines) + "\n"


def field_for_attr(attr: str) -> Field:
    for f in FIELDS:
        if f.attr == attr:
            return f
    raise ConfigError(f"unknown setting {attr!r}")


def coerce(f: Field, value: Any, where: str, *, text: bool = False) -> Any:
    """Turn a value into the field's type, or say what is wrong and where. ``text``: the value comes from
    an environment variable or ``--set`` and may be parsed ("30" -> 30.0, "a,b" -> a list); file values
    must have the right TOML type."""
    if f.kind == "choice" and (not isinstance(value, str) or value not in f.choices):
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(f.choices)}")
    if value is None and f.kind.startswith("optional-"):
        return None
    try:
        return _PARSE[f.kind](value, text and isinstance(value, str))
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


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


def _str(value: Any, from_text: bool) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def _bool(value: Any, from_text: bool) -> bool:
    if isinstance(value, bool):
        return value
    if from_text and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise TypeError


def _int(value: Any, from_text: bool) -> int:
    if isinstance(value, bool) or not (from_text or isinstance(value, int)):
        raise TypeError
    return int(value)


def _float(value: Any, from_text: bool) -> float:
    if isinstance(value, bool) or not (from_text or isinstance(value, (int, float))):
        raise TypeError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _list(value: Any, from_text: bool) -> tuple[str, ...]:
    if from_text:
        return tuple(part for part in re.split(r"[,:]", value) if part)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise TypeError


# one parser per kind: (value, came as text) -> the typed value, or TypeError / ValueError
_PARSE: dict[str, Callable[[Any, bool], Any]] = {
    "str": _str,
    "optional-str": _str,
    "choice": _str,
    "bool": _bool,
    "int": _int,
    "float": _float,
    "optional-float": _float,
    "list": _list,
}
