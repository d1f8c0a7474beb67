"""A state file is data, never a program to run: what `down`, `status` or `reap` read from a state file
that someone else wrote (a repository that commits `.stacktest/`, another user's folder) cannot choose
the command stacktest runs or the variables it runs compose with."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.adapters import compose as _compose
from stacktest.adapters.compose import Compose
from stacktest.settings import load_settings
from stacktest.stack.records import StackRecord


def record(command: list[str], env: dict[str, str]) -> StackRecord:
    return StackRecord(
        project="planted",
        files=["docker-compose.yml"],
        compose_command=command,
        compose_version=[2, 40, 3],
        env=env,
        pid=1,
        created=0.0,
    )


@pytest.fixture
def detected(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    calls: list[str | None] = []

    def detect(configured: str | None = None) -> Compose:
        calls.append(configured)
        return Compose(("docker", "compose"), (2, 40, 3))

    monkeypatch.setattr(_compose, "detect", detect)
    return calls


def test_a_planted_command_is_not_run(tmp_path: Path, detected: list[str | None]) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    compose = record(["id"], {}).compose(settings)
    assert compose.command == ("docker", "compose") and detected == [None]
    assert compose.argv("down")[0] == "docker"


def test_a_planted_variable_is_not_passed(tmp_path: Path, detected: list[str | None]) -> None:
    settings = load_settings(cwd=tmp_path, environ={})
    env = {
        "LD_PRELOAD": "/home/attacker/evil.so",
        "DOCKER_BUILDKIT": "0",
        "STACKTEST_PYTHON_IMAGE": "python:3.11",
    }
    compose = record(["docker-compose"], env).compose(settings)
    assert compose.env == {"DOCKER_BUILDKIT": "0", "STACKTEST_PYTHON_IMAGE": "python:3.11"}
    assert compose.command == ("docker-compose",) and detected == []  # a command detection would choose


def test_the_configured_command_is_kept(tmp_path: Path, detected: list[str | None]) -> None:
    settings = load_settings(cwd=tmp_path, environ={"STACKTEST_COMPOSE_COMMAND": "podman compose"})
    assert record(["podman", "compose"], {}).compose(settings).command == ("podman", "compose")
    assert record(["docker", "compose"], {}).compose(settings).command == ("docker", "compose")
    assert detected == ["podman compose"]  # the second is not the configured one: detected
