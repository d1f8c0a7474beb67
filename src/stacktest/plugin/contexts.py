"""Per-test contexts, the test side: the id of the running test goes along with every request to the
stack, and the test process's own lines are measured under it.

On when ``STACKTEST_CONTEXTS`` names a folder for the test process's coverage data (``stacktest coverage
run --contexts`` sets it). The id travels as ``baggage: stacktest.test=<node id>`` (W3C baggage, the value
percent-encoded): added to every request the test process sends to a host of the stack through httpx
(the plugin's clients, ``httpx.get``) or ``http.client`` (urllib, requests), from the test's thread or
from threads and thread pools it starts. Any other client adds :func:`test_headers` itself. The spy in
each service reads it (coverage-spy/_stacktest_contexts.py speaks the same format; a unit test holds the
two together).
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import http.client
import json
import logging
import os
import threading
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from stacktest.state import ENV_CONTEXTS, ENV_REPLICA_URLS, ENV_URLS

__all__ = [
    "HEADER",
    "KEY",
    "UNATTRIBUTED",
    "Contexts",
    "broad_fixtures",
    "configure",
    "current_test",
    "fixture_context",
    "header_value",
    "stack_hosts",
    "test_headers",
]

HEADER = "baggage"
KEY = "stacktest.test"
UNATTRIBUTED = "unattributed"

log = logging.getLogger("stacktest")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("stacktest_test", default=None)


def header_value(test: str) -> str:
    return f"{KEY}={quote(test, safe='')}"


def current_test() -> str | None:
    """The node id of the test running now in this process (its setup, call and teardown), or None."""
    return _current.get()


def test_headers() -> dict[str, str]:
    """The header that names the running test, for a client stacktest does not instrument:
    ``requests.get(url, headers=stacktest.test_headers())``. Empty outside a test."""
    test = _current.get()
    return {HEADER: header_value(test)} if test else {}


test_headers.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name says


def _with_baggage(existing: str | None, test: str) -> str:
    return f"{existing}, {header_value(test)}" if existing else header_value(test)


def stack_hosts() -> frozenset[str]:
    """The hosts of the stack's published ports (loopback, or the engine's host): requests to them carry
    the test's id, requests anywhere else do not."""
    urls: list[str] = list(json.loads(os.environ.get(ENV_URLS) or "{}").values())  # env: STACKTEST_URLS
    replicas = json.loads(os.environ.get(ENV_REPLICA_URLS) or "{}")  # env: STACKTEST_REPLICA_URLS
    for more in replicas.values():
        urls += list(more)
    return frozenset(h for h in (urlsplit(u).hostname for u in urls) if h)


def fixture_context(scope_node: str, argname: str) -> str:
    """The context of a fixture broader than a test (class, module, package, session): what its setup
    and teardown run belongs to every test that uses it, whichever test happened to set it up."""
    return f"{scope_node}::[fixture:{argname}]"


_SCOPE_NODES: dict[str, type[pytest.Collector]] = {
    "package": pytest.Package,
    "module": pytest.Module,
    "class": pytest.Class,
}


def broad_fixtures(item: pytest.Item) -> list[str]:
    """The contexts of the broader fixtures ``item`` uses."""
    info = getattr(item, "_fixtureinfo", None)
    found = []
    for name in getattr(item, "fixturenames", ()):
        defs = getattr(info, "name2fixturedefs", {}).get(name) if info is not None else None
        if not defs or defs[-1].scope == "function":
            continue
        scope = defs[-1].scope
        node = item.session if scope == "session" else item.getparent(_SCOPE_NODES[scope])
        if node is not None:
            found.append(fixture_context(node.nodeid, name))
    return sorted(found)


class Contexts:
    """The plugin object for one pytest process: patches the HTTP clients, measures the tests, switches
    the context per test and per broader fixture, and notes which broader fixtures each test uses."""

    def __init__(self, data_dir: Path, sources: list[str], hosts: frozenset[str]) -> None:
        self.data_dir = data_dir
        self.sources = sources
        self.hosts = hosts
        self._undo: list[Callable[[], None]] = []
        self._cov: Any = None
        self.uses: dict[str, list[str]] = {}  # test -> the broader fixtures it uses

    def _switch(self, context: str | None) -> None:
        _current.set(context)
        if self._cov is not None:
            self._cov.switch_context(context or UNATTRIBUTED)

    # HTTP ---------------------------------------------------------------------------------------------
    def _ours(self, host: str | None) -> bool:
        return host is not None and host in self.hosts

    def patch_clients(self) -> None:
        ours = self._ours
        sync_send = httpx.HTTPTransport.handle_request
        async_send = httpx.AsyncHTTPTransport.handle_async_request
        putrequest = http.client.HTTPConnection.putrequest

        def handle_request(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
            test = _current.get()
            if test and ours(request.url.host):
                request.headers[HEADER] = _with_baggage(request.headers.get(HEADER), test)
            return sync_send(self, request)

        async def handle_async_request(
            self: httpx.AsyncHTTPTransport, request: httpx.Request
        ) -> httpx.Response:
            test = _current.get()
            if test and ours(request.url.host):
                request.headers[HEADER] = _with_baggage(request.headers.get(HEADER), test)
            return await async_send(self, request)

        def put(connection: http.client.HTTPConnection, *args: Any, **kwargs: Any) -> None:
            putrequest(connection, *args, **kwargs)
            test = _current.get()
            if test and ours(connection.host):
                connection.putheader(HEADER, header_value(test))

        httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign]
        httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign]
        http.client.HTTPConnection.putrequest = put  # type: ignore[method-assign,assignment]

        def undo() -> None:
            httpx.HTTPTransport.handle_request = sync_send  # type: ignore[method-assign]
            httpx.AsyncHTTPTransport.handle_async_request = async_send  # type: ignore[method-assign]
            http.client.HTTPConnection.putrequest = putrequest  # type: ignore[method-assign]

        self._undo.append(undo)

    def patch_threads(self) -> None:
        """A test's id goes with the work it hands to a thread (``threading.Thread``, a thread pool):
        concurrent requests of one test are that test's."""
        start = threading.Thread.start
        submit = concurrent.futures.ThreadPoolExecutor.submit

        def carried(fn: Callable[..., Any], test: str) -> Callable[..., Any]:
            def run(*args: Any, **kwargs: Any) -> Any:
                token = _current.set(test)
                try:
                    return fn(*args, **kwargs)
                finally:
                    _current.reset(token)

            return run

        def start_with_test(thread: threading.Thread) -> None:
            test = _current.get()
            if test:
                thread.run = carried(thread.run, test)  # type: ignore[method-assign]
            start(thread)

        def submit_with_test(
            pool: concurrent.futures.ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
        ) -> concurrent.futures.Future[Any]:
            test = _current.get()
            return submit(pool, carried(fn, test) if test else fn, *args, **kwargs)

        threading.Thread.start = start_with_test  # type: ignore[method-assign,assignment]
        concurrent.futures.ThreadPoolExecutor.submit = submit_with_test  # type: ignore[method-assign,assignment]

        def undo() -> None:
            threading.Thread.start = start  # type: ignore[method-assign]
            concurrent.futures.ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]

        self._undo.append(undo)

    # the test process's own lines ---------------------------------------------------------------------
    def start_measuring(self) -> None:
        import coverage

        if coverage.Coverage.current() is not None:
            log.warning("per-test contexts: this pytest is measured already; its own lines are not")
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cov = coverage.Coverage(
            data_file=str(self.data_dir / ".coverage"),
            data_suffix=True,
            source=self.sources,
            config_file=False,
        )
        try:
            import coverage.tracer  # the C tracer: contexts need a trace function per thread

            cov.set_option("run:core", "ctrace")
        except ImportError:
            cov.set_option("run:core", "pytrace")
        cov.start()
        cov.switch_context(UNATTRIBUTED)
        self._cov = cov

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        self.uses[item.nodeid] = broad_fixtures(item)
        self._switch(item.nodeid)
        try:
            return (yield)
        finally:
            self._switch(None)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        """A broader fixture's setup, and its teardown (whichever test it comes with), run under its own
        context. Its finalizers run last added first: the switch, its own teardown, the way back."""
        if fixturedef.scope == "function":
            return (yield)
        context = fixture_context(request.node.nodeid, fixturedef.argname)
        during = _current.get()
        held: list[str | None] = []
        fixturedef.addfinalizer(lambda: self._switch(held.pop() if held else None))
        self._switch(context)
        try:
            return (yield)
        finally:
            self._switch(during)

            def switch() -> None:
                held.append(_current.get())
                self._switch(context)

            fixturedef.addfinalizer(switch)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """A failing test is named in the data folder: the run's report shows the lines it reached."""
        if report.failed:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with (self.data_dir / f"failed-{os.getpid()}.txt").open("a", encoding="utf-8") as fh:
                fh.write(report.nodeid + "\n")

    def close(self) -> None:
        if self.uses:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            (self.data_dir / f"uses-{os.getpid()}.json").write_text(json.dumps(self.uses))
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        if self._cov is not None:
            self._cov.stop()
            self._cov.save()
            self._cov = None


def configure(config: pytest.Config, sources: list[str]) -> Contexts | None:
    """Turn per-test contexts on for this pytest process when the command asked for them."""
    folder = os.environ.get(ENV_CONTEXTS)  # env: STACKTEST_CONTEXTS (set by `coverage run --contexts`)
    if not folder:
        return None
    contexts = Contexts(Path(folder), sources, stack_hosts())
    contexts.patch_clients()
    contexts.patch_threads()
    # the xdist controller runs no test: only the workers (or a run without xdist) measure
    if not (getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput")):
        contexts.start_measuring()
    config.pluginmanager.register(contexts, "stacktest-contexts")
    return contexts
