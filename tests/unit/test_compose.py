"""The compose layer: argv for v1 and v2, detection as a chain, project names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacktest.adapters import compose as _compose
from stacktest.adapters import process as _process
from stacktest.adapters.compose import Compose
from stacktest.errors import ComposeNotFound, ConfigError

pytestmark = pytest.mark.unit

V2 = Compose(("docker", "compose"), (2, 40, 3)).bind("p1", [Path("/x/a.yml"), Path("/x/b.yml")], {}, 60)
V1 = Compose(("docker-compose",), (1, 29, 2)).bind("p1", [Path("/x/a.yml")], {}, 60)


def test_v2_argv() -> None:
    assert V2.up_argv(["auth"], build=True) == [
        "docker",
        "compose",
        "-p",
        "p1",
        "-f",
        "/x/a.yml",
        "-f",
        "/x/b.yml",
        "up",
        "-d",
        "--build",
        "auth",
    ]
    assert V2.up_argv(wait=True)[-1] == "--wait"


def test_v1_argv() -> None:
    assert V1.down_argv(timeout=3) == [
        "docker-compose",
        "-p",
        "p1",
        "-f",
        "/x/a.yml",
        "down",
        "--remove-orphans",
        "-t",
        "3",
        "--volumes",
    ]
    assert V1.stop_argv(["api"], timeout=10)[-4:] == ["stop", "-t", "10", "api"]
    assert V1.logs_argv(["auth"], follow=True, tail=5)[-6:] == [
        "logs",
        "--no-color",
        "-f",
        "--tail",
        "5",
        "auth",
    ]


def test_wait_needs_v2() -> None:
    with pytest.raises(ConfigError, match="Compose v2"):
        V1.up_argv(wait=True)


def fake_machine(monkeypatch: pytest.MonkeyPatch, answers: dict[str, str | None]) -> list[list[str]]:
    """Commands on PATH and what their `version` prints (None: exits non-zero)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(
        "stacktest.adapters.compose.shutil.which",
        lambda name: name if any(k.split()[0] == name for k in answers) else None,
    )

    def run(argv: list[str], **kwargs: object) -> _process.Result:
        calls.append(argv)
        out = answers.get(" ".join(argv[:-1]))
        return _process.Result(argv, 0 if out is not None else 1, out or "", "unknown command")

    monkeypatch.setattr("stacktest.adapters.compose._process.run", run)
    return calls


def test_detect_prefers_the_v2_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine(
        monkeypatch,
        {
            "docker compose": "Docker Compose version v2.40.3",
            "docker-compose": "docker-compose version 1.29.2, build x",
        },
    )
    found = _compose.detect()
    assert (found.command, found.version) == (("docker", "compose"), (2, 40, 3))


def test_detect_falls_back_to_v1(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine(
        monkeypatch, {"docker compose": None, "docker-compose": "docker-compose version 1.29.2, build x"}
    )
    found = _compose.detect()
    assert found.command == ("docker-compose",) and found.is_v1


def test_detect_standalone_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine(monkeypatch, {"docker-compose": "Docker Compose version v2.24.0"})
    assert _compose.detect().version == (2, 24, 0)


def test_detect_configured_command(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = fake_machine(
        monkeypatch,
        {
            "docker compose": "Docker Compose version v2.40.3",
            "podman-compose": "podman-compose version 1.0.6",
        },
    )
    assert _compose.detect("podman-compose").command == ("podman-compose",)
    assert calls == [["podman-compose", "version"]]


def test_detect_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_machine(monkeypatch, {})
    with pytest.raises(ComposeNotFound) as info:
        _compose.detect()
    assert "docker compose" in str(info.value) and info.value.hint


def test_project_names_are_valid_unique_and_grouped(tmp_path: Path) -> None:
    names = {_compose.new_project_name("stacktest", tmp_path) for _ in range(50)}
    assert len(names) == 50
    for n in names:
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", n)
        assert n.startswith(f"stacktest-{_compose.checkout_id(tmp_path)}-")
    assert _compose.checkout_id(tmp_path) != _compose.checkout_id(tmp_path / "other")


@pytest.mark.parametrize("version", [(1, 29, 2), (2, 40, 3)])
def test_a_file_written_for_v2_read_by_v1_says_to_install_v2(
    monkeypatch: pytest.MonkeyPatch, version: tuple[int, int, int]
) -> None:
    from stacktest.errors import ComposeError

    schema = "The Compose file is invalid because:\n'name' does not match any of the regexes: '^x-'"

    def run(argv: list[str], **kwargs: object) -> _process.Result:
        raise ComposeError(
            "compose config failed with exit code 1", argv=argv, return_code=1, stderr_tail=schema
        )

    monkeypatch.setattr("stacktest.adapters.compose._process.run", run)
    compose = Compose(("docker-compose",), version).bind("", [Path("compose.yaml")], {}, 60)
    with pytest.raises(ComposeError) as caught:
        compose.config()
    if version[0] == 1:
        assert "uses `name`, a key of Compose v2" in caught.value.message
        assert "install Compose v2" in (caught.value.hint or "")
    else:  # v2 said something else: its own words stand
        assert caught.value.message == "compose config failed with exit code 1"
