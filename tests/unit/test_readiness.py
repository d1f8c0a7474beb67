"""The readiness state machine, and wait_ready driven by a fake engine and a fake clock."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest

from stacktest.adapters.engine_model import ExecResult, ServiceState
from stacktest.errors import NotReady
from stacktest.settings import Probe
from stacktest.stack.readiness import wait_ready
from stacktest.stack.rules import ServiceWaiter, Status, Verdict

pytestmark = pytest.mark.unit

RUNNING = ServiceState("web", "c1", "running", None, 0, False, 0, {8000: 32001})
HTTP = Probe("http", 8000, path="/health")


def test_waits_for_a_container() -> None:
    assert ServiceWaiter("web", HTTP).step(None, None).status is Status.WAITING


def test_probe_decides_when_configured() -> None:
    w = ServiceWaiter("web", HTTP)
    assert w.step(RUNNING, False).status is Status.WAITING
    assert w.step(RUNNING, True).status is Status.READY


def test_healthcheck_when_no_probe() -> None:
    w = ServiceWaiter("web", None)
    starting = replace(RUNNING, has_healthcheck=True, health="starting")
    assert w.step(starting, None).status is Status.WAITING
    assert w.step(starting, None, check_ok=True).status is Status.READY  # our own run of its command
    assert w.step(replace(starting, health="healthy"), None).status is Status.READY


def test_running_steadily_is_enough_without_probe_or_healthcheck() -> None:
    w = ServiceWaiter("web", None)
    assert w.step(RUNNING, None, now=10.0).status is Status.WAITING
    assert w.step(RUNNING, None, now=10.5).status is Status.WAITING
    assert w.step(RUNNING, None, now=11.0).status is Status.READY


def test_a_crash_loop_never_settles() -> None:
    w = ServiceWaiter("web", None)
    assert w.step(RUNNING, None, now=0.0).status is Status.WAITING
    assert w.step(replace(RUNNING, restart_count=1), None, now=0.5).status is Status.FAILED


@pytest.mark.parametrize(
    ("state", "words"),
    [
        (replace(RUNNING, status="exited", exit_code=3), "exited with code 3"),
        (replace(RUNNING, status="restarting"), "restarting"),
        (replace(RUNNING, health="unhealthy"), "unhealthy"),
        (replace(RUNNING, status="exited", exit_code=137, oom_killed=True), "out of memory"),
    ],
)
def test_fails_fast(state: ServiceState, words: str) -> None:
    verdict = ServiceWaiter("web", HTTP).step(state, None)
    assert verdict.status is Status.FAILED and words in verdict.detail


def test_a_restart_seen_after_start_fails() -> None:
    w = ServiceWaiter("web", HTTP)
    assert w.step(RUNNING, False).status is Status.WAITING
    assert w.step(replace(RUNNING, restart_count=1), False).status is Status.FAILED


def test_one_shot_that_completed_is_ready_but_not_a_probed_service() -> None:
    done = replace(RUNNING, status="exited", exit_code=0)
    assert ServiceWaiter("init", None).step(done, None).status is Status.READY
    assert ServiceWaiter("web", HTTP).step(done, None).status is Status.FAILED


class FakeEngine:
    """The calls wait_ready makes, answered from a script of states (one container per service)."""

    def __init__(self, states: dict[str, list[ServiceState]]) -> None:
        self.scripts = {k: itertools.chain(v, itertools.repeat(v[-1])) for k, v in states.items()}
        self.by_id: dict[str, str] = {}
        self.lock = threading.Lock()
        self.checks = 0

    def replicas(self, project: str, service: str | None = None) -> dict[str, list[ServiceState]]:
        with self.lock:
            names = [service] if service is not None else list(self.scripts)
            out = {k: [replace(next(self.scripts[k]), service=k)] for k in names}
        self.by_id.update({s[0].container_id: k for k, s in out.items()})
        return out

    def inspect(self, container_id: str) -> ServiceState | None:
        with self.lock:
            return next(self.scripts[self.by_id[container_id]])

    def container_env(self, container_id: str) -> dict[str, str]:
        return {}

    def exec_check(self, container_id: str, test: tuple[str, ...], *, attempts: int = 1) -> ExecResult:
        self.checks += 1
        return ExecResult(1, "")

    def logs(
        self,
        container_id: str,
        *,
        tail: int | None = 20,
        since: float | None = None,
        until: float | None = None,
    ) -> str:
        return "boom: cannot bind\n"


class FakeClock:
    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            self.now += self.step
            return self.now


def test_wait_ready_reports_each_service() -> None:
    engine = FakeEngine({"a": [RUNNING], "b": [replace(RUNNING, container_id="c2")]})
    ready = wait_ready(
        engine,
        "p",
        ["a", "b"],
        {},
        host="127.0.0.1",
        timeout=5,
        poll_interval=0.001,
    )
    assert set(ready) == {"a", "b"}


def test_wait_ready_names_the_crashed_service_with_its_logs() -> None:
    crashed = replace(RUNNING, container_id="c2", status="exited", exit_code=2)
    engine = FakeEngine({"ok": [RUNNING], "bad": [crashed]})
    with pytest.raises(NotReady) as info:
        wait_ready(
            engine,
            "p",
            ["ok", "bad"],
            {},
            host="127.0.0.1",
            timeout=5,
            poll_interval=0.001,
        )
    assert info.value.service == "bad"
    assert "exited with code 2" in str(info.value) and "boom: cannot bind" in str(info.value)


def test_wait_ready_deadline_on_the_fake_clock() -> None:
    starting = replace(RUNNING, has_healthcheck=True, health="starting")
    engine = FakeEngine({"slow": [starting]})
    with pytest.raises(NotReady) as info:
        wait_ready(
            engine,
            "p",
            ["slow"],
            {},
            host="127.0.0.1",
            timeout=3,
            poll_interval=0.001,
            clock=FakeClock(0.05),
        )
    assert "not ready after 3 s: slow" in str(info.value)
    assert "health: starting" in str(info.value)


def test_replicas_all_must_be_ready_and_one_failing_fails_the_service() -> None:
    second = replace(RUNNING, container_id="c9", number=2, status="exited", exit_code=4)

    class TwoReplicas(FakeEngine):
        def replicas(self, project: str, service: str | None = None) -> dict[str, list[ServiceState]]:
            out = super().replicas(project, service)
            out["web"] = [out["web"][0], replace(second, service="web")]
            return out

    with pytest.raises(NotReady) as info:
        wait_ready(
            TwoReplicas({"web": [RUNNING]}),
            "p",
            ["web"],
            {},
            host="127.0.0.1",
            timeout=5,
            poll_interval=0.001,
        )
    assert "web-2" in str(info.value) and "exited with code 4" in str(info.value)


def test_the_healthcheck_command_runs_off_the_watch_thread() -> None:
    """A service with a healthcheck and no probe gets its command run (by a checker thread)."""
    starting = replace(RUNNING, has_healthcheck=True, health="starting", healthcheck=("CMD", "true"))
    engine = FakeEngine({"slow": [starting]})
    with pytest.raises(NotReady):
        wait_ready(
            engine,
            "p",
            ["slow"],
            {},
            host="127.0.0.1",
            timeout=0.5,
            poll_interval=0.001,
        )
    assert engine.checks >= 1


class PassingCheck(FakeEngine):
    def container_env(self, container_id: str) -> dict[str, str]:
        return {}

    def exec_check(self, container_id: str, test: tuple[str, ...], *, attempts: int = 1) -> ExecResult:
        self.checks += 1
        return ExecResult(0, "")


def test_judge_applies_the_rules_that_waiting_applies_to_one_observation() -> None:
    """`status` and `diagnose` decide with the same rules: running with no probe or healthcheck is
    ready (settled), an engine health of "starting" is not, unless the healthcheck command passes now;
    an unhealthy or exited container has failed."""
    from stacktest.stack.rules import judge

    checked = replace(RUNNING, health="starting", has_healthcheck=True, healthcheck=("CMD", "true"))
    assert judge(FakeEngine({"web": [RUNNING]}), RUNNING, None, "127.0.0.1").status is Status.READY
    waiting = FakeEngine({"web": [checked]})
    assert judge(waiting, checked, None, "127.0.0.1").status is Status.WAITING and waiting.checks == 1
    passing = PassingCheck({"web": [checked]})
    assert judge(passing, checked, None, "127.0.0.1").status is Status.READY
    unhealthy = replace(checked, health="unhealthy")
    assert judge(passing, unhealthy, None, "127.0.0.1").status is Status.FAILED
    exited = replace(RUNNING, status="exited", exit_code=3)
    assert judge(passing, exited, None, "127.0.0.1").detail == "exited with code 3"
    unpublished = replace(RUNNING, ports={})
    verdict = judge(passing, unpublished, HTTP, "127.0.0.1")
    assert verdict.status is Status.WAITING and "not published" in verdict.detail


class Recording(FakeEngine):
    """Records what the rules ask: the logs read and the healthcheck commands run."""

    def __init__(
        self, states: dict[str, list[ServiceState]], log_text: str = "", check_exit: int = 0
    ) -> None:
        super().__init__(states)
        self.log_text, self.check_exit = log_text, check_exit
        self.asked: list[tuple[object, ...]] = []

    def container_env(self, container_id: str) -> dict[str, str]:
        return {}

    def exec_check(self, container_id: str, test: tuple[str, ...], *, attempts: int = 1) -> ExecResult:
        self.asked.append(("exec", container_id, test))
        return ExecResult(self.check_exit, "")

    def logs(
        self,
        container_id: str,
        *,
        tail: int | None = 20,
        since: float | None = None,
        until: float | None = None,
    ) -> str:
        self.asked.append(("logs", container_id, tail, since))
        return self.log_text


def test_probe_now_asks_the_probe_of_a_running_container_only() -> None:
    import socket

    from stacktest.stack.rules import probe_now

    started = replace(RUNNING, started_at="2026-12-05T08:00:00.5Z")
    engine = Recording({"web": [started]}, log_text="booting\nlistening on 8000\n")
    assert probe_now(engine, Probe("log", pattern=r"listening on \d+"), started, "127.0.0.1") == (
        True,
        "log: found 'listening on \\\\d+'",
    )
    assert engine.asked == [("logs", "c1", None, started.started)]  # its whole output since it started
    assert probe_now(engine, Probe("log", pattern="ready"), started, "127.0.0.1")[0] is False
    with socket.create_server(("127.0.0.1", 0)) as server:  # a real port that accepts
        port = server.getsockname()[1]
        listening = replace(RUNNING, ports={8000: port})
        assert probe_now(engine, Probe("tcp", 8000), listening, "127.0.0.1") == (True, "port open")
        assert probe_now(engine, Probe("tcp", 8000), listening, "127.0.0.2")[0] is False  # another host
    assert probe_now(engine, Probe("tcp", 9000), listening, "127.0.0.1") == (
        False,
        "container port 9000 is not published",
    )
    assert probe_now(engine, None, listening, "127.0.0.1") == (None, "")
    assert probe_now(engine, HTTP, replace(listening, status="created"), "127.0.0.1") == (None, "")


def test_judge_runs_the_healthcheck_command_only_when_the_engine_has_no_verdict_yet() -> None:
    from stacktest.stack.rules import judge

    checked = replace(RUNNING, health="starting", has_healthcheck=True, healthcheck=("CMD", "true"))
    engine = Recording({"web": [checked]})
    assert judge(engine, checked, None, "127.0.0.1").detail == "healthy"
    assert engine.asked == [("exec", "c1", ("CMD", "true"))]
    engine.asked.clear()
    healthy = replace(checked, health="healthy")
    assert judge(engine, healthy, None, "127.0.0.1").status is Status.READY and engine.asked == []
    logged = Recording({"web": [checked]}, log_text="ready\n")
    verdict = judge(logged, checked, Probe("log", pattern="ready"), "127.0.0.1")  # a probe decides
    assert (verdict.status, verdict.detail) == (Status.READY, "log: found 'ready'")
    assert all(a[0] == "logs" for a in logged.asked)
    stopped = replace(checked, status="exited", exit_code=137)
    assert judge(engine, stopped, None, "127.0.0.1").detail == "exited with code 137" and engine.asked == []


def test_each_verdict_says_what_it_saw() -> None:
    waiter = ServiceWaiter("web", None)
    assert waiter.step(None, None).detail == "no container yet"
    done = replace(RUNNING, status="exited", exit_code=0)
    assert ServiceWaiter("seed", None).step(done, None) == Verdict(Status.READY, "completed (exit code 0)")
    dead = replace(RUNNING, status="dead", exit_code=1)
    assert ServiceWaiter("web", None).step(dead, None) == Verdict(Status.FAILED, "exited with code 1")


def test_an_unhealthy_from_before_the_wait_is_ignored_until_the_health_changes() -> None:
    """A container paused and unpaused stays "unhealthy" until its next healthcheck: that stale verdict
    does not fail the wait; once the health was seen otherwise, unhealthy fails it."""
    checked = replace(RUNNING, has_healthcheck=True, health="unhealthy")
    waiter = ServiceWaiter("web", None, stale_health=True)
    assert waiter.step(checked, None).status is Status.WAITING
    assert waiter.step(replace(checked, health="starting"), None).status is Status.WAITING
    assert waiter.step(checked, None) == Verdict(Status.FAILED, "turned unhealthy")
    assert ServiceWaiter("web", None).step(checked, None).status is Status.FAILED


@pytest.fixture
def http_service() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 that answers GET /status/<code> with that code."""
    import http.server
    import threading as _threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 404
            self.send_response(code)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = _threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("code", "ready"), [(200, True), (204, True), (302, True), (399, True), (400, False), (503, False)]
)
def test_an_http_probe_is_ready_below_400_only(http_service: int, code: int, ready: bool) -> None:
    from stacktest.stack.rules import probe_once

    answered, what = probe_once(Probe("http", 80, path=f"/status/{code}"), "127.0.0.1", http_service)
    assert answered is ready
    assert what == (f"GET /status/{code}: {code}" if ready else f"GET /status/{code}: HTTP {code}")


def test_an_http_probe_of_a_closed_port_says_why() -> None:
    import socket

    from stacktest.stack.rules import probe_once

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert probe_once(Probe("http", 80, path="/h"), "127.0.0.1", port) == (False, "GET /h: ConnectError")
    answered, what = probe_once(Probe("tcp", 80), "127.0.0.1", port)
    assert not answered and what.startswith(f"tcp {port}: ") and "refused" in what.lower()


def test_a_tcp_probe_sends_and_expects() -> None:
    """Like redis' PING: the probe sends its text and is ready when the answer holds the expected part."""
    import socket
    import threading as _threading

    from stacktest.stack.rules import probe_once

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]

        def answer() -> None:
            for _ in range(3):
                conn, _ = server.accept()
                with conn:
                    asked = conn.recv(64)
                    conn.sendall(b"+PONG\r\n" if asked == b"PING\r\n" else b"-ERR unknown\r\n")

        _threading.Thread(target=answer, daemon=True).start()
        assert probe_once(Probe("tcp", 6379, send="PING\r\n", expect="PONG"), "127.0.0.1", port) == (
            True,
            "answered",
        )
        assert probe_once(Probe("tcp", 6379, send="HELLO\r\n", expect="PONG"), "127.0.0.1", port) == (
            False,
            f"tcp {port}: answered '-ERR unknown'",
        )
        assert probe_once(Probe("tcp", 6379, send="HELLO\r\n"), "127.0.0.1", port) == (True, "answered")
