"""Combine and report: the harvested data files combined (in parts, in worker processes), mapped to the
repository, and reported as terminal figures, HTML (with a per-service index), Cobertura XML and JSON."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape as html_escape
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import coverage
from coverage.exceptions import CoverageException

from stacktest.coverage import ledger as _ledger
from stacktest.coverage import paths as _paths
from stacktest.coverage import shown as _shown
from stacktest.coverage.harvest import CONTRIBUTORS
from stacktest.errors import CoverageError

__all__ = [
    "Report",
    "ServiceFigure",
    "check_report_dir",
    "combine",
    "index_page",
    "link_latest",
    "read_contributors",
    "report",
]

log = logging.getLogger("stacktest")
PARALLEL_COMBINE_FROM = 200  # data files of one service from which combining is split across processes


def check_report_dir(folder: Path) -> None:
    """Fail before anything starts when the reports could not be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # a probe of its own: two runs at once in one checkout must not remove each other's
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise CoverageError(
            f"cannot write the coverage reports in {folder}: {exc.strerror}",
            hint="make that folder writable, or set coverage.report_dir to another one",
        ) from exc


def link_latest(report_root: Path, run_folder: Path) -> Path:
    """``<report_dir>/latest`` points at the newest finished run's reports."""
    latest = report_root / "latest"
    tmp = report_root / f".latest-{run_folder.name}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(run_folder.name)
    tmp.replace(latest)
    return latest


def combine(
    data: Path,
    services: Sequence[str],
    paths: Mapping[str, Mapping[str, str]],
    root: Path,
    dest: Path,
    packages: Mapping[str, Path] | None = None,
) -> dict[str, Path]:
    """Combine each service's data with its container paths mapped to host folders, into ``dest``
    (and the repository's ``packages`` mapped back from where pip installed them).

    Each service is combined on its own (two services may both keep their code in /app), then the
    per-service files are combined into ``dest/.coverage``. Returns the per-service data files. Many
    files of one service are combined in parts, a process per core, then the parts together (combining
    is CPU-bound Python: one process would use one core).
    """
    dest.mkdir(parents=True, exist_ok=True)
    per_service: dict[str, Path] = {}
    for service in services:
        files = sorted(
            str(p) for p in (data / service).glob(".coverage.*") if not p.name.startswith(".coverage..")
        )
        if not files:
            continue
        out = dest / f".coverage.{service}"
        mapping = {
            f"{service}-{i}": [str((root / host).resolve()), container.rstrip("/") + "/"]
            for i, (container, host) in enumerate(paths.get(service, {}).items())
        } | _paths.package_aliases(packages or {})
        try:
            _combine_parts(files, mapping, out)
        except CoverageException as exc:
            raise CoverageError(f"combining the data of {service} failed: {exc}") from exc
        per_service[service] = out
    total = dest / ".coverage"
    total.unlink(missing_ok=True)
    cov = coverage.Coverage(data_file=str(total), config_file=False)
    if per_service:
        cov.combine([str(p) for p in per_service.values()], keep=True)
    cov.save()
    return per_service


def _combine_files(files: Sequence[str], mapping: Mapping[str, list[str]], out: str) -> str:
    """``coverage combine --keep`` of ``files`` into ``out``, container paths mapped (a worker's job)."""
    Path(out).unlink(missing_ok=True)
    cov = coverage.Coverage(data_file=out, config_file=False)
    if mapping:
        cov.set_option("paths", dict(mapping))
    cov.combine(list(files), keep=True)
    cov.save()
    return out


def _combine_parts(files: Sequence[str], mapping: Mapping[str, list[str]], out: Path) -> None:
    workers = min(os.cpu_count() or 1, 8, len(files) // (PARALLEL_COMBINE_FROM // 2) or 1)
    if len(files) < PARALLEL_COMBINE_FROM or workers < 2:
        _combine_files(files, mapping, str(out))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    parts = [str(out.with_name(f"{out.name}.part{i}")) for i in range(workers)]
    chunks = [files[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = list(pool.map(_combine_files, chunks, [mapping] * workers, parts))
    try:
        _combine_files(done, {}, str(out))  # the parts hold host paths already
    finally:
        for part in parts:
            Path(part).unlink(missing_ok=True)


@dataclass(frozen=True)
class ServiceFigure:
    service: str
    statements: int
    missing: int
    percent: float


@dataclass
class Report:
    services: list[ServiceFigure]
    total: ServiceFigure
    html: Path
    xml: Path
    json: Path
    processes: dict[str, tuple[int, int]] = field(default_factory=dict)  # service -> (measured, ran)
    # service -> files of this machine its data names that are not the repository's: left out
    not_in_repository: dict[str, list[str]] = field(default_factory=dict)


def _loaded(data_file: Path) -> coverage.Coverage:
    """Combined data, ready to report on the host (files that were not mapped are skipped)."""
    cov = coverage.Coverage(data_file=str(data_file), config_file=False)
    cov.load()
    cov.set_option("report:ignore_errors", True)
    return cov


def _contexts(cov: coverage.Coverage) -> bool:
    """Whether the data has per-test contexts (``coverage.contexts``): the reports then show them."""
    return len(cov.get_data().measured_contexts() - {""}) > 0


def _figure(name: str, data_file: Path, json_out: Path) -> ServiceFigure:
    cov = _loaded(data_file)
    try:
        cov.json_report(outfile=str(json_out), show_contexts=_contexts(cov))
    except CoverageException:  # "No data to report."
        return ServiceFigure(name, 0, 0, 0.0)
    totals = json.loads(json_out.read_text())["totals"]
    return ServiceFigure(
        name, int(totals["num_statements"]), int(totals["missing_lines"]), float(totals["percent_covered"])
    )


def report(
    combined: Path,
    per_service: Mapping[str, Path],
    paths: Mapping[str, Mapping[str, str]],
    root: Path,
    out_dir: Path,
    contributors: Sequence[Mapping[str, Any]] | None = None,
    *,
    packages: Mapping[str, Path] | None = None,
    ledger: _ledger.Ledger | None = None,
) -> Report:
    """HTML, Cobertura XML and JSON of the total, and a figure per service (sources mapped to the host).

    Only files :class:`_shown.Shown` allows are reported: under the service's source roots
    (:func:`_shown.roots`) and files of the repository. The others the data names that are files of
    this machine are in :attr:`Report.not_in_repository`.

    ``html/index.html`` is stacktest's own page: a row per service linking to that service's coverage.py
    report (``html/<service>/``) and to the whole one (``html/all/``), and which containers contributed
    data and when (``contributors``; read from ``combined/data/contributors.json`` when not given)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = _shown.git_listing(root)
    html = out_dir / "html"
    shutil.rmtree(html, ignore_errors=True)  # a report written again replaces the old pages
    figures, left_out = [], {}
    with tempfile.TemporaryDirectory(prefix=".shown-", dir=out_dir) as work:
        shown: dict[str, Path] = {}
        for service, data_file in sorted(per_service.items()):
            shown[service] = Path(work) / f".coverage.{service}"
            roots = _shown.roots(paths, root, packages, service)
            left = _shown.only_shown(data_file, _shown.Shown(roots, listing), shown[service])
            local = [f for f in left if _shown.here(f)]  # the others are no file anywhere here
            if local:
                left_out[service] = local
            figures.append(_figure(service, shown[service], out_dir / f"coverage-{service}.json"))
        total_data = Path(work) / ".coverage"
        every = _shown.Shown(_shown.roots(paths, root, packages), listing)
        _shown.only_shown(combined / ".coverage", every, total_data)
        total = _figure("TOTAL", total_data, out_dir / "coverage.json")
        _write_pages(shown, total_data, out_dir)
    if contributors is None:
        contributors = read_contributors(combined / "data" / CONTRIBUTORS)
    processes = ledger.counts() if ledger is not None else {}
    if ledger is not None:
        _add_to_json(out_dir / "coverage.json", {"processes": ledger.as_json()})
    html.mkdir(parents=True, exist_ok=True)
    (html / "index.html").write_text(index_page(figures, total, contributors, processes), encoding="utf-8")
    xml, json_out = out_dir / "coverage.xml", out_dir / "coverage.json"
    return Report(figures, total, html, xml, json_out, processes, left_out)


def _write_pages(per_service: Mapping[str, Path], total: Path, out_dir: Path) -> None:
    """coverage.py's HTML of each service and of all of them, and the Cobertura XML of the total."""
    html = out_dir / "html"
    try:
        for service, data_file in sorted(per_service.items()):
            _html(data_file, html / service, f"{service}: coverage inside its containers")
        _html(total, html / "all", "all services")
        _loaded(total).xml_report(outfile=str(out_dir / "coverage.xml"))
    except CoverageException as exc:
        log.warning("no coverage report written: %s", exc)
    except OSError as exc:
        raise CoverageError(
            f"cannot write the coverage report in {out_dir}: {exc.strerror}",
            hint="make the folder writable, or set coverage.report_dir",
        ) from exc


def _add_to_json(path: Path, what: Mapping[str, Any]) -> None:
    """stacktest's own figures beside coverage.py's, under the JSON report's "stacktest" key."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        doc = {}
    doc["stacktest"] = dict(what)
    path.write_text(json.dumps(doc, indent=2))


def _html(data_file: Path, folder: Path, title: str) -> None:
    try:
        cov = _loaded(data_file)
        cov.html_report(directory=str(folder), title=title, show_contexts=_contexts(cov))
    except CoverageException as exc:  # "No data to report" for a service that ran none of its files
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "index.html").write_text(
            f"<!doctype html><meta charset=utf-8><title>{html_escape(title)}</title>"
            f"<p>{html_escape(str(exc))}</p>",
            encoding="utf-8",
        )


def _measured(processes: Mapping[str, tuple[int, int]] | None, service: str) -> str:
    if not processes or service not in processes:
        return "-"
    done, ran = processes[service]
    return f"{done} of {ran}"


def read_contributors(path: Path) -> list[dict[str, Any]]:
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def _when(epoch: Any) -> str:
    if not isinstance(epoch, (int, float)):
        return "-"
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _link(url: str, text: str) -> str:
    """A link of the index: relative (a page of the report) or http(s) only. Any other (``javascript:``,
    ``data:``, ``//host``, ``/path``) is refused: the text is shown without a link."""
    parts = urlsplit(url)
    relative = not parts.scheme and not parts.netloc and not url.startswith(("/", "\\"))
    if not relative and parts.scheme not in ("http", "https"):
        return html_escape(text)
    return f"<a href='{html_escape(url)}'>{html_escape(text)}</a>"


def index_page(
    figures: Sequence[ServiceFigure],
    total: ServiceFigure,
    contributors: Sequence[Mapping[str, Any]],
    processes: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    """The report's first page: a row per service with its figures and a link to its files, then the
    containers whose data it holds, with when each ran."""
    e = html_escape
    rows = []
    for f in figures:
        bar = max(0.0, min(100.0, f.percent))
        rows.append(
            f"<tr><td>{_link(quote(f.service, safe='') + '/index.html', f.service)}</td>"
            f"<td class=n>{f.statements}</td><td class=n>{f.missing}</td>"
            f"<td class=n>{f.percent:.1f}%</td>"
            f"<td><div class=bar><div style='width:{bar:.1f}%'></div></div></td>"
            f"<td class=n>{_measured(processes, f.service)}</td></tr>"
        )
    rows.append(
        f"<tr class=total><td>{_link('all/index.html', 'all services')}</td>"
        f"<td class=n>{total.statements}</td><td class=n>{total.missing}</td>"
        f"<td class=n>{total.percent:.1f}%</td><td></td><td></td></tr>"
    )
    who = [
        f"<tr><td>{e(str(c.get('service', '')))}</td><td>{e(str(c.get('container', '')))}</td>"
        f"<td>{e(str(c.get('name', '')))}</td><td class=n>{e(str(c.get('files', 0)))}</td>"
        f"<td>{_when(c.get('started'))}</td><td>{_when(c.get('stopped'))}</td></tr>"
        for c in contributors
    ]
    who_table = (
        "<table><thead><tr><th>service</th><th>container</th><th>name</th><th>data files</th>"
        "<th>started</th><th>stopped</th></tr></thead><tbody>" + "".join(who) + "</tbody></table>"
        if who
        else "<p>No record of the containers (data combined from elsewhere).</p>"
    )
    return f"""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>stacktest coverage</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #222 }}
h1 {{ font-size: 1.5em }} h2 {{ font-size: 1.15em; margin-top: 2em }}
table {{ border-collapse: collapse; width: 100% }}
th, td {{ text-align: left; padding: .35em .7em; border-bottom: 1px solid #ddd }}
th {{ white-space: nowrap }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums }}
tr.total td {{ font-weight: bold; border-top: 2px solid #888 }}
.bar {{ background: #f3c2c2; height: .8em; width: 12em }} .bar div {{ background: #3a9d3a; height: 100% }}
a {{ color: #0b5cad }}
</style></head>
<body>
<h1>Coverage inside the containers</h1>
<table id=services><thead><tr><th>service</th><th class=n>statements</th><th class=n>missed</th>
<th class=n>cover</th><th></th><th class=n>processes measured</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<h2>Containers that contributed data</h2>
<div id=containers>{who_table}</div>
</body></html>
"""
