"""The command's entry point: Ctrl-C, SIGTERM and SIGHUP are handled from the first moment, before the
heavy imports of the CLI (about half a second), so an early interrupt never prints a traceback.

While the CLI's modules are imported, a signal is only noted, never raised: CPython runs parts of the
import machinery in weakref callbacks, where an exception is printed as "Exception ignored" and lost;
a Ctrl-C raised there let a run go on to the end and exit 0 (a random interruption trial caught it).
"""

from __future__ import annotations

import sys

from stacktest import signals

__all__ = ["main"]

_noted: list[int] = []


def main() -> int:
    signals.note_early(_noted)
    from stacktest.cli.boundary import main as cli_main
    from stacktest.errors import Interrupted

    try:
        if _noted:
            sys.stderr.write("stacktest: interrupted before it started anything\n")
            return 128 + _noted[0]
        return cli_main()
    except KeyboardInterrupt:  # in the last instants, after the CLI's own handling returned
        sys.stderr.write("stacktest: interrupted\n")
        return 130
    except Interrupted as exc:
        sys.stderr.write("stacktest: interrupted\n")
        return exc.exit_code
    finally:
        # the outcome is decided: a signal from here to the interpreter's exit must not turn it into a
        # kill (an uncaught KeyboardInterrupt makes Python end itself with SIGINT, exit -2)
        signals.ignore_stops()
        _forget_caught_interrupt()


def _forget_caught_interrupt() -> None:
    """CPython (3.11 at least) notes "a KeyboardInterrupt went unhandled" whenever one leaves code run by
    ``exec`` of a string (dataclasses and namedtuple make their methods so, at import), even when it is
    caught further up; under ``python -m stacktest`` the interpreter then ends itself with SIGINT (exit
    -2) instead of our 130 or 143 (a random interruption trial met it). Any later ``exec`` of a string
    clears the note."""
    exec("pass")  # noqa: S102 - a constant; what it does is reset the interpreter's note
