"""The one error tree of stacktest.

Every error a user can meet is a subclass of :class:`StacktestError`. Each carries a short ``slug``
(docs/troubleshooting.md has a section per slug), a ``hint`` that says what to do, and the process
``exit_code`` the CLI uses. Only ``stacktest.cli.boundary.main`` prints errors; library code raises them.

::

    StacktestError                      exit 10+
    ├── ConfigError          config     10   a setting is unknown, mistyped or missing
    ├── UsageError           usage      18   options that cannot go together, an unknown service or mode
    ├── EngineUnavailable    engine     11   the Docker Engine cannot be reached
    ├── ComposeError         compose    12   a compose command failed (argv, exit code, stderr tail)
    │   └── ComposeNotFound  compose-missing
    ├── CommandFailed        command    12   another subprocess failed
    ├── StackNotFound        no-stack   13   no running stack for this checkout
    ├── NotReady             not-ready  14   a service died, restarted, turned unhealthy or ran out of time
    ├── CoverageError        coverage   15   the spy configuration is broken, or no data could be combined
    ├── CoverageBelowTarget  fail-under 16   tests passed but coverage missed fail_under
    └── CleanupError         cleanup    17   a cleanup backend refused or failed

    Interrupted (a BaseException, like KeyboardInterrupt)  interrupted  129 / 130 / 143  SIGHUP, Ctrl-C
                                                                              or SIGTERM
    a bug of ours (any other exception at the CLI boundary)           internal     70

Exit codes 0, 1, 2, 3, 4 and 5 are pytest's and pass through unchanged; a bad command line (stacktest's
own options) is 18 like any UsageError; ``diagnose`` exits 0 (all well), 1 (problems found) or 11 (the
engine could not be reached, so nothing was checked).
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "INTERNAL_EXIT",
    "CleanupError",
    "CommandFailed",
    "ComposeError",
    "ComposeNotFound",
    "ConfigError",
    "CoverageBelowTarget",
    "CoverageError",
    "EngineUnavailable",
    "Interrupted",
    "NotReady",
    "StackNotFound",
    "StacktestError",
    "UsageError",
    "exit_code_table",
]


class StacktestError(Exception):
    """Root of every error stacktest raises on purpose."""

    slug = "error"
    exit_code = 10
    default_hint = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


class ConfigError(StacktestError):
    slug = "config"
    exit_code = 10
    default_hint = "fix the setting named above (see docs/configuration.md)"


class UsageError(StacktestError):
    slug = "usage"
    exit_code = 18  # not 2: pytest's "interrupted", which `stacktest test` passes through


class EngineUnavailable(StacktestError):
    slug = "engine"
    exit_code = 11
    default_hint = "start the Docker Engine, or point DOCKER_HOST at a running one"


class CommandFailed(StacktestError):
    """A subprocess exited non-zero or timed out."""

    slug = "command"
    exit_code = 12

    def __init__(
        self,
        message: str,
        *,
        argv: Sequence[str],
        return_code: int | None,
        stderr_tail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.argv = list(argv)
        self.return_code = return_code
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        text = self.message
        if self.stderr_tail:
            text += "\n" + self.stderr_tail
        return text


class ComposeError(CommandFailed):
    slug = "compose"
    default_hint = "run the same compose command by hand to see the whole output"


class ComposeNotFound(StacktestError):
    slug = "compose-missing"
    exit_code = 12
    default_hint = (
        "install Compose v2 as a docker CLI plugin (just setup does this), or set STACKTEST_COMPOSE_COMMAND"
    )


class StackNotFound(StacktestError):
    slug = "no-stack"
    exit_code = 13
    default_hint = "start one with `stacktest up` (or `just up`), or run the tests with `just test`"


class NotReady(StacktestError):
    slug = "not-ready"
    exit_code = 14
    default_hint = "read the log lines above; `stacktest logs SERVICE` shows the rest"

    def __init__(self, message: str, *, service: str | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.service = service


class CoverageError(StacktestError):
    slug = "coverage"
    exit_code = 15
    default_hint = "check the coverage configuration named above"


class CoverageBelowTarget(StacktestError):
    slug = "fail-under"
    exit_code = 16
    default_hint = "add tests for the uncovered lines, or lower [tool.stacktest.coverage] fail_under"


class CleanupError(StacktestError):
    slug = "cleanup"
    exit_code = 17
    default_hint = "check the cleanup backend settings in [tool.stacktest.cleanup]"


class Interrupted(BaseException):
    """Raised by the SIGTERM handler the CLI installs; teardown runs in ``finally`` blocks.

    Like KeyboardInterrupt it is a BaseException, not an Exception: a library's ``except Exception``
    (the docker SDK wraps everything it catches) must never turn a SIGTERM into some other error.
    """

    slug = "interrupted"
    hint = ""

    def __init__(self, signum: int) -> None:
        import signal

        self.message = f"interrupted by {signal.Signals(signum).name}; the stack of this run was removed"
        super().__init__(self.message)
        self.signum = signum
        self.exit_code = 128 + signum


INTERNAL_EXIT = 70  # a bug of ours (EX_SOFTWARE): the CLI boundary's last resort

# The exit codes, one row each: the README's table is made from this (exit_code_table; a test compares).
_MEANINGS: tuple[tuple[type[StacktestError] | str, str], ...] = (
    (
        "0, 1, 2, 3, 4, 5",
        "pytest's own: passed, tests failed, interrupted, internal error, usage error, no tests collected",
    ),
    (ConfigError, "a setting is unknown, mistyped or missing"),
    (EngineUnavailable, "the Docker Engine cannot be reached"),
    (
        ComposeError,
        "a compose command or another subprocess failed (its stderr tail is shown), or there is no "
        "compose tool",
    ),
    (StackNotFound, "no running stack for this checkout"),
    (NotReady, "a service exited, restarted, turned unhealthy, or missed the deadline"),
    (
        CoverageError,
        "the coverage configuration is broken, the spy did not start, a covered service produced "
        "no data, a measured process left no data, or data maps to no file of the repository",
    ),
    (CoverageBelowTarget, "tests passed but coverage is below `fail_under`"),
    (CleanupError, "a cleanup backend failed, or the prefix is empty"),
    (
        UsageError,
        "options that cannot go together, an unknown service, mode, command or option (not 2, which "
        'is pytest\'s "interrupted")',
    ),
    (str(INTERNAL_EXIT), "`internal`: a bug in stacktest (run with `-v` for the traceback)"),
    (
        "129, 130, 143",
        "interrupted by SIGHUP (terminal closed), Ctrl-C or SIGTERM; the run's stack was removed",
    ),
)


def exit_code_table() -> str:
    """The README's table of exit codes (a test keeps the README equal to it)."""
    rows = ["| code | meaning |", "|---|---|"]
    for source, meaning in _MEANINGS:
        if isinstance(source, str):
            rows.append(f"| {source} | {meaning} |")
            continue
        slugs = " / ".join(f"`{c.slug}`" for c in (source, *_same_code(source)))
        rows.append(f"| {source.exit_code} | {slugs}: {meaning} |")
    return "\n".join(rows) + "\n"


def _same_code(cls: type[StacktestError]) -> list[type[StacktestError]]:
    """The subclasses that share ``cls``'s code but have a slug of their own, listed in its row."""
    if cls is ComposeError:
        return [CommandFailed, ComposeNotFound]
    return []
