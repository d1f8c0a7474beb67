"""The architecture, checked: which package may import which (each package's docstring says the same in
words), no module over 400 lines, no function over 60, and only the CLI prints."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "stacktest"

# the rooms below everything: what any package may import
BASE = {"errors", "state", "locks", "signals", "github", "_lazy"}
# each package (or top module) -> the other parts of stacktest it may import, besides BASE
MAY_IMPORT: dict[str, set[str]] = {
    "errors": set(),
    "state": set(),
    "locks": set(),
    "_lazy": set(),
    "github": set(),
    "signals": {"errors"},
    "settings": {"errors", "state"},
    "adapters": {"settings"},
    "stack": {"adapters", "settings"},
    "coverage": {"adapters", "settings"},
    "testrun": {"adapters", "settings", "coverage"},  # --affected selects by coverage's test map
    "adopt": {"adapters", "settings"},
    "cleanup": {"adapters", "settings", "stack"},
    "diagnose": {"adapters", "settings", "stack", "testrun"},
    "plugin": {"adapters", "settings", "stack", "testrun"},
    "commands": {"adapters", "settings", "stack", "coverage", "testrun", "adopt", "cleanup", "diagnose"},
    "cli": {
        "__init__",
        "settings",
        "commands",
        "stack",
        "coverage",
        "testrun",
        "adopt",
        "cleanup",
        "diagnose",
    },
    "__init__": {"settings", "plugin"},  # the public names: settings, and the plugin's test_headers
    "__main__": {"cli"},
}
MODULE_LINES, FUNCTION_LINES = 400, 60


def _room(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def _is_module(name: str) -> bool:
    return (SRC / name).is_dir() or (SRC / f"{name}.py").is_file()


def _imports(tree: ast.AST) -> set[str]:
    """The parts of stacktest a module imports (``stacktest.stack.rules`` -> ``stack``)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module == "stacktest":  # a module, or the root's names
            names = [f"stacktest.{a.name if _is_module(a.name) else '__init__'}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("stacktest.")}
    return found


SOURCES = sorted(SRC.rglob("*.py"))


def test_every_part_of_the_package_has_a_place_in_the_layers() -> None:
    assert {_room(p) for p in SOURCES} <= set(MAY_IMPORT), "add the new package to MAY_IMPORT"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_each_module_imports_only_from_the_layers_below_it(path: Path) -> None:
    room = _room(path)
    allowed = MAY_IMPORT[room] | BASE | {room}
    wrong = _imports(ast.parse(path.read_text())) - allowed
    assert not wrong, f"{path.relative_to(SRC)} ({room}/) may not import {sorted(wrong)}"


def test_no_module_or_function_is_too_long() -> None:
    long = []
    for path in SOURCES:
        text = path.read_text()
        if len(text.splitlines()) > MODULE_LINES:
            long.append(f"{path.relative_to(SRC)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > FUNCTION_LINES:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}(): {size} lines")
    assert not long, "\n".join(long)


# programs that run elsewhere (the reaper runs in a container on the engine): what they print is their log
PROGRAMS = {SRC / "stack" / "reaper_service.py"}


def test_only_the_cli_prints() -> None:
    printing = []
    for path in SOURCES:
        if _room(path) == "cli" or path in PROGRAMS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                printing.append(f"{path.relative_to(SRC)}:{node.lineno}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                if (module or "").split(".")[0] == "rich":
                    printing.append(f"{path.relative_to(SRC)}:{node.lineno} imports rich")
    assert not printing, "\n".join(printing)


def test_the_layering_check_finds_a_wrong_import() -> None:
    """Not vacuous: an adapter that imported the command layer would be caught."""
    tree = ast.parse("from stacktest.commands import testing\nimport stacktest.cli.app\n")
    assert _imports(tree) - MAY_IMPORT["adapters"] - BASE == {"commands", "cli"}
