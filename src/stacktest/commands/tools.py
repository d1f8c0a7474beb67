"""The commands that look at a stack or a repository without running tests: cleanup of test data,
diagnose, init."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stacktest._lazy import lazy_module
from stacktest.settings import Settings
from stacktest.stack import lifecycle as stacks

if TYPE_CHECKING:
    from stacktest.adopt.propose import Proposal
    from stacktest.cleanup.rules import BackendResult
    from stacktest.coverage import harvest as _harvest
    from stacktest.coverage import ledger as _ledger
    from stacktest.coverage import paths as _paths
    from stacktest.coverage import report as _report
    from stacktest.coverage import spy as _spy
    from stacktest.diagnose.report import Report as DiagnoseReport
else:  # coverage and yaml load only for the commands that measure (the edit-test loop never does)
    _harvest = lazy_module("stacktest.coverage.harvest")
    _report = lazy_module("stacktest.coverage.report")
    _spy = lazy_module("stacktest.coverage.spy")
    _ledger = lazy_module("stacktest.coverage.ledger")
    _paths = lazy_module("stacktest.coverage.paths")

__all__ = ["cleanup", "diagnose", "init"]


def cleanup(
    settings: Settings, *, apply: bool, names: Sequence[str], project: str | None
) -> list[BackendResult]:
    """Test data ("TEST " names) in the services: shown, or removed when ``apply``."""
    from stacktest.cleanup import rules as cleaning

    cleaning.check_prefix(settings.cleanup_prefix)
    return cleaning.run(settings, stacks.attach(settings, project), apply=apply, names=names)


def diagnose(settings: Settings, project: str | None) -> DiagnoseReport:
    from stacktest.diagnose import checks as diagnosing

    return diagnosing.diagnose(settings, project)


def init(
    settings: Settings, root: Path, *, write: bool, files: Sequence[Path] = (), tests: str | None = None
) -> tuple[Proposal, list[Path]]:
    """`stacktest init`: what it proposes for ``root``, and the files written when ``write``."""
    from stacktest.adopt import propose as adopt

    proposal = adopt.propose(root, settings.compose_command, files=files, tests=tests)
    return proposal, adopt.apply(proposal) if write else []
