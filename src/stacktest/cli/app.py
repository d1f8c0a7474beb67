"""The ``stacktest`` command: parse, build settings, call one workflow, render, map errors to exit codes.

This is the only module that prints (through rich) and the only place that turns exceptions into
messages and exit codes: pytest's codes 0-5 pass through; stacktest's own are listed in errors.py.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape
from typer._click.core import Context  # typer >= 0.29 ships its own copy of click
from typer._click.exceptions import ClickException
from typer._click.globals import get_current_context

from stacktest import signals
from stacktest.cli import render
from stacktest.cli.render import err, out
from stacktest.commands import coverage as covering
from stacktest.commands import lifecycle, testing, tools
from stacktest.errors import Interrupted, StacktestError, UsageError
from stacktest.settings import Settings, help_of, load_settings
from stacktest.testrun.runner import MODES

__all__ = ["app", "main"]

app = typer.Typer(
    name="stacktest",
    help="Run pytest against real containers: stack lifecycle, readiness, xdist modes, sidecar coverage.",
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@dataclass(frozen=True)
class _Options:
    """The global options (``--config``, ``--set``), kept on the command's context object."""

    config: Path | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)


def settings(**flags: Any) -> Settings:
    """Steps 1-3 from the file and environment, then step 4: ``--set`` values, then named flags."""
    options = get_current_context().find_root().obj
    if not isinstance(options, _Options):
        options = _Options()
    return load_settings(config=options.config).with_cli(options.overrides, **flags)


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
        stream=sys.stderr,
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
    ctx.obj = _Options(config, overrides)


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
) -> int:
    """Start a stack for this checkout and wait until it is ready; `stacktest down` removes it."""
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


# tests -----------------------------------------------------------------------------------------------
_PASS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["--stacktest-help"]}


def _phase_banner(name: str) -> None:
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


RunT = TypeVar("RunT")


def _suite(
    ctx: typer.Context,
    mode: str,
    workers: int | None,
    keep: bool,
    build: bool,
    pull: str | None,
    shard: str | None,
    workflow: Callable[..., RunT],
) -> RunT:
    """What `test` and `coverage run` share: one checked request, progress lines and phase banners."""
    s = settings(pull=pull)
    request = testing.RunRequest.checked(
        s, mode, ctx.args, workers=workers, keep=keep, build=build, shard=shard
    )
    return workflow(s, request, on_progress=render.ProgressView(live=False), on_phase=_phase_banner)


@app.command(context_settings=_PASS)
def test(
    ctx: typer.Context,
    mode: ModeOption = "default",
    workers: WorkersOption = None,
    keep: KeepOption = False,
    build: BuildOption = False,
    pull: PullOption = None,
    shard: ShardOption = None,
) -> int:
    """Make sure the stack is ready, then run pytest against it. Every other argument goes to pytest."""
    result = _suite(ctx, mode, workers, keep, build, pull, shard, testing.test)
    if len(result.phases) > 1:
        phases = ", ".join(f"{name} exit {code}" for name, code in result.phases)
        out.print(f"\nstacktest: {phases}; junit: {result.junit}")
        out.print(f"total: {result.summary} in {result.seconds:.1f}s")
    return result.exit_code


coverage_app = typer.Typer(
    help="Sidecar coverage: measure the services inside their containers.", no_args_is_help=True
)
app.add_typer(coverage_app, name="coverage")


@coverage_app.command("run", context_settings=_PASS)
def coverage_run(
    ctx: typer.Context,
    mode: ModeOption = "default",
    workers: WorkersOption = None,
    keep: KeepOption = False,
    build: BuildOption = False,
    pull: PullOption = None,
    shard: ShardOption = None,
) -> int:
    """Up with coverage, run pytest, stop gracefully, harvest, combine, report, down."""
    run = _suite(ctx, mode, workers, keep, build, pull, shard, covering.coverage_run)
    out.print(render.coverage_table(run.report))
    for service, why in sorted(run.harvest.missing.items()):
        err.print(f"[yellow]warning[/]: no coverage data from {escape(service)}: {escape(why)}")
    raised = run.tests.exit_code == 0 and run.problem is not None  # the error below names the lost
    for p in run.harvest.ledger.lost():
        accepted = p.service in run.harvest.ledger.accepted
        if accepted or not raised:
            how = f": {p.how}" if p.how else ""
            said = "accepted (coverage.accept_lost)" if accepted else "lost"
            err.print(
                f"[yellow]{said}[/]: {escape(p.container)} pid {p.pid} `{escape(p.command)}` left no "
                f"coverage data{escape(how)}"
            )
    out.print(f"html: {run.report.html}  xml: {run.report.xml}  json: {run.report.json}")
    if run.stop_seconds:
        slowest = max(run.stop_seconds, key=lambda label: run.stop_seconds[label])
        out.print(
            f"stopped {len(run.stop_seconds)} covered containers; slowest: {slowest} "
            f"{run.stop_seconds[slowest]:.2f}s"
        )
    out.print(f"total: {run.tests.summary} in {run.tests.seconds:.1f}s")
    if run.tests.exit_code == 0 and run.problem is not None:
        raise run.problem
    return run.tests.exit_code


@coverage_app.command("harvest")
def coverage_harvest(
    into: Annotated[
        Path | None, typer.Option(help="folder for the data (default: <report_dir>/harvest)")
    ] = None,
    project: Annotated[str | None, typer.Option(help="stack (default: this checkout's)")] = None,
) -> int:
    """Stop the covered services of a running coverage stack (`coverage run --keep`) and copy their data."""
    dest, harvested = covering.harvest(settings(), into=into, project=project)
    for service, count in sorted(harvested.files.items()):
        out.print(f"{service}: {count} data files")
    for service, why in sorted(harvested.missing.items()):
        err.print(f"[yellow]warning[/]: no coverage data from {escape(service)}: {escape(why)}")
    out.print(f"harvested into {dest}; `stacktest coverage combine {dest}` reports it")
    return 0


@coverage_app.command("snapshot")
def coverage_snapshot(
    project: Annotated[str | None, typer.Option(help="stack (default: this checkout's)")] = None,
) -> int:
    """Report what a kept covered stack (`stacktest up --coverage`) measured so far, without stopping it."""
    snap = covering.snapshot(settings(), project)
    out.print(render.coverage_table(snap.report))
    for label, entries in sorted(snap.unanswered.items()):
        err.print(f"[yellow]warning[/]: {escape(label)}: {len(entries)} live process(es) did not save")
    for p in snap.harvest.ledger.lost():
        err.print(
            f"[yellow]warning[/]: {escape(p.container)} pid {p.pid} `{escape(p.command)}` has no data "
            "(ended without saving, or could not be asked)"
        )
    out.print(f"html: {snap.report.html}  xml: {snap.report.xml}  json: {snap.report.json}")
    return 0


junit_app = typer.Typer(help="JUnit XML of several runs (CI shards).", no_args_is_help=True)
app.add_typer(junit_app, name="junit")


@junit_app.command("merge")
def junit_merge(
    files: Annotated[list[Path], typer.Argument(help="JUnit XML files, one per shard or job")],
    into: Annotated[Path, typer.Option("--into", help="the merged file to write")],
) -> int:
    """Merge the JUnit XML files of several shards into one; fails when a test ran in two of them."""
    counts = testing.merge_junit(files, into)
    out.print(
        f"{into}: {counts['tests']} tests from {len(files)} files "
        f"({counts['failed']} failed, {counts['errors']} errors, {counts['skipped']} skipped)"
    )
    return 0


@coverage_app.command("combine")
def coverage_combine(
    folders: Annotated[
        list[Path], typer.Argument(help="harvested data folders (one sub-folder per service)")
    ],
) -> int:
    """Merge harvested data of several runs or CI jobs, then report."""
    rep = covering.combine(settings(), folders)
    out.print(render.coverage_table(rep))
    out.print(f"html: {rep.html}  xml: {rep.xml}  json: {rep.json}")
    return 0


@coverage_app.command("report")
def coverage_report() -> int:
    """Report the latest combined data again (terminal table, HTML, XML, JSON)."""
    out.print(render.coverage_table(covering.report_latest(settings())))
    return 0


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
) -> int:
    r"""Adopt stacktest in this repository: propose a \[tool.stacktest] table, just recipes and
    conftest lines from the compose files and Dockerfiles here. Shows what it would write; --yes writes
    it."""
    proposal, written = tools.init(settings(), Path.cwd(), write=yes)
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


# entry point -----------------------------------------------------------------------------------------
_received: list[int] = []  # every signal of this run, even one whose exception something swallowed


def _report(exc: StacktestError | Interrupted) -> None:
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
        _report(Interrupted(_received[0]))
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
        _report(exc)
        return exc.exit_code
    except KeyboardInterrupt:
        _report(Interrupted(signal.SIGINT))
        return 130
    except StacktestError as exc:
        _report(exc)
        return exc.exit_code
    except typer.Exit as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # typer turns Ctrl-C into Exit(130)
            _report(Interrupted(signal.SIGINT))
        return int(exc.exit_code)
    except typer.Abort:
        _report(Interrupted(signal.SIGINT))
        return 130
    except ClickException as exc:
        exc.show()
        return UsageError.exit_code
    except Exception as exc:  # the CLI boundary: a bug of ours still gets a message, not a bare traceback
        if logging.getLogger("stacktest").isEnabledFor(logging.DEBUG):
            raise
        err.print(f"[bold red]error\\[internal][/]: {escape(type(exc).__name__)}: {escape(str(exc))}")
        err.print("  hint: this is a bug in stacktest; run again with -v for the traceback and report it")
        return 70
    if rv == 130:  # typer's own handling of Ctrl-C returns 130 with nothing said
        _report(Interrupted(signal.SIGINT))
    return rv if isinstance(rv, int) else 0
