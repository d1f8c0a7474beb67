"""Each server shape of the stack serves, in the process the shape says, and runs its reached_<shape>
function there: the harness then checks that coverage measured it in that process."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from stacktest.plugin import StackHandle

# (service, shape, who runs the code: "pid1" the container's first process, "child" another one)
SERVED = [
    ("gunicorn-sync", "gunicorn_sync", "child"),
    ("gunicorn-gthread", "gunicorn_gthread", "child"),
    ("gunicorn-preload", "gunicorn_preload", "child"),
    ("uvicorn-single", "uvicorn_single", "pid1"),
    ("uvicorn-workers", "uvicorn_workers", "child"),
    ("uvicorn-reload", "uvicorn_reload", "child"),
    ("hypercorn", "hypercorn", "child"),
    ("django-runserver", "django_runserver", "child"),
    ("django-gunicorn", "django_gunicorn", "child"),
    ("flask-debug", "flask_debug", "child"),
    ("installed", "installed", "pid1"),
    ("editable", "editable", "pid1"),
]
# run by the multiproc service in a child process of its own
IN_CHILDREN = [
    "mp_fork",
    "mp_spawn",
    "mp_forkserver",
    "process_pool",
    "subprocess_script",
    "subprocess_module",
]


def get(url: str) -> Any:
    answer = httpx.get(url, timeout=60, trust_env=False)
    assert answer.status_code == 200, f"{url}: {answer.status_code} {answer.text[:500]}"
    return answer.json()


@pytest.mark.parametrize(("service", "shape", "who"), SERVED)
def test_the_server_runs_the_shape(stack: StackHandle, service: str, shape: str, who: str) -> None:
    body = get(f"{stack.url(service)}/reached/{shape}")
    assert body["shape"] == shape
    assert (body["pid"] == 1) == (who == "pid1"), body


def test_the_installed_packages_are_not_under_app(stack: StackHandle) -> None:
    installed = get(f"{stack.url('installed')}/reached/installed")
    assert installed["where"] == "/venv/lib/python3.11/site-packages/installed_pkg", installed
    editable = get(f"{stack.url('editable')}/reached/editable")
    assert editable["where"] == "/pkgs/editable_pkg/src/editable_pkg", editable


def test_gunicorn_recycles_its_worker_after_max_requests(stack: StackHandle) -> None:
    pids = [get(f"{stack.url('gunicorn-recycle')}/reached/gunicorn_recycle")["pid"] for _ in range(7)]
    assert len(set(pids)) >= 2, f"--max-requests 3: 7 requests were served by one worker: {pids}"
    assert 1 not in pids


@pytest.mark.parametrize("shape", IN_CHILDREN)
def test_multiprocessing_runs_the_shape_in_a_child(stack: StackHandle, shape: str) -> None:
    body = get(f"{stack.url('multiproc')}/reached/{shape}")
    assert body["result"]["shape"] == shape
    assert body["result"]["pid"] != body["server_pid"], body


def test_a_celery_prefork_child_runs_the_task(stack: StackHandle) -> None:
    body = get(f"{stack.url('multiproc')}/celery")
    assert body["result"]["shape"] == "celery_prefork"
    assert body["result"]["pid"] != 1, "the task ran in the worker's main process, not a pool child"
