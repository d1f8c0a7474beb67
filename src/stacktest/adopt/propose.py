"""`stacktest init`: adopt stacktest in an existing repository.

Reads the compose files (through ``compose config``, so profiles, ``extends`` and ``.env`` are applied)
and each built service's Dockerfile, and proposes:

- a ``[tool.stacktest]`` table for pyproject.toml: probes from HTTP healthchecks and published ports,
  covered services (those built from a Python Dockerfile) with their container paths mapped to the
  sources from the Dockerfile's WORKDIR and COPY lines, and a note wherever it cannot tell;
- the seed's just recipes, merged into an existing justfile (recipes it already has are kept);
- conftest.py lines with a client fixture per HTTP service.

Nothing is written unless asked; a second run proposes nothing new (it never overwrites).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stacktest.adapters import compose as _compose
from stacktest.errors import ConfigError

__all__ = ["COMPOSE_NAMES", "Change", "Proposal", "apply", "propose"]

COMPOSE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yaml", "compose.override.yml", "docker-compose.override.yml")
_URL_RE = re.compile(r"https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0):(\d+)(/[^\s'\")]*)?")
MARK = "# stacktest init"


@dataclass(frozen=True)
class Change:
    path: Path
    action: str  # "create", "append", "unchanged"
    text: str  # what would be written (appended, for "append")


@dataclass
class Proposal:
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


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


def propose(root: Path, compose_command: str | None = None) -> Proposal:
    """What `stacktest init` would write in ``root``."""
    files = [root / n for n in COMPOSE_NAMES if (root / n).is_file()][:1]
    if not files:
        raise ConfigError(
            f"no compose file in {root} (looked for {', '.join(COMPOSE_NAMES)})",
            hint="run `stacktest init` in the folder that holds your compose file",
        )
    files += [root / n for n in OVERRIDE_NAMES if (root / n).is_file()][:1]
    config = _compose.detect(compose_command).bind("", files, {}, 120).config()
    proposal = Proposal()
    services: Mapping[str, Any] = config.get("services") or {}
    probes: dict[str, dict[str, Any]] = {}
    covered: dict[str, dict[str, str]] = {}
    for name, spec in sorted(services.items()):
        probe, note = _probe(name, spec or {})
        if probe:
            probes[name] = probe
        if note:
            proposal.notes.append(note)
        proposal.notes += _port_notes(name, spec or {})
        paths, notes = _coverage_paths(root, name, spec or {})
        proposal.notes += notes
        if paths is not None:
            covered[name] = paths
    tests = _tests_folder(root)
    table = _table([f.name for f in files], tests, probes, covered)
    proposal.changes.append(_pyproject(root, table))
    proposal.changes.append(_justfile(root))
    proposal.changes.append(_conftest(root / tests, [s for s, p in probes.items() if "http" in p]))
    return proposal


def _tests_folder(root: Path) -> str:
    """The configured test folder when stacktest is set up already (so a second run changes nothing),
    else ``tests`` when there is one, else ``tests/live``."""
    from stacktest.settings import find_pyproject, load_settings

    if find_pyproject(root) == root / "pyproject.toml":
        return load_settings(config=root / "pyproject.toml", environ={}).tests[0]
    return "tests" if (root / "tests").is_dir() else "tests/live"


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


def _probe(name: str, spec: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
    test = (spec.get("healthcheck") or {}).get("test") or []
    text = " ".join(test) if isinstance(test, list) else str(test)
    published = _ports(spec)  # every `ports:` entry is published, on an ephemeral host port if none given
    match = _URL_RE.search(text)
    if match and published:
        return {"http": match[2] or "/", "port": int(match[1])}, ""
    if text and text != "NONE":
        return None, f"{name}: no probe; stacktest runs its healthcheck command itself (no interval wait)"
    if published:
        port = int(published[0]["target"])
        return {"tcp": port}, f"{name}: a TCP probe on port {port} only says the port is open; prefer http"
    return None, ""


def _ports(spec: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            out.append(p)
        else:  # short syntax, as compose v1 prints it
            parts = str(p).split(":")
            out.append(
                {"target": parts[-1].split("/")[0], "published": parts[-2] if len(parts) > 1 else None}
            )
    return out


def _port_notes(name: str, spec: Mapping[str, Any]) -> list[str]:
    notes = []
    for p in _ports(spec):
        published = str(p.get("published") or "")
        if published and published != "0":
            notes.append(
                f"{name}: host port {published} is fixed; publish as '127.0.0.1::{p['target']}' so that "
                "two runs never clash (stacktest finds the port the engine picked)"
            )
    if spec.get("container_name"):
        notes.append(f"{name}: remove container_name: two runs cannot share one name")
    return notes


def _coverage_paths(
    root: Path, name: str, spec: Mapping[str, Any]
) -> tuple[dict[str, str] | None, list[str]]:
    build = spec.get("build")
    if not build:
        return None, []
    context = Path(build.get("context", ".") if isinstance(build, dict) else str(build))
    context = context if context.is_absolute() else root / context
    dockerfile = context / (
        build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
    )
    try:
        lines = _instructions(dockerfile.read_text(encoding="utf-8"))
    except OSError:
        return None, [
            f"{name}: cannot read {dockerfile}; add it to coverage.services by hand if it is Python"
        ]
    if not any("python" in args.lower() for _, args in lines):
        return None, []
    workdir = "/"
    paths: dict[str, str] = {}
    for keyword, args in lines:
        if keyword == "WORKDIR":
            workdir = str(Path(workdir) / args.strip())
        elif keyword in ("COPY", "ADD"):
            words = [w for w in shlex.split(args) if not w.startswith("--")]
            if len(words) < 2:
                continue
            dest = words[-1]
            dest = dest if dest.startswith("/") else str(Path(workdir) / dest)
            for src in words[:-1]:
                host = (context / src).resolve()
                if host.is_dir() and host.is_relative_to(root.resolve()) and not src.startswith("wheels"):
                    paths[dest.rstrip("/") or "/"] = str(host.relative_to(root.resolve()))
    notes = []
    if not paths:
        notes.append(f"{name}: a Python image, but no COPY of a source folder; set coverage.paths by hand")
    return paths, notes


def _instructions(text: str) -> list[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for raw in joined.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            keyword, _, args = line.partition(" ")
            out.append((keyword.upper(), args.strip()))
    return out


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value).lower() if isinstance(value, bool) else str(value)


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
        lines += ["", f'[tool.stacktest.probes."{service}"]']
        lines += [f"{key} = {_toml_value(value)}" for key, value in probe.items()]
    if covered:
        lines += ["", "[tool.stacktest.coverage]", f"services = {_toml_value(sorted(covered))}"]
        lines += ["", "[tool.stacktest.coverage.paths]"]
        for service, paths in sorted(covered.items()):
            inner = ", ".join(f"{_toml_value(c)} = {_toml_value(h)}" for c, h in sorted(paths.items()))
            lines.append(f'"{service}" = {{ {inner} }}')
    return "\n".join(lines) + "\n"


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
        ident = re.sub(r"\W", "_", service)
        lines += [
            "",
            "",
            "@pytest.fixture",
            f"def {ident}_client(service_client):",
            f'    return service_client("{service}")',
        ]
    return Change(path, "append" if existing else "create", "\n".join(lines) + "\n")
