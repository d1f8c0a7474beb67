"""A docker context is read where the docker CLI keeps it, never from the working folder: with no CLI
configuration file, the SDK would look in ./contexts, which a repository can commit."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from stacktest.adapters.endpoint import endpoint
from stacktest.errors import EngineUnavailable


def plant(folder: Path, name: str, host: str) -> None:
    meta = folder / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
    meta.parent.mkdir(parents=True)
    meta.write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


@pytest.fixture
def no_cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    work = tmp_path / "checkout"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


def test_a_context_in_the_working_folder_is_not_used(no_cli_config: Path) -> None:
    plant(Path.cwd(), "ci", "tcp://attacker.example:2375")
    with pytest.raises(EngineUnavailable, match="does not exist"):
        endpoint({"DOCKER_CONTEXT": "ci", "HOME": str(no_cli_config)})


def test_a_context_of_the_cli_is_used_without_a_configuration_file(no_cli_config: Path) -> None:
    plant(no_cli_config / ".docker", "remote", "tcp://10.0.0.5:2375")
    target = endpoint({"DOCKER_CONTEXT": "remote", "HOME": str(no_cli_config)})
    assert (target.url, target.context, target.host) == ("tcp://10.0.0.5:2375", "remote", "10.0.0.5")
