"""Live tests: the web app and the Celery worker, over HTTP."""

import time

import pytest


@pytest.fixture
def web(service_client):
    return service_client("web")


def test_ping(web):
    response = web.get("/ping")
    assert response.status_code == 200
    assert response.text == "pong"


def test_the_worker_summarizes(web):
    started = web.post("/api/summaries", json={"numbers": [4, 1, 7, 2]})
    assert started.status_code == 202
    task_id = started.json()["task_id"]

    deadline = time.monotonic() + 60
    response = web.get(f"/api/summaries/{task_id}")
    while response.status_code == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        response = web.get(f"/api/summaries/{task_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["successful"] is True
    assert body["summary"] == {"count": 4, "mean": 3.5, "median": 3.0, "spread": 6}


def test_numbers_are_required(web):
    assert web.post("/api/summaries", json={"numbers": []}).status_code == 400
    assert web.post("/api/summaries", json={"numbers": ["x"]}).status_code == 400


def test_an_unknown_task_is_not_ready(web):
    # Celery cannot tell an unknown task from one still waiting: both are PENDING
    response = web.get("/api/summaries/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 202
    assert response.json() == {"ready": False}
