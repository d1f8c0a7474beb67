"""Every stack shape of tests/corpus, run as a new user would: stacktest installed from a built wheel (not
editable) into a virtualenv, the stack copied into a folder outside this repository.

Per shape, one start: the coverage job; the tests pass (among them `stacktest diagnose`, exit 0 on the
running stack); the number of coverage data files equals the number of Python processes that ran code;
reached() is covered and never_called() is not; each service was found ready by its probe (within 2 s of
when it started listening, not at a healthcheck interval); every covered container saved its data on the
stop signal (within 4 s, not at the 10 s grace period); nothing is left on the engine. One shape
(``up_first`` in expect.toml) is first started by `up`: the coverage job then adds no image.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest

from stacktest.adapters.engine import Engine
from tests.conftest import REPO, left_nothing
from tests.e2e.conftest import stacktest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CORPUS = REPO / "tests" / "corpus"
SHARED = CORPUS / "_shared"
SHAPES = sorted(p.name for p in CORPUS.iterdir() if (p / "docker-compose.yml").is_file())
# Bounds that tell the mechanism apart from its fallback, not speed goals (benchmarks/ measure those): a
# service found ready by its probe, not by the healthcheck's 30 s interval; a process that saved its data on
# the stop signal, not one killed at the 10 s grace period. The suite runs in parallel on 2 cores: a
# container's stop may take a second more than alone.
READY_WITHIN = 2.0  # seconds after the service started listening
STOPPED_WITHIN = 4.0  # seconds after the stop request


@pytest.fixture
def shape_root(request: pytest.FixtureRequest, tmp_path: Path, docker_engine: Engine) -> Iterator[Path]:
    """The shape in a folder of its own outside the repository, with the shared files added."""
    name = request.node.callspec.params["shape"]
    root = tmp_path / name
    shutil.copytree(CORPUS / name, root)
    for folder in ("app", "suite"):  # a suite of only the common test is no folder in git
        (root / folder).mkdir(exist_ok=True)
    for f in ("server.py", "worker.py", "seed.py"):
        shutil.copy2(SHARED / f, root / "app" / f)
    shutil.copy2(SHARED / "test_common.py", root / "suite" / "test_common.py")
    yield root
    left_nothing(docker_engine, root)


def ensure_debian_base(engine: Engine, suite: str) -> None:
    """``stacktest-base:<suite>``: that Debian release with its own python3, built offline."""
    from stacktest.adapters import images as _images

    name = f"stacktest-base:{suite}"
    if not engine.image_exists(name):
        _images.build_debian_image(engine, name, suite, ("python3",))


def image_count(engine: Engine, root: Path) -> int:
    """The images built for this shape's checkout (other tests build theirs at the same time)."""
    return len(engine.client.images.list(all=True, filters={"label": f"io.stacktest.root={root}"}))


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def covered_lines(root: Path, service: str, path: Path) -> set[int]:
    data = coverage.CoverageData(basename=str(root / ".stacktest/coverage/latest" / f".coverage.{service}"))
    data.read()
    return set(data.lines(str(path)) or [])


@pytest.mark.parametrize("shape", SHAPES)
def test_shape(shape: str, installed: Path, shape_root: Path, docker_engine: Engine) -> None:
    root = shape_root
    expect = tomllib.loads((root / "expect.toml").read_text())
    if "base" in expect:
        ensure_debian_base(docker_engine, expect["base"])

    images = None
    if expect.get("up_first"):  # `up` builds; the coverage job then reuses its images
        up = stacktest(installed, root, "up")
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            images = image_count(docker_engine, root)
            assert images > 0, "up built no image labelled with this checkout"
        finally:
            assert stacktest(installed, root, "down").returncode == 0

    run = stacktest(installed, root, "coverage", "run")
    if "fails" in expect:  # clearly: early, before any test ran, or after tests that passed
        fails = expect["fails"]
        assert run.returncode == fails["exit"], run.stdout[-3000:] + run.stderr[-3000:]
        assert fails["says"] in run.stderr, run.stderr[-3000:]
        if fails.get("after_tests"):
            assert " 0 failed" in run.stdout and " passed" in run.stdout, run.stdout[-3000:]
        else:
            assert "passed" not in run.stdout
        return
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    assert " 0 failed" in run.stdout and " passed" in run.stdout
    junit = (root / ".stacktest/last/junit.xml").read_text()
    assert 'name="test_diagnose_finds_the_stack_healthy"' in junit, "diagnose was not run on the stack"
    if images is not None:
        assert image_count(docker_engine, root) == images, "the coverage job added images"

    last = json.loads((root / ".stacktest/last/coverage.json").read_text())
    assert last["files"] == expect["data_files"], last
    assert last["stop_seconds"], "no covered container was running at the end"
    slow = {name: s for name, s in last["stop_seconds"].items() if s > STOPPED_WITHIN}
    assert not slow, f"stopped later than {STOPPED_WITHIN} s: {slow}"

    app = root / "app" / "server.py"
    for service in expect["data_files"]:
        lines = covered_lines(root, service, app)
        if service in json.loads((root / "observed.json").read_text()):  # a long-running server
            assert line_of(app, 'return "reached"') in lines, service
        assert line_of(app, "the tests never call this") not in lines, service
    for service, where in expect.get("covered", {}).items():
        file, text = where.split(":", 1)
        assert line_of(root / "app" / file, text) in covered_lines(root, service, root / "app" / file)

    ready_at = json.loads((root / ".stacktest/last/readiness.json").read_text())["ready_at"]
    for service, listening in json.loads((root / "observed.json").read_text()).items():
        late = ready_at[service] - max(listening)
        assert -0.05 <= late <= READY_WITHIN, f"{service} ready {late:.3f} s after it listened"
