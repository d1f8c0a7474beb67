"""The one way stacktest runs a subprocess: an argv list, a timeout, a typed error.

``run`` captures output; ``attach`` leaves the child on this terminal (pytest, ``logs -f``). Both stop the
child the way nox does when this process is interrupted: SIGINT, then SIGTERM, then SIGKILL, each with a
bounded wait, so that a Ctrl-C never leaves a compose or pytest process running behind us.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stacktest.errors import CommandFailed

__all__ = ["Result", "attach", "run", "shutdown"]

log = logging.getLogger("stacktest")

STDERR_TAIL_LINES = 15


@dataclass(frozen=True)
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    check: bool = True,
    input_text: str | None = None,
    error: type[CommandFailed] = CommandFailed,
    what: str | None = None,
) -> Result:
    """Run ``argv`` to completion and capture its output.

    Raises ``error`` (a :class:`CommandFailed`) when it exits non-zero and ``check`` is set, or when it
    outlives ``timeout`` seconds; the error carries argv, exit code and the tail of stderr.
    """
    argv = [str(a) for a in argv]
    log.debug("run: %s", shlex.join(argv))
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        cwd=cwd,
    )
    try:
        stdout, stderr = proc.communicate(input=input_text, timeout=timeout)
    except subprocess.TimeoutExpired:
        shutdown(proc)
        stdout, stderr = proc.communicate()
        raise error(
            f"{what or shlex.join(argv[:3])} did not finish within {timeout:g} s",
            argv=argv,
            return_code=None,
            stderr_tail=tail(stderr or ""),
            hint="raise command_timeout, or run the command by hand to see where it hangs",
        ) from None
    except BaseException:
        shutdown(proc)
        raise
    result = Result(argv, proc.returncode, stdout or "", stderr or "")
    if check and proc.returncode != 0:
        raise error(
            f"{what or shlex.join(argv)} failed with exit code {proc.returncode}",
            argv=argv,
            return_code=proc.returncode,
            stderr_tail=tail(result.stderr or result.stdout),
        )
    return result


def attach(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
) -> int:
    """Run ``argv`` with this process's stdin, stdout and stderr; return its exit code.

    ``timeout`` may be ``None`` only for commands a person watches (pytest, ``logs -f``).
    """
    argv = [str(a) for a in argv]
    log.debug("attach: %s", shlex.join(argv))
    proc = subprocess.Popen(argv, env=dict(env) if env is not None else None, cwd=cwd)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        shutdown(proc)
        raise CommandFailed(
            f"{shlex.join(argv[:3])} did not finish within {timeout:g} s", argv=argv, return_code=None
        ) from None
    except BaseException:
        shutdown(proc)
        raise


def shutdown(proc: subprocess.Popen[str] | subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """Interrupt, then terminate, then kill ``proc``, each with a bounded wait.

    A second Ctrl-C (or SIGTERM) while waiting does not abandon the child: it moves on to the next,
    harder signal at once, and is raised again once the child is gone."""
    pending: BaseException | None = None
    try:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            if proc.poll() is not None:
                return
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(timeout=grace)
                return
            except subprocess.TimeoutExpired:
                continue
            except BaseException as exc:  # KeyboardInterrupt, Interrupted: escalate at once
                pending = pending or exc
                continue
    finally:
        if pending is not None:
            raise pending
