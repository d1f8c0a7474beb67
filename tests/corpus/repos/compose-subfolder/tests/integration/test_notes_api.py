"""Against the development stack: `docker compose -f docker/docker-compose.dev.yml up`."""

import uuid

import httpx
import pytest


@pytest.fixture(scope="module")
def api(stack):
    with httpx.Client(base_url=stack.url("api"), timeout=10) as client:
        yield client


def test_a_note_can_be_read_back(api):
    created = api.post("/notes", json={"title": "  Groceries ", "body": "milk", "tags": ["Home"]})
    assert created.status_code == 201
    note = created.json()
    assert note["title"] == "Groceries"
    assert api.get(f"/notes/{note['id']}").json() == note


def test_notes_are_found_by_tag(api):
    tag = f"t{uuid.uuid4().hex[:6]}"
    api.post("/notes", json={"title": "one", "tags": [tag]})
    api.post("/notes", json={"title": "two", "tags": [tag.upper(), "other"]})
    assert sorted(n["title"] for n in api.get(f"/tags/{tag}").json()) == ["one", "two"]


def test_a_missing_note_is_404(api):
    assert api.get("/notes/999999").status_code == 404


def test_an_empty_title_is_refused(api):
    assert api.post("/notes", json={"title": ""}).status_code == 422
