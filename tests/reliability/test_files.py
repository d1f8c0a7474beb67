"""The user's files and the host's memory: harvest never deletes a folder stacktest did not make, and a
container cannot make the host copy a huge or sprawling data folder."""

from __future__ import annotations

import resource
from pathlib import Path
from typing import Any

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


def test_entries_the_harvest_skips_count_against_its_cap_too(
    docker_engine: Engine, base_image: str, tmp_path: Path
) -> None:
    """A data folder of many entries it would skip (folders here) is not streamed to its end."""
    client = docker_engine.client
    script = f"mkdir -p {_spy.DATA_DIR} && cd {_spy.DATA_DIR} && for i in $(seq 60); do mkdir d$i; done"
    container = client.containers.run(
        base_image, ["sh", "-c", script], labels={"io.stacktest.root": str(REPO / "tests" / "reliability")},
        detach=True,
    )  # fmt: skip
    try:
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs()
        with pytest.raises(CoverageError, match="holds more than 20 entries"):
            docker_engine.copy_out(
                container.id, _spy.DATA_DIR, tmp_path, accept=lambda n: n.startswith(".coverage"),
                max_files=2, max_bytes=2**20,
            )  # fmt: skip
    finally:
        container.remove(force=True)


# A container on the engine with the run's project label and a service label of its choosing (compose
# never makes one with a `/`; anyone who can start a container on the engine can).
HOSTILE_LABELS = ["../../../../escaped", "/etc/cron.d/x", "..", "a/../../b", "web\0x", ".hidden", ""]


@pytest.mark.parametrize("label", HOSTILE_LABELS)
def test_a_log_file_name_is_one_safe_name_in_the_logs_folder(tmp_path: Path, label: str) -> None:
    from stacktest.state import StateDir

    state = StateDir(tmp_path)
    path = state.log_file("proj", label)
    assert path.parent == state.logs("proj")
    assert path.name.endswith(".log") and not path.name.startswith(".")
    assert "/" not in path.name and "\0" not in path.name
    assert state.log_file("proj", "web-2").name == "web-2.log"  # compose's own names stay as they are
    names = {state.log_file("proj", x).name for x in [*HOSTILE_LABELS, "escaped", "_escaped"]}
    assert len(names) == len(HOSTILE_LABELS) + 2  # two labels never share a file


def test_saved_logs_stay_in_the_run_s_logs_folder(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from stacktest.stack import lifecycle as stacks

    written: list[Path] = []

    class FakeEngine:
        def replicas(self, project: str) -> dict[str, list[ServiceState]]:
            evil = ServiceState("../../../../escaped", "c1", "exited", None, 0, False, 0)
            return {"evil": [evil]}

        def save_logs(self, container_id: str, path: Path) -> None:
            written.append(path)

    settings = load_settings(cwd=tmp_path, environ={})
    stack = SimpleNamespace(engine=FakeEngine(), settings=settings, project="proj")
    folder = stacks.save_logs(stack)  # type: ignore[arg-type]  # the engine and the settings only
    assert folder is not None
    assert written and all(p.resolve().parent == folder.resolve() for p in written), written


def test_harvest_writes_its_marker_as_a_new_file_never_through_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--into` an empty folder another user can write to (in /tmp, say): between stacktest's check and
    its marker, that user puts a symlink where the marker goes, to have stacktest overwrite a file."""
    from stacktest.state import HARVEST_MARK

    settings = load_settings(cwd=tmp_path, environ={})
    victim = tmp_path / "bashrc"
    victim.write_text("precious\n")
    dest = tmp_path / "shared"
    dest.mkdir()
    real_mkdir = Path.mkdir

    def mkdir_then_race(self: Path, *args: Any, **kwargs: Any) -> None:
        real_mkdir(self, *args, **kwargs)
        if self == dest and not (dest / HARVEST_MARK).is_symlink():
            (dest / HARVEST_MARK).symlink_to(victim)  # the other user wins the race

    monkeypatch.setattr(Path, "mkdir", mkdir_then_race)
    with pytest.raises(UsageError):
        covering.harvest_running(settings, None, dest)  # type: ignore[arg-type]  # refused before use
    assert victim.read_text() == "precious\n"


def test_a_symlink_named_like_the_marker_does_not_make_a_folder_stacktest_s(tmp_path: Path) -> None:
    from stacktest.state import HARVEST_MARK

    settings = load_settings(cwd=tmp_path, environ={})
    precious = tmp_path / "checkout"
    precious.mkdir()
    (precious / "main.py").write_text("print('my work')\n")
    (tmp_path / "any-file").write_text("x\n")
    (precious / HARVEST_MARK).symlink_to(tmp_path / "any-file")
    with pytest.raises(UsageError):
        covering.harvest_running(settings, None, precious)  # type: ignore[arg-type]  # refused before use
    assert (precious / "main.py").read_text() == "print('my work')\n"
