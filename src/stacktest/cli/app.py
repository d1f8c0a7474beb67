"""The ``stacktest`` command: parse, build settings, call one workflow, render, map errors to exit codes.

This is the only module that prints (through rich) and the only place that turns exceptions into
messages and exit codes: pytest's codes 0-5 pass through; stacktest's own are listed in errors.py.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from stacktest.cli import render
from stacktest.cli.coverage import coverage_app, junit_app
from stacktest.cli.options import (
    PASS,
    BuildOption,
    KeepOption,
    ModeOption,
    Options,
    PullOption,
    ShardOption,
    WorkersOption,
    duration,
    settings,
    suite,
)
from stacktest.cli.render import err, out
from stacktest.commands import lifecycle, testing, tools
from stacktest.errors import UsageError
from stacktest.settings import help_of

__all__ = ["app"]


app = typer.Typer(
    name="stacktest",
    help="Run pytest against real containers: stack lifecycle, readiness, xdist modes, sidecar coverage.",
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from stacktest import __version__

        out.print(f"stacktest {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="print the version and exit"),
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="pyproject.toml to read settings from")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", metavar="KEY=VALUE", help="override a setting (repeatable)")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="log every command stacktest runs")
    ] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="stacktest: %(message)s",
        stream=render.stderr,  # a log line may quote a service's output: defused in a workflow
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("docker").setLevel(logging.WARNING)
    overrides = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--set {item!r}: expected KEY=VALUE")
        overrides[key.strip()] = value
    ctx.obj = Options(config, overrides)


# stack commands ------------------------------------------------------------------------------------
@app.command()
def up(
    services: Annotated[list[str] | None, typer.Argument(help="services to start (default: all)")] = None,
    build: Annotated[bool, typer.Option("--build", help="rebuild images first")] = False,
    no_wait: Annotated[bool, typer.Option("--no-wait", help="do not wait for readiness")] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="keep the stack even if it fails to become ready")
    ] = False,
    ready_timeout: Annotated[float | None, typer.Option(help=help_of("ready_timeout"))] = None,
    pull: PullOption = None,
    coverage: Annotated[
        bool,
        typer.Option(
            "--coverage", help="measure the covered services; `stacktest coverage snapshot` reports"
        ),
    ] = False,
    ttl: Annotated[
        str | None,
        typer.Option("--ttl", help="remove the stack after this long even without `down` (90s, 30m, 2h)"),
    ] = None,
) -> int:
    """Start a stack for this checkout and wait until it is ready; `stacktest down` removes it."""
    lifetime = duration(ttl, "--ttl")
    s = settings(ready_timeout=ready_timeout, pull=pull)
    with render.ProgressView() as view:
        started = lifecycle.up(
            s,
            services=services or [],
            build=build,
            keep_on_error=keep,
            wait=not no_wait,
            on_progress=view,
            coverage=coverage,
            ttl=lifetime,
        )
    render.status(started)
    return 0


@app.command()
def wait(
    project: Annotated[str | None, typer.Option(help="stack to wait for (default: this checkout's)")] = None,
    ready_timeout: Annotated[float | None, typer.Option(help=help_of("ready_timeout"))] = None,
) -> int:
    """Wait until every service of the running stack is ready (the seed's ensure-services-ready)."""
    started = time.monotonic()
    with render.ProgressView() as view:
        found = lifecycle.wait(settings(ready_timeout=ready_timeout), project, view)
    err.print(f"stacktest: {found.project} is ready ({time.monotonic() - started:.2f}s)")
    return 0


@app.command()
def status(
    project: Annotated[str | None, typer.Option(help="stack to show (default: this checkout's)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> int:
    """Show each service's state, health and URL."""
    running = lifecycle.attach(settings(), project)
    if as_json:
        rows = {row.pop("name"): row for row in running.overview()}  # "web", and "web-2" for a replica
        out.print_json(json.dumps({"project": running.project, "services": rows}))
    else:
        render.status(running)
    return 0


@app.command()
def logs(
    services: Annotated[list[str] | None, typer.Argument(help="services (default: all)")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing new lines")] = False,
    tail: Annotated[int | None, typer.Option(help="lines from the end of each log")] = None,
    project: Annotated[str | None, typer.Option(help="stack (default: this checkout's)")] = None,
) -> int:
    """Print the logs of the running stack's services."""
    with render.commands_stopped():  # compose writes the services' output to this terminal itself
        return lifecycle.logs(settings(), services or [], follow=follow, tail=tail, project=project)


@app.command()
def down(
    project: Annotated[str | None, typer.Option(help="stack to remove (default: this checkout's)")] = None,
    volumes: Annotated[bool, typer.Option("--volumes/--no-volumes", help="remove volumes too")] = True,
    all_: Annotated[bool, typer.Option("--all", help="every recorded stack of this checkout")] = False,
) -> int:
    """Stop and remove the stack: containers, networks and (by default) volumes."""
    for name in lifecycle.down(settings(), project=project, every=all_, volumes=volumes):
        err.print(f"stacktest: removed {name}")
    return 0


@app.command()
def reap(
    yes: Annotated[bool, typer.Option("--yes", help="remove them (default: only show)")] = False,
) -> int:
    """Find stacks left by crashed runs (owner gone, or older than reap_age) and remove them with --yes."""
    reaped = lifecycle.reap(settings(), remove=yes)
    render.reap(reaped, removing=yes)
    return 0


@app.command(context_settings=PASS)
def test(
    ctx: typer.Context,
    mode: ModeOption = "default",
    workers: WorkersOption = None,
    keep: KeepOption = False,
    build: BuildOption = False,
    pull: PullOption = None,
    shard: ShardOption = None,
    affected: Annotated[
        bool,
        typer.Option(
            "--affected",
            help="only the tests that the changes since REV (the next argument, default: the work tree "
            "against HEAD) can break, by the test map of the last `coverage run --contexts`",
        ),
    ] = False,
) -> int:
    """Make sure the stack is ready, then run pytest against it. Every other argument goes to pytest."""
    result = suite(ctx, mode, workers, keep, build, pull, shard, testing.test, affected=affected)
    if len(result.phases) > 1:
        phases = ", ".join(f"{name} exit {code}" for name, code in result.phases)
        out.print(f"\nstacktest: {phases}; junit: {result.junit}")
        out.print(f"total: {result.summary} in {result.seconds:.1f}s")
    if result.note:
        out.print(f"stacktest: {escape(result.note)}")
    return result.exit_code


@app.command("cleanup")
def cleanup_cmd(
    yes: Annotated[bool, typer.Option("--yes", help="delete (default: only show what would go)")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    backend: Annotated[list[str] | None, typer.Option("--backend", help="only these backends")] = None,
    project: Annotated[str | None, typer.Option(help="stack (default: this checkout's)")] = None,
) -> int:
    """Show (or with --yes remove) the test data whose name starts with the cleanup prefix."""
    s = settings()
    results = tools.cleanup(s, apply=yes, names=backend or [], project=project)
    render.cleanup(results, prefix=s.cleanup_prefix, applied=yes, as_json=as_json)
    return 0


@app.command("init")
def init_cmd(
    yes: Annotated[bool, typer.Option("--yes", help="write the files (default: only show them)")] = False,
    file: Annotated[
        list[Path] | None,
        typer.Option("--file", "-f", help="a compose file to read (repeat for several; default: found)"),
    ] = None,
    tests: Annotated[
        str | None, typer.Option("--tests", help="the live tests' folder (default: found, else tests/live)")
    ] = None,
) -> int:
    r"""Adopt stacktest in this repository: propose a \[tool.stacktest] table, just recipes and
    conftest lines from the compose files and Dockerfiles here, each decision with its reason. Shows
    what it would write; --yes writes it."""
    proposal, written = tools.init(settings(), Path.cwd(), write=yes, files=file or [], tests=tests)
    render.init(proposal, written, yes=yes)
    return 0


@app.command("diagnose")
def diagnose_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    project: Annotated[str | None, typer.Option(help="stack (default: this checkout's)")] = None,
) -> int:
    """Explain why a run failed: engine, compose, each service, ports, env, leftovers, coverage, tests.
    Exit 0: all is well; 1: problems found; 11: the engine is unreachable, nothing was checked."""
    report = tools.diagnose(settings(), project)
    render.diagnose(report, as_json=as_json)
    return report.exit_code


# the command groups: `stacktest coverage ...`, `stacktest junit merge`
app.add_typer(coverage_app, name="coverage")
app.add_typer(junit_app, name="junit")
