"""`stacktest init`: adopt stacktest in an existing repository.

Finds the compose files (:mod:`~stacktest.adopt.discover`), reads them through ``compose config`` (so
profiles, ``extends`` and ``.env`` are applied), reads each service (:mod:`~stacktest.adopt.service`:
its Dockerfile, what it runs, where its source is) and proposes, with the reason for each decision:

- a ``[tool.stacktest]`` table for pyproject.toml: probes, covered services and their path mappings;
- the seed's just recipes, merged into an existing justfile (recipes it already has are kept);
- conftest.py lines with a client fixture per HTTP service, in the live tests' folder.

Files are written at the repository's top (where init runs), never into a folder of unit tests; nothing
is written unless asked; a second run proposes nothing new (it never overwrites).
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adapters import compose as _compose
from stacktest.adopt import discover
from stacktest.adopt.files import parse_toml
from stacktest.adopt.service import read_service
from stacktest.errors import ComposeError, ConfigError

__all__ = ["Change", "Decision", "Proposal", "apply", "propose"]

MARK = "# stacktest init"


@dataclass(frozen=True)
class Change:
    path: Path
    action: str  # "create", "append", "unchanged"
    text: str  # what would be written (appended, for "append")


@dataclass(frozen=True)
class Decision:
    subject: str  # a service, or "" for the repository
    what: str
    why: str


@dataclass
class Proposal:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)


RECIPES = {
    "test": ("stacktest test", "run pytest against the live stack: just test -k 'oauth' -v"),
    "test-parallel": ("stacktest test --mode parallel", "every core, then the serial tests"),
    "test-n COUNT": ("stacktest test --mode n --workers", "COUNT workers, then the serial tests"),
    "test-fast": ("stacktest test --mode fast", "work stealing, then the serial tests"),
    "test-by-module": ("stacktest test --mode by-module", "one file per worker, then the serial tests"),
    "test-by-class": ("stacktest test --mode by-class", "one class per worker, then the serial tests"),
    "test-serial": ("stacktest test --mode serial", "only the tests marked serial"),
    "test-parallel-safe": ("stacktest test --mode parallel-safe", "every core, skipping the serial tests"),
    "test-sidecar-coverage": ("stacktest coverage run", "coverage measured inside the containers"),
    "test-cleanup-show": ("stacktest cleanup", "show the test data left in the services"),
    "test-cleanup": ("stacktest cleanup --yes", "remove the test data left in the services"),
    "diagnose-tests": ("stacktest diagnose", "explain why a run failed"),
    "up": ("stacktest up", "start the stack and wait until it is ready"),
    "down": ("stacktest down", "remove the stack"),
    "status": ("stacktest status", "each service's state, health and URL"),
    "logs": ("stacktest logs", "service logs: just logs -f SERVICE"),
    "ensure-services-ready": ("stacktest wait", "wait until every service is ready"),
}


def propose(
    root: Path, compose_command: str | None = None, *, files: Sequence[Path] = (), tests: str | None = None
) -> Proposal:
    """What `stacktest init` would write in ``root``."""
    proposal = Proposal()
    paths, why = discover.compose_files(root, files)
    names = [p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p) for p in paths]
    proposal.decisions.append(Decision("", f"compose files: {', '.join(names)}", why))
    try:
        config = _compose.detect(compose_command).bind("", paths, {}, 120).config()
    except ComposeError as exc:
        step = discover.missing_setup(paths, root, exc.message)
        if step:
            raise ConfigError(f"`compose config` failed: {exc.message}", hint=step) from None
        raise
    services: Mapping[str, Any] = config.get("services") or {}
    awaited = _awaited(services)
    read = [
        read_service(root, n, spec or {}, awaited_exit=n in awaited) for n, spec in sorted(services.items())
    ]
    for svc in read:
        proposal.decisions.append(Decision(svc.name, _probe_text(svc.probe), svc.probe_why))
        covered = "covered" if svc.covered is not None else "not covered"
        proposal.decisions.append(Decision(svc.name, covered, svc.covered_why))
        proposal.notes += svc.notes
        proposal.notes += _port_notes(svc.name, services[svc.name] or {})
    units = {(root / p).resolve() for svc in read for p in svc.test_paths if (root / p).is_dir()}
    folder, why_tests = discover.tests_folder(root, tests, units)
    proposal.decisions.append(Decision("", f"live tests: {folder}/", why_tests))
    configured = _configured_tests(root)
    folder = configured or folder
    table = _table(
        names,
        folder,
        {s.name: s.probe for s in read if s.probe},
        {s.name: s.covered for s in read if s.covered is not None},
    )
    proposal.changes.append(_pyproject(root, table))
    proposal.changes.append(_justfile(root))
    http = [s.name for s in read if s.probe and "http" in s.probe]
    proposal.changes.append(_conftest(root / folder, http))
    return proposal


def _awaited(services: Mapping[str, Any]) -> set[str]:
    """The services others wait to complete (``condition: service_completed_successfully``)."""
    out: set[str] = set()
    for spec in services.values():
        needs = (spec or {}).get("depends_on")
        if isinstance(needs, Mapping):
            done = {
                d
                for d, c in needs.items()
                if isinstance(c, Mapping) and c.get("condition") == "service_completed_successfully"
            }
            out |= done
    return out


def _probe_text(probe: Mapping[str, Any] | None) -> str:
    if not probe:
        return "no probe"
    kind = next(k for k in ("http", "tcp", "log") if k in probe)
    where = f" on port {probe['port']}" if "port" in probe else ""
    return f"{kind} probe {probe[kind]!s}{where}" if kind != "tcp" else f"tcp probe on port {probe['tcp']}"


def _configured_tests(root: Path) -> str | None:
    """The test folder of a repository set up already (so a second run changes nothing)."""
    from stacktest.settings import find_pyproject, load_settings

    if find_pyproject(root) == root / "pyproject.toml":
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
        if re.search(r"^\[tool\.stacktest[\].]", text, re.MULTILINE):
            return load_settings(config=root / "pyproject.toml", environ={}).tests[0]
    return None


def apply(proposal: Proposal) -> list[Path]:
    """Write the proposal; returns the files written."""
    written = []
    for change in proposal.changes:
        if change.action == "unchanged":
            continue
        change.path.parent.mkdir(parents=True, exist_ok=True)
        if change.action == "append":
            existing = change.path.read_text(encoding="utf-8")
            sep = "" if existing.endswith("\n") or not existing else "\n"
            change.path.write_text(existing + sep + change.text, encoding="utf-8")
        else:
            change.path.write_text(change.text, encoding="utf-8")
        written.append(change.path)
    return written


def _port_notes(name: str, spec: Mapping[str, Any]) -> list[str]:
    notes = []
    for entry in spec.get("ports") or []:
        p = entry
        if not isinstance(p, Mapping):  # short syntax, as compose v1 prints it
            parts = str(p).split(":")
            p = {"target": parts[-1].split("/")[0], "published": parts[-2] if len(parts) > 1 else None}
        published = str(p.get("published") or "")
        if published and published != "0":
            notes.append(
                f"{name}: host port {published} is fixed; publish as '127.0.0.1::{p['target']}' so that "
                "two runs never clash (stacktest finds the port the engine picked)"
            )
    if spec.get("container_name"):
        notes.append(f"{name}: remove container_name: two runs cannot share one name")
    return notes


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _toml_value(value: Any) -> str:
    if isinstance(value, str):  # a basic string: backslash, quote and control characters escaped
        return (
            '"'
            + "".join(
                _ESCAPES.get(c, c if ord(c) >= 0x20 and c != "\x7f" else f"\\u{ord(c):04x}") for c in value
            )
            + '"'
        )
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no TOML for {value!r}")


def _table(
    files: list[str],
    tests: str,
    probes: Mapping[str, Mapping[str, Any]],
    covered: Mapping[str, Mapping[str, str]],
) -> str:
    lines = [
        MARK,
        "[tool.stacktest]",
        f"compose_files = {_toml_value(files)}",
        f"tests = {_toml_value([tests])}",
    ]
    for service, probe in sorted(probes.items()):
        lines += ["", f"[tool.stacktest.probes.{_toml_value(service)}]"]
        lines += [f"{key} = {_toml_value(value)}" for key, value in probe.items()]
    if covered:
        lines += ["", "[tool.stacktest.coverage]", f"services = {_toml_value(sorted(covered))}"]
        lines += ["", "[tool.stacktest.coverage.paths]"]
        for service, paths in sorted(covered.items()):
            inner = ", ".join(f"{_toml_value(c)} = {_toml_value(h)}" for c, h in sorted(paths.items()))
            lines.append(
                f"{_toml_value(service)} = {{ {inner} }}" if inner else f"{_toml_value(service)} = {{}}"
            )
    text = "\n".join(lines) + "\n"
    parse_toml(text)  # any service name, any path: valid TOML, or a bug of ours
    return text


def _pyproject(root: Path, table: str) -> Change:
    path = root / "pyproject.toml"
    if not path.is_file():
        return Change(path, "create", table)
    text = path.read_text(encoding="utf-8")
    if re.search(r"^\[tool\.stacktest[\].]", text, re.MULTILINE):
        return Change(path, "unchanged", "")
    return Change(path, "append", "\n" + table)


def _justfile(root: Path) -> Change:
    path = next((root / n for n in ("justfile", "Justfile", ".justfile") if (root / n).is_file()), None)
    existing = path.read_text(encoding="utf-8") if path is not None else ""
    have = set(re.findall(r"^([A-Za-z0-9_-]+)[^\n:=]*:(?!=)", existing, re.MULTILINE))
    blocks = []
    for signature, (command, comment) in RECIPES.items():
        name, *params = signature.split()
        if name not in have:
            blocks.append(f'# {comment}\n{" ".join([name, *params, "*args"])}:\n    {command} "$@"')
    target = path or root / "justfile"
    if not blocks:
        return Change(target, "unchanged", "")
    header = "" if "set positional-arguments" in existing else "set positional-arguments\n\n"
    body = header + f"{MARK}: the seed's recipes\n" + "\n\n".join(blocks) + "\n"
    return Change(target, "append" if path is not None else "create", body)


def _conftest(tests: Path, http_services: list[str]) -> Change:
    path = tests / "conftest.py"
    existing = path.read_text(encoding="utf-8") if path.is_file() else ""
    if MARK in existing:
        return Change(path, "unchanged", "")
    lines = [
        f"{MARK}: the plugin comes with stacktest (fixtures stack, service_client, async_service_client,",
        "# unique_name, cleanup; markers serial, integration, ...). A client per HTTP service:",
    ]
    if "import pytest" not in existing:
        lines += ["import pytest"]
    for service in http_services:
        lines += [
            "",
            "",
            "@pytest.fixture",
            f"def {_identifier(service)}_client(service_client):",
            f"    return service_client({service!r})",
        ]
    return Change(path, "append" if existing else "create", "\n".join(lines) + "\n")


def _identifier(service: str) -> str:
    """A Python name from a service name (``1x.y`` -> ``s_1x_y``)."""
    ident = re.sub(r"\W", "_", service, flags=re.ASCII)
    return f"s_{ident}" if not ident or ident[0].isdigit() or keyword.iskeyword(ident) else ident
