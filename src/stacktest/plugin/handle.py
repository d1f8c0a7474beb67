"""What the tests hold of the stack: :class:`StackHandle` (a URL per service, and the means to disturb it)
and :class:`CleanupTracker` (what a test registered, removed after it)."""

from __future__ import annotations

import asyncio
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from stacktest.settings import Settings
    from stacktest.stack.control import Control, ExecResult


__all__ = ["CleanupTracker", "StackHandle"]


@dataclass
class StackHandle:
    """The running stack as the tests see it: a URL per service, and the means to disturb it.

    ``stop``, ``start``, ``restart``, ``pause``, ``unpause`` and ``kill`` act on every container of a
    service, or on one replica (``replica=2``); ``exec`` runs a command in one and returns its exit code
    and output. A test that calls them is run serially, alone, and after it stacktest brings every
    touched container back and waits until the stack is ready again.
    """

    project: str
    urls: dict[str, str]
    replicas: dict[str, list[str]] = field(default_factory=dict)
    settings: Settings | None = field(default=None, repr=False, compare=False)
    _control: Control | None = field(default=None, repr=False, compare=False)

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

    # fault injection ---------------------------------------------------------------------------------
    def stop(self, service: str, replica: int | None = None, *, timeout: float | None = None) -> None:
        """Stop a service gracefully (its stop signal, then SIGKILL after ``timeout`` or its
        stop_grace_period)."""
        self._act("stop", service, replica, timeout=timeout)

    def start(self, service: str, replica: int | None = None) -> None:
        """Start a stopped service again; :meth:`wait` waits until it is ready."""
        self._act("start", service, replica)

    def restart(self, service: str, replica: int | None = None, *, timeout: float | None = None) -> None:
        self._act("restart", service, replica, timeout=timeout)

    def pause(self, service: str, replica: int | None = None) -> None:
        """Freeze a service's processes: connections to it hang instead of being refused."""
        self._act("pause", service, replica)

    def unpause(self, service: str, replica: int | None = None) -> None:
        self._act("unpause", service, replica)

    def kill(self, service: str, replica: int | None = None, *, signal: str = "SIGKILL") -> None:
        self._act("kill", service, replica, signal=signal)

    def exec(self, service: str, argv: list[str], replica: int | None = None) -> ExecResult:
        """Run ``argv`` in a running container of the service; its exit code and output."""
        return self._controller().exec(service, argv, replica)

    def wait(self) -> None:
        """Wait until every service is ready again, and read the published ports afresh (a container
        that was started again has new ones; ``service_client`` clients follow them)."""
        self._refresh(self._controller().wait())

    @property
    def disturbed(self) -> bool:
        """Whether a container was acted on since the stack was last made ready again."""
        return self._control is not None and bool(self._control.touched)

    def recover(self) -> None:
        """Unpause or start every container a test acted on, and wait until the stack is ready."""
        if self._control is not None:
            self._refresh(self._control.recover())

    def _act(self, action: str, service: str, replica: int | None, **options: Any) -> None:
        self._controller().act(action, service, replica, **options)

    def _controller(self) -> Control:
        if os.environ.get("PYTEST_XDIST_WORKER"):  # env: PYTEST_XDIST_WORKER (set by xdist)
            pytest.fail(
                "a test acted on the stack (stack.stop, start, restart, pause, unpause, kill or exec) on a "
                "parallel worker, beside other tests.\nMark it @pytest.mark.serial (stacktest does so by "
                "itself when the test calls stack.<action> in its own body, not through a helper).",
                pytrace=False,
            )
        if self._control is None:
            from stacktest.stack.control import Control

            settings = self.settings
            if settings is None:
                raise pytest.UsageError("this stack handle has no settings: use the `stack` fixture")
            self._control = Control(
                self.project,
                settings.probes,
                settings.ready_timeout,
                settings.poll_interval,
                settings.ready_timeouts,
            )
        return self._control

    def _refresh(self, urls: dict[str, list[str]]) -> None:
        self.replicas.clear()
        self.replicas.update(urls)
        self.urls.clear()
        self.urls.update({service: found[0] for service, found in urls.items()})


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
