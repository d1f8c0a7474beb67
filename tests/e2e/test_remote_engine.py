"""The bundled coverage job on an engine that cannot see this checkout: a second dockerd with its own data
root and mount namespace (where this checkout and the temporary folder are empty), reached over tcp on
127.0.0.1 through DOCKER_HOST. Everything stacktest adds reaches its containers through the Engine API,
so the coverage figures are the same as on the local engine, service by service and line by line."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import (
    IN_CI,
    NOTHING,
    REPO,
    BindWatcher,
    cleanup_root,
    engine_leftovers,
    host_binds,
    report_dir,
    required_tool,
    run_cli,
    service_lines,
)
from tests.reliability.test_reaper import a_killed_run_is_reaped
from tests.reliability.test_reaper import stack as reaper_stack
from tests.second_engine import SecondEngine, second_engine

SUITE = ["tests/stack/test_oauth_flow.py", "tests/stack/test_errors.py", "tests/stack/test_mcp_protocol.py"]


@pytest.fixture
def remote(
    project: Path, base_image: str, docker_engine: Engine, bind_watcher: BindWatcher
) -> Iterator[SecondEngine]:
    for tool in ("dockerd", "unshare", "ip", "iptables"):
        required_tool(tool)
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("CI=true and not root: a second engine needs root", pytrace=False)
        pytest.skip("a second engine needs root")
    first = docker_engine.client
    hide = [REPO, Path(tempfile.gettempdir()), project]
    with second_engine(hide, copy_images=[base_image], first=first) as engine:
        bind_watcher.watch(engine.client)  # the session's property holds on that engine too
        yield engine
        there = Engine(engine.client)  # stacktest's own view of that engine
        leftovers = engine_leftovers(there, project)
        cleanup_root(there, project)
        assert leftovers == NOTHING, f"left behind on the second engine: {leftovers}"


def table(stdout: str) -> list[str]:
    """The per-service rows of the coverage table: service, statements, missed, cover."""
    return [" ".join(row.split()) for row in re.findall(r"^│ (?:api|auth|TOTAL) .*$", stdout, re.M)]


def test_the_coverage_job_on_an_engine_that_cannot_see_this_checkout(
    project: Path, remote: SecondEngine, base_image: str, docker_engine: Engine, tmp_path: Path
) -> None:
    client = remote.client
    # that engine cannot see this machine's files: a bind mount of the project comes up empty there
    seen = client.containers.run(
        base_image, ["ls", "-A", "/p"], volumes={str(project): {"bind": "/p", "mode": "ro"}}, remove=True
    )
    assert seen == b"" and (project / "pyproject.toml").is_file()

    at = {"DOCKER_HOST": remote.url, "STACKTEST_REAPER_SOCKET": remote.socket}
    there = run_cli(["coverage", "run", "--keep", *SUITE, "-q"], project, env=at)
    assert there.returncode == 0, there.stdout[-3000:] + there.stderr[-3000:]
    try:
        containers = client.containers.list(all=True, filters={"label": f"io.stacktest.root={project}"})
        assert {c.labels["com.docker.compose.service"] for c in containers} == {"auth", "api", "redis"}
        for container in containers:
            assert host_binds(container.attrs) == [], container.name
        # the local engine ran none of it
        assert engine_leftovers(docker_engine, project) == NOTHING
    finally:
        down = run_cli(["down"], project, env=at)
        assert down.returncode == 0, down.stderr

    # a run killed there, its whole process tree: the reaper on that engine (reaper.socket names that
    # engine's socket) removes its stack with no later stacktest command
    tiny = reaper_stack(tmp_path / "killed", base_image)
    reached = {"DOCKER_HOST": remote.url, "STACKTEST_REAPER_SOCKET": remote.socket}
    a_killed_run_is_reaped(Engine(client), tiny, f"streaper-remote-{os.getpid()}", reached)

    here = run_cli(["coverage", "run", *SUITE, "-q"], project)
    assert here.returncode == 0, here.stdout[-3000:] + here.stderr[-3000:]
    assert len(table(there.stdout)) == 3 and table(there.stdout) == table(here.stdout)
    for service in ("auth", "api"):
        remote_lines = service_lines(report_dir(there.stdout), service)
        assert sum(len(lines) for lines in remote_lines.values()) > 100, remote_lines  # measured there
        assert remote_lines == service_lines(report_dir(here.stdout), service)
