"""The pytest plugin (``pytest11`` entry point ``stacktest``): markers, fixtures, serial safety, and the
server-side log lines of each failing test.

It never starts a stack: ``stacktest test`` resolves the stack once, before pytest, and hands it over in
``STACKTEST_PROJECT`` / ``STACKTEST_URLS``; plain ``pytest`` finds this checkout's running stack through
its state file. Heavy imports (the docker SDK) happen only when a fixture or a failure needs them.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import secrets
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from stacktest import _http
from stacktest._http import TEST_TIMEOUT
from stacktest._state import ENV_LOG_LINES, ENV_PROJECT, ENV_REPLICA_URLS, ENV_URLS

if TYPE_CHECKING:
    from stacktest.settings import Settings

__all__ = ["CleanupTracker", "StackHandle"]

BASE_MARKERS = {
    "unit": "fast, isolated test of pure logic",
    "integration": "talks to real services",
    "e2e": "a complete user workflow across services",
    "slow": "takes more than a few seconds",
    "serial": "changes shared state: never run on a parallel xdist worker",
    "security": "checks an authentication or authorization rule",
    "contract": "checks the shape of a public interface",
}

_start_key = pytest.StashKey[float]()


@dataclass(frozen=True)
class StackHandle:
    """The running stack as the tests see it."""

    project: str
    urls: dict[str, str]
    replicas: dict[str, list[str]] = field(default_factory=dict)

    def replica_urls(self, service: str) -> list[str]:
        """A URL per replica of a service (``deploy.replicas``), first replica first."""
        return self.replicas.get(service) or [self.url(service)]

    def url(self, service: str) -> str:
        try:
            return self.urls[service]
        except KeyError:
            raise pytest.UsageError(
                f"the stack {self.project} has no published port for {service!r}; it has {sorted(self.urls)}"
            ) from None

    def address(self, service: str) -> tuple[str, int]:
        """(host, port) of a service, for clients that do not speak HTTP (Redis, databases)."""
        parsed = httpx.URL(self.url(service))
        return parsed.host, int(parsed.port or 0)


@dataclass
class CleanupTracker:
    """Callbacks registered during a test, run in reverse order after it; errors are reported."""

    callbacks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = field(default_factory=list)

    def add(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.callbacks.append((callback, args, kwargs))

    def run(self) -> list[str]:
        errors = []
        for callback, args, kwargs in reversed(self.callbacks):
            name = getattr(callback, "__qualname__", repr(callback))
            try:
                result = callback(*args, **kwargs)
                if inspect.isawaitable(result):
                    asyncio.run(_await(result))
            except Exception as exc:
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        self.callbacks.clear()
        return errors


async def _await(awaitable: Any) -> Any:
    return await awaitable


# configuration ---------------------------------------------------------------------------------------
def pytest_configure(config: pytest.Config) -> None:
    for name, text in BASE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for name in _domain_markers(config):
        config.addinivalue_line("markers", f"{name}: domain marker declared in [tool.stacktest]")


_settings_key = pytest.StashKey["Settings"]()


def _settings(config: pytest.Config) -> Settings:
    """The project's settings, read once per session (defaults where it has none)."""
    if _settings_key not in config.stash:
        from stacktest.errors import StacktestError
        from stacktest.settings import load_settings

        try:
            config.stash[_settings_key] = load_settings(cwd=config.rootpath)
        except StacktestError as exc:
            raise pytest.UsageError(f"stacktest: {exc}") from exc
    return config.stash[_settings_key]


def _domain_markers(config: pytest.Config) -> tuple[str, ...]:
    return _settings(config).domain_markers


def pytest_report_header(config: pytest.Config) -> str | None:
    project = os.environ.get(ENV_PROJECT)  # env: STACKTEST_PROJECT (set by `stacktest test`)
    return f"stacktest: stack {project}" if project else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker, tests marked serial are deselected: they never share the stack with others."""
    if not hasattr(config, "workerinput"):
        return
    serial = [i for i in items if i.get_closest_marker("serial") is not None]
    if serial:
        items[:] = [i for i in items if i.get_closest_marker("serial") is None]
        config.hook.pytest_deselected(items=serial)


# fixtures -------------------------------------------------------------------------------------------
def _resolve_stack(config: pytest.Config) -> StackHandle:
    project = os.environ.get(ENV_PROJECT)  # env: STACKTEST_PROJECT
    urls = os.environ.get(ENV_URLS)  # env: STACKTEST_URLS
    if project and urls:
        replicas = json.loads(os.environ.get(ENV_REPLICA_URLS) or "{}")  # env: STACKTEST_REPLICA_URLS
        return StackHandle(project, json.loads(urls), replicas)
    from stacktest import stacks
    from stacktest.errors import StacktestError
    try:
        found = stacks.attach(_settings(config))
        return StackHandle(found.project, found.urls(), found.replica_urls())
    except StacktestError as exc:
        pytest.fail(
            f"no running stack for these tests ({exc}).\n"
            "Run them with `just test` (starts the stack for the run), or start one with `stacktest up`.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def stack(pytestconfig: pytest.Config) -> StackHandle:
    """The running stack: its project name and a URL per service."""
    return _resolve_stack(pytestconfig)


@pytest.fixture
def service_client(stack: StackHandle) -> Iterator[Callable[..., httpx.Client]]:
    """``service_client("auth")``: an httpx client with the service's base URL, closed after the test."""
    clients: list[httpx.Client] = []

    def make(service: str, **kwargs: Any) -> httpx.Client:
        client = _http.client(kwargs.pop("timeout", TEST_TIMEOUT), base_url=stack.url(service), **kwargs)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def async_service_client(stack: StackHandle) -> Callable[..., httpx.AsyncClient]:
    """``async with async_service_client("api") as client:`` an httpx.AsyncClient for the service."""

    def make(service: str, **kwargs: Any) -> httpx.AsyncClient:
        return _http.async_client(kwargs.pop("timeout", TEST_TIMEOUT), base_url=stack.url(service), **kwargs)

    return make


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """``unique_name("client")`` -> ``"TEST gw1 test_x client 3f9a1c"``: the cleanup prefix, the xdist
    worker, the test, a label and a random part, so names never collide across workers or runs."""
    prefix = _settings(request.config).cleanup_prefix
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")  # env: PYTEST_XDIST_WORKER (set by xdist)
    test = request.node.name[:60]

    def make(label: str = "") -> str:
        parts = [worker, test, label, secrets.token_hex(3)]
        return prefix + " ".join(p for p in parts if p)

    return make


@pytest.fixture
def cleanup() -> Iterator[CleanupTracker]:
    """``cleanup.add(callback, *args)``: run after the test, last added first; failures are errors."""
    tracker = CleanupTracker()
    yield tracker
    errors = tracker.run()
    if errors:
        pytest.fail("cleanup failed:\n  " + "\n  ".join(errors), pytrace=False)


# the server side of a failure ------------------------------------------------------------------------
@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_start_key] = time.time()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when == "call" and os.environ.get(ENV_PROJECT):  # env: STACKTEST_PROJECT
        for title, text in _service_logs(item, item.stash.get(_start_key, time.time() - 60)):
            report.sections.append((title, text))
    return report


def _service_logs(item: pytest.Item, since: float) -> list[tuple[str, str]]:
    from stacktest._engine import Engine
    from stacktest.errors import StacktestError

    project = os.environ[ENV_PROJECT]  # env: STACKTEST_PROJECT
    lines = int(
        os.environ.get(ENV_LOG_LINES) or _settings(item.config).log_section_lines
    )  # env: STACKTEST_LOG_SECTION_LINES
    try:
        engine = Engine.connect(timeout=5)
    except StacktestError:
        return []
    out = []
    try:
        for service, state in sorted(engine.states(project).items()):
            text = engine.logs(state.container_id, tail=lines, since=since - 1, until=time.time() + 1)
            if text.strip():
                out.append((f"stacktest: {service} log during the test", text[-8000:]))
    except Exception as exc:
        out.append(("stacktest: service logs", f"could not read the service logs: {type(exc).__name__}"))
    finally:
        engine.close()
    return out
