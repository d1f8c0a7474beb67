"""What diagnose found: :class:`Finding` (evidence and a fix) and :class:`Report`, and the report as
Markdown (a CI job summary) and as GitHub annotations."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Literal

from stacktest import github
from stacktest.errors import EngineUnavailable

__all__ = ["Finding", "Report", "Severity", "github_annotations", "to_markdown"]

Severity = Literal["ok", "info", "warning", "error"]

_RANK = {"error": 0, "warning": 1, "info": 2, "ok": 3}


@dataclass
class Finding:
    check: str
    severity: Severity
    title: str
    evidence: str = ""
    fix: str = ""
    subject: str = ""  # the service, file or stack it is about


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    could_not_check: bool = False

    @property
    def exit_code(self) -> int:
        if self.could_not_check:
            return EngineUnavailable.exit_code
        return 1 if any(f.severity == "error" for f in self.findings) else 0

    def add(self, *findings: Finding) -> None:
        self.findings.extend(findings)

    def sorted(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: _RANK[f.severity])

    def to_json(self) -> str:
        return json.dumps(
            {"exit_code": self.exit_code, "findings": [asdict(f) for f in self.sorted()]}, indent=2
        )


def to_markdown(report: Report) -> str:
    icon = {"ok": "✅", "info": "🛈", "warning": "⚠️", "error": "❌"}
    lines = ["## stacktest diagnose", "", "| | check | finding | fix |", "|---|---|---|---|"]
    for f in report.sorted():
        lines.append(f"| {icon[f.severity]} | {f.check} | {_cell(f.title)} | {_cell(f.fix)} |")
    errors = [f for f in report.sorted() if f.severity == "error" and f.evidence]
    for f in errors:
        fence = "`" * max(3, _longest_run(f.evidence, "`") + 1)  # longer than any run in the text
        lines += ["", f"### {_cell(f.title)}", "", fence, f.evidence, fence]
    return "\n".join(lines) + "\n"


def _longest_run(text: str, char: str) -> int:
    runs = re.findall(f"{re.escape(char)}+", text)
    return max((len(r) for r in runs), default=0)


def _cell(text: str) -> str:
    """Text for one Markdown table cell or heading: one line, no cell breaks."""
    return " ".join(text.split()).replace("|", "\\|")


def github_annotations(report: Report) -> list[str]:
    """GitHub Actions workflow commands for the errors, message and title escaped."""
    out = []
    for f in report.sorted():
        if f.severity == "error":
            message = f.title + (f" — {f.fix}" if f.fix else "")
            out.append(github.annotation("error", message, title=f"stacktest {f.check}"))
    return out
