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
