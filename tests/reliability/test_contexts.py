"""Per-test contexts in the spy, run as a service runs it (PYTHONPATH=<spy>, STACKTEST_COVERAGE_CONTEXTS=1)
on the host's Python: a threaded http.server serving several tests' requests at once, a request that
calls another service, and an ASGI application whose requests interleave on one event loop. Each line
must carry exactly the tests whose requests ran it; what no request ran stays "unattributed"."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import coverage
import pytest

from stacktest.coverage import spy as _spy
from stacktest.plugin import contexts as plugin_contexts
from stacktest.settings import load_settings
from tests.conftest import REPO

pytestmark = pytest.mark.unit

SERVICE = """
import asyncio, json, sys, threading, time, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote


def only_a():
    first = 1
    time.sleep(0.02)
    return first + 1


def only_b():
    second = 2
    time.sleep(0.02)
    return second * 2


def called_over_http(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/b" % port, timeout=10) as answer:
        body = answer.read()
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/a":
            out = only_a()
        elif self.path == "/b":
            out = only_b()
        else:
            out = called_over_http(self.server.server_address[1]).decode()
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def in_a_pool(value):
    done = value + " (in a pool)"
    return done


def in_anyio(value):
    done = value + " (in anyio)"
    return done


async def asgi_first():
    import anyio.to_thread

    value = "first"
    await asyncio.sleep(0.01)
    value += "!"
    value = await asyncio.get_running_loop().run_in_executor(None, in_a_pool, value)
    value = await anyio.to_thread.run_sync(in_anyio, value)
    await asyncio.sleep(0.01)
    return value


async def asgi_second():
    value = "second"
    await asyncio.sleep(0.01)
    value += "?"
    await asyncio.sleep(0.01)
    return value


async def app(scope, receive, send):
    if scope["path"] == "/first":
        body = await asgi_first()
    else:
        body = await asgi_second()
    await send({"type": "http.response.body", "body": body.encode()})


def nobody():
    return "never asked"


def main():
    import _stacktest_contexts as contexts

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    def get(path, test):
        headers = {"baggage": "other=1, stacktest.test=" + quote(test, safe="")}
        request = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers)
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    threads = []
    for i in range(12):
        threads.append(threading.Thread(target=get, args=("/a", "t.py::test_a[%d]" % (i % 2))))
        threads.append(threading.Thread(target=get, args=("/b", "t.py::test_b")))
        threads.append(threading.Thread(target=get, args=("/fwd", "t.py::test_fwd, with a comma")))
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    wrapped = contexts.wrap_asgi(app)

    async def call(path, test):
        baggage = ("stacktest.test=" + quote(test, safe="")).encode()
        scope = {"type": "http", "path": path, "headers": [(b"baggage", baggage)]}
        sent = []

        async def send(message):
            sent.append(message)

        await wrapped(scope, None, send)
        return sent

    async def both():
        names = ["second", "first"] * 5
        await asyncio.gather(*[call("/" + name, "t.py::test_" + name) for name in names])

    asyncio.run(both())
    server.shutdown()
    nobody()
    sys.exit(0)


main()
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[coverage.CoverageData, Path]:
    top = tmp_path_factory.mktemp("contexts")
    settings = load_settings(cwd=top, environ={})
    spy = _spy.prepare_spy(settings, top / "run")
    app = top / "app"
    app.mkdir()
    (app / "service.py").write_text(SERVICE)
    data = top / "data"
    data.mkdir()
    env = dict(os.environ) | {
        "PYTHONPATH": str(spy),
        "COVERAGE_FILE": str(data / ".coverage"),
        "STACKTEST_COVERAGE_SOURCE": str(app),
        "STACKTEST_COVERAGE_CONTEXTS": "1",
    }
    done = subprocess.run(
        [sys.executable, str(app / "service.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "stacktest coverage spy" not in done.stderr, done.stderr
    combined = coverage.Coverage(data_file=str(top / ".coverage"), config_file=False)
    combined.combine([str(p) for p in data.glob(".coverage.*")], keep=True)
    combined.save()
    found = coverage.CoverageData(basename=str(top / ".coverage"))
    found.read()
    return found, app / "service.py"


def lines_of(path: Path, function: str) -> list[int]:
    """The body lines of ``function`` (its def line runs at import)."""
    text = path.read_text().splitlines()
    start = next(
        i
        for i, line in enumerate(text)
        if line.startswith(f"def {function}(") or line.startswith(f"async def {function}(")
    )
    end = next((i for i in range(start + 1, len(text)) if text[i] and not text[i].startswith(" ")), len(text))
    return [i + 1 for i in range(start + 1, end) if text[i].strip()]


@pytest.mark.parametrize(
    ("function", "tests"),
    [
        ("only_a", {"t.py::test_a[0]", "t.py::test_a[1]"}),
        ("only_b", {"t.py::test_b", "t.py::test_fwd, with a comma"}),  # /fwd calls /b with the id
        ("called_over_http", {"t.py::test_fwd, with a comma"}),
        ("asgi_first", {"t.py::test_first"}),
        ("in_a_pool", {"t.py::test_first"}),  # run_in_executor: a thread of the loop's pool
        ("in_anyio", {"t.py::test_first"}),  # anyio's worker thread
        ("asgi_second", {"t.py::test_second"}),
        ("nobody", {"unattributed"}),
    ],
)
def test_each_line_carries_exactly_the_tests_whose_requests_ran_it(
    measured: tuple[coverage.CoverageData, Path], function: str, tests: set[str]
) -> None:
    data, path = measured
    by_line = data.contexts_by_lineno(str(path))
    body = lines_of(path, function)
    assert {line: set(by_line.get(line, ())) for line in body} == dict.fromkeys(body, tests)


def test_the_plugin_sends_what_the_spy_reads() -> None:
    spec = importlib.util.spec_from_file_location(
        "_spy_contexts", REPO / "coverage-spy" / "_stacktest_contexts.py"
    )
    assert spec is not None and spec.loader is not None
    spy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(spy)
    for test in ["t.py::test_x", "a/b.py::TestC::test_d[x-1, y=2;z]", "t.py::test_é[ü]"]:
        value = plugin_contexts.header_value(test)
        assert spy.parse([value]) == test
        assert spy.parse([f"k=v;p=1, {value};prop=x"]) == test
        assert spy.parse([b"k=v", value.encode()]) == test
    assert spy.parse(["stacktest.testx=1", "other=2"]) is None
    assert spy.header_value("t.py::test_x[1,2]") == plugin_contexts.header_value("t.py::test_x[1,2]")
