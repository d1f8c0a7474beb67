"""The just recipes of the seed's contract that run the live suite, against one kept stack of the bundled
project (started once, on one xdist worker: tests/conftest.py SHARED_STACK_MODULES); the recipes that start
and remove their own stack are in test_recipes_own_stack.py."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import (
    REPO,
    Spawn,
    children_of,
    run_cli,
    wait_until,
)
from tests.e2e.conftest import just

TOTAL, SERIAL = 128, 7  # the live suite: tests/stack (serial: 2 marked, 5 that act on the stack)


@pytest.fixture
def live(kept_stack: Path) -> Path:
    """One kept stack (`stacktest up`): `just test` and the xdist modes reuse a running stack, as they do
    for a user who started it."""
    shutil.copy2(REPO / "justfile", kept_stack / "justfile")
    return kept_stack


def junit_suites(project: Path) -> dict[str, list[str]]:
    root = ET.parse(project / ".stacktest" / "last" / "junit.xml").getroot()  # noqa: S314 - our own file
    return {
        s.get("name", ""): [c.get("name", "") for c in s.iter("testcase")] for s in root.iter("testsuite")
    }


@pytest.mark.parametrize(
    "recipe",
    [
        ["test-parallel"],
        ["test-n", "2"],
        ["test-fast"],
        ["test-by-module"],
        ["test-by-class"],
    ],
)
def test_parallel_recipes_run_each_test_once_serial_ones_last(live: Path, recipe: list[str]) -> None:
    # the phases on workers: one worker per core, fixed (left to choose, a short suite on a busy machine
    # runs in one process, one phase: tests/unit/test_workers.py pins that choice)
    result = just(live, *recipe, "-q", env={"STACKTEST_WORKERS_PER_CORE": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert f"{TOTAL - SERIAL} passed" in result.stdout  # the parallel phase
    assert f"{SERIAL} passed, {TOTAL - SERIAL} deselected" in result.stdout  # the serial phase
    assert f"total: {TOTAL} passed, 0 failed" in result.stdout
    assert '"id"' not in run_cli(["cleanup", "--json"], live).stdout, "the suite left test data"
    suites = junit_suites(live)
    parallel = [n for name, cases in suites.items() if name.endswith("-parallel") for n in cases]
    serial = [n for name, cases in suites.items() if name.endswith("-serial") for n in cases]
    assert len(parallel) + len(serial) == TOTAL and len(set(parallel) | set(serial)) == TOTAL
    assert sorted(serial) == [
        "test_a_paused_service_is_left_running_for_the_next_test",
        "test_admin_endpoints_need_the_admin_token",
        "test_api_answers_503_while_auth_is_stopped_and_recovers_after",
        "test_auth_reconnects_after_redis_restarts",
        "test_closed_registration_refuses_new_clients",
        "test_exec_runs_a_command_in_a_service",
        "test_the_stack_is_ready_after_a_test_that_left_it_disturbed",
    ]


def test_serial_runs_only_the_serial_tests(live: Path) -> None:
    result = just(live, "test-serial", "-q")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{SERIAL} passed, {TOTAL - SERIAL} deselected" in result.stdout


def test_parallel_safe_skips_the_serial_tests(live: Path) -> None:
    result = just(live, "test-parallel-safe", "-q")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"{TOTAL - SERIAL} passed" in result.stdout


def test_quoting_of_a_k_expression_survives(live: Path) -> None:
    result = just(live, "test", "-k", "oauth and not slow", "-q")
    assert result.returncode == 0, result.stdout[-3000:]
    assert f"13 passed, {TOTAL - 13} deselected" in result.stdout


def test_a_node_id_with_verbose_flags(live: Path) -> None:
    result = just(live, "test", "tests/stack/test_oauth_flow.py::test_pkce_flow", "-vvv", "-s")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "test_oauth_flow.py::test_pkce_flow PASSED" in result.stdout
    assert "1 passed" in result.stdout


def test_exit_code_1_and_the_server_side_of_the_failure(live: Path) -> None:
    failing = live / "tests" / "stack" / "test_zz_fails.py"  # removed after: the stack's suite is shared
    failing.write_text(
        "def test_fails(auth_client):\n    assert auth_client.get('/no/such/route').status_code == 200\n"
    )
    try:
        result = just(live, "test", "tests/stack/test_zz_fails.py", "-q")
    finally:
        failing.unlink()
    assert result.returncode == 1
    assert "stacktest: auth log during the test" in result.stdout
    assert '"GET /no/such/route HTTP/1.1" 404' in result.stdout


def test_exit_code_5_when_nothing_is_collected(live: Path) -> None:
    result = just(live, "test", "-k", "no_test_has_this_name", "-q")
    assert result.returncode == 5
    result = just(live, "test-fast", "-k", "no_test_has_this_name", "-q")
    assert result.returncode == 5


def test_settings_set_on_the_command_line_reach_every_xdist_worker(live: Path) -> None:
    """`--set` given to `stacktest test` reaches the plugin in each worker: the marker it declares is
    known under --strict-markers there, and unique_name uses the prefix it sets."""
    marked = live / "tests" / "stack" / "test_zz_marked.py"  # removed after: the stack's suite is shared
    marked.write_text(
        "import pytest\n\n@pytest.mark.zz_flavour\n@pytest.mark.parametrize('i', range(4))\n"
        "def test_marked(i, unique_name):\n    assert unique_name('x').startswith('QA ')\n"
    )
    argv = ["--set", "domain_markers=zz_flavour", "--set", "cleanup.prefix=QA ", "test", "--mode", "n"]
    try:
        result = run_cli([*argv, "--workers", "2", "tests/stack/test_zz_marked.py", "--strict-markers"], live)
    finally:
        marked.unlink()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "4 passed" in result.stdout


def test_cleanup_after_a_killed_run(live: Path, spawn: Spawn) -> None:
    """A run killed midway cannot run its cleanup callbacks: what it registered is found by
    test-cleanup-show and removed by test-cleanup (the runs above left nothing: checked after each)."""
    proc = spawn.test_run(
        live,
        "test_zz_slow",
        "import time\n\ndef test_leaves_a_client(registered):\n"
        "    registered('left-behind')\n    time.sleep(600)\n",
        stderr=subprocess.PIPE,
    )
    try:
        if not wait_until(lambda: '"id"' in run_cli(["cleanup", "--json"], live).stdout, timeout=120):
            proc.kill()
            _, err = proc.communicate()
            raise AssertionError(f"the killed run never registered its client:\n{(err or '')[-3000:]}")
        children = children_of(proc.pid)  # before the kill: then they are init's
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        # a pytest child, when there is one, lives on (nothing told it to stop): end it the same way
        for child, _ in children:
            os.kill(child, signal.SIGKILL)
    finally:
        (live / "tests" / "stack" / "test_zz_slow.py").unlink()
    shown = just(live, "test-cleanup-show")
    assert shown.returncode == 0 and "left-behind" in shown.stdout
    removed = just(live, "test-cleanup")
    assert removed.returncode == 0 and "deleted" in removed.stdout
    assert '"id"' not in run_cli(["cleanup", "--json"], live).stdout
