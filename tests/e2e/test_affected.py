"""Who tests what, on the bundled stack: a coverage run with per-test contexts on two xdist workers records
the test map (a failing test's report names the service lines it reached, the HTML shows the contexts);
then a bug seeded into the api service makes `stacktest test --affected` rebuild the service, run only
the few tests whose requests reached the changed line, and fail."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import coverage

from tests.conftest import report_dir, run_cli

API = "compose/services/api/src/api_service/app.py"
ECHO = '            return _text(args["text"])'
ECHO_TEST = "tests/stack/test_mcp_protocol.py::TestTools::test_tools_call[echo-args0-hello]"
FAILING = "tests/stack/test_zz_fails.py::test_a_failure_names_the_lines_it_reached"
# the api's protocol tests and the seeded failure: both runs select within them (the map knows only these)
SUITE = ["tests/stack/test_mcp_protocol.py", "tests/stack/test_zz_fails.py"]


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True
    )


def test_the_map_records_who_reached_each_line_and_affected_runs_only_those(project: Path) -> None:
    (project / "tests" / "stack" / "test_zz_fails.py").write_text(
        "from tests.stack import helpers\n\n\n"
        "def test_a_failure_names_the_lines_it_reached(api_client, token):\n"
        "    answer = helpers.rpc(api_client, token, 'ping')\n"
        "    assert answer.status_code == 418, 'seeded failure'\n"
    )
    (project / ".gitignore").write_text("wheels/\n.stacktest/\n__pycache__/\n")
    _git(project, "init", "-q")
    _git(project, "add", ".")
    _git(project, "commit", "-qm", "recorded")

    recorded = run_cli(
        ["coverage", "run", "--contexts", "--mode", "n", "--workers", "2", *SUITE, "-q"], project
    )
    said = recorded.stdout + recorded.stderr
    assert recorded.returncode == 1, said[-4000:]  # the seeded failure, and nothing else
    assert "1 failed" in recorded.stdout, said[-4000:]
    # the failing test's report: the api lines its request reached (and auth's, through the api's call)
    reached = said[said.index(f"failed {FAILING} reached:") :]
    assert re.search(rf"api: {re.escape(API)} \d", reached), reached[:2000]
    assert "auth: compose/services/auth/src/auth_service/" in reached, reached[:2000]

    testmap = json.loads((project / ".stacktest/last/testmap.json").read_text())
    echo_line = (project / API).read_text().splitlines().index(ECHO) + 1
    data = coverage.CoverageData(basename=str(report_dir(recorded.stdout) / ".coverage.api"))
    data.read()
    at_echo = set(data.contexts_by_lineno(str(project / API))[echo_line])
    assert at_echo == {ECHO_TEST}, at_echo  # one test's request ran it, on one of two workers
    assert ECHO_TEST in testmap["tests"] and len(testmap["tests"]) == 17
    html = (report_dir(recorded.stdout) / "html" / "api").glob("*app_py.html")
    assert any(ECHO_TEST in page.read_text() for page in html)  # coverage.py's HTML shows the contexts

    app = project / API
    app.write_text(app.read_text().replace(ECHO, '            return _text(args["text"].upper())'))
    affected = run_cli(["test", "--affected", *SUITE, "-q"], project)
    said = affected.stdout + affected.stderr
    assert affected.returncode == 1, said[-4000:]  # the rebuilt api runs the bug, and a test catches it
    assert "1 failed" in affected.stdout and ECHO_TEST in affected.stdout, said[-4000:]
    assert "--affected HEAD: 1 of the 17 tests the map knows are affected" in said, said[-3000:]
