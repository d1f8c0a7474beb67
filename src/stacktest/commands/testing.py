"""`stacktest test`: a pytest run (its phases, shards and JUnit) against a ready stack."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stacktest.adapters import git
from stacktest.commands.lifecycle import PhaseFn, ProgressFn, keep_logs, managed_stack, stack_env
from stacktest.errors import (
    UsageError,
)
from stacktest.settings import Settings
from stacktest.stack.lifecycle import Stack
from stacktest.state import (
    ENV_AFFECTED,
    ENV_SHARD,
    ENV_SHARD_TIMES,
    atomic_write,
)
from stacktest.testrun import junit, workers
from stacktest.testrun.runner import Mode, RunResult, mode_named, plan, run_tests, selection

__all__ = ["RunRequest", "merge_junit", "test"]


@dataclass(frozen=True)
class RunRequest:
    """What the user asked of one pytest run: its mode, pytest's arguments and what to do with the stack.
    Build it with :meth:`checked`, which refuses bad options before anything starts."""

    mode: Mode
    args: tuple[str, ...]
    workers: int | None = None
    keep: bool = False
    build: bool = False
    shard: str | None = None  # "I/N": only that part of the suite (checked by shards.parse_shard)
    # a shard's split: the tests' earlier times, read when the command starts (see checked)
    shard_times: Mapping[str, float] = field(default_factory=dict)
    affected: str | None = None  # --affected: only the tests the changes since this revision reach

    @classmethod
    def checked(
        cls,
        settings: Settings,
        mode: str,
        args: Sequence[str],
        *,
        workers: int | None = None,
        keep: bool = False,
        build: bool = False,
        shard: str | None = None,
        affected: bool = False,
    ) -> RunRequest:
        """``affected``: the first argument is the revision to compare with when it names a commit (and
        no file), else HEAD."""
        since = None
        if affected:
            since = "HEAD"
            if args and not (settings.root / args[0]).exists() and git.verify(settings.root, args[0]):
                since, args = args[0], args[1:]
        chosen = mode_named(mode)
        plan(chosen, args, tests=settings.tests, out_dir=Path("junit"), workers=workers)
        times: dict[str, float] = {}
        if shard is not None:
            from stacktest.testrun.shards import durations_from, parse_shard

            index, count = parse_shard(shard)
            shard = f"{index}/{count}"
            # now, before any stack starts: shards started together on one machine must split alike,
            # and the first to finish rewrites .stacktest/last/junit.xml while the others still start
            times = durations_from(settings.shard_durations, settings.root)
        return cls(chosen, tuple(args), workers, keep, build, shard, times, since)


def _run_suite(
    settings: Settings,
    stack: Stack,
    request: RunRequest,
    out_dir: Path,
    on_phase: PhaseFn | None,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """pytest against ``stack``, every phase of the mode; the merged JUnit XML becomes the last one. The
    modes that choose their worker count choose it from the last run's measurement, and this run's is
    kept for the next (testrun.workers)."""
    key = _timing_key(request)
    known = settings.state.read_last(TIMING)
    measured = workers.Measured.from_json(known.get(key)) if isinstance(known, dict) else None
    choice = workers.choose(measured, os.cpu_count() or 1, settings.workers_per_core)
    busy_before = workers.busy_cpu_seconds()
    result = run_tests(
        request.mode,
        request.args,
        tests=settings.tests,
        out_dir=out_dir,
        env=stack_env(stack) | _shard_env(settings, request, out_dir) | dict(env or {}),
        cwd=settings.root,
        workers=request.workers,
        auto=choice.workers,
        on_phase=on_phase,
    )
    if "auto" in request.mode.xdist:
        result.note = choice.why
    busy_after = workers.busy_cpu_seconds()
    if busy_before is not None and busy_after is not None:
        one_process = not request.mode.xdist or ("auto" in request.mode.xdist and choice.workers == 0)
        _record_timing(settings, key, request, result, busy_after - busy_before, one_process=one_process)
    _publish_junit(settings, result)
    return result


TIMING = "timing.json"


def _timing_key(request: RunRequest) -> str:
    """Runs are measured per selection: the tests they run (what the mode's marker and the arguments
    select), so that a run of one file never predicts the whole suite."""
    return f"{request.mode.marker or ''}|{selection(request.args)}"


KEEP_TIMINGS = 20  # selections remembered, the newest kept


def _record_timing(
    settings: Settings, key: str, request: RunRequest, result: RunResult, busy: float, *, one_process: bool
) -> None:
    """Keep what a run measured for the next run of the same selection (a shard, or a run that ended in
    errors, would mislead it). A run on workers adds its tests' times up inflated by their contention: it is
    kept only while nothing better is known, and a run in one process replaces it."""
    if request.shard or result.exit_code not in (0, 1) or result.junit is None:
        return
    try:
        seconds = sum(c.seconds or 0.0 for c in junit.cases(junit.read(result.junit)))
    except junit.Unreadable:
        return
    if seconds <= 0:
        return
    known = settings.state.read_last(TIMING)  # again: another run may have recorded meanwhile
    known = known if isinstance(known, dict) else {}
    if not one_process and isinstance(known.get(key), dict) and known[key].get("one_process"):
        return
    runs = {k: v for k, v in known.items() if k != key}
    runs[key] = workers.Measured(seconds, busy / seconds).as_json() | {"one_process": one_process}
    settings.state.write_last(TIMING, dict(list(runs.items())[-KEEP_TIMINGS:]))


def _shard_env(settings: Settings, request: RunRequest, out_dir: Path) -> dict[str, str]:
    """For ``--shard``: the part, and the test times read when the command started, so that every phase
    and worker of this run, and every shard started with it, splits alike."""
    if not request.shard:
        return {}
    out_dir.mkdir(parents=True, exist_ok=True)
    times = out_dir / "shard-times.json"
    times.write_text(json.dumps(dict(request.shard_times)))
    return {ENV_SHARD: request.shard, ENV_SHARD_TIMES: str(times)}


def _publish_junit(settings: Settings, result: RunResult) -> None:
    """The merged JUnit XML of the newest finished run, at .stacktest/last/junit.xml (atomic replace)."""
    if result.junit is None or not result.junit.is_file():
        return
    result.junit = atomic_write(settings.state.last("junit.xml"), result.junit.read_bytes())


def test(
    settings: Settings,
    request: RunRequest,
    *,
    on_progress: ProgressFn | None = None,
    on_phase: PhaseFn | None = None,
) -> RunResult:
    """Make sure the stack is up and ready, run pytest against it, clean test data if asked. With
    ``--affected``, only the tests the changes reach, on a stack built from the work tree."""
    out_dir = settings.state.new_results()
    chosen = None
    if request.affected:
        from stacktest.testrun import affected  # reads coverage's map: not imported by a plain run

        chosen = affected.select(settings, request.affected)
    env = {ENV_AFFECTED: str(chosen.write(out_dir / "affected.json"))} if chosen else {}
    fresh = chosen is not None  # --affected: the services run the changed code, rebuilt
    with managed_stack(
        settings,
        keep=request.keep,
        build=request.build or fresh,
        reuse=not fresh,
        on_progress=on_progress,
    ) as stack:
        try:
            result = _run_suite(settings, stack, request, out_dir, on_phase, env)
        finally:
            shutil.rmtree(out_dir, ignore_errors=True)
        if result.exit_code not in (0, 5):  # 5: no tests were collected, the services are not to blame
            keep_logs(stack)
        if settings.cleanup_after_tests:
            from stacktest.cleanup.rules import run as run_cleanup

            run_cleanup(settings, stack, apply=True)
    if chosen is not None:
        result.note = "; ".join(
            n for n in (f"--affected {request.affected}: {chosen.summary()}", result.note) if n
        )
        if result.exit_code == 5 and not chosen.everything:  # the changes reach no test: nothing to fail
            result.exit_code = 0
    return result


def merge_junit(files: Sequence[Path], into: Path, *, force: bool = False) -> dict[str, int]:
    """`stacktest junit merge`: one JUnit XML of the shards' files, each test once (a test found in two
    files means two shards ran it: refused, naming it). ``into`` is replaced only when a merge wrote it
    (a CI step run again) or with ``force``; never written through a symlink."""
    if into.is_dir():
        raise UsageError(f"--into {into} is a folder", hint="give --into the path of the merged file")
    if (into.exists() or into.is_symlink()) and not force and not junit.ours(into):
        raise UsageError(
            f"{into} exists and stacktest did not write it; nothing was changed",
            hint="give --into a new file, or add --force to replace it",
        )
    seen: dict[str, Path] = {}
    for path in files:
        try:
            root = junit.read(path)
            junit.check_counts(root, path)
        except junit.Unreadable as exc:
            raise UsageError(str(exc), hint="give the JUnit XML files pytest wrote (--junitxml)") from None
        for case in junit.cases(root):
            key = case.key
            if key in seen:
                raise UsageError(
                    f"{key} is in {seen[key]} and in {path}: two shards ran it",
                    hint="give each shard's file once, and the same N to every --shard I/N",
                )
            seen[key] = path
    junit.merge(files, into)
    return junit.count(into)
