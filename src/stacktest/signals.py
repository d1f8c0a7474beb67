"""Every signal handler stacktest installs, in one place.

SIGINT (Ctrl-C), SIGTERM and SIGHUP (the terminal closed) end a run: its stack is removed and it exits
130, 143 or 129. The moments, in order:

1. :func:`note_early`: from the first instant of the command, before the CLI's heavy imports, a signal
   is only noted (an exception raised inside the import machinery can be printed and lost).
2. :func:`install_stop_handlers`: while a command runs, SIGINT raises KeyboardInterrupt and SIGTERM or
   SIGHUP :class:`~stacktest.errors.Interrupted`, so teardown runs in ``finally`` blocks.
3. :func:`as_keyboard_interrupt`: while pytest runs in this process, a stop signal reaches it as
   KeyboardInterrupt (pytest's own way to end a session), re-sent until pytest has taken it.
4. :func:`deferred`: teardown itself is never cut short; a signal that arrives meanwhile is delivered
   again once it is done.
5. :func:`ignore_stops`: the result is reported; nothing may turn it into a kill now.

Only this module calls ``signal.signal``.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from types import FrameType
from typing import Any

from stacktest.errors import Interrupted

__all__ = [
    "STOPS",
    "as_keyboard_interrupt",
    "deferred",
    "ignore_stops",
    "install_stop_handlers",
    "note_early",
]

STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], Any]


def note_early(noted: list[int]) -> None:
    """Until :func:`install_stop_handlers`, a stop signal is only appended to ``noted``."""

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    for sig in STOPS:
        signal.signal(sig, note)


def install_stop_handlers(received: list[int]) -> None:
    """SIGINT raises KeyboardInterrupt; SIGTERM and SIGHUP raise Interrupted (SIGHUP: exit 129). Each
    signal is also appended to ``received``, so a run whose exception something swallowed on its way
    still ends as the interrupted run it was."""

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    def on_stop(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise Interrupted(signum)

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_stop)
    signal.signal(signal.SIGHUP, on_stop)


def ignore_stops() -> None:
    """The work is done and reported: a signal from here on must not turn the result into a kill."""
    for sig in STOPS:
        signal.signal(sig, signal.SIG_IGN)


@contextmanager
def deferred() -> Iterator[None]:
    """Teardown must finish: SIGINT, SIGTERM and SIGHUP that arrive meanwhile are held, then delivered
    again once it is done (so the run still stops with 130, 143 or 129; each step has a timeout)."""
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    saved = {}
    for sig in STOPS:
        with suppress(ValueError):  # not the main thread: nothing to defer
            saved[sig] = signal.signal(sig, hold)
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
        if pending:
            signal.raise_signal(pending[0])


class Redelivery:
    """What :func:`as_keyboard_interrupt` yields: call :meth:`taken` once pytest has taken the interrupt."""

    def __init__(self) -> None:
        self.done = False

    def taken(self) -> None:
        self.done = True
        signal.setitimer(signal.ITIMER_REAL, 0)


@contextmanager
def as_keyboard_interrupt(redeliver_seconds: float) -> Iterator[Redelivery]:
    """A stop signal becomes KeyboardInterrupt inside the block. The handler installed before is still
    called first; the exception it raised is raised again when the block ends, so the run ends exactly
    as it would have with the block's work in a child process.

    A KeyboardInterrupt raised where Python can only print it (a ``__del__``, a weakref callback, parts
    of the import machinery) is lost. So until :meth:`Redelivery.taken` is called, it is raised again
    every ``redeliver_seconds`` (a SIGALRM timer, set only once a signal came, stopped when the block
    ends; SIGALRM's own handler is put back)."""
    redelivery = Redelivery()
    raised: list[BaseException] = []
    saved: dict[signal.Signals, Any] = {sig: signal.getsignal(sig) for sig in STOPS}
    saved_alarm: list[Any] = []  # SIGALRM's handler before the first interrupt armed the timer

    def again(signum: int, frame: FrameType | None) -> None:
        if not redelivery.done and not isinstance(sys.exc_info()[1], KeyboardInterrupt):
            raise KeyboardInterrupt  # not while one is being handled

    def convert(signum: int, frame: FrameType | None) -> None:
        previous = saved.get(signal.Signals(signum))
        try:
            if callable(previous):
                previous(signum, frame)
        except BaseException as exc:  # kept, and raised again once the block has ended
            raised.append(exc)
        if not saved_alarm:
            saved_alarm.append(signal.signal(signal.SIGALRM, again))
            signal.setitimer(signal.ITIMER_REAL, redeliver_seconds, redeliver_seconds)
        raise KeyboardInterrupt

    for sig in saved:
        signal.signal(sig, convert)
    try:
        yield redelivery
    finally:
        if saved_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, saved_alarm[0])
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if raised:
        raise raised[0]
