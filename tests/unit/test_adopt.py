"""stacktest init's proposals from compose specs and Dockerfiles (no engine, no compose)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stacktest.adopt import discover, dockerfile, files, probes, service, sources
from stacktest.adopt import propose as adopt
from stacktest.adopt.runs import Runs, classify
from stacktest.errors import ConfigError

pytestmark = pytest.mark.unit

HEALTH = ["CMD", "curl", "-f", "http://localhost:8080/healthz"]
GUNICORN = Runs("http", True, program="gunicorn", port=8000, why="runs gunicorn (an HTTP server)")
NOTHING = Runs("unknown", False)


@pytest.mark.parametrize(
    ("spec", "runs", "probe"),
    [
        (
            {"healthcheck": {"test": HEALTH}, "ports": [{"target": 8080}]},
            NOTHING,
            {"http": "/healthz", "port": 8080},
        ),
        (
            {"image": "postgres:16", "ports": [{"target": 5432, "published": "5432"}]},
            NOTHING,
            {"sql": "postgresql", "port": 5432},
        ),
        (
            {"image": "library/mariadb:11", "ports": [{"target": 3306}]},
            NOTHING,
            {"sql": "mariadb", "port": 3306},
        ),
        ({"image": "redis:7", "ports": [{"target": 6379}]}, NOTHING, {"tcp": 6379}),
        ({"healthcheck": {"test": ["CMD", "pg_isready"]}, "ports": [{"target": 5432}]}, NOTHING, None),
        ({}, NOTHING, None),
        ({"ports": [{"target": 8000}]}, GUNICORN, {"http": "/", "port": 8000}),  # a known server: HTTP
        ({"ports": [{"target": 8000}, {"target": 25}]}, GUNICORN, {"http": "/", "port": 8000}),  # not SMTP
        ({"ports": [{"target": 9000, "app_protocol": "http"}]}, NOTHING, {"http": "/", "port": 9000}),
        ({"ports": [{"target": 8000}]}, Runs("tests", True, why="runs pytest"), None),
        (
            {},
            Runs("worker", True, ready_line="celery@\\S+ ready\\.", why="w"),
            {"log": "celery@\\S+ ready\\."},
        ),
    ],
)
def test_probe_rules(spec: dict[str, object], runs: Runs, probe: object) -> None:
    assert probes.choose("svc", spec, runs).probe == probe


def test_probe_paths_come_from_the_code_and_the_image_healthcheck() -> None:
    spec = {"ports": [{"target": 8000}]}
    assert probes.choose("w", spec, GUNICORN, routes=["/items", "/healthz"]).probe == {
        "http": "/healthz",
        "port": 8000,
    }
    assert probes.choose("w", spec, GUNICORN, routes=["health/"]).probe == {"http": "/health/", "port": 8000}
    assert probes.choose("w", spec, GUNICORN, frameworks=["fastapi"]).probe == {"http": "/docs", "port": 8000}
    assert probes.choose("w", spec, GUNICORN, frameworks=["django-admin"]).probe == {
        "http": "/admin/",
        "port": 8000,
    }
    image_check = ["python", "-c", "urllib.request.urlopen('http://localhost:8000/ping')"]
    assert probes.choose("w", spec, NOTHING, image_healthcheck=image_check).probe == {
        "http": "/ping",
        "port": 8000,
    }
    hidden = probes.choose("w", {}, GUNICORN)  # serves HTTP on no published port: said
    assert hidden.probe is None and "publishes no port" in hidden.notes[0]
    assert not probes.choose(
        "db", {"image": "redis:7", "ports": [{"target": 6379}]}, NOTHING
    ).notes  # no advice
    to_file = probes.choose("w", {}, Runs("worker", True, logs_to_file=True, why="runs the celery worker"))
    assert to_file.probe is None and "ready will mean running" in to_file.notes[0]


@pytest.mark.parametrize(
    ("argv", "kind", "python", "port"),
    [
        (["gunicorn", "-b", "0.0.0.0:5000", "app:create_app()"], "http", True, 5000),
        (["uvicorn", "app.main:app", "--workers", "2", "--port", "8080"], "http", True, 8080),
        (["/bin/sh", "-c", "python manage.py migrate && exec gunicorn project.wsgi"], "http", True, 8000),
        (["python", "manage.py", "runserver", "0.0.0.0:8001"], "http", True, 8001),
        (["tini", "--", "gosu", "app", "celery", "-A", "proj", "worker", "-l", "info"], "worker", True, None),
        (["rq", "worker", "--url", "redis://redis:6379"], "worker", True, None),
        (["celery", "-A", "proj", "beat"], "scheduler", True, None),
        (["python", "-m", "pytest", "app/tests"], "tests", True, None),
        (["poetry", "run", "flask", "run", "--host", "0.0.0.0"], "http", True, 5000),  # noqa: S104
        (["/opt/venv/bin/python", "-m", "worker.http"], "python", True, None),
        (["nginx", "-g", "daemon off;"], "other", False, None),
        (["alembic", "upgrade", "head"], "oneshot", True, None),
    ],
)
def test_what_a_service_runs(argv: list[str], kind: str, python: bool, port: int | None) -> None:
    runs = classify(argv)
    assert (runs.kind, runs.python, runs.port) == (kind, python, port)


def test_an_entrypoint_script_that_execs_its_arguments_runs_the_command() -> None:
    script = '#!/bin/sh\nset -e\npython manage.py migrate --noinput\nexec "$@"\n'
    runs = classify(["/docker-entrypoint.sh", "gunicorn", "p.wsgi"], {"/docker-entrypoint.sh": script}.get)
    assert (runs.kind, runs.program) == ("http", "gunicorn")
    own = "#!/bin/sh\nexec celery -A tasks worker --logfile /tmp/c.log\n"
    runs = classify(["./start.sh"], {"./start.sh": own}.get)
    assert (runs.kind, runs.logs_to_file, runs.ready_line) == ("worker", True, None)


def test_dockerfile_stages_arguments_and_forms() -> None:
    text = (
        "# escape=\\\nARG PY=3.12\nFROM python:${PY}-slim AS builder\nCOPY . /build\n"
        "RUN pip wheel /build -w /wheels\n\nFROM python:${PY}-slim\nENV APP=/srv \\\n    X=1\n"
        "WORKDIR $APP\nCOPY --from=builder /wheels /wheels\nCMD gunicorn app:app\n"
    )
    builder, final = dockerfile.parse(text)
    assert (builder.name, builder.base, final.base) == ("builder", "python:3.12-slim", "python:3.12-slim")
    assert final.last("WORKDIR").args == "/srv"  # type: ignore[union-attr]
    assert final.all("COPY")[0].flags == {"from": "builder"}
    assert dockerfile.command_words('["a", "b c"]') == ["a", "b c"]
    assert dockerfile.substitute("${A:-x}/${B:+y}", {"B": "1"}) == "x/y"


def test_sources_of_the_final_image_only(tmp_path: Path) -> None:
    (tmp_path / "src" / "shop").mkdir(parents=True)
    (tmp_path / "src" / "shop" / "__init__.py").write_text("")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("")
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "run.sh").write_text("")
    (tmp_path / "requirements.txt").write_text("flask\n")
    text = (
        "FROM python:3.12 AS builder\nCOPY src/ /build/src/\nRUN pip wheel /build -w /wheels\n"
        "FROM python:3.12\nWORKDIR /srv\nCOPY requirements.txt .\nCOPY scripts/ /scripts/\n"
        "COPY app/main.py /srv/app/\nCOPY --from=builder /build/src /pkg/src\n"
        "COPY src/ /tmp/pkg/\nRUN pip install /tmp/pkg && rm -rf /tmp/pkg\n"
    )
    mapped = sources.from_stages(dockerfile.parse(text), tmp_path, tmp_path)
    assert mapped.paths == {"/srv/app": "app", "/pkg/src": "src"}
    assert any("/tmp/pkg" in s for s in mapped.skipped)  # noqa: S108 - a path inside the image and any("/scripts" in s for s in mapped.skipped)
    mounts = sources.bind_mounts(
        {"volumes": [{"type": "bind", "source": str(tmp_path / "app"), "target": "/code"}]}, tmp_path
    )
    assert mounts.paths == {"/code": "app"}


def test_fixed_ports_and_container_names_are_named() -> None:
    notes = adopt._port_notes("db", {"ports": ["5432:5432"], "container_name": "db"})
    assert any("127.0.0.1::5432" in n for n in notes) and any("container_name" in n for n in notes)
    assert adopt._port_notes("db", {"ports": [{"target": 5432}]}) == []


def test_compose_files_are_found_under_common_names_and_folders(tmp_path: Path) -> None:
    (tmp_path / "docker").mkdir()
    (tmp_path / "docker" / "docker-compose.prod.yml").write_text("services: {}\n")
    (tmp_path / "docker" / "docker-compose.dev.yml").write_text("services: {}\n")
    files, why = discover.compose_files(tmp_path)
    assert files == [tmp_path / "docker" / "docker-compose.dev.yml"] and "--file" in why
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    assert discover.compose_files(tmp_path)[0] == [tmp_path / "compose.yaml"]
    with pytest.raises(ConfigError, match="no compose file"):
        discover.compose_files(tmp_path, [Path("nope.yml")])
    (tmp_path / ".env.example").write_text("SECRET=\n")
    assert "copy .env.example to .env" in discover.missing_setup([tmp_path / "compose.yaml"], tmp_path, "")


def test_the_live_tests_folder_is_never_a_unit_test_folder(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_models.py").write_text("from app.models import User\n")
    assert discover.tests_folder(tmp_path, None, set())[0] == "live_tests"
    (tmp_path / "tests" / "e2e").mkdir()
    assert discover.tests_folder(tmp_path, None, set())[0] == "tests/e2e"
    assert discover.tests_folder(tmp_path, None, {tmp_path / "tests" / "e2e"})[0] == "live_tests"
    assert discover.tests_folder(tmp_path, "it/", set())[0] == "it"


def test_init_reads_nothing_outside_the_repository_and_never_waits_on_a_device(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "secret.py").write_text("x = 1\n")
    (repo / "link.py").symlink_to(tmp_path / "secret.py")
    assert files.read_text(repo / "link.py", repo) is None
    assert files.read_text(Path("/dev/zero"), Path("/")) is None  # a device: refused at once
    big = repo / "big"
    big.write_bytes(b"a" * (files.MAX_BYTES + 10))
    assert len(files.read_text(big, repo) or "") == files.MAX_BYTES


def test_toml_and_fixture_names_for_any_service_name() -> None:
    tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")

    odd = ["1x.y", 'we"ird\\name', "class", "tab\there"]
    table = adopt._table(
        ["c.yml"], "tests", {n: {"http": "/", "port": 80} for n in odd}, {n: {"/a": "b"} for n in odd}
    )
    parsed = tomllib.loads(table)["tool"]["stacktest"]
    assert set(parsed["probes"]) == set(odd) and set(parsed["coverage"]["paths"]) == set(odd)
    conftest = adopt._conftest(Path("/nonexistent"), odd).text
    compile(conftest, "conftest.py", "exec")  # valid Python, a valid fixture name per service


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


def test_a_stage_built_from_an_earlier_stage_has_its_copies_and_commands(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("")
    text = (
        'FROM python:3.12 AS base\nWORKDIR /srv\nCOPY app ./app\nCMD ["uvicorn", "app.main:app"]\n'
        "FROM base AS test\nRUN pytest\nFROM base AS runtime\nHEALTHCHECK CMD curl -f http://localhost:8000/\n"
    )
    stages = dockerfile.parse(text)
    runtime = stages[-1]
    assert runtime.parent is stages[0] and runtime.last("CMD") is not None
    assert sources.from_stages(stages, tmp_path, tmp_path).paths == {"/srv/app": "app"}


def test_a_service_others_wait_to_complete_is_a_one_shot() -> None:
    services = {
        "migrate": {"command": ["python", "-m", "app.migrate"]},
        "api": {"depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
    }
    assert adopt._awaited(services) == {"migrate"}


def test_without_the_sql_extra_a_database_gets_a_tcp_probe_and_a_note(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(probes, "_sql_driver", lambda dialect: False)
    choice = probes.choose("db", {"image": "mysql:8", "ports": [{"target": 3306}]}, NOTHING)
    assert choice.probe == {"tcp": 3306} and "stacktest[mysql]" in choice.notes[0]


def test_a_console_script_of_the_repositorys_own_package_runs_python(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "notes"\n[project.scripts]\nnotes-serve = "notes.main:run"\n'
    )
    own = service.console_scripts([tmp_path], tmp_path)
    assert own == {"notes-serve": "notes.main:run"}
    entry = '#!/bin/sh\nexec "$@"\n'
    runs = classify(["/entry.sh", "notes-serve", "--port", "9000"], {"/entry.sh": entry}.get, own)
    assert (runs.kind, runs.python, runs.program) == ("python", True, "notes-serve")
    assert classify(["notes-serve"]).python is False  # without the repository's scripts: unknown
