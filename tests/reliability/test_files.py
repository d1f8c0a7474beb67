"""The user's files and the host's memory: harvest never deletes a folder stacktest did not make, and a
container cannot make the host copy a huge or sprawling data folder."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from stacktest.adapters.engine import Engine
from stacktest.adapters.engine_model import ServiceState
from stacktest.commands import coverage as covering
from stacktest.coverage import harvest as _harvest
from stacktest.coverage import spy as _spy
from stacktest.errors import CoverageError, UsageError
from stacktest.settings import load_settings
from tests.conftest import REPO


def test_harvest_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    precious = tmp_path / "checkout"
    precious.mkdir()
    (precious / "main.py").write_text("print('my work')\n")
    with pytest.raises(UsageError) as info:
        covering.harvest_running(settings, None, precious)  # type: ignore[arg-type]  # refused before use
    assert "did not make it; nothing was changed" in str(info.value)
    assert (precious / "main.py").read_text() == "print('my work')\n"


@pytest.fixture
def data_container(docker_engine: Engine, base_image: str):  # type: ignore[no-untyped-def]
    """A stopped container whose data folder holds a sparse 100 GB file, a sub-folder and a stray file."""
    client = docker_engine.client
    volume = client.volumes.create(labels={"io.stacktest.root": str(REPO / "tests" / "reliability")})
    script = (
        f"mkdir -p {_spy.DATA_DIR}/sub && cd {_spy.DATA_DIR} && echo data > .coverage.host.pid1.a"
        " && echo nested > sub/.coverage.host.pid2.b && echo stray > notes.txt"
        " && truncate -s 100G .coverage.host.pid3.huge"
    )
    container = client.containers.run(
        base_image,
        ["sh", "-c", script],
        volumes={volume.name: {"bind": _spy.DATA_ROOT}},
        labels={"io.stacktest.root": str(REPO / "tests" / "reliability")},
        detach=True,
    )
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs()
        yield docker_engine.inspect(container.id)
    finally:
        container.remove(force=True)
        volume.remove(force=True)


def test_a_sparse_100_gb_file_is_refused_before_it_is_read(
    data_container: ServiceState, docker_engine: Engine, tmp_path: Path
) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CoverageError) as info:
        _harvest.harvest(docker_engine, {"svc": [data_container]}, tmp_path / "out")
    assert "stopped copying" in str(info.value)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 64
    copied = sorted(p.name for p in (tmp_path / "out" / "svc").iterdir())
    assert ".coverage.host.pid3.huge" not in copied and "notes.txt" not in copied and "sub" not in copied
