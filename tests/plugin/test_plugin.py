"""Acceptance tests of the pytest plugin: real pytest runs (pytester), their output lines matched."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

URLS = {"STACKTEST_PROJECT": "demo", "STACKTEST_URLS": json.dumps({"auth": "http://127.0.0.1:9"})}


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makepyprojecttoml(
        "[tool.stacktest]\ndomain_markers = ['auth', 'repositories']\n"
        "[tool.pytest.ini_options]\naddopts = '-p no:asyncio'\n"  # pytest-asyncio has no part in these runs
    )
    for key in ("STACKTEST_PROJECT", "STACKTEST_URLS"):
        monkeypatch.delenv(key, raising=False)
    return pytester


def test_markers_are_registered_under_strict_markers(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.unit
        @pytest.mark.integration
        @pytest.mark.e2e
        @pytest.mark.slow
        @pytest.mark.serial
        @pytest.mark.security
        @pytest.mark.contract
        @pytest.mark.auth
        @pytest.mark.repositories
        def test_all():
            pass
    """)
    tester.runpytest("--strict-markers").assert_outcomes(passed=1)
    result = tester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*serial: changes shared state*", "*auth: domain marker*"])


def test_an_undeclared_marker_still_fails_strict_markers(tester: pytest.Pytester) -> None:
    tester.makepyfile("import pytest\n@pytest.mark.nonsense\ndef test_x(): pass\n")
    tester.runpytest("--strict-markers").stdout.fnmatch_lines(["*'nonsense' not found in `markers`*"])


def test_unique_names_across_xdist_workers(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("i", range(20))
        def test_name(unique_name, i, tmp_path_factory):
            name = unique_name("client")
            out = tmp_path_factory.getbasetemp().parent.parent / "names.txt"
            with open(out, "a") as fh:
                fh.write(name + "\\n")
    """)
    tester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=20)
    names = [line for p in tester.path.parent.rglob("names.txt") for line in p.read_text().splitlines()]
    names = [n for n in names if "test_name" in n]
    assert len(names) == 20 and len(set(names)) == 20
    assert all(n.startswith("TEST gw") and " client " in n for n in names)
    assert {n.split()[1] for n in names} == {"gw0", "gw1"}


def test_cleanup_runs_in_reverse_and_reports_errors(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        order = []

        async def async_step():
            order.append("async")

        def test_ok(cleanup):
            cleanup.add(order.append, "first")
            cleanup.add(async_step)
            cleanup.add(order.append, "last")

        def test_order_was_reversed():
            assert order == ["last", "async", "first"]

        def test_failing_callbacks_are_reported(cleanup):
            def broken():
                raise RuntimeError("could not delete client c_1")
            cleanup.add(broken)
            cleanup.add(order.append, "still runs")

        def test_the_rest_still_ran():
            assert order[-1] == "still runs"
    """)
    result = tester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*cleanup failed:*", "*broken: RuntimeError: could not delete client c_1*"])


def test_stack_fixture_reads_what_the_cli_resolved(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for k, v in URLS.items():
        monkeypatch.setenv(k, v)
    tester.makepyfile("""
        def test_urls(stack, service_client):
            assert stack.project == "demo"
            assert stack.url("auth") == "http://127.0.0.1:9"
            assert stack.address("auth") == ("127.0.0.1", 9)
            assert str(service_client("auth").base_url) == "http://127.0.0.1:9"
    """)
    result = tester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["stacktest: stack demo"])


def test_without_a_stack_the_failure_says_what_to_run(tester: pytest.Pytester) -> None:
    tester.makepyfile("def test_needs_stack(stack):\n    pass\n")
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*no running stack for these tests*", "*Run them with `just test`*"])


def test_serial_tests_never_run_on_a_worker(tester: pytest.Pytester) -> None:
    tester.makepyfile("""
        import os
        import pytest

        @pytest.mark.serial
        def test_serial():
            assert "PYTEST_XDIST_WORKER" not in os.environ

        def test_parallel():
            pass
    """)
    tester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    tester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_tests_that_act_on_the_stack_become_serial(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in URLS.items():
        monkeypatch.setenv(key, value)
    tester.makepyfile("""
        def test_stops(stack):
            stack.stop("auth")

        def test_execs_in_a_nested_function(stack):
            def helper():
                return stack.exec("redis", ["true"])
            return helper

        def test_only_reads(stack):
            assert stack.url("auth")

        def test_other_start(stack):
            class Timer:
                def start(self): pass
            Timer().start()
    """)
    result = tester.runpytest("-m", "serial", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        ["*::test_stops", "*::test_execs_in_a_nested_function", "*2/4 tests collected*"]
    )


def test_acting_on_the_stack_on_a_parallel_worker_fails_with_the_fix(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in URLS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    tester.makepyfile("""
        def stop_auth(stack):
            stack.stop("auth")

        def test_through_a_helper(stack):
            stop_auth(stack)
    """)
    result = tester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*on a parallel worker, beside other tests*", "*Mark it @pytest.mark.serial*"]
    )


def test_shards_split_the_suite_once_and_keep_serial_tests_serial(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in URLS.items():
        monkeypatch.setenv(key, value)
    tester.makepyfile(
        test_many="""
        import pytest

        @pytest.mark.parametrize("n", range(10))
        def test_n(n):
            pass

        @pytest.mark.serial
        def test_serial():
            pass
        """
    )
    ran: list[str] = []
    for index in (1, 2, 3):
        result = tester.runpytest("--stacktest-shard", f"{index}/3", "-v")
        mine = [line.split(" ")[0] for line in result.outlines if " PASSED" in line]
        ran += mine
        # the serial phase of this part (-m serial) holds the serial test exactly when the part does
        serial = tester.runpytest("--stacktest-shard", f"{index}/3", "-m", "serial", "-q", "--co")
        assert ("test_serial" in serial.stdout.str()) == any("test_serial" in r for r in mine)
    assert sorted(ran) == sorted({*ran}) and len(ran) == 11  # each test once, across the three
    bad = tester.runpytest("--stacktest-shard", "4/3")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*expected I/N*"])


CONTEXT_SUITE = """
import threading

import pytest
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import stacktest

SEEN = []


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        SEEN.append(self.headers.get_all("baggage"))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


SERVER = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=SERVER.serve_forever, daemon=True).start()
PORT = SERVER.server_address[1]


def test_one():
    httpx.get(f"http://127.0.0.1:{PORT}/")
    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/").read()
    mine = "stacktest.test=test_sends.py%3A%3Atest_one"
    assert SEEN[-2:] == [[mine], [mine]]
    assert stacktest.test_headers() == {"baggage": mine}


def test_threads_of_the_test_send_its_id():
    import concurrent.futures

    worker = threading.Thread(target=httpx.get, args=(f"http://127.0.0.1:{PORT}/",))
    worker.start()
    worker.join()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(httpx.get, [f"http://127.0.0.1:{PORT}/"] * 2))
    mine = "stacktest.test=test_sends.py%3A%3Atest_threads_of_the_test_send_its_id"
    assert SEEN[-3:] == [[mine]] * 3


def test_not_to_other_hosts():
    httpx.get(f"http://localhost:{PORT}/")  # not a host of the stack
    assert SEEN[-1] is None


def test_fails():
    assert False


@pytest.fixture(scope="module")
def shared():
    httpx.get(f"http://127.0.0.1:{PORT}/")
    yield "shared"
    httpx.get(f"http://127.0.0.1:{PORT}/")  # its teardown: after the module's last test


def test_uses_shared_first(shared):
    assert SEEN[-1] == ["stacktest.test=test_sends.py%3A%3A%5Bfixture%3Ashared%5D"]


def test_uses_shared_second(shared):
    assert SEEN[-1] == ["stacktest.test=test_sends.py%3A%3A%5Bfixture%3Ashared%5D"]
"""


def test_contexts_send_the_test_id_to_the_stack_and_measure_the_tests(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import coverage

    monkeypatch.setenv("STACKTEST_PROJECT", "demo")
    monkeypatch.setenv("STACKTEST_URLS", json.dumps({"svc": "http://127.0.0.1:9"}))
    monkeypatch.setenv("STACKTEST_CONTEXTS", str(tmp_path / "data"))
    tester.makepyfile(test_sends=CONTEXT_SUITE)
    tester.makepyprojecttoml(
        "[tool.stacktest]\ntests = ['.']\n[tool.pytest.ini_options]\naddopts = '-p no:asyncio'\n"
    )
    result = tester.runpytest_subprocess()  # the plugin starts coverage: not in this process
    result.assert_outcomes(passed=5, failed=1)
    uses = json.loads("".join(p.read_text() for p in (tmp_path / "data").glob("uses-*.json")))
    shared = "test_sends.py::[fixture:shared]"
    assert uses["test_sends.py::test_uses_shared_second"] == [shared]
    assert uses["test_sends.py::test_one"] == []
    failed = "".join(p.read_text() for p in (tmp_path / "data").glob("failed-*.txt"))
    assert failed == "test_sends.py::test_fails\n"
    parts = [str(p) for p in (tmp_path / "data").glob(".coverage.*")]
    combined = coverage.Coverage(data_file=str(tmp_path / ".coverage"), config_file=False)
    combined.combine(parts)
    combined.save()
    data = coverage.CoverageData(basename=str(tmp_path / ".coverage"))
    data.read()
    source = str(tester.path / "test_sends.py")
    by_line = data.contexts_by_lineno(source)
    define = (tester.path / "test_sends.py").read_text().splitlines().index("def test_one():") + 1
    assert by_line[define + 1] == ["test_sends.py::test_one"]  # its first statement
    assert by_line[define] == ["unattributed"]  # the def line ran at import
    lines = (tester.path / "test_sends.py").read_text().splitlines()
    setup = lines.index('    yield "shared"')  # the line before it, numbered from 1
    assert by_line[setup] == [shared] and by_line[setup + 2] == [shared]  # setup, and teardown


def test_affected_deselects_what_the_map_knows_and_no_change_reaches(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    chosen = tmp_path / "affected.json"
    chosen.write_text(
        json.dumps({"tests": ["test_x.py::test_a"], "known": ["test_x.py::test_a", "test_x.py::test_b"]})
    )
    monkeypatch.setenv("STACKTEST_AFFECTED", str(chosen))
    tester.makepyfile(test_x="def test_a(): pass\ndef test_b(): pass\ndef test_new(): pass\n")
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=2, deselected=1)
    result.stdout.fnmatch_lines(["*test_a PASSED*", "*test_new PASSED*"])
