"""What the commands of the CLI share: the global options, the settings they resolve to, and the options of
the two commands that run the suite (`test`, `coverage run`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer._click.globals import get_current_context

from stacktest.cli import render
from stacktest.cli.render import out
from stacktest.commands import testing
from stacktest.errors import UsageError
from stacktest.settings import Settings, help_of, load_settings
from stacktest.testrun.runner import MODES

__all__ = [
    "PASS",
    "BuildOption",
    "KeepOption",
    "ModeOption",
    "Options",
    "PullOption",
    "ShardOption",
    "WorkersOption",
    "duration",
    "phase_banner",
    "settings",
    "suite",
]


@dataclass(frozen=True)
class Options:
    """The global options (``--config``, ``--set``), kept on the command's context object."""

    config: Path | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)


def settings(**flags: Any) -> Settings:
    """Steps 1-3 from the file and environment, then step 4: ``--set`` values, then named flags."""
    options = get_current_context().find_root().obj
    if not isinstance(options, Options):
        options = Options()
    return load_settings(config=options.config).with_cli(options.overrides, **flags)


# tests -----------------------------------------------------------------------------------------------
PASS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["--stacktest-help"]}


def phase_banner(name: str) -> None:
    out.print(f"\n==== stacktest: {name} phase ====")
    out.file.flush()  # before pytest writes to the same terminal


# the options `test` and `coverage run` share; every other argument goes to pytest untouched
ModeOption = Annotated[
    str, typer.Option("--mode", help="default, " + ", ".join(m for m in MODES if m != "default"))
]


WorkersOption = Annotated[int | None, typer.Option("--workers", help="worker count for --mode n")]


KeepOption = Annotated[bool, typer.Option("--keep", help="keep the stack this run starts")]


BuildOption = Annotated[bool, typer.Option("--build", help="rebuild images first")]


ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard", metavar="I/N", help="run only the I-th of N parts of the suite, split by earlier times"
    ),
]


PullOption = Annotated[
    str | None, typer.Option("--pull", metavar="always|missing|never", help=help_of("pull"))
]


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def duration(text: str | None, option: str) -> float | None:
    """``90``, ``90s``, ``30m``, ``2h``, ``1d`` in seconds; bad input is a usage error."""
    if text is None:
        return None
    match = _DURATION.match(text.strip())
    if not match or float(match.group(1)) <= 0:
        raise UsageError(
            f"{option} {text!r} is not a duration", hint="give seconds, or a number with s, m, h or d: 30m"
        )
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


RunT = TypeVar("RunT")


def suite(
    ctx: typer.Context,
    mode: str,
    workers: int | None,
    keep: bool,
    build: bool,
    pull: str | None,
    shard: str | None,
    workflow: Callable[..., RunT],
    *,
    affected: bool = False,
    **flags: Any,
) -> RunT:
    """What `test` and `coverage run` share: one checked request, progress lines and phase banners."""
    s = settings(pull=pull, **flags)
    request = testing.RunRequest.checked(
        s, mode, ctx.args, workers=workers, keep=keep, build=build, shard=shard, affected=affected
    )
    return workflow(s, request, on_progress=render.ProgressView(live=False), on_phase=phase_banner)
