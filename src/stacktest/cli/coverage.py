"""`stacktest coverage ...` and `stacktest junit merge`: the sidecar coverage commands, and the merge of
several runs' JUnit XML."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from stacktest.cli import render
from stacktest.cli.options import (
    PASS,
    BuildOption,
    KeepOption,
    ModeOption,
    PullOption,
    ShardOption,
    WorkersOption,
    settings,
    suite,
)
from stacktest.cli.render import err, out
from stacktest.commands import coverage as covering
from stacktest.commands import testing
from stacktest.settings import help_of

__all__ = ["coverage_app", "junit_app"]


coverage_app = typer.Typer(
    help="Sidecar coverage: measure the services inside their containers.", no_args_is_help=True
)


@coverage_app.command("run", context_settings=PASS)
def coverage_run(
    ctx: typer.Context,
    mode: ModeOption = "default",
    workers: WorkersOption = None,
    keep: KeepOption = False,
    build: BuildOption = False,
    pull: PullOption = None,
    shard: ShardOption = None,
    contexts: Annotated[
        bool | None, typer.Option("--contexts/--no-contexts", help=help_of("coverage.contexts"))
    ] = None,
) -> int:
    """Up with coverage, run pytest, stop gracefully, harvest, combine, report, down."""
    run = suite(
        ctx, mode, workers, keep, build, pull, shard, covering.coverage_run, coverage_contexts=contexts
    )
    out.print(render.coverage_table(run.report))
    render.not_in_repository(run.report)
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
    for test, services in sorted(run.reached.items()):  # per-test contexts: where each failure went
        out.print(f"[red]failed[/] {escape(test)} reached:")
        for service, lines in sorted(services.items()):
            out.print(f"  {escape(service)}: {escape(lines)}")
        if not services:
            out.print("  no line of a covered service")
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
    render.not_in_repository(snap.report)
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


@junit_app.command("merge")
def junit_merge(
    files: Annotated[list[Path], typer.Argument(help="JUnit XML files, one per shard or job")],
    into: Annotated[Path, typer.Option("--into", help="the merged file to write")],
    force: Annotated[
        bool, typer.Option("--force", help="replace --into even when stacktest did not write it")
    ] = False,
) -> int:
    """Merge the JUnit XML files of several shards into one; fails when a test ran in two of them.
    An existing --into is replaced only when an earlier merge wrote it, or with --force."""
    counts = testing.merge_junit(files, into, force=force)
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
    render.not_in_repository(rep)
    out.print(f"html: {rep.html}  xml: {rep.xml}  json: {rep.json}")
    return 0


@coverage_app.command("report")
def coverage_report() -> int:
    """Report the latest combined data again (terminal table, HTML, XML, JSON)."""
    rep = covering.report_latest(settings())
    out.print(render.coverage_table(rep))
    render.not_in_repository(rep)
    return 0
