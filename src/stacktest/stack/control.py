"""Fault injection from tests: stop, start, restart, pause, unpause or kill a service (or one replica),
run a command in it, and afterwards bring the stack back to ready.

The pytest plugin's ``stack`` fixture delegates here (imported only when a test uses it). Every
container an action touches is remembered; :meth:`Control.recover` unpauses or starts each one that is
not running, then waits until every service of the stack is ready again and reads the published ports
afresh (a container that was stopped and started gets new ephemeral host ports).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stacktest.adapters.endpoint import engine_host
from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import ExecResult, ServiceState
from stacktest.errors import UsageError
from stacktest.settings import Probe
from stacktest.stack.readiness import wait_ready

__all__ = ["ACTIONS", "Control", "ExecResult"]

ACTIONS = ("stop", "start", "restart", "pause", "unpause", "kill")


@dataclass
class Control:
    """The containers of one compose project, as a test may disturb them."""

    project: str
    probes: Mapping[str, Probe]
    ready_timeout: float
    poll_interval: float
    ready_timeouts: Mapping[str, float] = field(default_factory=dict)
    # container id -> whether it had already completed (a one-shot's exit 0) when first touched
    touched: dict[str, bool] = field(default_factory=dict)
    _engine: Engine | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = Engine.connect()
        return self._engine

    def containers(self, service: str, replica: int | None = None) -> list[ServiceState]:
        found = self.engine.replicas(self.project)
        states = found.get(service)
        if not states:
            raise UsageError(
                f"the stack {self.project} has no service {service!r}",
                hint=f"its services are {', '.join(sorted(found)) or 'none'}",
            )
        if replica is None:
            return states
        chosen = [st for st in states if st.number == replica]
        if not chosen:
            numbers = ", ".join(str(st.number) for st in states)
            raise UsageError(
                f"{service} has no replica {replica}", hint=f"its replicas are numbered {numbers}"
            )
        return chosen

    def act(
        self,
        action: str,
        service: str,
        replica: int | None = None,
        *,
        timeout: float | None = None,
        signal: str = "SIGKILL",
    ) -> None:
        for state in self.containers(service, replica):
            self.touched.setdefault(state.container_id, state.completed)
            self.engine.control(state.container_id, action, timeout=timeout, signal=signal)

    def exec(self, service: str, argv: Sequence[str], replica: int | None = None) -> ExecResult:
        if isinstance(argv, str) or not argv:
            raise UsageError(
                f"exec in {service}: give the command as a list of arguments, such as ['redis-cli', 'ping']"
            )
        state = self.containers(service, replica)[0]
        if state.status != "running":
            raise UsageError(f"exec in {state.label}: the container is {state.status}, not running")
        self.touched.setdefault(state.container_id, False)
        result = self.engine.exec(state.container_id, list(argv))
        if result.exit_code is None:
            raise UsageError(f"exec in {state.label}: the engine could not run {argv[0]!r}")
        return result

    def recover(self) -> dict[str, list[str]]:
        """Unpause or start every touched container that is not running, wait until the whole stack is
        ready, forget what was touched. Returns each service's URLs (one per replica), read afresh."""
        touched = list(self.touched)
        for container_id, was_completed in list(self.touched.items()):
            state = self.engine.inspect(container_id)
            if state is None:
                continue
            if state.status == "paused":
                self.engine.control(container_id, "unpause")
            elif state.status in ("created", "exited", "dead") and not was_completed:
                self.engine.control(container_id, "start")
        self.touched.clear()
        return self.wait(touched)

    def wait(self, touched: Sequence[str] = ()) -> dict[str, list[str]]:
        """Wait until every service is ready; each service's URLs, read afresh. A container acted on
        may still carry the engine's "unhealthy" from before (a paused one): that does not fail it."""
        replicas = self.engine.replicas(self.project)
        wait_ready(
            self.engine,
            self.project,
            sorted(replicas),
            self.probes,
            host=engine_host(),
            timeout=self.ready_timeout,
            timeouts=self.ready_timeouts,
            poll_interval=self.poll_interval,
            stale_health=set(touched) or set(self.touched),
        )
        from stacktest.stack.records import service_urls

        return service_urls(self.probes, self.engine.replicas(self.project))

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None
