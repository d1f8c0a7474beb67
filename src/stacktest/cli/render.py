"""What the CLI shows a person: rich tables and live progress on a terminal, plain lines in CI or when
the output is not a terminal, JSON where asked. The only module besides cli.py that prints."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO, cast

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from stacktest import github
from stacktest.stack.rules import Progress, Status

if TYPE_CHECKING:
    from stacktest.adopt.propose import Proposal
    from stacktest.cleanup.rules import BackendResult
    from stacktest.commands.lifecycle import Reaped
    from stacktest.coverage.report import Report
    from stacktest.diagnose.report import Report as Diagnosis
    from stacktest.stack.lifecycle import Stack

__all__ = [
    "ProgressView",
    "cleanup",
    "commands_stopped",
    "coverage_table",
    "diagnose",
    "err",
    "init",
    "not_in_repository",
    "out",
    "reap",
    "status",
    "stderr",
    "stdout",
]


class _Defused:
    """``sys.stdout`` or ``sys.stderr`` (looked up at each write: pytest's capture replaces them; the
    proxy a live display puts there is looked through, as rich does) with every line defused in a GitHub
    Actions workflow (:func:`github.defuse`): what the CLI prints holds container logs, service answers
    and test names, and none of their lines may become a workflow command. stacktest's own annotations
    are written to ``sys.stdout`` directly."""

    def __init__(self, name: str) -> None:
        self._name = name

    @property
    def _stream(self) -> TextIO:
        stream = getattr(sys, self._name)
        # a live table redirects sys.stdout and sys.stderr into its console: write where that proxy does
        return cast("TextIO", getattr(stream, "rich_proxied_file", stream))

    def write(self, text: str) -> int:
        return self._stream.write(github.defuse(text) if github.active() else text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"


stdout, stderr = cast("TextIO", _Defused("stdout")), cast("TextIO", _Defused("stderr"))
# CI=true and NO_COLOR turn colour and live tables off.
_plain = bool(os.environ.get("NO_COLOR")) or os.environ.get("CI", "").lower() == "true"  # env: NO_COLOR, CI
out = Console(file=stdout, no_color=_plain, highlight=False, soft_wrap=True)
err = Console(file=stderr, no_color=_plain, highlight=False, soft_wrap=True)


@contextmanager
def commands_stopped() -> Iterator[None]:
    """In a GitHub Actions workflow, the runner obeys no workflow command while the block runs (a child
    that writes to this terminal itself, such as ``compose logs``): GitHub's ``::stop-commands::`` with a
    token nobody can guess, and the token again at the end."""
    if not github.active():
        yield
        return
    import secrets

    token = secrets.token_hex(16)
    sys.stdout.write(f"::stop-commands::{token}\n")
    sys.stdout.flush()
    try:
        yield
    finally:
        sys.stdout.write(f"::{token}::\n")
        sys.stdout.flush()


class ProgressView:
    """A live table on a terminal; plain lines in CI or when output is not a terminal."""

    def __init__(self, live: bool = True) -> None:
        self.rows: dict[str, Progress] = {}
        self.live: Live | None = None
        if live and err.is_terminal and not _plain:
            self.live = Live(self._table(), console=err, refresh_per_second=10, transient=False)

    @property
    def shows_log_lines(self) -> bool:
        """Readiness reads each pending service's newest log line for the live table (not in CI)."""
        return self.live is not None

    def _table(self) -> Table:
        table = Table("service", "state", "detail", "time", box=None)
        table.add_column("latest log line", no_wrap=True, overflow="ellipsis")  # a hint; full logs are kept
        colours = {Status.READY: "green", Status.FAILED: "red", Status.WAITING: "yellow"}
        for p in sorted(self.rows.values(), key=lambda p: p.service):
            line = escape(p.log) if p.status is Status.WAITING else ""
            table.add_row(
                p.service,
                f"[{colours[p.status]}]{p.status.value}[/]",
                escape(p.detail),
                f"{p.elapsed:.2f}s",
                f"[dim]{line}[/]",
            )
        return table

    def __call__(self, p: Progress) -> None:
        self.rows[p.service] = p
        if self.live is not None:
            self.live.update(self._table())
        elif p.status is not Status.WAITING:
            err.print(f"stacktest: {p.service}: {p.status.value} ({p.detail}) after {p.elapsed:.2f}s")

    def __enter__(self) -> ProgressView:
        if self.live is not None:
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)


def _whole() -> bool:
    """Plain lines instead of a table: output that is not a terminal (a CI log, a pipe) or is narrow
    would get cells cut short (``http://127.0…``), and a URL or a finding must be printed whole."""
    return not out.is_terminal or out.width < 100


def status(stack: Stack) -> None:
    rows = stack.overview()
    if _whole():
        out.print(f"stack {stack.project}", markup=False)
        for row in rows:
            ready = "yes" if row["ready"] else "no"
            out.print(
                f"{row['name']}: {row['state']}, ready: {ready} ({row['readiness']}), "
                f"engine health: {row['health'] or '-'}, restarts: {row['restarts']}, "
                f"url: {row['url'] or '-'}",
                markup=False,
                soft_wrap=True,
            )
        return
    table = Table(
        "service", "state", "ready", "engine health", "restarts", "url", title=f"stack {stack.project}"
    )
    for row in rows:
        how = escape(row["readiness"])
        table.add_row(
            row["name"],
            row["state"],
            f"[green]yes[/] ({how})" if row["ready"] else f"[red]no[/] ({how})",
            row["health"] or "-",
            str(row["restarts"]),
            row["url"] or "-",
        )
    out.print(table)


def coverage_table(rep: Report) -> Table:
    """A row per service; with a process ledger, "processes measured N of M" per service."""
    columns = ["service", "statements", "missed", "cover"] + (["processes measured"] if rep.processes else [])
    table = Table(*columns, title="coverage inside the containers")
    for f in [*rep.services, rep.total]:
        style = "bold" if f.service == "TOTAL" else ""
        row = [f.service, str(f.statements), str(f.missing), f"{f.percent:.1f}%"]
        if rep.processes:
            done, ran = rep.processes.get(f.service, (0, 0))
            row.append(f"{done} of {ran}" if f.service != "TOTAL" else "")
        table.add_row(*row, style=style)
    return table


def not_in_repository(rep: Report) -> None:
    """The files of this machine a service's data named that the reports left out (not the repository's
    source files): a warning per service, never their content."""
    for service, files in sorted(rep.not_in_repository.items()):
        more = f" and {len(files) - 20} more" if len(files) > 20 else ""
        err.print(
            f"[yellow]warning[/]: {escape(service)}: not in the repository, left out of the reports: "
            f"{escape(', '.join(files[:20]))}{more}"
        )


def reap(reaped: Reaped, *, removing: bool) -> None:
    if not reaped.stale and not reaped.images:
        out.print("no stale stacks or images")
        return
    if reaped.stale:
        table = Table("project", "checkout", "containers", "why")
        for info, why in reaped.stale:
            table.add_row(info.project, info.root or info.checkout, str(info.containers), why)
        out.print(table)
    for image, checkout in reaped.images:
        out.print(f"image {image}: built for {checkout}, which no longer exists")
    if not removing:
        out.print(
            f"{len(reaped.stale)} stale stack(s), {len(reaped.images)} stale image(s); "
            "run `stacktest reap --yes` to remove them"
        )
    for project, (c, n, v) in reaped.removed:
        out.print(f"removed {project}: {c} containers, {n} networks, {v} volumes")
    for image in reaped.images_removed:
        out.print(f"removed image {image}")


def cleanup(results: list[BackendResult], *, prefix: str, applied: bool, as_json: bool) -> None:
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "prefix": prefix,
                    "applied": applied,
                    "backends": [
                        {
                            "name": r.backend,
                            "kind": r.kind,
                            "records": [{"id": x.id, "name": x.name} for x in r.records],
                            "related": r.related,
                            "related_by": r.related_by,
                            "skipped": r.skipped,
                            "deleted": r.deleted,
                        }
                        for r in results
                    ],
                }
            )
        )
        return
    for r in results:
        for key in r.skipped:
            err.print(
                f"[yellow]warning[/]: {escape(r.backend)}: skipped {escape(key)}: cleanup cannot read it"
            )
        if not r.records and not r.related:
            out.print(f"{r.backend} ({r.kind}): no test data")
            if applied:
                out.print(f"{r.backend}: deleted 0")
            continue
        table = Table(
            "id",
            "name",
            title=f"{r.backend} ({r.kind}): {len(r.records)} test records"
            + (f", {r.related} related keys" if r.kind == "redis" else "")
            + (f", {r.related} related rows" if r.kind == "sql" else ""),
        )
        for x in r.records[:50]:
            table.add_row(x.id, x.name)
        if len(r.records) > 50:
            table.add_row("...", f"and {len(r.records) - 50} more")
        out.print(table)
        for where, count in r.related_by.items():
            out.print(f"{r.backend}: {count} rows of {escape(where)} refer to them")
        if applied:
            out.print(f"{r.backend}: deleted {r.deleted}")
    if not applied and any(r.records or r.related for r in results):
        out.print("dry run: nothing was deleted; `stacktest cleanup --yes` (just test-cleanup) removes them")


def init(proposal: Proposal, written: list[Path], *, yes: bool) -> None:
    for d in proposal.decisions:
        subject = f"{d.subject}: " if d.subject else ""
        out.print(f"{escape(subject + d.what)}  [dim](because {escape(d.why)})[/]")
    for change in proposal.changes:
        if change.action == "unchanged":
            out.print(f"{change.path}: already set up, left as it is")
            continue
        out.print(f"[bold]{change.path}[/]:" + ("" if yes else f" would {change.action}"))
        out.print(change.text, markup=False)
    for note in proposal.notes:
        out.print(f"note: {escape(note)}")
    for path in written:
        out.print(f"wrote {path}")
    if not yes and any(c.action != "unchanged" for c in proposal.changes):
        out.print("dry run: nothing was written; `stacktest init --yes` writes it")


def diagnose(report: Diagnosis, *, as_json: bool) -> None:
    from stacktest.diagnose.report import github_annotations, to_markdown

    if as_json:
        out.print_json(report.to_json())
    else:
        if _whole():
            for f in report.sorted():
                fix = f" (fix: {f.fix})" if f.fix else ""
                out.print(f"{f.severity}: {f.check}: {f.title}{fix}", markup=False, soft_wrap=True)
        else:
            colours = {"ok": "green", "info": "blue", "warning": "yellow", "error": "red"}
            table = Table("", "check", "finding", "fix", title="stacktest diagnose")
            for f in report.sorted():
                severity = f"[{colours[f.severity]}]{f.severity}[/]"
                table.add_row(severity, f.check, escape(f.title), escape(f.fix))
            out.print(table)
        for f in report.sorted():
            if f.severity == "error" and f.evidence:
                out.print(f"[red]{escape(f.title)}[/]\n{escape(f.evidence)}\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")  # env: GITHUB_STEP_SUMMARY (GitHub Actions)
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(to_markdown(report))
    if os.environ.get("GITHUB_ACTIONS") == "true":  # env: GITHUB_ACTIONS
        for line in github_annotations(report):
            sys.stdout.write(line + "\n")  # workflow commands must reach stdout unformatted
