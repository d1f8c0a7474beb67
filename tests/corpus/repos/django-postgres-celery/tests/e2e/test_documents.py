"""End-to-end: the API, the broker and the worker together, over HTTP."""

import time

import httpx
import pytest


@pytest.fixture
def api(stack):
    with httpx.Client(base_url=stack.url("web"), timeout=10) as client:
        yield client


def wait_until_counted(api, document_id, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        document = api.get(f"/api/documents/{document_id}/").json()
        if document["status"] == "done" or time.monotonic() > deadline:
            return document
        time.sleep(0.2)


def test_health(api):
    response = api.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_worker_counts_the_words(api):
    created = api.post("/api/documents/", json={"title": "memo", "body": "a well-known fact isn't news"})
    assert created.status_code == 201
    assert created.json()["status"] == "pending"

    document = wait_until_counted(api, created.json()["id"])
    assert document["status"] == "done"
    assert document["words"] == 5


def test_a_document_needs_a_body(api):
    response = api.post("/api/documents/", json={"title": "no body"})
    assert response.status_code == 400


def test_unknown_document(api):
    assert api.get("/api/documents/999999/").status_code == 404
