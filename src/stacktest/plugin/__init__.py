"""The pytest plugin (``pytest11`` entry point ``stacktest``): markers, fixtures, serial safety, and the
server-side log lines of each failing test.

It never starts a stack: ``stacktest test`` resolves the stack once, before pytest, and hands it over in
``STACKTEST_PROJECT`` / ``STACKTEST_URLS``; plain ``pytest`` finds this checkout's running stack through
its state file. Heavy imports (the docker SDK) happen only when a fixture or a failure needs them.
"""

from __future__ import annotations

import dis
import functools
import json
import os
import secrets
import time
import types
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from stacktest import github
from stacktest.adapters import http as _http
from stacktest.adapters.http import TEST_TIMEOUT
from stacktest.plugin.contexts import Contexts
from stacktest.plugin.contexts import configure as configure_contexts
from stacktest.plugin.handle import CleanupTracker, StackHandle
from stacktest.state import (
    ENV_AFFECTED,
    ENV_CONTEXTS,
    ENV_PROJECT,
    ENV_REPLICA_URLS,
    ENV_SHARD,
    ENV_SHARD_TIMES,
    ENV_URLS,
)

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
_contexts_key = pytest.StashKey[Contexts | None]()


# configuration ---------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stacktest")
    group.addoption(
        "--stacktest-shard",
        default=os.environ.get(ENV_SHARD) or None,  # env: STACKTEST_SHARD (set by `stacktest test --shard`)
        metavar="I/N",
        help="run only the I-th of N parts of the suite, split by the times of earlier runs",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in BASE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    for name in _domain_markers(config):
        config.addinivalue_line("markers", f"{name}: domain marker declared in [tool.stacktest]")
    if os.environ.get(ENV_CONTEXTS):  # env: STACKTEST_CONTEXTS (set by `coverage run --contexts`)
        settings = _settings(config)
        sources = [str(p if p.is_dir() else p.parent) for p in (settings.root / t for t in settings.tests)]
        config.stash[_contexts_key] = configure_contexts(config, sources)


def pytest_unconfigure(config: pytest.Config) -> None:
    found = config.stash.get(_contexts_key, None)
    if found is not None:
        found.close()


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


STACK_ACTIONS = frozenset({"stop", "start", "restart", "pause", "unpause", "kill", "exec"})


def acts_on_stack(function: Callable[..., Any]) -> bool:
    """Whether a test's body (or a function nested in it) calls ``stack.<action>`` directly."""
    code = getattr(function, "__code__", None)
    return isinstance(code, types.CodeType) and _code_acts_on_stack(code)


@functools.lru_cache(maxsize=4096)
def _code_acts_on_stack(code: types.CodeType) -> bool:
    """Read once per function, not once per test: the tests a parametrized function makes share it."""
    previous = None
    for instruction in dis.get_instructions(code):
        if (
            previous is not None
            and instruction.opname in ("LOAD_ATTR", "LOAD_METHOD")
            and instruction.argval in STACK_ACTIONS
            and previous.opname in ("LOAD_FAST", "LOAD_DEREF", "LOAD_FAST_CHECK")
            and previous.argval == "stack"
        ):
            return True
        previous = instruction
    return any(_code_acts_on_stack(c) for c in code.co_consts if isinstance(c, types.CodeType))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that stops, kills or otherwise acts on the stack is serial, whatever its marks (marked
    before ``-m`` selects, so the parallel phase leaves it out and the serial phase takes it); on an
    xdist worker, serial tests are deselected."""
    for item in items:
        if (
            isinstance(item, pytest.Function)
            and "stack" in item.fixturenames
            and item.get_closest_marker("serial") is None
            and acts_on_stack(item.function)
        ):
            item.add_marker(pytest.mark.serial)
    _keep_shard(config, items)
    _keep_affected(config, items)
    # On an xdist worker, tests marked serial are deselected: they never share the stack with others.
    if not hasattr(config, "workerinput"):
        return
    serial = [i for i in items if i.get_closest_marker("serial") is not None]
    if serial:
        items[:] = [i for i in items if i.get_closest_marker("serial") is None]
        config.hook.pytest_deselected(items=serial)


def _keep_affected(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``stacktest test --affected``: deselect every test the map knows that no change reaches."""
    path = os.environ.get(ENV_AFFECTED)  # env: STACKTEST_AFFECTED (set by `stacktest test --affected`)
    if not path:
        return
    from stacktest.testrun import affected

    chosen, known = affected.from_file(Path(path))
    keep = set(affected.apply([i.nodeid for i in items], chosen, known))
    others = [i for i in items if i.nodeid not in keep]
    if others:
        items[:] = [i for i in items if i.nodeid in keep]
        config.hook.pytest_deselected(items=others)


def _keep_shard(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--stacktest-shard I/N``: deselect every test of the other parts. Each phase and each xdist
    worker computes the same split of the same whole collection, so every test runs in exactly one part."""
    text = config.getoption("--stacktest-shard")
    if not text:
        return
    from stacktest.errors import StacktestError
    from stacktest.testrun import shards

    try:
        shard = shards.parse_shard(str(text))
    except StacktestError as exc:
        raise pytest.UsageError(exc.message) from None
    times = os.environ.get(ENV_SHARD_TIMES)  # env: STACKTEST_SHARD_TIMES (read once by `stacktest test`)
    if times:
        durations = {str(k): float(v) for k, v in json.loads(Path(times).read_text()).items()}
    else:
        settings = _settings(config)
        durations = shards.durations_from(settings.shard_durations, settings.root)
    mine = shards.assign([i.nodeid for i in items], shard, durations)
    others = [i for i in items if i.nodeid not in mine]
    if others:
        items[:] = [i for i in items if i.nodeid in mine]
        config.hook.pytest_deselected(items=others)


# fixtures -------------------------------------------------------------------------------------------
def _resolve_stack(config: pytest.Config) -> StackHandle:
    project = os.environ.get(ENV_PROJECT)  # env: STACKTEST_PROJECT
    urls = os.environ.get(ENV_URLS)  # env: STACKTEST_URLS
    if project and urls:
        replicas = json.loads(os.environ.get(ENV_REPLICA_URLS) or "{}")  # env: STACKTEST_REPLICA_URLS
        return StackHandle(project, json.loads(urls), replicas, _settings(config))
    from stacktest.errors import StacktestError
    from stacktest.stack import lifecycle as stacks

    try:
        found = stacks.attach(_settings(config))
        return StackHandle(found.project, found.urls(), found.replica_urls(), _settings(config))
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


def _follow(stack: StackHandle, service: str) -> Callable[[httpx.Request], None]:
    """A request hook that sends a request meant for the service's published port to the port it has
    now (a container stopped and started again by a test gets a new one)."""
    first = httpx.URL(stack.url(service))

    def follow(request: httpx.Request) -> None:
        now = httpx.URL(stack.urls.get(service, str(first)))
        if (request.url.host, request.url.port) == (first.host, first.port) and now != first:
            request.url = request.url.copy_with(host=now.host, port=now.port)
            request.headers["Host"] = request.url.netloc.decode("ascii")

    return follow


def _hooks(kwargs: dict[str, Any], hook: Any) -> dict[str, list[Any]]:
    hooks = dict(kwargs.pop("event_hooks", None) or {})
    hooks["request"] = [hook, *hooks.get("request", [])]
    return hooks


@pytest.fixture
def service_client(stack: StackHandle) -> Iterator[Callable[..., httpx.Client]]:
    """``service_client("auth")``: an httpx client with the service's base URL, closed after the test.
    It follows the service to its new port when a test stops and starts it."""
    clients: list[httpx.Client] = []

    def make(service: str, **kwargs: Any) -> httpx.Client:
        hooks = _hooks(kwargs, _follow(stack, service))
        client = _http.client(
            kwargs.pop("timeout", TEST_TIMEOUT), base_url=stack.url(service), event_hooks=hooks, **kwargs
        )
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def async_service_client(stack: StackHandle) -> Callable[..., httpx.AsyncClient]:
    """``async with async_service_client("api") as client:`` an httpx.AsyncClient for the service."""

    def make(service: str, **kwargs: Any) -> httpx.AsyncClient:
        follow = _follow(stack, service)

        async def follow_async(request: httpx.Request) -> None:
            follow(request)

        hooks = _hooks(kwargs, follow_async)
        return _http.async_client(
            kwargs.pop("timeout", TEST_TIMEOUT), base_url=stack.url(service), event_hooks=hooks, **kwargs
        )

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
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """After a test that acted on the stack, before its fixtures are torn down (their cleanup may need
    the services): bring every touched container back and wait until the stack is ready."""
    try:
        return (yield)
    finally:
        handle = getattr(item, "funcargs", {}).get("stack")
        if isinstance(handle, StackHandle) and handle.disturbed:
            handle.recover()


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
    from stacktest.adapters.engine import Engine
    from stacktest.errors import StacktestError

    project = os.environ[ENV_PROJECT]  # env: STACKTEST_PROJECT
    lines = _settings(item.config).log_section_lines
    try:
        engine = Engine.connect(timeout=5)
    except StacktestError:
        return []
    out = []
    try:
        for service, state in sorted(engine.states(project).items()):
            text = engine.logs(state.container_id, tail=lines, since=since - 1, until=time.time() + 1)
            if text.strip():
                text = github.defuse(text[-8000:]) if github.active() else text[-8000:]  # no commands
                out.append((f"stacktest: {service} log during the test", text))
    except Exception as exc:
        out.append(("stacktest: service logs", f"could not read the service logs: {type(exc).__name__}"))
    finally:
        engine.close()
    return out
