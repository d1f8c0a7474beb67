"""Real Python servers (tests/corpus/servers), run as a new user would: stacktest from a built wheel, the
stack copied into a folder outside this repository, one `stacktest coverage run`.

The stack runs each server shape in a compose service of its own, all from one image: gunicorn (sync,
gthread, --preload, --max-requests), uvicorn (one process, --workers, --reload), hypercorn, Django's
runserver with its autoreloader and Django under gunicorn, `flask run --debug`, a Celery prefork worker,
multiprocessing's fork, spawn and forkserver pools and a ProcessPoolExecutor (alive when the container
stops), `python script.py` and `python -m pkg` children, and a package installed into site-packages and
one installed editable. Each shape has a reached_<shape> function that only a test calls, in the process
that serves or works (not the parent), and a never_<shape> function that nothing calls. After the run,
every statement of each reached function must be covered in its service's combined data and none of the
never-called one; every shape that is not is named, all of them in one failure.

The run has per-test contexts on (`--contexts`): each line of a reached function that a request ran must
name exactly the tests that sent such requests (the spy's entry hooks for http.server, gunicorn, uvicorn,
hypercorn, Django and Flask; Celery's task headers for the worker's child), and the work of processes no
request started (multiprocessing's pools, subprocess children) must be "unattributed", never a test's.
"""

from __future__ import annotations

import ast
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import coverage
import pytest
from coverage.parser import PythonParser

from stacktest.adapters.engine import Engine
from tests.conftest import REPO, left_nothing
from tests.e2e.conftest import stacktest

SERVERS = REPO / "tests" / "corpus" / "servers"

# shape: (its compose service, the stack's file that has reached_<shape> and never_<shape>)
SHAPES = {
    "gunicorn_sync": ("gunicorn-sync", "app/wsgi_app.py"),
    "gunicorn_gthread": ("gunicorn-gthread", "app/wsgi_app.py"),
    "gunicorn_preload": ("gunicorn-preload", "app/wsgi_app.py"),
    "gunicorn_recycle": ("gunicorn-recycle", "app/wsgi_app.py"),
    "uvicorn_single": ("uvicorn-single", "app/asgi_app.py"),
    "uvicorn_workers": ("uvicorn-workers", "app/asgi_app.py"),
    "uvicorn_reload": ("uvicorn-reload", "app/asgi_app.py"),
    "hypercorn": ("hypercorn", "app/asgi_app.py"),
    "django_runserver": ("django-runserver", "app/djsite/views.py"),
    "django_gunicorn": ("django-gunicorn", "app/djsite/views.py"),
    "flask_debug": ("flask-debug", "app/flask_app.py"),
    "celery_prefork": ("celery-worker", "app/tasks.py"),
    "mp_fork": ("multiproc", "app/mpwork.py"),
    "mp_spawn": ("multiproc", "app/mpwork.py"),
    "mp_forkserver": ("multiproc", "app/mpwork.py"),
    "process_pool": ("multiproc", "app/mpwork.py"),
    "subprocess_script": ("multiproc", "app/child_script.py"),
    "subprocess_module": ("multiproc", "app/childpkg/__main__.py"),
    "installed": ("installed", "pkgs/installed_pkg/src/installed_pkg/core.py"),
    "editable": ("editable", "pkgs/editable_pkg/src/editable_pkg/core.py"),
}


@pytest.fixture
def servers_root(tmp_path: Path, docker_engine: Engine) -> Iterator[Path]:
    """The stack in a folder of its own outside the repository (without wheels the checkout may have:
    stacktest downloads them); afterwards nothing of it may remain on the engine."""
    root = tmp_path / "servers"
    shutil.copytree(SERVERS, root, ignore=shutil.ignore_patterns("wheels", ".stacktest", "__pycache__"))
    yield root
    left_nothing(docker_engine, root)


def function_statements(path: Path, name: str) -> set[int]:
    """The statement lines of the body of function ``name`` in ``path``, as coverage's parser finds
    them (the ``def`` line runs at import, in whichever process imports the module: not counted)."""
    parser = PythonParser(filename=str(path))
    parser.parse_source()
    tree = ast.parse(path.read_text(), filename=str(path))
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)
    first, last = node.body[0].lineno, node.end_lineno or node.body[-1].lineno
    statements = {line for line in parser.statements if first <= line <= last}
    assert statements, f"{path}: {name} has no statements"
    return statements


def service_data(root: Path, service: str) -> coverage.CoverageData | None:
    """The combined data of one service from the latest run, or None when it has none."""
    basename = root / ".stacktest/coverage/latest" / f".coverage.{service}"
    if not basename.is_file():
        return None
    data = coverage.CoverageData(basename=str(basename))
    data.read()
    return data


def executed(data: coverage.CoverageData, path: Path) -> set[int] | None:
    """The statements of ``path`` that ran (raw lines taken to their statements' first lines, as
    coverage's reports do); None when the data has no such file."""
    lines = data.lines(str(path))
    if lines is None:
        return None
    parser = PythonParser(filename=str(path))
    parser.parse_source()
    return set(parser.translate_lines(lines))


def shape_problem(root: Path, shape: str, data: coverage.CoverageData | None) -> str | None:
    """What is wrong with the measurement of one shape, or None when it is right."""
    service, file = SHAPES[shape]
    path = root / file
    reached = function_statements(path, f"reached_{shape}")
    never = function_statements(path, f"never_{shape}")
    where = f"{shape} ({service}, {file})"
    if data is None:
        return f"{where}: the service has no combined data file .coverage.{service}"
    ran = executed(data, path)
    if ran is None:
        same_name = sorted(f for f in data.measured_files() if Path(f).name == path.name)
        seen = f"measured only as {same_name}" if same_name else "no file of that name measured"
        return f"{where}: {file} is not in the service's data ({seen})"
    problems = []
    if reached - ran:
        problems.append(f"reached_{shape} lines {sorted(reached - ran)} not covered")
    if never & ran:
        problems.append(f"never_{shape} lines {sorted(never & ran)} covered")
    return f"{where}: {'; '.join(problems)}" if problems else None


SUITE = "suite/test_servers.py"


def _served(service: str, shape: str, who: str) -> str:
    return f"{SUITE}::test_the_server_runs_the_shape[{service}-{shape}-{who}]"


# shape -> the tests whose requests ran its reached function ({"unattributed"}: work no request started)
ATTRIBUTED: dict[str, set[str]] = {
    "gunicorn_sync": {_served("gunicorn-sync", "gunicorn_sync", "child")},
    "gunicorn_gthread": {_served("gunicorn-gthread", "gunicorn_gthread", "child")},
    "gunicorn_preload": {_served("gunicorn-preload", "gunicorn_preload", "child")},
    "gunicorn_recycle": {f"{SUITE}::test_gunicorn_recycles_its_worker_after_max_requests"},
    "uvicorn_single": {_served("uvicorn-single", "uvicorn_single", "pid1")},
    "uvicorn_workers": {_served("uvicorn-workers", "uvicorn_workers", "child")},
    "uvicorn_reload": {_served("uvicorn-reload", "uvicorn_reload", "child")},
    "hypercorn": {_served("hypercorn", "hypercorn", "child")},
    "django_runserver": {_served("django-runserver", "django_runserver", "child")},
    "django_gunicorn": {_served("django-gunicorn", "django_gunicorn", "child")},
    "flask_debug": {_served("flask-debug", "flask_debug", "child")},
    "celery_prefork": {f"{SUITE}::test_a_celery_prefork_child_runs_the_task"},
    "installed": {
        _served("installed", "installed", "pid1"),
        f"{SUITE}::test_the_installed_packages_are_not_under_app",
    },
    "editable": {
        _served("editable", "editable", "pid1"),
        f"{SUITE}::test_the_installed_packages_are_not_under_app",
    },
} | {shape: {"unattributed"} for shape, (service, _) in SHAPES.items() if service == "multiproc"}


def attribution_problem(root: Path, shape: str, data: coverage.CoverageData | None) -> str | None:
    """Which contexts the reached function's lines carry, when they are not the expected ones."""
    service, file = SHAPES[shape]
    if data is None:
        return None  # said by shape_problem
    path = root / file
    reached = function_statements(path, f"reached_{shape}")
    contexts = data.contexts_by_lineno(str(path))
    wrong = {line: sorted(contexts.get(line, [])) for line in sorted(reached)}
    wrong = {line: found for line, found in wrong.items() if found and set(found) != ATTRIBUTED[shape]}
    if not wrong:
        return None
    return f"{shape} ({service}): lines {wrong} (expected {sorted(ATTRIBUTED[shape])})"


def test_every_server_shape_is_measured_in_the_process_that_ran_it(
    installed: Path, servers_root: Path, docker_engine: Engine
) -> None:
    root = servers_root
    run = stacktest(installed, root, "coverage", "run", "--contexts")
    tail = run.stdout[-4000:] + run.stderr[-4000:]
    assert " passed" in run.stdout and " 0 failed" in run.stdout, tail  # the stack's own tests

    last = json.loads((root / ".stacktest/last/coverage.json").read_text())
    data = {service: service_data(root, service) for service, _ in SHAPES.values()}
    problems = {shape: shape_problem(root, shape, data[SHAPES[shape][0]]) for shape in SHAPES}
    failed = {shape: problem for shape, problem in problems.items() if problem is not None}
    report = [f"not measured as they ran ({len(failed)} of {len(SHAPES)} shapes):"]
    for shape, problem in failed.items():
        service = SHAPES[shape][0]
        lost = (last.get("missing") or {}).get(service)
        report.append(f"- {problem}" + (f" [the run: {lost}]" if lost else ""))
    report.append(f"measured: {', '.join(s for s in SHAPES if s not in failed) or 'none'}")
    misattributed = [p for shape in SHAPES if (p := attribution_problem(root, shape, data[SHAPES[shape][0]]))]
    if misattributed:
        report.append(f"not attributed to the tests that reached them ({len(misattributed)}):")
        report += [f"- {p}" for p in misattributed]
    if run.returncode != 0:
        start = run.stderr.find("error[")  # stacktest's own error, else the end of what it said
        said = (run.stderr[start:] if start >= 0 else run.stderr[-2000:]).strip().splitlines()[:20]
        report.append(f"`stacktest coverage run` exited {run.returncode}:")
        report += [f"  {line}" for line in said]
    assert not failed and not misattributed and run.returncode == 0, "\n".join(report)
