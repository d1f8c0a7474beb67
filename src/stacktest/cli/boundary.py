"""The CLI's boundary: runs the click command and turns every exception into a message and an exit code
(pytest's 0-5 pass through; stacktest's own are listed in errors.py; 70 for a bug of ours)."""

from __future__ import annotations

import logging
import signal
from typing import Any

import typer
from rich.markup import escape
from typer._click.core import Context  # typer >= 0.29 ships its own copy of click
from typer._click.exceptions import ClickException

from stacktest import signals
from stacktest.cli.app import app
from stacktest.cli.render import err
from stacktest.errors import INTERNAL_EXIT, Interrupted, StacktestError, UsageError

__all__ = ["command", "main"]


# entry point -----------------------------------------------------------------------------------------
_received: list[int] = []  # every signal of this run, even one whose exception something swallowed


def report_error(exc: StacktestError | Interrupted) -> None:
    err.print(f"[bold red]error\\[{exc.slug}][/]: {escape(str(exc))}", markup=True)
    if exc.hint:
        err.print(f"  hint: {escape(exc.hint)}", markup=True)


def main(argv: list[str] | None = None) -> int:
    _received.clear()
    signals.install_stop_handlers(_received)
    rv = _run(argv)
    interrupted = 128 + _received[0] if _received else None
    if interrupted is not None and rv != interrupted:
        # the signal's exception was swallowed on its way (a weakref callback, a library's bare except):
        # the run went on and tore down as usual; it still ends as the interrupted run it was
        report_error(Interrupted(_received[0]))
        return interrupted
    return rv


def command() -> Any:
    """The click command of the app, its help showing value names as users know them (``--tail N``,
    ``--ready-timeout SECONDS``, nothing beside a flag) instead of Python types (``<bool>``)."""
    root = typer.main.get_command(app)
    todo = [root]
    while todo:
        cmd = todo.pop()
        todo.extend(getattr(cmd, "commands", {}).values())
        help_option = cmd.get_help_option(Context(cmd))  # made on demand, and kept
        for param in [*cmd.params, *([help_option] if help_option is not None else [])]:
            if param.param_type_name == "argument":
                # its name (services...) says what to give; a type column would only repeat it
                setattr(param, "display_type_rich", lambda ctx: None)  # noqa: B010 - typer has no option for it
            elif param.metavar is None:
                flag = getattr(param, "is_flag", False)
                kind = param.bare_type() if hasattr(param, "bare_type") else ""
                param.metavar = "" if flag else _VALUE_NAMES.get(kind, (param.name or "").upper())
    return root


_VALUE_NAMES = {"Path": "PATH", "float": "SECONDS", "int": "N"}


def _run(argv: list[str] | None) -> int:
    try:
        rv = command().main(args=argv, prog_name="stacktest", standalone_mode=False)
    except Interrupted as exc:
        report_error(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        report_error(Interrupted(signal.SIGINT))
        return 130
    except StacktestError as exc:
        report_error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer turns Ctrl-C into Exit(130)
            report_error(Interrupted(signal.SIGINT))
        return int(exc.exit_code)
    except typer.Abort:
        report_error(Interrupted(signal.SIGINT))
        return 130
    except ClickException as exc:
        exc.show()
        return UsageError.exit_code
    except Exception as exc:  # the CLI boundary: a bug of ours still gets a message, not a bare traceback
        if logging.getLogger("stacktest").isEnabledFor(logging.DEBUG):
            raise
        err.print(f"[bold red]error\\[internal][/]: {escape(type(exc).__name__)}: {escape(str(exc))}")
        err.print("  hint: this is a bug in stacktest; run again with -v for the traceback and report it")
        return INTERNAL_EXIT
    if rv == 130:  # typer's own handling of Ctrl-C returns 130 with nothing said
        report_error(Interrupted(signal.SIGINT))
    return rv if isinstance(rv, int) else 0
