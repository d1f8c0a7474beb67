"""Bad input a user will meet: each case asserts the message names the cause, the exit code, a time bound,
and that nothing of the run is left on the engine."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import NOTHING, STACKS, cleanup_root, copy_project, engine_leftovers, run_cli


@dataclass
class Case:
    name: str
    args: list[str]
    code: int
    words: list[str]
    stack: str = "bundled"  # bundled, faults, cov or empty
    prepare: Callable[[Path], None] | None = None
    env: dict[str, str] = field(default_factory=dict)
    seconds: float = 120.0


def write(rel: str, text: str) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)

    return do


def append_settings(text: str) -> Callable[[Path], None]:
    def do(root: Path) -> None:
        path = root / "pyproject.toml"
        body = path.read_text()
        head, sep, rest = body.partition("[tool.stacktest]\n")
        path.write_text(head + sep + text + rest)

    return do


CASES = [
    Case(
        "missing compose file",
        ["up"],
        10,
        ["compose file", "does not exist"],
        prepare=lambda r: (r / "compose" / "docker-compose.yml").unlink(),
    ),
    Case(
        "invalid YAML",
        ["up"],
        12,
        ["compose config failed"],
        prepare=write("compose/docker-compose.yml", "services:\n  auth: [unclosed\n"),
    ),
    Case("unknown service", ["up", "nope"], 18, ["unknown service 'nope'"]),
    Case(
        "engine unreachable",
        ["up"],
        11,
        ["cannot reach the Docker Engine", "tcp://127.0.0.1:9"],
        env={"DOCKER_HOST": "tcp://127.0.0.1:9"},
    ),
    Case(
        "service never healthy",
        ["up", "ok", "stuck", "--ready-timeout", "2"],
        14,
        ["not ready after 2 s:", "stuck: health: starting"],  # (on a busy machine, `ok` may be late too)
        stack="faults",
    ),
    Case(
        "service exits at start",
        ["up", "crash"],
        14,
        ["'crash' exited with code 3", "cannot read"],
        stack="faults",
    ),
    Case("restart loop", ["up", "flapping"], 14, ["'flapping'"], stack="faults"),
    Case(
        "broken .coveragerc",
        ["--set", "coverage.rcfile=bad.rc", "coverage", "run"],
        15,
        ["coverage configuration", "bad.rc"],
        stack="cov",
        prepare=write("bad.rc", "[run]\nbranch = perhaps\n"),
    ),
    Case(
        "unknown setting",
        ["status"],
        10,
        ["tool.stacktest.ready_timout", "did you mean"],
        prepare=append_settings("ready_timout = 3\n"),
    ),
    Case(
        "mistyped setting",
        ["status"],
        10,
        ["tool.stacktest.stop_timeout", "expected a number, got 'ten'"],
        prepare=append_settings("stop_timeout = 'ten'\n"),
    ),
    Case(
        "mistyped setting in the environment",
        ["status"],
        10,
        ["STACKTEST_READY_TIMEOUT"],
        env={"STACKTEST_READY_TIMEOUT": "soon"},
    ),
    Case("no tests collected", ["test", "-k", "no_such_test_anywhere"], 5, ["deselected"]),
    Case(
        "cleanup with an empty prefix",
        ["cleanup", "--yes"],
        17,
        ["prefix", "empty"],
        env={"STACKTEST_CLEANUP_PREFIX": "  "},
    ),
    Case(
        "unwritable report folder",
        ["coverage", "run"],
        15,
        ["cannot write the coverage reports", "report_dir"],
        stack="cov",
        prepare=write(".stacktest/coverage", "a file where the folder should be\n"),
    ),
    Case("pytest usage error", ["test", "--no-such-pytest-flag"], 4, ["unrecognized arguments"]),
    Case("--pdb with a parallel mode", ["test", "--mode", "fast", "--pdb"], 18, ["--pdb needs one process"]),
    Case("-n with a parallel mode", ["test", "--mode", "parallel", "-n", "3"], 18, ["conflicts", "test-n"]),
    Case("zero workers", ["test", "--mode", "n", "--workers", "0"], 18, ["worker count of at least 1"]),
    Case(
        "invalid project prefix",
        ["up"],
        10,
        ["not a valid compose project name"],
        env={"STACKTEST_PROJECT_PREFIX": "My Stack"},
    ),
    Case("no stack to show", ["status"], 13, ["no stack of this checkout"]),
    Case("no stack to clean", ["cleanup"], 13, ["no stack of this checkout"]),
    Case("setting without a value", ["--set", "ready_timeout", "up"], 18, ["expected KEY=VALUE"]),
    Case("unknown mode", ["test", "--mode", "turbo"], 18, ["unknown mode 'turbo'"]),
    Case("config file not found", ["--config", "missing.toml", "up"], 10, ["missing.toml does not exist"]),
    Case(
        "compose command that does not run",
        ["up"],
        12,
        ["'no-such-compose' does not run"],
        env={"STACKTEST_COMPOSE_COMMAND": "no-such-compose"},
    ),
    Case(
        "coverage without covered services", ["coverage", "run"], 10, ["no covered services"], stack="faults"
    ),
    Case("logs without a stack", ["logs", "auth"], 13, ["no stack of this checkout"]),
    Case("wait without a stack", ["wait"], 13, ["no stack of this checkout", "stacktest up"]),
]


@pytest.fixture
def root(tmp_path: Path, docker_engine: Engine, request: pytest.FixtureRequest) -> Iterator[Path]:
    case: Case = request.param
    dest = tmp_path / "proj"
    if case.stack == "bundled":
        copy_project(dest)
    else:
        shutil.copytree(STACKS / case.stack, dest)
    if case.prepare:
        case.prepare(dest)
    yield dest
    left = engine_leftovers(docker_engine, dest)
    cleanup_root(docker_engine, dest)
    assert left == NOTHING, f"{case.name}: left {left}"


@pytest.mark.parametrize("root", CASES, ids=[c.name for c in CASES], indirect=True)
def test_bad_input(root: Path, request: pytest.FixtureRequest) -> None:
    case: Case = request.node.callspec.params["root"]
    start = time.monotonic()
    result = run_cli(case.args, root, env=case.env, timeout=case.seconds + 60)
    took = time.monotonic() - start
    text = result.stdout + result.stderr
    assert result.returncode == case.code, f"{case.name}: exit {result.returncode}\n{text[-3000:]}"
    for words in case.words:
        assert words in text, f"{case.name}: {words!r} not in\n{text[-3000:]}"
    assert "Traceback" not in text
    assert took < case.seconds, f"{case.name} took {took:.1f} s"


def test_host_port_already_taken(tmp_path: Path, docker_engine: Engine) -> None:
    root = copy_project(tmp_path / "proj")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        compose = root / "compose" / "docker-compose.yml"
        compose.write_text(compose.read_text().replace('"127.0.0.1::6379"', f'"127.0.0.1:{port}:6379"'))
        result = run_cli(["up"], root)
    try:
        assert result.returncode == 12, result.stderr
        assert "127.0.0.1::PORT" in result.stderr  # the hint says how to publish instead
        assert engine_leftovers(docker_engine, root) == NOTHING
    finally:
        cleanup_root(docker_engine, root)


def test_fixed_container_name_used_by_two_runs(tmp_path: Path, docker_engine: Engine) -> None:
    root = copy_project(tmp_path / "proj")
    compose = root / "compose" / "docker-compose.yml"
    name = f"stacktest-fixed-{tmp_path.name[-12:]}".lower()
    compose.write_text(
        compose.read_text().replace("  redis:\n", f"  redis:\n    container_name: {name}\n", 1)
    )
    first = run_cli(["up"], root)
    try:
        assert first.returncode == 0, first.stderr
        second = subprocess.run(
            [sys.executable, "-m", "stacktest", "up"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert second.returncode == 12, second.stderr
        assert "container_name" in second.stderr  # the hint names the cause
        records = list((root / ".stacktest" / "stacks").glob("*.json"))
        assert len(records) == 1, "the failed second run removed its own record and containers"
        assert run_cli(["status"], root).returncode == 0, "the first run is untouched"
    finally:
        run_cli(["down", "--all"], root)
        assert engine_leftovers(docker_engine, root) == NOTHING
        cleanup_root(docker_engine, root)
