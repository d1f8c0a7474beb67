"""stacktest init's proposals from compose specs and Dockerfiles (no engine, no compose)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacktest.adopt import propose as adopt

pytestmark = pytest.mark.unit

HEALTH = ["CMD", "curl", "-f", "http://localhost:8080/healthz"]


@pytest.mark.parametrize(
    ("spec", "probe"),
    [
        ({"healthcheck": {"test": HEALTH}, "ports": [{"target": 8080}]}, {"http": "/healthz", "port": 8080}),
        ({"ports": [{"target": 5432, "published": "5432"}]}, {"tcp": 5432}),
        ({"healthcheck": {"test": ["CMD", "pg_isready"]}, "ports": [{"target": 5432}]}, None),
        ({}, None),
    ],
)
def test_probe_from_healthcheck_and_ports(spec: dict[str, object], probe: object) -> None:
    assert adopt._probe("svc", spec)[0] == probe


def test_fixed_ports_and_container_names_are_named() -> None:
    notes = adopt._port_notes("db", {"ports": ["5432:5432"], "container_name": "db"})
    assert any("127.0.0.1::5432" in n for n in notes) and any("container_name" in n for n in notes)
    assert adopt._port_notes("db", {"ports": [{"target": 5432}]}) == []


def test_coverage_paths_from_workdir_and_copy(tmp_path: Path) -> None:
    (tmp_path / "svc" / "src").mkdir(parents=True)
    (tmp_path / "svc" / "Dockerfile").write_text(
        "FROM python:3.12-slim\nWORKDIR /srv\nCOPY requirements.txt .\nCOPY src/ ./app/\n"
        'CMD ["python", "-m", "app"]\n'
    )
    paths, notes = adopt._coverage_paths(tmp_path, "svc", {"build": {"context": "svc"}})
    assert paths == {"/srv/app": "svc/src"} and notes == []
    (tmp_path / "svc" / "Dockerfile").write_text("FROM nginx\nCOPY conf/ /etc/nginx/\n")
    assert adopt._coverage_paths(tmp_path, "svc", {"build": "svc"}) == (None, [])


def test_an_existing_justfile_keeps_its_recipes(tmp_path: Path) -> None:
    (tmp_path / "justfile").write_text('test *args:\n    pytest "$@"\n\nbuild:\n    make\n')
    change = adopt._justfile(tmp_path)
    assert change.action == "append"
    assert "\ntest *args:" not in change.text and "test-fast *args:" in change.text
    assert "test-n COUNT *args:" in change.text


def test_the_proposed_justfile_runs_each_recipe_with_its_arguments_untouched(tmp_path: Path) -> None:
    """The justfile init writes, run by the real `just` with a stand-in `stacktest` on PATH that prints
    its arguments: every recipe calls the command it names, and quoting survives."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import required_tool

    just = required_tool("just")
    change = adopt._justfile(tmp_path)
    assert change.action == "create"
    (tmp_path / "justfile").write_text(change.text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "stacktest"
    fake.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    fake.chmod(0o755)
    env = os.environ | {"PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def run(*args: str) -> list[str]:
        done = subprocess.run(
            [just, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
        )
        return list(json.loads(done.stdout.strip().splitlines()[-1]))

    assert run("test", "-k", "a and b", "-v") == ["test", "-k", "a and b", "-v"]
    assert run("test-n", "3", "-x") == ["test", "--mode", "n", "--workers", "3", "-x"]
    assert run("test-fast") == ["test", "--mode", "fast"]
    assert run("test-sidecar-coverage", "--keep") == ["coverage", "run", "--keep"]
    assert run("test-cleanup") == ["cleanup", "--yes"]
    assert run("logs", "-f", "auth") == ["logs", "-f", "auth"]
    assert run("ensure-services-ready") == ["wait"]
    again = adopt._justfile(tmp_path)  # a second init finds every recipe there
    assert again.action == "unchanged"
