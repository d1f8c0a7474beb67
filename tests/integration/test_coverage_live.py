"""Sidecar coverage on the real engine, with test-only services built offline like the bundled stack."""

from __future__ import annotations

import json
import re
import signal
import struct
import subprocess
import time
import zlib
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import coverage
import pytest

from stacktest.adapters.engine import Engine
from stacktest.coverage import spy as _spy
from stacktest.settings import load_settings
from tests.conftest import artifact_dir, required_tool, run_cli, wait_until


@pytest.fixture
def cov_project(stack_copy: Callable[[str], Path]) -> Path:
    return stack_copy("cov")


def covered_lines(root: Path, service: str) -> set[int]:
    data = coverage.CoverageData(
        basename=str(root / ".stacktest" / "coverage" / "latest" / f".coverage.{service}")
    )
    data.read()
    return set(data.lines(str(root / "apps" / service / "server.py")) or [])


def line_of(root: Path, service: str, text: str) -> int:
    lines = (root / "apps" / service / "server.py").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_pid1_and_forking_services_are_measured(cov_project: Path, docker_engine: Engine) -> None:
    result = run_cli(["--verbose", "coverage", "run"], cov_project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 0 failed, 1 skipped" in result.stdout
    # the run asks compose each thing once: its configuration, the creation of the containers, the start
    ran = [line.split("run: ", 1)[1] for line in result.stderr.splitlines() if "run: " in line]
    compose = [
        argv + " " for argv in ran if argv.split()[0].endswith("docker-compose") or " compose " in argv
    ]
    config = [a for a in compose if " config " in a]
    create = [a for a in compose if " up " in a and "--no-start" in a]
    start = [a for a in compose if " up " in a and "--no-start" not in a]
    assert (len(config), len(create), len(start)) == (1, 1, 1), "\n".join(compose)
    # and the engine: the whole project listed once to create, once when ready, once to stop, once to
    # remove (the waits poll per service); each stopped container inspected once
    engine = [line.split("engine: ", 1)[1] for line in result.stderr.splitlines() if "engine: " in line]
    listings = [e for e in engine if e.startswith("list ") and "service=" not in e]
    assert len(listings) == 4, "\n".join(engine)
    stopped = [e.split()[1] for e in engine if e.startswith("inspect ") and e.endswith(": exited")]
    assert len(stopped) == 3 and len(set(stopped)) == 3, "\n".join(engine)
    # PID 1 with no signal handling: its lines are there, the untaken one is not
    pid1 = covered_lines(cov_project, "pid1")
    assert line_of(cov_project, "pid1", 'return "negative"') in pid1
    assert line_of(cov_project, "pid1", 'return "positive"') in pid1
    assert line_of(cov_project, "pid1", 'return "zero"') not in pid1
    # the forking server's children end with os._exit: their lines are kept
    forking = covered_lines(cov_project, "forking")
    assert line_of(cov_project, "forking", 'return "child %d of %d"') in forking
    # the images have no coverage: the spy brought its own; reports are written
    assert "pid1" in result.stdout and "TOTAL" in result.stdout
    report_dir = cov_project / ".stacktest" / "coverage" / "latest"
    assert (report_dir / "coverage.xml").is_file() and (report_dir / "html" / "index.html").is_file()
    assert json.loads((report_dir / "coverage.json").read_text())["totals"]["num_statements"] > 0
    check_html_index(report_dir / "html", {"pid1", "forking"})


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.cells: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.links += [v for k, v in attrs if tag == "a" and k == "href" and v]

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.cells.append(data.strip())


def check_html_index(html: Path, services: set[str]) -> None:
    """The report opens with stacktest's index: a row per service linking to that service's files, and
    the containers that contributed data, with when they ran; then it is rendered by a real browser."""
    page = _Links()
    page.feed((html / "index.html").read_text())
    assert {f"{s}/index.html" for s in services} | {"all/index.html"} <= set(page.links)
    for link in page.links:
        assert (html / link).is_file(), link
    for service in services:  # each service's page lists its own source file, not the others'
        # the page's text: coverage.py puts each path separator in a <span>
        own = re.sub(r"<[^>]+>", "", (html / service / "index.html").read_text())
        assert f"{service}/server.py" in own, f"{service}'s page does not list its server.py"
        others = services - {service}
        assert all(f"{other}/server.py" not in own for other in others)
    for service in services:  # which containers contributed, by name, with their data files and times
        row = page.cells.index(service, page.cells.index("Containers that contributed data"))
        assert page.cells[row + 1] == service  # the container (no replicas here)
        assert page.cells[row + 2].endswith(f"-{service}-1")
        assert int(page.cells[row + 3]) >= 1
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", page.cells[row + 4])
    screenshot(html / "index.html", artifact_dir() / "coverage-index.png")


def screenshot(page: Path, png: Path) -> None:
    """Render the page in headless chromium, keep the picture, and check it shows something: text and
    the coverage bars (green pixels), not a blank or an error page."""
    chromium = required_tool("chromium")
    png.unlink(missing_ok=True)
    result = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1100,700", f"--screenshot={png}", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert png.is_file(), result.stderr[-2000:]
    width, height, pixels = read_png(png)
    assert (width, height) == (1100, 700)
    dark = sum(1 for r, g, b in pixels if r + g + b < 200)  # text
    green = sum(1 for r, g, b in pixels if g > 120 and r < 100 and b < 100)  # the covered part of a bar
    assert dark > 2000, "no text on the page"
    assert green > 500, "no coverage bars on the page"


def read_png(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """The pixels of an 8-bit RGB or RGBA PNG (what chromium writes), without an imaging library."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * step
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append(line)
        previous = line
    pixels = [(row[x], row[x + 1], row[x + 2]) for row in rows for x in range(0, stride, step)]
    return width, height, pixels


def test_a_broken_coveragerc_fails_before_pytest(cov_project: Path) -> None:
    (cov_project / "broken.rc").write_text("[run]\nbranch = perhaps\n")
    result = run_cli(["--set", "coverage.rcfile=broken.rc", "coverage", "run"], cov_project)
    assert result.returncode == 15
    assert f"the coverage configuration {cov_project / 'broken.rc'} is broken" in result.stderr
    assert "error[coverage]" in result.stderr
    assert "passed" not in result.stdout  # pytest never ran


def test_a_service_killed_during_the_run_fails_it_named_and_the_others_reported(cov_project: Path) -> None:
    result = run_cli(["coverage", "run"], cov_project, env={"KILL_VICTIM": "1"})
    assert result.returncode == 15, result.stdout + result.stderr  # a covered service without data
    assert "error[coverage]: no coverage data from victim" in result.stderr
    assert "killed (exit code 137)" in result.stderr
    assert "3 passed, 0 failed" in result.stdout  # the tests themselves passed
    assert "pid1" in result.stdout and "forking" in result.stdout
    assert covered_lines(cov_project, "pid1")


def sigterm_caught(engine: Engine, container_id: str) -> bool:
    """Whether PID 1 of the container has a SIGTERM handler yet (bit 15 of SigCgt in /proc/1/status):
    the spy is running, so the stop below is timed from a known state."""
    status = engine.exec(container_id, ["cat", "/proc/1/status"]).output
    caught = next((line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), "0")
    return bool(int(caught, 16) & (1 << (signal.SIGTERM - 1)))


def test_spy_stops_a_pid1_service_fast_with_its_data(
    cov_project: Path, docker_engine: Engine, tmp_path: Path
) -> None:
    """The spy alone, in a plain container: PID 1 without a handler stops in well under a second."""
    settings = load_settings(config=cov_project / "pyproject.toml", environ={})
    spy = _spy.prepare_spy(settings, tmp_path / "run")
    data = tmp_path / "data"
    data.mkdir()
    client = docker_engine.client
    container = client.containers.run(
        settings.base_image,
        ["python3", "/app/server.py"],
        detach=True,
        environment={
            "PYTHONPATH": "/coverage-spy",
            "COVERAGE_FILE": "/coverage-data/.coverage",
            "STACKTEST_COVERAGE_SOURCE": "/app",
            "STACKTEST_COVERAGE_RCFILE": "/coverage-spy/.coveragerc",
        },
        volumes={
            str(spy): {"bind": "/coverage-spy", "mode": "ro"},
            str(data): {"bind": "/coverage-data"},
            str(cov_project / "apps" / "pid1"): {"bind": "/app", "mode": "ro"},
        },
        labels={"io.stacktest.test": str(cov_project)},  # the test's own container, not stacktest's
    )
    try:
        assert wait_until(lambda: sigterm_caught(docker_engine, container.id), timeout=30)
        start = time.monotonic()
        container.stop(timeout=10)
        stopped_in = time.monotonic() - start
        container.reload()
        assert container.attrs["State"]["ExitCode"] == 143  # SystemExit(128 + SIGTERM), not SIGKILL's 137
        assert stopped_in < 1.0
        assert list(data.glob(".coverage.*")), "the data file was saved"
    finally:
        container.remove(force=True)
