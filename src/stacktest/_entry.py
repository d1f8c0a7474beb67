"""The command's entry point: Ctrl-C and SIGTERM are handled from the first moment, before the heavy
imports of the CLI (about half a second), so an early interrupt never prints a traceback."""

from __future__ import annotations

import signal
import sys
from types import FrameType

__all__ = ["main"]


class _EarlySigterm(BaseException):
    pass


def _early_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _EarlySigterm


def main() -> int:
    signal.signal(signal.SIGTERM, _early_sigterm)
    signal.signal(signal.SIGHUP, _early_sigterm)
    try:
        from stacktest.cli import main as cli_main
    except (KeyboardInterrupt, _EarlySigterm) as exc:
        sys.stderr.write("stacktest: interrupted before it started anything\n")
        return 143 if isinstance(exc, _EarlySigterm) else 130
    from stacktest.errors import Interrupted

    try:
        code = cli_main()
        # the work is done and reported: a signal from here on must not turn the result into a kill
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        return code
    except KeyboardInterrupt:  # in the last instants, after the CLI's own handling returned
        sys.stderr.write("stacktest: interrupted\n")
        return 130
    except Interrupted as exc:
        sys.stderr.write("stacktest: interrupted\n")
        return exc.exit_code
