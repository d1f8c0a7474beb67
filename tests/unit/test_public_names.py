"""``__all__`` stays honest (as httpx checks its own): every module lists what it defines for others, and
every name one stacktest module imports from another is listed there."""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SRC = Path(__file__).resolve().parents[2] / "src" / "stacktest"


def _module_name(path: Path) -> str:
    parts = ["stacktest", *path.relative_to(SRC).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in SRC.rglob("*.py") if p.stem != "__main__")


@pytest.mark.parametrize("name", MODULES)
def test_all_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not have: {missing}"


def test_every_name_imported_across_modules_is_public() -> None:
    undeclared = []
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith("stacktest."):
                continue
            target = importlib.import_module(node.module or "")
            public = set(getattr(target, "__all__", []))
            for alias in node.names:
                is_package = hasattr(target, "__path__")
                if is_package and importlib.util.find_spec(f"{node.module}.{alias.name}"):
                    continue  # a module of a package: its own __all__ is checked
                if not alias.name.startswith("_") and alias.name not in public:
                    undeclared.append(f"{path.relative_to(SRC)} imports {node.module}.{alias.name}")
    assert not undeclared, "\n".join(sorted(undeclared))


def test_the_readme_s_exit_codes_are_the_error_tree_s() -> None:
    """One source: errors.py makes the README's table; every error's code and slug is in it, and so are
    the codes the CLI boundary returns itself (70, and 128 + each stop signal)."""
    from stacktest import errors
    from stacktest.signals import STOPS

    table = errors.exit_code_table()
    readme = (SRC.parents[1] / "README.md").read_text()
    assert table in readme, "README.md's exit codes are out of date: paste errors.exit_code_table() into it"
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines()[2:]}
    codes = {c.strip() for key in rows for c in key.split(",")}
    subclasses = [errors.StacktestError]
    while subclasses:
        cls = subclasses.pop()
        subclasses.extend(cls.__subclasses__())
        if cls is not errors.StacktestError:
            assert f"`{cls.slug}`" in rows.get(str(cls.exit_code), ""), f"{cls.__name__} is not in its row"
    assert {str(errors.INTERNAL_EXIT)} | {str(128 + s) for s in STOPS} <= codes
