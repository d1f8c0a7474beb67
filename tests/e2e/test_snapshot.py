"""Live coverage of a kept stack: `stacktest up --coverage`, tests in two runs, a snapshot after each
without stopping anything; the second snapshot equals a full `coverage run` of the same tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import report_dir, run_cli, service_lines

FIRST = ["tests/stack/test_errors.py"]
REST = ["tests/stack/test_oauth_flow.py", "tests/stack/test_mcp_protocol.py"]


def shutdown_lines(project: Path) -> set[int]:
    """The lines of the api that only run when it stops (its SIGTERM handler and what follows
    serve_forever): a snapshot of a running service cannot have them, a full run has."""
    source = (project / "compose/services/api/src/api_service/app.py").read_text().splitlines()
    start = next(i for i, line in enumerate(source, 1) if "def graceful(" in line)
    return set(range(start + 1, start + 4)) | {  # its body, not the def (run at start-up)
        i for i, line in enumerate(source, 1) if "server_close()" in line or '"api stopped"' in line
    }


def test_two_snapshots_of_a_kept_covered_stack_equal_a_full_run(project: Path) -> None:
    up = run_cli(["up", "--coverage"], project)
    assert up.returncode == 0, up.stderr
    try:
        first = run_cli(["test", *FIRST, "-q"], project)
        assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
        assert "reusing the running stack" in first.stderr  # the kept covered stack, not a new one
        one = run_cli(["coverage", "snapshot"], project)
        assert one.returncode == 0, one.stderr
        rest = run_cli(["test", *REST, "-q"], project)
        assert rest.returncode == 0, rest.stdout[-2000:] + rest.stderr[-2000:]
        two = run_cli(["coverage", "snapshot"], project)
        assert two.returncode == 0, two.stderr
        assert "did not save" not in one.stderr + two.stderr  # every measuring process answered
    finally:
        assert run_cli(["down"], project).returncode == 0
    whole = run_cli(["coverage", "run", *FIRST, *REST, "-q"], project)
    assert whole.returncode == 0, whole.stdout[-2000:] + whole.stderr[-2000:]

    snap1, snap2, full = report_dir(one.stdout), report_dir(two.stdout), report_dir(whole.stdout)
    for service in ("auth", "api"):
        a, b, c = service_lines(snap1, service), service_lines(snap2, service), service_lines(full, service)
        assert sum(map(len, b.values())) > 100
        assert all(a[f] <= b.get(f, set()) for f in a)  # the second snapshot keeps all of the first
        assert a != b  # and adds what the rest of the tests reached
        if service == "api":  # what runs only when the api stops is in the full run alone
            stopping = shutdown_lines(project)
            c = {f: lines - stopping if f.endswith("app.py") else lines for f, lines in c.items()}
        assert b == c, service
