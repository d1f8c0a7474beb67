"""Repositories as teams write them (tests/corpus/repos/<shape>/): `stacktest init --yes` then `stacktest
coverage run` must pass with no hand edit, and measure what the live tests made the services run.

Each shape is a repository without any stacktest configuration: a compose file, Dockerfiles FROM the
stand-in public images (tests/corpus/repos/_images, built once per machine), the app, and its own live
tests on the ``stack`` fixture. Per shape, in a copy outside this repository: the setup steps its
README documents (``setup`` in expect.toml), `stacktest init --yes` (stacktest from a wheel built from
this checkout), `stacktest coverage run -q`; it must exit 0, and in each ``[covered.<service>]`` of
expect.toml every statement of each ``reached`` function must be covered in that service's combined data
and none of each ``never`` one; the ``not_covered`` services (databases, front ends) have no data;
nothing is left on the engine.

CORPUS_REFERENCE=1 replaces `init` with expect.toml's ``reference`` (a correct [tool.stacktest] table
written by hand, appended to pyproject.toml, and ``reference_files``, each appended to its file): a shape
green that way and red with `init` fails through init's fault.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from coverage.parser import PythonParser

from stacktest.adapters.engine import Engine
from tests.conftest import REPO, left_nothing, stand_in_images
from tests.e2e.conftest import stacktest
from tests.e2e.test_servers import executed, service_data

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPOS = REPO / "tests" / "corpus" / "repos"
SHAPES = sorted(
    p.name for p in REPOS.iterdir() if not p.name.startswith("_") and (p / "expect.toml").is_file()
)
REFERENCE = os.environ.get("CORPUS_REFERENCE", "") not in ("", "0")


@pytest.fixture(scope="session")
def corpus_images(docker_engine: Engine, base_image: str) -> None:
    """The stand-in public images the shapes build FROM and run (built when missing, once for all
    workers)."""
    stand_in_images(docker_engine)


@pytest.fixture
def repo_root(
    request: pytest.FixtureRequest, tmp_path: Path, docker_engine: Engine, corpus_images: None
) -> Iterator[Path]:
    """The shape in a folder of its own outside this repository; afterwards nothing of it may remain."""
    name = request.node.callspec.params["shape"]
    root = tmp_path / name
    shutil.copytree(
        REPOS / name,
        root,
        ignore=shutil.ignore_patterns("wheels", ".stacktest", "__pycache__", ".ruff_cache"),
    )
    yield root
    left_nothing(docker_engine, root)


def function_statements(path: Path, name: str) -> set[int]:
    """The statement lines of the body of function ``name`` (plain or async) in ``path``, as coverage's
    parser finds them (the ``def`` line runs at import: not counted)."""
    parser = PythonParser(filename=str(path))
    parser.parse_source()
    tree = ast.parse(path.read_text(), filename=str(path))
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef)
    node = next((n for n in ast.walk(tree) if isinstance(n, kinds) and n.name == name), None)
    assert node is not None, f"{path}: no function {name}"
    first, last = node.body[0].lineno, node.end_lineno or node.body[-1].lineno
    statements = {line for line in parser.statements if first <= line <= last}
    assert statements, f"{path}: {name} has no statements"
    return statements


def coverage_problems(root: Path, expect: dict[str, Any]) -> list[str]:
    """What the run measured wrong, per expect.toml's [covered.*] tables and not_covered list."""
    problems = []
    for service, want in sorted(expect.get("covered", {}).items()):
        data = service_data(root, service)
        if data is None:
            problems.append(f"{service}: no combined data file .coverage.{service}")
            continue
        for kind in ("reached", "never"):
            for where in want.get(kind, []):
                file, name = where.split(":", 1)
                path = root / file
                lines = function_statements(path, name)
                ran = executed(data, path)
                if ran is None:
                    if kind == "reached":
                        problems.append(f"{service}: {file} is not in the service's data ({where})")
                    continue
                if kind == "reached" and lines - ran:
                    problems.append(f"{service}: {where} lines {sorted(lines - ran)} not covered")
                if kind == "never" and lines & ran:
                    problems.append(f"{service}: {where} lines {sorted(lines & ran)} covered")
    for service in expect.get("not_covered", []):
        if service_data(root, service) is not None:
            problems.append(f"{service}: measured, but it runs no code of the repository")
    return problems


def adopt(installed: Path, root: Path, expect: dict[str, Any]) -> str:
    """Set stacktest up in ``root``: `stacktest init --yes`, or the hand-written reference. Returns what
    was done, for the failure message."""
    if REFERENCE:
        pyproject = root / "pyproject.toml"
        before = pyproject.read_text() if pyproject.is_file() else ""
        pyproject.write_text(
            before + ("\n" if before and not before.endswith("\n") else "") + expect["reference"]
        )
        for name, text in expect.get("reference_files", {}).items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text((path.read_text() if path.is_file() else "") + text)
        return "reference settings (CORPUS_REFERENCE=1)"
    init = stacktest(installed, root, "init", "--yes", *expect.get("init_args", []))
    said = f"`stacktest init --yes` exited {init.returncode}:\n{init.stdout[-6000:]}{init.stderr[-3000:]}"
    assert init.returncode == 0, said
    assert "because" in init.stdout, said  # every decision with its reason
    again = stacktest(installed, root, "init", *expect.get("init_args", []))
    assert again.returncode == 0 and again.stdout.count("already set up") == 3, again.stdout  # nothing new
    return said


@pytest.mark.parametrize("shape", SHAPES)
def test_repository_shape(shape: str, installed: Path, repo_root: Path, docker_engine: Engine) -> None:
    root = repo_root
    expect = tomllib.loads((root / "expect.toml").read_text())
    for argv in expect.get("setup", []):  # the README's setup steps
        step = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=300, check=False)
        assert step.returncode == 0, f"setup step {argv} failed: {step.stdout}{step.stderr}"

    adopted = adopt(installed, root, expect)
    run = stacktest(installed, root, "coverage", "run", "-q")
    said = f"{adopted}\n\n`stacktest coverage run -q` exited {run.returncode}:\n"
    said += run.stdout[-6000:] + run.stderr[-6000:]
    assert run.returncode == 0, said
    problems = coverage_problems(root, expect)
    assert not problems, "measured wrong:\n- " + "\n- ".join(problems) + "\n\n" + said


def test_sql_cleanup_on_a_repository_of_the_corpus(
    installed: Path, tmp_path: Path, docker_engine: Engine, corpus_images: None
) -> None:
    """profiles-split keeps its items in PostgreSQL (a movements table refers to them by a foreign key):
    after init, a sql cleanup backend removes exactly the items the tests named "TEST ..." and their
    movements, with the credentials of the database's own container (never printed)."""
    import httpx

    root = tmp_path / "profiles-split"
    shutil.copytree(
        REPOS / "profiles-split", root, ignore=shutil.ignore_patterns("__pycache__", ".ruff_cache")
    )
    assert stacktest(installed, root, "init", "--yes").returncode == 0
    with (root / "pyproject.toml").open("a") as f:
        f.write(
            "\n[tool.stacktest.cleanup.backends.items]\nkind = 'sql'\nservice = 'db'\n"
            "dialect = 'postgresql'\ntable = 'items'\nname_column = 'name'\nid_column = 'sku'\n"
        )
    try:
        up = stacktest(installed, root, "up")
        assert up.returncode == 0, up.stdout + up.stderr
        status = stacktest(installed, root, "status").stdout
        url = re.search(r"^api: .*url: (http://\S+)", status, re.MULTILINE)[1]  # type: ignore[index]
        with httpx.Client(base_url=url, timeout=10) as api:
            for sku, name in (("TST-1", "TEST widget"), ("REAL-1", "widget"), ("TST-2", "test widget")):
                assert api.post("/items/", json={"sku": sku, "name": name, "quantity": 5}).status_code == 201
                assert api.post(f"/items/{sku}/moves", json={"delta": -1}).status_code == 200
            shown = stacktest(installed, root, "cleanup", "--json")
            assert shown.returncode == 0, shown.stderr
            [found] = json.loads(shown.stdout)["backends"]
            assert [r["id"] for r in found["records"]] == ["TST-1"]
            assert found["related_by"] == {"movements.sku": 1}
            done = stacktest(installed, root, "cleanup", "--yes")
            assert done.returncode == 0, done.stderr
            assert (
                "inventory" not in shown.stdout + done.stdout + done.stderr
            )  # the password is the user's name
            assert api.get("/items/TST-1").status_code == 404
            assert api.get("/items/REAL-1").status_code == 200 and api.get("/items/TST-2").status_code == 200
    finally:
        stacktest(installed, root, "down")
        left_nothing(docker_engine, root)
