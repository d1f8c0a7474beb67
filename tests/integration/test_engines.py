"""Which engine stacktest talks to: DOCKER_HOST, docker contexts (DOCKER_CONTEXT, `docker context use`),
chosen as the docker CLI and compose choose them, so the SDK and compose never talk to two engines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacktest.adapters.endpoint import endpoint
from stacktest.adapters.engine import Engine
from stacktest.errors import EngineUnavailable
from tests.conftest import run_cli


def make_context(config: Path, name: str, host: str) -> None:
    subprocess.run(
        ["docker", "--config", str(config), "context", "create", name, "--docker", f"host={host}"],
        check=True,
        capture_output=True,
    )


def test_the_engine_is_chosen_as_the_docker_cli_chooses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "docker-config"
    make_context(config, "remote", "tcp://10.9.8.7:2375")
    make_context(config, "other", "ssh://deploy@build-host.example")
    monkeypatch.setenv("DOCKER_CONFIG", str(config))  # where the SDK's context store looks, too
    env = {"DOCKER_CONFIG": str(config)}
    assert endpoint(env).url == "" and endpoint(env).host == "127.0.0.1"  # the default socket
    (config / "config.json").write_text(json.dumps({"currentContext": "remote"}))  # docker context use
    assert endpoint(env).host == "10.9.8.7" and endpoint(env).context == "remote"
    chosen = endpoint(env | {"DOCKER_CONTEXT": "other"})  # DOCKER_CONTEXT beats the current context
    assert chosen.host == "build-host.example" and chosen.url == "ssh://deploy@build-host.example"
    # DOCKER_HOST beats both; published ports answer at the engine's host
    assert (
        endpoint(env | {"DOCKER_CONTEXT": "other", "DOCKER_HOST": "tcp://10.1.1.1:2375"}).host == "10.1.1.1"
    )
    with pytest.raises(EngineUnavailable, match="'nope' does not exist"):
        endpoint(env | {"DOCKER_CONTEXT": "nope"})


def test_a_context_reaches_the_engine_for_the_sdk_and_compose_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stack_copy: object, docker_engine: Engine
) -> None:
    config = tmp_path / "docker-config"
    make_context(config, "here", "unix:///var/run/docker.sock")
    (config / "config.json").write_text("{}")  # the SDK finds the context store next to it
    for plugin in (Path.home() / ".docker" / "cli-plugins").glob("*"):  # compose v2, when a CLI plugin
        (config / "cli-plugins").mkdir(parents=True, exist_ok=True)
        (config / "cli-plugins" / plugin.name).symlink_to(plugin)
    env = {"DOCKER_CONFIG": str(config), "DOCKER_CONTEXT": "here"}
    monkeypatch.setenv("DOCKER_CONFIG", str(config))
    monkeypatch.setenv("DOCKER_CONTEXT", "here")
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    engine = Engine.connect()
    assert engine.version()["ApiVersion"]
    engine.close()
    faults = stack_copy("faults")  # type: ignore[operator]
    up = run_cli(["up", "ok"], faults, env=env)
    assert up.returncode == 0, up.stderr
    assert run_cli(["down"], faults, env=env).returncode == 0
    # an unknown context is said at once, naming it, with what to do
    bad = run_cli(["up", "ok"], faults, env=env | {"DOCKER_CONTEXT": "gone"})
    assert bad.returncode == 11 and "docker context 'gone' does not exist" in bad.stderr
